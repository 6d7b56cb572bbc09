"""Tests specific to the numba ``cpu`` backend of finder.pairs: its kernels' internal paths.

What every backend must do is tested in test_pairs_contract.py.
"""

from __future__ import annotations

import platform

import numba
import numpy as np
import pytest
from numba import njit

from finder.pairs import distance_histogram, get_backend, pairs_across, pairs_within
from tests.helpers import planted

cpu = get_backend("cpu")


def _random(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=(n, words), dtype=np.uint64)


def _assert_same(p, q) -> None:
    for a, b in zip(p, q):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_pairs_within_many_matches_overflow_slots():
    # far more matches per chunk than the initial output slot: exercises recompute
    rng = np.random.default_rng(3)
    x = _random(rng, 2500, 1)
    p = pairs_within(x, 64, backend="cpu")
    i, j = np.triu_indices(2500, k=1)
    np.testing.assert_array_equal(p.i, i)
    np.testing.assert_array_equal(p.j, j)
    np.testing.assert_array_equal(p.distance, np.bitwise_count(x[i, 0] ^ x[j, 0]))


@pytest.mark.parametrize("triangular", [True, False])
def test_small_output_buffer_recomputes_in_several_launches(monkeypatch, triangular):
    # A tiny buffer budget: slots of a few matches, so that most chunks
    # overflow and are recomputed, in launches grouped within the budget.
    x = _random(np.random.default_rng(4), 700, 4)
    y = x[::3]
    expected = (pairs_within(x, 118, backend="reference") if triangular
                else pairs_across(y, x, 118, backend="reference"))
    assert len(expected) > 5000
    monkeypatch.setattr(cpu, "_BUFFER_BYTES", cpu._MATCH_BYTES * 5000)
    kernel, launches = cpu._pairs_kernel, []

    def counted(*args):
        launches.append(args[5].shape[0])  # chunks in this launch
        return kernel(*args)

    monkeypatch.setattr(cpu, "_pairs_kernel", counted)
    got = pairs_within(x, 118, backend="cpu") if triangular else pairs_across(y, x, 118, backend="cpu")
    _assert_same(got, expected)
    assert len(launches) >= 3  # one first pass, then recomputes split by the budget


def test_output_independent_of_thread_count():
    x = planted(1500, 4, seed=11, copies=4, flips=20)
    labels = np.arange(1500) // 4
    ref = pairs_within(x, 110, backend="cpu")
    ref_across = pairs_across(x[:700], x, 110, backend="cpu")
    ref_hist = distance_histogram(x, labels, 256, backend="cpu")
    assert len(ref) > 0
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = pairs_within(x, 110, backend="cpu")
        one_across = pairs_across(x[:700], x, 110, backend="cpu")
        one_hist = distance_histogram(x, labels, 256, backend="cpu")
    finally:
        numba.set_num_threads(old)
    _assert_same(one, ref)
    _assert_same(one_across, ref_across)
    _assert_same(one_hist, ref_hist)


def test_prefix_words_leave_a_margin_and_cover_large_radii():
    # The prefilter compares p < words words only where random pairs exceed the
    # radius on them; at large radii it must use all words.
    assert cpu._prefix_words(4, 10) == 1
    assert cpu._prefix_words(4, 31) < 4
    assert cpu._prefix_words(4, 128) == 4
    assert cpu._prefix_words(1, 0) == 1


def test_popcount_gives_the_bit_count():
    @njit
    def each(x):
        out = np.empty_like(x)
        for k in range(x.shape[0]):
            out[k] = cpu._popcount(x[k])
        return out

    x = _random(np.random.default_rng(1), 1000, 1)[:, 0]
    x[:4] = [0, 1, 2**63, 2**64 - 1]
    np.testing.assert_array_equal(each(x), np.bitwise_count(x))


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason=f"checks for the x86 popcnt instruction; this is {platform.machine() or 'an unknown CPU'}"
    " (aarch64 names it cnt)",
)
def test_popcount_compiles_to_popcnt_instruction():
    # A fresh (uncached) function using the intrinsic: its assembly must hold
    # the hardware instruction (popcnt, or vpopcntq when vectorised).
    @njit
    def total(x):
        s = np.uint64(0)
        for k in range(x.shape[0]):
            s += cpu._popcount(x[k])
        return s

    x = np.array([0, 1, 3, 2**64 - 1], np.uint64)
    assert total(x) == 0 + 1 + 2 + 64
    asm = total.inspect_asm(total.signatures[0])
    assert "popcnt" in asm
