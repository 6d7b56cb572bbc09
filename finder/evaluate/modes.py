"""``finder evaluate``'s side-by-side view of the matching modes: plain hashes, views, verified.

At one threshold per algorithm, each mode predicts a set of pairs of labelled
images:

``plain``
    the plain hash of each file only (what finder did before views);
``views``
    the smallest distance over each file pair's views (mirror, content box,
    ... as ``compare`` and ``cluster`` match), shown when the hash file has
    extra view rows;
``verified``
    ``compare --verify``'s pairs (:mod:`finder.verify.verified`), with ``--verify``.

For each mode: pairwise precision, recall and F1 over all pairs of labelled
images; recall per transform (pairs of an edited copy with its group's
original, as in :func:`finder.evaluate.metrics.recall_by_transform`); and the largest
group that single linkage (``cluster``'s default) builds from the pairs,
against the largest true group -- chaining through false matches shows there
first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finder import pairs as _pairs
from finder.evaluate.metrics import Truth, pair_scores, same_group_pairs, transform_recall
from finder.groups.linkage import group_indices
from finder.match.search import Rule, find_pairs
from finder.store.hashset import HashSet

MODES = ("plain", "views", "verified")


def has_views(hashset: HashSet, algorithm: str) -> bool:
    """Whether the file holds rows besides the plain one for ``algorithm``."""
    return bool(len(hashset.hashes[algorithm]) > len(hashset) or hashset.view[algorithm].any())


@dataclass
class ModeScores:
    """One mode's predicted pairs and their scores."""

    mode: str
    pairs: int
    scores: dict
    per_transform: dict[str, dict]
    largest_group: int
    largest_true_group: int

    def to_dict(self) -> dict:
        return {"mode": self.mode, "pairs": self.pairs, **self.scores, "per_transform": self.per_transform,
                "largest_group": self.largest_group, "largest_true_group": self.largest_true_group}


def score_pairs(mode: str, i: np.ndarray, j: np.ndarray, truth: Truth, column: str = "transform") -> ModeScores:
    """Scores of the predicted pairs ``(i, j)`` (indices of labelled images, every label >= 0)."""
    labels = truth.labels
    n = len(labels)
    i, j = np.minimum(i, j), np.maximum(i, j)
    keys = np.unique(i.astype(np.int64) * n + j)
    i, j = np.divmod(keys, n)
    si, sj = same_group_pairs(labels)
    positives = len(si)
    negatives = n * (n - 1) // 2 - positives
    tp = int((labels[i] == labels[j]).sum())
    scores = pair_scores(tp, len(keys) - tp, positives, negatives)
    per_transform: dict[str, dict] = {}
    if column in truth.columns:
        values = truth.columns[column]
        found = np.isin(si * n + sj, keys)
        per_transform = transform_recall(values, si, sj, found, values.tolist())
    groups = group_indices(n, i, j, "single")
    largest = max((len(g) for g in groups), default=1 if n else 0)
    true_largest = int(np.bincount(labels).max()) if n else 0
    return ModeScores(mode, len(keys), scores, per_transform, largest, true_largest)


def evaluate_modes(
    hashset: HashSet,
    truth: Truth,
    rule: Rule,
    *,
    verify: bool = False,
    cache_path: str | None = None,
    jobs: int | None = None,
    reporter=None,
) -> dict[str, ModeScores]:
    """The modes of one algorithm at ``rule``'s threshold, on the labelled images of ``hashset``.

    Parameters
    ----------
    hashset, truth : the hash file and its labels (unlabelled images are left out).
    rule : the algorithm and threshold every mode uses.
    verify : also score verified matching (needs the ``verify`` extra).
    cache_path : the feature cache to use and update (default: none).
    jobs, reporter : as for :func:`finder.verify.verified.verify_pairs`.
    """
    labelled = truth.labelled
    subset = hashset.take(labelled)
    sub_truth = Truth(truth.labels[labelled], truth.names, {k: v[labelled] for k, v in truth.columns.items()})
    found = _pairs.pairs_within(subset.plain(rule.algorithm), rule.max_distance)
    result = {"plain": score_pairs("plain", found.i, found.j, sub_truth)}
    matches = None
    if has_views(subset, rule.algorithm):
        matches = find_pairs(subset, rule.algorithm, max_distance=rule.max_distance)
        result["views"] = score_pairs("views", matches.i, matches.j, sub_truth)
    if verify:
        from finder.verify.features import FeatureCache
        from finder.verify.verified import verify_pairs

        cache = FeatureCache.load(cache_path, hashset.exif_transpose)
        try:
            if matches is None:
                matches = find_pairs(subset, rule.algorithm, max_distance=rule.max_distance)
            verified, stats = verify_pairs(subset, rule, matches, cache_a=cache, jobs=jobs, reporter=reporter)
        finally:
            cache.save()
        if reporter is not None:
            reporter.info(stats.line())
        result["verified"] = score_pairs("verified", verified.i, verified.j, sub_truth)
    return result


def modes_to_dict(modes: dict[str, dict[str, ModeScores]], rules: dict[str, Rule]) -> dict:
    """``{algorithm: {"threshold", "distance", "modes": {mode: scores}}}`` for JSON."""
    return {name: {"threshold": rules[name].threshold, "distance": rules[name].max_distance,
                   "modes": {m: s.to_dict() for m, s in by_mode.items()}} for name, by_mode in modes.items()}


def render_mode_tables(modes: dict[str, dict[str, ModeScores]], rules: dict[str, Rule]) -> list:
    """rich tables: one row per algorithm and mode; recall per transform with one column per algorithm and mode."""
    from rich.table import Table

    summary = Table(title="What finder cluster does, by matching mode: plain hashes, views (its default: the smallest "
                          "distance over views), "
                          "verified (compare --verify)")
    for column in ("algorithm", "mode", "threshold (d)", "pairs", "precision", "recall", "F1", "largest group",
                   "largest true group"):
        summary.add_column(column, justify="left" if column in ("algorithm", "mode") else "right")
    for name, by_mode in modes.items():
        rule = rules[name]
        for mode, s in by_mode.items():
            summary.add_row(name, mode, f"{rule.threshold:.3f} ({rule.max_distance})", f"{s.pairs:,}",
                            f"{s.scores['precision']:.3f}", f"{s.scores['recall']:.3f}", f"{s.scores['f1']:.3f}",
                            str(s.largest_group), str(s.largest_true_group))
    tables = [summary]
    columns = [(name, mode, s) for name, by_mode in modes.items() for mode, s in by_mode.items() if s.per_transform]
    if columns:
        per = Table(title="Recall per transform by mode (pairs with the group's original)")
        per.add_column("transform")
        per.add_column("pairs", justify="right")
        several = len(modes) > 1
        for name, mode, _ in columns:
            per.add_column(f"{name} {mode}" if several else mode, justify="right")
        transforms = sorted({t for _, _, s in columns for t in s.per_transform})
        for t in transforms:
            first = columns[0][2].per_transform.get(t, {"pairs": 0})
            per.add_row(t, str(first["pairs"]),
                        *(f"{s.per_transform.get(t, {'recall': 0.0})['recall']:.2f}" for _, _, s in columns))
        tables.append(per)
    return tables
