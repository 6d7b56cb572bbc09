"""Tests specific to the numba ``cpu`` backend of finder.pairs: its kernels' internal paths.

What every backend must do is tested in test_pairs_contract.py.
"""

from __future__ import annotations

import platform

import numba
import numpy as np
import pytest
from numba import njit

from finder.errors import MatchError
from finder.pairs import bitsliced, distance_histogram, get_backend, pairs_across, pairs_within, simd
from finder.pairs.simd import LOOPS, POPCOUNT_ENV
from tests.helpers import brute_distances, planted

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


@pytest.fixture(params=LOOPS)
def loop(request, monkeypatch):
    """Each popcount loop in turn, forced through ``$FINDER_POPCOUNT`` (whatever this CPU would pick)."""
    monkeypatch.setenv(POPCOUNT_ENV, request.param)
    return request.param


# The module whose _pairs_kernel runs each loop, and where that kernel takes the chunk ids.
_KERNELS = {"vector": (cpu, 5), "bitsliced": (bitsliced, 6)}


@pytest.mark.parametrize("triangular", [True, False])
def test_small_output_buffer_recomputes_in_several_launches(monkeypatch, loop, triangular):
    # A tiny buffer budget: slots of a few matches, so that most chunks
    # overflow and are recomputed, in launches grouped within the budget.
    x = _random(np.random.default_rng(4), 700, 4)
    y = x[::3]
    expected = (pairs_within(x, 118, backend="reference") if triangular
                else pairs_across(y, x, 118, backend="reference"))
    assert len(expected) > 5000
    monkeypatch.setattr(cpu, "_BUFFER_BYTES", cpu._MATCH_BYTES * 5000)
    module, at = _KERNELS[loop]
    kernel, launches = module._pairs_kernel, []

    def counted(*args):
        launches.append(args[at].shape[0])  # chunks in this launch
        return kernel(*args)

    monkeypatch.setattr(module, "_pairs_kernel", counted)
    got = pairs_within(x, 118, backend="cpu") if triangular else pairs_across(y, x, 118, backend="cpu")
    _assert_same(got, expected)
    assert len(launches) >= 3  # one first pass, then recomputes split by the budget


def test_output_independent_of_thread_count(loop):
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


# --------------------------------------------------------------------------
# The two popcount loops (finder.pairs.simd): each forced in turn
# --------------------------------------------------------------------------


def _expected(dm: np.ndarray, radius: int, triangular: bool):
    """(i, j, d) of all pairs within ``radius`` from a brute-force distance matrix, row-major order."""
    hit = np.triu(dm <= radius, k=1) if triangular else dm <= radius
    i, j = np.nonzero(hit)
    return i, j, dm[i, j]


@pytest.mark.parametrize("words", [1, 2, 3, 4, 8])
def test_each_loop_finds_exactly_the_brute_force_pairs(loop, words):
    # Planted near copies and random rows; sizes around the bitsliced loop's
    # groups of 256 rows (a partial last group, a query inside a group) and the
    # vector loop's chunks of 128 rows; radii from 0 to the full width.
    bits = 64 * words
    x = planted(600, words, seed=words, copies=3, flips=bits // 16)
    dm = brute_distances(x, x)
    a, b = x[:257], x[300:]
    dm_ab = dm[:257, 300:]
    for radius in sorted({0, 1, 5, bits // 4, bits // 2 - 10, bits // 2, bits - 1, bits}):
        for got, want in ((pairs_within(x, radius, backend="cpu"), _expected(dm, radius, True)),
                          (pairs_across(a, b, radius, backend="cpu"), _expected(dm_ab, radius, False)),
                          (pairs_across(b, a, radius, backend="cpu"), _expected(dm_ab.T, radius, False))):
            assert got.i.dtype == np.int64 and got.j.dtype == np.int64 and got.distance.dtype == np.int32
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w, err_msg=f"{loop}, {bits} bits, radius {radius}")


@pytest.mark.parametrize("n", [1, 2, 255, 256, 257, 513])
def test_each_loop_matches_the_reference_backend_at_group_edges(loop, n):
    x = planted(n, 4, seed=n, copies=2, flips=40)
    for radius in (0, 100, 128, 256):
        _assert_same(pairs_within(x, radius, backend="cpu"), pairs_within(x, radius, backend="reference"))
        _assert_same(pairs_across(x, x[::-1].copy(), radius, backend="cpu"),
                     pairs_across(x, x[::-1].copy(), radius, backend="reference"))


def test_bitsliced_falls_back_to_vector_for_wide_hashes(monkeypatch):
    monkeypatch.setenv(POPCOUNT_ENV, "bitsliced")
    assert cpu.search_loop(bitsliced.MAX_WORDS, 100) == "bitsliced"
    assert cpu.search_loop(bitsliced.MAX_WORDS + 1, 100) == "vector"
    x = planted(300, bitsliced.MAX_WORDS + 1, seed=5, copies=3, flips=30)
    _assert_same(pairs_within(x, 400, backend="cpu"), pairs_within(x, 400, backend="reference"))


def test_planes_hold_each_rows_bits_and_popcount():
    # Computed independently with unpackbits: bit c of planes[g, t, l] is bit t
    # (bit t % 64 of word t // 64) of row 256 g + 64 l + c; then a zero plane;
    # then the bits of each row's popcount; zero past the last row.
    rows = _random(np.random.default_rng(8), 300, 2)
    planes = bitsliced.planes_of(rows)
    assert planes.shape == (2, 128 + 1 + 10, 4)
    row_bits = np.unpackbits(rows.view(np.uint8), axis=1, bitorder="little")  # (300, 128): bit t of row r
    plane_bits = np.unpackbits(planes.view(np.uint8), axis=2, bitorder="little")  # (2, 139, 256): [g, t, 64 l + c]
    by_row = plane_bits.transpose(0, 2, 1).reshape(512, 139)  # [256 g + 64 l + c, t]
    np.testing.assert_array_equal(by_row[:300, :128], row_bits)
    assert not by_row[:, 128].any()
    counts = row_bits.sum(axis=1, dtype=np.int64)
    np.testing.assert_array_equal(by_row[:300, 129:139], (counts[:, None] >> np.arange(10)) & 1)
    assert not by_row[300:].any()


def test_choose_loop_by_cpu_features():
    assert simd.choose_loop({"avx2", "popcnt", "sse4.2"}) == "bitsliced"
    assert simd.choose_loop({"avx2", "avx512f", "avx512vpopcntdq"}) == "vector"
    assert simd.choose_loop({"avx2", "avx512f"}) == "bitsliced"  # AVX-512 without VPOPCNTDQ
    assert simd.choose_loop({"sse4.2", "popcnt"}) == "vector"
    assert simd.choose_loop({"neon"}) == "vector"
    assert simd.choose_loop(set()) == "vector"


def test_auto_choice_keeps_vector_where_its_prefilter_reads_half_the_words(monkeypatch):
    monkeypatch.delenv(POPCOUNT_ENV, raising=False)
    monkeypatch.setattr(simd, "host_features", lambda: frozenset({"avx2"}))
    assert cpu.search_loop(4, 100) == "bitsliced"
    assert cpu.search_loop(1, 10) == "bitsliced"
    assert cpu.search_loop(4, 31) == "vector"  # the prefilter reads 2 of 4 words
    assert cpu.search_loop(4, 100, cpu.BITSLICED_MIN_QUERIES - 1) == "vector"  # planes cost more than they save
    monkeypatch.setattr(simd, "host_features", lambda: frozenset({"avx2", "avx512vpopcntdq"}))
    assert cpu.search_loop(4, 100) == "vector"
    monkeypatch.setenv(POPCOUNT_ENV, "bitsliced")  # forcing wins over the radius and size rules
    assert cpu.search_loop(4, 31) == "bitsliced"
    assert cpu.search_loop(4, 100, 1) == "bitsliced"


def test_popcount_environment_variable(monkeypatch):
    monkeypatch.setenv(POPCOUNT_ENV, " Vector ")
    assert simd.forced_loop() == "vector"
    monkeypatch.setenv(POPCOUNT_ENV, "auto")
    assert simd.forced_loop() is None
    assert simd.cpu_loop() == simd.choose_loop(simd.host_features())
    monkeypatch.setenv(POPCOUNT_ENV, "scalar")
    with pytest.raises(MatchError, match="unknown popcount loop 'scalar'"):
        pairs_within(_random(np.random.default_rng(1), 10, 1), 3, backend="cpu")


def test_host_features_follow_numba_cpu_settings(monkeypatch):
    monkeypatch.setenv("NUMBA_CPU_NAME", "generic")
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx2,-avx512f,+popcnt")
    simd.host_features.cache_clear()
    try:
        assert simd.host_features() == frozenset({"avx2", "popcnt"})
    finally:
        simd.host_features.cache_clear()


@pytest.mark.skipif("avx2" not in simd.host_features(), reason="checks the AVX2 registers of the bitsliced loop")
def test_bitsliced_adders_run_in_256_bit_registers():
    # A fresh (uncached) function around the kernel's intrinsics: on AVX2 the
    # carry-save adders are ymm AND/XOR/OR instructions, and no popcount.
    @njit
    def count(planes, sel, steps, counters, limit, masks):
        bitsliced._count(planes, 0, sel, steps, counters)
        return bitsliced._within_ones(planes, 0, counters, limit, masks)

    rows = _random(np.random.default_rng(2), 256, 1)
    planes = bitsliced.planes_of(rows)
    sel = np.zeros(80, np.int32)
    steps, ones, total = bitsliced._select(rows[0], 1, sel)
    limit = np.empty(12, np.uint64)
    bitsliced._spread_bits(64 - total + 2048, limit)  # radius 64: every row matches
    counters, masks = np.empty((10, 4), np.uint64), np.empty(4, np.uint64)
    if not ones:  # the test's intrinsic pair needs the ones case: take the complement row
        rows[0] = ~rows[0]
        planes = bitsliced.planes_of(rows)
        steps, ones, total = bitsliced._select(rows[0], 1, sel)
        bitsliced._spread_bits(64 - total + 2048, limit)
    assert count(planes, sel, steps, counters, limit, masks)
    assert (masks == np.uint64(2**64 - 1)).all()
    asm = count.inspect_asm(count.signatures[0])
    assert "ymm" in asm and "vpand" in asm
    assert "popcnt" not in asm


def test_an_index_prepares_each_loop_once_and_searches_like_pairs_across(monkeypatch, loop):
    """The cpu backend's Index keeps the word-major copy (vector loop) or the bit planes (bitsliced loop) of
    the indexed rows: made by the first search, reused by the next, same pairs as brute force."""
    from finder.pairs import Index

    x = _random(np.random.default_rng(11), 600, 4)
    made = []
    columns, planes_of = cpu._columns, bitsliced.planes_of
    monkeypatch.setattr(cpu, "_columns", lambda rows: made.append(("cols", len(rows))) or columns(rows))
    monkeypatch.setattr(bitsliced, "planes_of", lambda rows: made.append(("planes", len(rows))) or planes_of(rows))
    index = Index(x)
    for q0, q1 in ((0, 200), (200, 400), (400, 600)):
        _assert_same(index.range_search(x[q0:q1], 100, backend="cpu"),
                     pairs_across(x[q0:q1], x, 100, backend="reference"))
    kind = "cols" if loop == "vector" else "planes"
    assert made.count((kind, 600)) == 1  # the indexed rows, prepared once for three searches
