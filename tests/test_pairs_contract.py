"""The finder.pairs contract, run on every registered backend.

Every backend gets the same inputs and must give exactly the brute-force answer
(tests/helpers.brute_distances, which unpacks bits and shares no code with any
backend) and the same answer as every other backend.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache

import numpy as np
import pytest

from finder import pairs
from finder.pairs import (
    Index,
    Pairs,
    backend_names,
    choose_backend,
    distance_histogram,
    get_backend,
    knn,
    pairs_across,
    pairs_within,
)
from tests.helpers import brute_distances, planted

# The cuda backend runs these same checks in Numba's CUDA simulator, which has to be switched on before numba is
# imported: in a process of its own (tests/test_cuda.py).
BACKENDS = [name for name in backend_names() if name != "cuda"]
# Backends may implement part of the contract (finder.pairs docstring); each function is run on every one that has it.
HIST_BACKENDS = [b for b in BACKENDS if hasattr(get_backend(b), "distance_histogram")]
KNN_BACKENDS = [b for b in BACKENDS if hasattr(get_backend(b), "knn")]
WIDTHS = (64, 192, 256)
SIZES = (0, 1, 2, 3, 129, 300)  # 129: more than one row chunk of the cpu backend


def _radii(bits: int) -> list[int]:
    return sorted({0, 1, 4, 10, bits // 2 - 8, bits // 2, bits - 1, bits, bits + 7})


def _zero_padding(x: np.ndarray, bits: int) -> np.ndarray:
    """Clear the padding bits (the low bits of the last word, see finder.algorithms.bits)."""
    if bits % 64:
        x[:, -1] &= ~np.uint64((1 << (64 - bits % 64)) - 1)
    return x


def _flip(rng: np.random.Generator, rows: np.ndarray, max_flips: int) -> np.ndarray:
    """Copies of ``rows`` with 0..max_flips random bits flipped in each."""
    rows = rows.copy()
    for row in rows:
        for bit in rng.integers(0, 64 * rows.shape[1], rng.integers(0, max_flips + 1)):
            row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return rows


@cache
def _within_case(n: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    x = planted(n, bits // 64, seed=n * 1000 + bits, copies=3, flips=6)
    x.flags.writeable = False
    return x, brute_distances(x, x)


@cache
def _across_case(bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(bits)
    a = planted(140, bits // 64, seed=bits + 1, copies=2, flips=5)
    b = np.concatenate([_flip(rng, a[rng.choice(140, 60, replace=False)], 8), planted(50, bits // 64, seed=bits + 2)])
    b = b[rng.permutation(len(b))]
    a.flags.writeable = b.flags.writeable = False
    return a, b, brute_distances(a, b)


def _expected_within(dm: np.ndarray, radius: int):
    i, j = np.nonzero(np.triu(dm <= radius, k=1))  # row-major: sorted by (i, j)
    return i, j, dm[i, j]


def _expected_across(dm: np.ndarray, radius: int):
    i, j = np.nonzero(dm <= radius)
    return i, j, dm[i, j]


def _assert_pairs(p: Pairs, expected) -> None:
    assert isinstance(p, Pairs)
    assert p.i.dtype == np.int64 and p.j.dtype == np.int64 and p.distance.dtype == np.int32
    i, j, d = expected
    np.testing.assert_array_equal(p.i, i)
    np.testing.assert_array_equal(p.j, j)
    np.testing.assert_array_equal(p.distance, d)


def _assert_same_pairs(p: Pairs, q: Pairs) -> None:
    _assert_pairs(p, tuple(q))


# --------------------------------------------------------------------------
# pairs_within
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("n", SIZES)
def test_pairs_within_matches_brute_force(backend, bits, n):
    x, dm = _within_case(n, bits)
    for radius in _radii(bits):
        p = pairs_within(x, radius, backend=backend)
        _assert_pairs(p, _expected_within(dm, radius))
        assert (p.i < p.j).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_pairs_within_exact_duplicates_and_all_pairs(backend):
    x = planted(300, 4, seed=7, copies=1)  # copies=1: no near copies, all rows random
    x[100:200] = x[0:100]
    p = pairs_within(x, 0, backend=backend)
    _assert_pairs(p, (np.arange(100), np.arange(100, 200), np.zeros(100)))
    everything = pairs_within(x, 256, backend=backend)
    assert len(everything) == 300 * 299 // 2
    _assert_pairs(everything, _expected_within(brute_distances(x, x), 256))


@pytest.mark.parametrize("backend", BACKENDS)
def test_pairs_within_accepts_non_contiguous_input(backend):
    base = planted(200, 8, seed=5, copies=4, flips=3)
    x = base[:, ::2]  # 4 words, not C-contiguous
    assert not x.flags.c_contiguous
    c = np.ascontiguousarray(x)
    _assert_pairs(pairs_within(x, 40, backend=backend), _expected_within(brute_distances(c, c), 40))


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_integer_radius(backend):
    x, dm = _within_case(129, 64)
    _assert_pairs(pairs_within(x, np.int16(10), backend=backend), _expected_within(dm, 10))
    _assert_pairs(pairs_within(x, 2**70, backend=backend), _expected_within(dm, 64))


# --------------------------------------------------------------------------
# pairs_across
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bits", WIDTHS)
def test_pairs_across_matches_brute_force(backend, bits):
    a, b, dm = _across_case(bits)
    for radius in _radii(bits):
        _assert_pairs(pairs_across(a, b, radius, backend=backend), _expected_across(dm, radius))
        _assert_pairs(pairs_across(b, a, radius, backend=backend), _expected_across(dm.T, radius))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bits", WIDTHS)
def test_pairs_across_empty_and_single_rows(backend, bits):
    a, _, _ = _across_case(bits)
    e = np.empty((0, bits // 64), np.uint64)
    for p in (pairs_across(a, e, bits, backend=backend), pairs_across(e, a, bits, backend=backend),
              pairs_across(e, e, 0, backend=backend)):
        _assert_pairs(p, (np.empty(0), np.empty(0), np.empty(0)))
    _assert_pairs(pairs_across(a[:1], a[:1], 0, backend=backend), ([0], [0], [0]))
    _assert_pairs(pairs_across(a[:1], a, 0, backend=backend), ([0], [0], [0]))
    _assert_pairs(pairs_across(a, a[:1], 0, backend=backend), ([0], [0], [0]))


# --------------------------------------------------------------------------
# Index: rows prepared once, searched many times
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bits", WIDTHS)
def test_index_searched_many_times_gives_the_brute_force_pairs_every_time(backend, bits):
    """One index, many searches: different radii (mih builds a table per substring count), different query
    blocks, the loop choice changing with the number of queries; each as brute force, nothing left behind."""
    a, b, dm = _across_case(bits)
    index = Index(b)
    before = b.copy()
    for radius in [*_radii(bits), *reversed(_radii(bits))]:
        _assert_pairs(index.range_search(a, radius, backend=backend), _expected_across(dm, radius))
        for q0, q1 in ((0, 1), (1, len(a) // 2), (len(a) // 2, len(a))):
            i, j, d = _expected_across(dm[q0:q1], radius)
            _assert_pairs(index.range_search(a[q0:q1], radius, backend=backend), (i, j, d))
    assert np.array_equal(b, before) and len(index) == len(b)
    e = np.empty((0, bits // 64), np.uint64)
    _assert_pairs(index.range_search(e, bits, backend=backend), (np.empty(0), np.empty(0), np.empty(0)))
    _assert_pairs(Index(e).range_search(a, bits, backend=backend), (np.empty(0), np.empty(0), np.empty(0)))


def test_index_validates_its_queries():
    index = Index(np.zeros((3, 4), np.uint64))
    with pytest.raises(ValueError, match="4 words per hash"):
        index.range_search(np.zeros((2, 1), np.uint64), 3)
    with pytest.raises(ValueError, match="radius must be >= 0"):
        index.range_search(np.zeros((2, 4), np.uint64), -1)
    with pytest.raises(ValueError, match="dtype uint64"):
        Index(np.zeros((3, 4), np.int64))


# --------------------------------------------------------------------------
# distance_histogram
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", HIST_BACKENDS)
@pytest.mark.parametrize("bits", [64, 192, 256, 150, 8])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 300])
def test_distance_histogram_matches_brute_force(backend, bits, n):
    words = -(-bits // 64)
    x = _zero_padding(planted(n, words, seed=bits + n, copies=3, flips=5), bits)
    rng = np.random.default_rng(n)
    # the planted groups, with some rows relabelled at random
    labels = np.where(rng.random(n) < 0.2, rng.integers(0, 5, n), np.arange(n) // 3)
    same, diff = distance_histogram(x, labels, bits, backend=backend)
    assert same.dtype == np.int64 and diff.dtype == np.int64
    assert same.shape == (bits + 1,) and diff.shape == (bits + 1,)
    dm = brute_distances(x, x)
    i, j = np.triu_indices(n, k=1)
    eq = labels[i] == labels[j]
    np.testing.assert_array_equal(same, np.bincount(dm[i, j][eq], minlength=bits + 1))
    np.testing.assert_array_equal(diff, np.bincount(dm[i, j][~eq], minlength=bits + 1))
    assert same.sum() + diff.sum() == n * (n - 1) // 2


@pytest.mark.parametrize("backend", HIST_BACKENDS)
def test_distance_histogram_two_rows(backend):
    x = np.array([[0], [7]], np.uint64)
    same, diff = distance_histogram(x, np.array([4, 4]), 64, backend=backend)
    assert same[3] == 1 and same.sum() == 1 and diff.sum() == 0
    same, diff = distance_histogram(x, np.array([4, 5], np.int8), 64, backend=backend)
    assert diff[3] == 1 and diff.sum() == 1 and same.sum() == 0


@pytest.mark.parametrize("backend", HIST_BACKENDS)
def test_distance_histogram_rejects_non_zero_padding(backend):
    with pytest.raises(ValueError, match="padding"):
        distance_histogram(np.array([[0], [0x3FF]], np.uint64), np.zeros(2, np.int64), 8, backend=backend)


# --------------------------------------------------------------------------
# All backends agree on inputs too large for the brute force
# --------------------------------------------------------------------------


def test_backends_agree_with_each_other():
    rng = np.random.default_rng(2024)
    x = planted(1500, 4, seed=3, copies=5, flips=12)
    y = _flip(rng, x[rng.choice(1500, 400, replace=False)], 20)
    labels = np.arange(1500) // 5
    results = {}
    for name in BACKENDS:
        results[name] = (
            [pairs_within(x, r, backend=name) for r in (0, 31, 100)],
            [pairs_across(y, x, r, backend=name) for r in (5, 31)],
            distance_histogram(x, labels, 256, backend=name) if name in HIST_BACKENDS else None,
            knn(x, y, 7, backend=name) if name in KNN_BACKENDS else None,
        )
    first, *others = BACKENDS
    for name in others:
        for p, q in zip(results[name][0] + results[name][1], results[first][0] + results[first][1]):
            _assert_same_pairs(p, q)
        if name in HIST_BACKENDS:
            for h, g in zip(results[name][2], results[first][2]):
                np.testing.assert_array_equal(h, g)
        if name in KNN_BACKENDS:
            _assert_same_pairs(results[name][3], results[first][3])


# --------------------------------------------------------------------------
# Validation, registry, import cost
# --------------------------------------------------------------------------


def test_input_validation():
    x = np.zeros((3, 4), np.uint64)
    with pytest.raises(ValueError, match="uint64"):
        pairs_within(x.astype(np.int64), 3)
    with pytest.raises(ValueError, match="2-D"):
        pairs_within(np.zeros(4, np.uint64), 3)
    with pytest.raises(ValueError, match="at least one word"):
        pairs_within(np.zeros((3, 0), np.uint64), 3)
    with pytest.raises(ValueError, match="numpy array"):
        pairs_within([[1, 2]], 3)
    with pytest.raises(ValueError, match=">= 0"):
        pairs_within(x, -1)
    for bad in (2.5, True, "3", None):
        with pytest.raises(ValueError, match="integer"):
            pairs_within(x, bad)
    with pytest.raises(ValueError, match="same number of words"):
        pairs_across(x, np.zeros((3, 1), np.uint64), 3)
    with pytest.raises(ValueError, match="same number of words"):
        pairs_across(np.zeros((0, 4), np.uint64), np.zeros((0, 1), np.uint64), 3)
    with pytest.raises(ValueError, match="uint64"):
        pairs_across(x, x.astype(np.uint32), 3)
    with pytest.raises(ValueError, match=">= 0"):
        pairs_across(x, x, -2)


def test_distance_histogram_validation():
    x = np.zeros((3, 1), np.uint64)
    with pytest.raises(ValueError, match="labels"):
        distance_histogram(x, np.zeros(2, np.int64), 64)
    with pytest.raises(ValueError, match="labels"):
        distance_histogram(x, np.zeros(3, np.float64), 64)
    with pytest.raises(ValueError, match="labels"):
        distance_histogram(x, np.zeros((3, 1), np.int64), 64)
    with pytest.raises(ValueError, match="bits"):
        distance_histogram(x, np.zeros(3, np.int64), 65)
    with pytest.raises(ValueError, match="bits"):
        distance_histogram(np.zeros((3, 2), np.uint64), np.zeros(3, np.int64), 64)
    with pytest.raises(ValueError, match="bits"):
        distance_histogram(x, np.zeros(3, np.int64), 64.0)


def test_registry_and_default(monkeypatch):
    assert {"cpu", "reference", "mih"} <= set(BACKENDS)
    assert {"cpu", "reference"} <= set(HIST_BACKENDS) and {"cpu", "reference"} <= set(KNN_BACKENDS)
    assert backend_names() == list(pairs.BACKENDS)
    monkeypatch.delenv(pairs.BACKEND_ENV, raising=False)
    assert pairs.default_backend() == "cpu"
    assert get_backend().__name__ == "finder.pairs.cpu"
    for name in BACKENDS:
        module = get_backend(name)
        assert module.__name__ == pairs.BACKENDS[name]
        assert all(callable(getattr(module, f)) for f in ("pairs_within", "pairs_across"))
    with pytest.raises(ValueError, match="unknown pairs backend 'nope'.*available: .*cpu"):
        pairs_within(np.zeros((2, 1), np.uint64), 0, backend="nope")


def test_environment_variable_overrides_default(monkeypatch):
    monkeypatch.setenv(pairs.BACKEND_ENV, "reference")
    assert pairs.default_backend() == "reference"
    assert get_backend().__name__ == "finder.pairs.reference"
    assert get_backend("cpu").__name__ == "finder.pairs.cpu"  # an explicit name wins
    monkeypatch.setenv(pairs.BACKEND_ENV, "nope")
    with pytest.raises(ValueError, match=pairs.BACKEND_ENV):
        pairs_within(np.zeros((2, 1), np.uint64), 0)


def test_backend_without_a_function_raises_not_implemented(monkeypatch):
    monkeypatch.setitem(pairs.BACKENDS, "partial", "finder.algorithms.bits")  # a module without the functions
    with pytest.raises(NotImplementedError, match="'partial' does not implement pairs_within"):
        pairs_within(np.zeros((2, 1), np.uint64), 0, backend="partial")


def _run_python(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_importing_the_contract_does_not_import_numba_or_a_backend():
    _run_python(
        "import sys\n"
        "import finder.pairs\n"
        "assert 'numba' not in sys.modules, 'import finder.pairs imported numba'\n"
        "loaded = [m for m in sys.modules if m.startswith('finder.pairs.')]\n"
        "assert not loaded, f'backends imported eagerly: {loaded}'\n"
        "finder.pairs.get_backend('reference')\n"
        "assert 'numba' not in sys.modules, 'the reference backend imported numba'\n"
    )


# --------------------------------------------------------------------------
# knn: the k nearest rows of each query
# --------------------------------------------------------------------------


def _expected_knn(dm: np.ndarray, k: int):
    """Brute force: per query row, rows by (distance, row), the first k."""
    rows = [sorted(range(dm.shape[1]), key=lambda j, q=q: (dm[q, j], j))[:k] for q in range(dm.shape[0])]
    i = [q for q, row in enumerate(rows) for _ in row]
    j = [c for row in rows for c in row]
    return i, j, dm[i, j] if j else []


@pytest.mark.parametrize("backend", KNN_BACKENDS)
@pytest.mark.parametrize("bits", WIDTHS)
def test_knn_matches_brute_force(backend, bits):
    a, b, dm = _across_case(bits)
    for k in (1, 2, 5, 50, len(b), len(b) + 10):
        _assert_pairs(knn(b, a, k, backend=backend), _expected_knn(dm, k))
        _assert_pairs(knn(a, b, k, backend=backend), _expected_knn(dm.T, k))


@pytest.mark.parametrize("backend", KNN_BACKENDS)
def test_knn_ties_go_to_the_lower_row(backend):
    rows = np.array([[0b1], [0b10], [0b111], [0b100], [0], [0b1000]], np.uint64)
    p = knn(rows, np.array([[0]], np.uint64), 4, backend=backend)
    # distances 1, 1, 3, 1, 0, 1: row 4 at 0, then rows 0, 1, 3 (of the four at distance 1)
    _assert_pairs(p, ([0, 0, 0, 0], [4, 0, 1, 3], [0, 1, 1, 1]))


@pytest.mark.parametrize("backend", KNN_BACKENDS)
def test_knn_empty_and_validation(backend):
    x = planted(20, 4, seed=1)
    e = np.empty((0, 4), np.uint64)
    _assert_pairs(knn(x, e, 3, backend=backend), ([], [], []))
    _assert_pairs(knn(e, x, 3, backend=backend), ([], [], []))
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="k must be"):
            knn(x, x, bad, backend=backend)
    with pytest.raises(ValueError, match="same number of words"):
        knn(x, x[:, :2], 1, backend=backend)


def test_partial_backends_raise_not_implemented():
    x = planted(10, 4, seed=1)
    for name in set(BACKENDS) - set(HIST_BACKENDS):
        with pytest.raises(NotImplementedError, match="distance_histogram"):
            distance_histogram(x, np.zeros(10, np.int64), 256, backend=name)
    for name in set(BACKENDS) - set(KNN_BACKENDS):
        with pytest.raises(NotImplementedError, match="knn"):
            knn(x, x, 1, backend=name)


def test_choose_backend_by_radius_and_batch(monkeypatch):
    monkeypatch.delenv(pairs.BACKEND_ENV, raising=False)
    limit = int(pairs.MIH_MAX_SHARE * 256)
    many = pairs.MIH_MIN_QUERIES
    assert choose_backend(0, 256, 10**6, many) == "mih"
    assert choose_backend(limit, 256, 10**6, many) == "mih"
    assert choose_backend(limit + 1, 256, 10**6, many) == "cpu"
    assert choose_backend(0, 256, 10**6, max(many - 1, 0)) == ("cpu" if many > 0 else "mih")
    monkeypatch.setenv(pairs.BACKEND_ENV, "reference")  # an explicit choice always wins
    assert choose_backend(0, 256, 10**6, many) == "reference"
