"""finder.evaluate.modes: the plain / views / verified scores of finder evaluate, against hand-counted values."""

from __future__ import annotations

import numpy as np

from finder.evaluate.metrics import Truth
from finder.evaluate.modes import has_views, score_pairs
from tests.helpers import synthetic_hashset


def _truth() -> Truth:
    # groups: A = {0 original, 1 crop, 2 hflip}, B = {3 original, 4 crop}, C = {5 original}
    labels = np.array([0, 0, 0, 1, 1, 2])
    transform = np.array(["original", "crop", "hflip", "original", "crop", "original"])
    return Truth(labels, ["A", "B", "C"], {"transform": transform})


def test_scores_by_hand():
    # predicted: (0,1) true, (1,0) the same pair again, (3,4) true, (2,5) false
    s = score_pairs("x", np.array([0, 1, 3, 2]), np.array([1, 0, 4, 5]), _truth())
    # positives: A has 3 pairs, B 1 -> 4; all pairs 15 -> 11 negatives
    assert s.pairs == 3
    assert s.scores["tp"] == 2 and s.scores["fp"] == 1 and s.scores["fn"] == 2 and s.scores["tn"] == 10
    assert s.scores["precision"] == 2 / 3 and s.scores["recall"] == 0.5
    assert s.per_transform == {"crop": {"pairs": 2, "matched": 2, "recall": 1.0},
                               "hflip": {"pairs": 1, "matched": 0, "recall": 0.0}}
    # single linkage: {0, 1}, {3, 4}, {2, 5} -> largest 2; the largest true group has 3
    assert s.largest_group == 2 and s.largest_true_group == 3


def test_chaining_shows_in_the_largest_group():
    s = score_pairs("x", np.array([0, 1, 2, 3]), np.array([1, 2, 3, 5]), _truth())
    assert s.largest_group == 5


def test_has_views():
    hs = synthetic_hashset(["/a", "/b"], {"find": np.zeros((2, 4), np.uint64)})
    assert not has_views(hs, "find")
