"""Tests for finder.hamming against brute-force numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from finder import hamming
from finder.hamming import Pairs, distance_histogram, pairs_across, pairs_within


def _random(rng: np.random.Generator, n: int, words: int, bits: int | None = None) -> np.ndarray:
    x = rng.integers(0, 2**64, size=(n, words), dtype=np.uint64)
    if bits is not None and bits % 64:
        # zero the padding bits (low bits of the last word, see finder.bits)
        x[:, -1] &= ~np.uint64((1 << (64 - bits % 64)) - 1)
    return x


def _plant(rng: np.random.Generator, x: np.ndarray, copies: int, max_flips: int) -> np.ndarray:
    """Overwrite ``copies`` rows with copies of other rows with a few flipped bits."""
    x = x.copy()
    n, words = x.shape
    src = rng.integers(0, n, copies)
    dst = rng.choice(n, copies, replace=False)
    for s, d in zip(src, dst):
        row = x[s].copy()
        for _ in range(rng.integers(0, max_flips + 1)):
            b = int(rng.integers(0, 64 * words))
            row[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
        x[d] = row
    return x


def _dist_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Independent all-pairs distances: unpackbits of the XOR, summed."""
    x = a[:, None, :] ^ b[None, :, :]
    return np.unpackbits(x.view(np.uint8), axis=-1).sum(axis=-1).astype(np.int64)


def _brute_within(x: np.ndarray, d: int):
    dm = _dist_matrix(x, x)
    i, j = np.nonzero(np.triu(dm <= d, k=1))  # row-major: sorted by (i, j)
    return i, j, dm[i, j]


def _brute_across(a: np.ndarray, b: np.ndarray, d: int):
    dm = _dist_matrix(a, b)
    i, j = np.nonzero(dm <= d)
    return i, j, dm[i, j]


def _assert_pairs(p: Pairs, expected) -> None:
    i, j, d = expected
    assert p.i.dtype == np.int64 and p.j.dtype == np.int64 and p.distance.dtype == np.int32
    np.testing.assert_array_equal(p.i, i)
    np.testing.assert_array_equal(p.j, j)
    np.testing.assert_array_equal(p.distance, d)


@pytest.mark.parametrize("words", [1, 3, 4])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 129, 700])
def test_pairs_within_matches_brute_force(words, n):
    rng = np.random.default_rng(1000 * words + n)
    x = _plant(rng, _random(rng, n, words), n // 4, 6) if n > 4 else _random(rng, n, words)
    bits = 64 * words
    for d in sorted({0, 3, 10, 31, bits // 2 - 20, bits // 2, bits - 1, bits, bits + 5}):
        _assert_pairs(pairs_within(x, d), _brute_within(x, min(d, bits)))


def test_pairs_within_exact_duplicates_and_all_pairs():
    rng = np.random.default_rng(7)
    x = _random(rng, 300, 4)
    x[100:200] = x[0:100]  # exact copies
    p = pairs_within(x, 0)
    np.testing.assert_array_equal(p.i, np.arange(100))
    np.testing.assert_array_equal(p.j, np.arange(100, 200))
    np.testing.assert_array_equal(p.distance, np.zeros(100, np.int32))
    everything = pairs_within(x, 256)
    assert len(everything) == 300 * 299 // 2
    _assert_pairs(everything, _brute_within(x, 256))


def test_pairs_within_many_matches_overflow_slots():
    # far more matches per chunk than the initial output slot: exercises recompute
    rng = np.random.default_rng(3)
    x = _random(rng, 2500, 1)
    p = pairs_within(x, 64)
    i, j = np.triu_indices(2500, k=1)
    np.testing.assert_array_equal(p.i, i)
    np.testing.assert_array_equal(p.j, j)
    np.testing.assert_array_equal(p.distance, _dist_matrix(x, x)[i, j])


def test_pairs_within_non_contiguous_input():
    rng = np.random.default_rng(5)
    base = _plant(rng, _random(rng, 400, 8), 100, 4)
    x = base[:, ::2]  # not C-contiguous, 4 words
    assert not x.flags.c_contiguous
    _assert_pairs(pairs_within(x, 40), _brute_within(np.ascontiguousarray(x), 40))


@pytest.mark.parametrize("words", [1, 3, 4])
def test_pairs_across_matches_brute_force(words):
    rng = np.random.default_rng(20 + words)
    a = _random(rng, 333, words)
    b = np.concatenate([_plant(rng, a, 200, 5)[:250], _random(rng, 150, words)])
    bits = 64 * words
    for d in (0, 5, 31, bits // 2, bits):
        _assert_pairs(pairs_across(a, b, d), _brute_across(a, b, d))
        _assert_pairs(pairs_across(b, a, d), _brute_across(b, a, d))


def test_pairs_across_empty_sides():
    rng = np.random.default_rng(9)
    a = _random(rng, 10, 4)
    e = np.empty((0, 4), np.uint64)
    for p in (pairs_across(a, e, 256), pairs_across(e, a, 256), pairs_across(e, e, 3)):
        assert len(p) == 0 and p.i.dtype == np.int64 and p.distance.dtype == np.int32
    _assert_pairs(pairs_across(a[:1], a[:1], 0), (np.array([0]), np.array([0]), np.array([0])))


def test_pairs_output_independent_of_thread_count():
    import numba

    rng = np.random.default_rng(11)
    x = _plant(rng, _random(rng, 1500, 4), 400, 20)
    ref = pairs_within(x, 110)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = pairs_within(x, 110)
    finally:
        numba.set_num_threads(old)
    for a, b in zip(ref, one):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("words,bits", [(1, 64), (4, 256), (3, 150), (1, 8)])
def test_distance_histogram_matches_brute_force(words, bits):
    rng = np.random.default_rng(bits)
    n = 600
    x = _plant(rng, _random(rng, n, words, bits), 200, 5)
    if bits % 64:
        x[:, -1] &= ~np.uint64((1 << (64 - bits % 64)) - 1)
    labels = rng.integers(0, 40, n)
    same, diff = distance_histogram(x, labels, bits)
    dm = _dist_matrix(x, x)
    i, j = np.triu_indices(n, k=1)
    eq = labels[i] == labels[j]
    np.testing.assert_array_equal(same, np.bincount(dm[i, j][eq], minlength=bits + 1))
    np.testing.assert_array_equal(diff, np.bincount(dm[i, j][~eq], minlength=bits + 1))
    assert same.dtype == np.int64 and same.shape == (bits + 1,) and diff.shape == (bits + 1,)
    assert same.sum() + diff.sum() == n * (n - 1) // 2


def test_distance_histogram_small_sets():
    for n in (0, 1):
        same, diff = distance_histogram(np.zeros((n, 1), np.uint64), np.zeros(n, np.int64), 64)
        np.testing.assert_array_equal(same, np.zeros(65, np.int64))
        np.testing.assert_array_equal(diff, np.zeros(65, np.int64))
    x = np.array([[0], [7]], np.uint64)
    same, diff = distance_histogram(x, np.array([4, 4]), 64)
    assert same[3] == 1 and same.sum() == 1 and diff.sum() == 0
    same, diff = distance_histogram(x, np.array([4, 5]), 64)
    assert diff[3] == 1 and diff.sum() == 1 and same.sum() == 0


def test_distance_histogram_validation():
    x = np.zeros((3, 1), np.uint64)
    with pytest.raises(ValueError, match="labels"):
        distance_histogram(x, np.zeros(2, np.int64), 64)
    with pytest.raises(ValueError, match="labels"):
        distance_histogram(x, np.zeros(3, np.float64), 64)
    with pytest.raises(ValueError, match="bits"):
        distance_histogram(x, np.zeros(3, np.int64), 65)
    with pytest.raises(ValueError, match="padding"):
        distance_histogram(np.array([[0], [0x3FF]], np.uint64), np.zeros(2, np.int64), 8)


def test_input_validation():
    x = np.zeros((3, 4), np.uint64)
    with pytest.raises(ValueError, match="uint64"):
        pairs_within(x.astype(np.int64), 3)
    with pytest.raises(ValueError, match="2-D"):
        pairs_within(np.zeros(4, np.uint64), 3)
    with pytest.raises(ValueError, match="numpy array"):
        pairs_within([[1, 2]], 3)
    with pytest.raises(ValueError, match=">= 0"):
        pairs_within(x, -1)
    with pytest.raises(ValueError, match="integer"):
        pairs_within(x, 2.5)
    with pytest.raises(ValueError, match="same number of words"):
        pairs_across(x, np.zeros((3, 1), np.uint64), 3)
    with pytest.raises(ValueError, match="same number of words"):
        pairs_across(np.zeros((0, 4), np.uint64), np.zeros((0, 1), np.uint64), 3)
    with pytest.raises(ValueError, match="uint64"):
        pairs_across(x, x.astype(np.uint32), 3)
    with pytest.raises(ValueError, match=">= 0"):
        pairs_across(x, x, -2)


def test_popcount_compiles_to_popcnt_instruction():
    # A fresh (uncached) function using the intrinsic: its assembly must hold
    # the hardware instruction (popcnt, or vpopcntq when vectorised).
    @njit
    def total(x):
        s = np.uint64(0)
        for k in range(x.shape[0]):
            s += hamming._popcount(x[k])
        return s

    x = np.array([0, 1, 3, 2**64 - 1], np.uint64)
    assert total(x) == 0 + 1 + 2 + 64
    asm = total.inspect_asm(total.signatures[0])
    assert "popcnt" in asm
