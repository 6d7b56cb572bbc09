"""Tests specific to the ``mih`` backend of finder.pairs: its index and plan.

That it finds exactly the pairs every backend must find is tested in
test_pairs_contract.py; here, the parts it is built from.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from finder.pairs import get_backend, pairs_across, pairs_within
from tests.helpers import brute_distances, planted

mih = get_backend("mih")


def _bit(words: np.ndarray, p: int) -> np.ndarray:
    """Bit p of every row, in the index's numbering (bit p % 64 of word p // 64), by plain shifts."""
    return (words[:, p // 64] >> np.uint64(p % 64)) & np.uint64(1)


@pytest.mark.parametrize("width,m", [(64, 4), (64, 5), (192, 13), (256, 13), (256, 16), (256, 256)])
def test_substrings_partition_the_bits(width, m):
    rng = np.random.default_rng(m)
    words = rng.integers(0, 2**64, (50, width // 64), dtype=np.uint64)
    index = mih.build_index(words, m)
    assert index.lengths.sum() == width and index.lengths.max() - index.lengths.min() <= 1
    assert index.lengths.max() <= mih.MAX_SUBSTRING_BITS
    np.testing.assert_array_equal(index.bit_offsets, np.concatenate([[0], np.cumsum(index.lengths)[:-1]]))
    for k in range(m):
        expected = np.zeros(50, np.uint64)
        for t in range(int(index.lengths[k])):
            expected |= _bit(words, int(index.bit_offsets[k]) + t) << np.uint64(t)
        np.testing.assert_array_equal(index.subs[k], expected)


def test_tables_list_each_value_rows_in_ascending_order():
    rng = np.random.default_rng(4)
    words = rng.integers(0, 2**64, (3000, 4), dtype=np.uint64)
    words[1000:1100] = words[:100]  # repeated values: rows must stay ascending within a value
    index = mih.build_index(words, 13)
    for k in range(index.m):
        size = 1 << int(index.lengths[k])
        offsets = index.offsets[index.starts[k] : index.starts[k] + size + 1]
        assert offsets[0] == 0 and offsets[-1] == len(words) and (np.diff(offsets) >= 0).all()
        for v in np.unique(index.subs[k])[:50]:
            rows = index.ids[k, offsets[v] : offsets[v + 1]]
            np.testing.assert_array_equal(rows, np.flatnonzero(index.subs[k] == v))
        assert sorted(index.ids[k].tolist()) == list(range(len(words)))


def test_build_index_rejects_substrings_that_do_not_fit():
    words = np.zeros((3, 4), np.uint64)
    with pytest.raises(ValueError, match="do not fit"):
        mih.build_index(words, 12)  # 12 substrings of 256 bits: 22 bits each, over the table limit
    with pytest.raises(ValueError, match="do not fit"):
        mih.build_index(words, 257)


@pytest.mark.parametrize("n", [2, 300, 10**4, 10**6, 10**8])
@pytest.mark.parametrize("radius", [0, 8, 31, 96, 256])
def test_plan_is_valid_and_cheapest_under_its_model(n, radius):
    m = mih.plan(256, n, radius)
    assert math.ceil(256 / mih.MAX_SUBSTRING_BITS) <= m <= 256

    def cost(k: int) -> float:
        s = 256 // k
        return k * mih._ball(s + (256 % k > 0), radius // k) * (1 + n / 2**s)

    assert cost(m) <= min(cost(k) for k in range(13, 257))


def test_ball_counts_values_within_a_radius():
    for bits in (1, 5, 12):
        values = np.arange(1 << bits)
        weights = np.array([bin(v).count("1") for v in values])
        for r in range(bits + 2):
            assert mih._ball(bits, r) == int((weights <= r).sum())
            masks = mih._masks(bits, r)
            assert sorted(masks.tolist()) == values[weights <= r].tolist()


def test_pigeonhole_bound_is_tight():
    """A pair differing in exactly floor(r/m) + 1 bits in every substring but one is still found."""
    words = np.zeros((2, 4), np.uint64)
    index = mih.build_index(words, 16)  # 16 substrings of 16 bits
    radius = 31  # r' = 1
    # flip 2 bits in each of substrings 0..14 (30 bits) and 1 bit in substring 15: distance 31
    for k in range(16):
        for t in range(2 if k < 15 else 1):
            p = int(index.bit_offsets[k]) + t
            words[1, p // 64] |= np.uint64(1) << np.uint64(p % 64)
    assert int(brute_distances(words[:1], words[1:])[0, 0]) == 31
    p = pairs_within(words, radius, backend="mih")
    assert (p.i.tolist(), p.j.tolist(), p.distance.tolist()) == ([0], [1], [31])
    assert len(pairs_within(words, 30, backend="mih")) == 0


def test_many_chunks_and_overflowing_slots_keep_order():
    x = planted(700, 1, seed=9, copies=7, flips=3)  # 64-bit rows, 11 query chunks
    dm = brute_distances(x, x)
    for radius in (3, 20, 64):  # 64: every pair, far beyond a chunk's first output slot
        p = pairs_within(x, radius, backend="mih")
        i, j = np.nonzero(np.triu(dm <= radius, k=1))
        np.testing.assert_array_equal(p.i, i)
        np.testing.assert_array_equal(p.j, j)
        np.testing.assert_array_equal(p.distance, dm[i, j])
        q = pairs_across(x[::3], x, radius, backend="mih")
        i, j = np.nonzero(dm[::3] <= radius)
        np.testing.assert_array_equal(q.i, i)
        np.testing.assert_array_equal(q.j, j)


def test_matching_takes_mih_for_small_radii_with_the_same_result(monkeypatch):
    from finder import pairs
    from finder.match.search import find_pairs
    from tests.helpers import synthetic_hashset

    words = planted(3000, 4, seed=11, copies=3, flips=3)
    hs = synthetic_hashset([f"{k:05d}.jpg" for k in range(3000)], {"find": words})
    calls = []
    real = mih.search
    monkeypatch.setattr(mih, "search", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.delenv(pairs.BACKEND_ENV, raising=False)
    monkeypatch.setattr(pairs, "REFERENCE_MAX_CELLS", 0)  # the mih rule alone (small searches go to numpy)
    assert pairs.choose_backend(8, 256, 3000, 3000) == "mih"
    small = find_pairs(hs, "find", max_distance=8)
    assert calls  # 3,000 rows at radius 8: the rule picks mih
    calls.clear()
    wide = find_pairs(hs, "find", max_distance=60)
    assert not calls  # radius 60 > 0.11 * 256: the linear scan
    monkeypatch.setenv(pairs.BACKEND_ENV, "cpu")
    for got, want in ((small, find_pairs(hs, "find", max_distance=8)), (wide, find_pairs(hs, "find", max_distance=60))):
        for x, y in zip(got, want):
            np.testing.assert_array_equal(x, y)
    assert len(small) > 1000
