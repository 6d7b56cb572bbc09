"""All-pairs Hamming search: one contract, several interchangeable backends.

Hashes are packed rows ``uint64[n, w]`` (see :mod:`finder.algorithms.bits`); the Hamming
distance of two rows is the popcount of their XOR summed over the ``w`` words.

Contract
--------
:class:`Index`
    rows indexed once, searched many times (``range_search``: the pairs of
    :func:`pairs_across`).
:func:`pairs_within`
    every pair ``i < j`` of one set with distance ``<= radius``.
:func:`pairs_across`
    every pair ``(i, j)``, ``i`` in the first set and ``j`` in the second, with
    distance ``<= radius``.
:func:`distance_histogram`
    distance histogram of all ``n (n - 1) / 2`` pairs of one set, split by
    whether the two rows carry the same label.

Every backend gives exactly the same answer:

* exact search (no approximation); ``radius`` is inclusive, and a radius
  beyond the hash width matches every pair;
* :class:`Pairs` with ``i, j: int64[m]`` and ``distance: int32[m]``, sorted
  lexicographically by ``(i, j)``; within one set always ``i < j``;
* the same result for any number of threads;
* memory ``O(n + matches)`` for pairs and ``O(n + bits)`` per worker for the
  histogram: never an ``n x n`` matrix;
* inputs are never modified.

Backends
--------
``BACKENDS`` maps a name to the module implementing it; a module is imported
only when first used, so importing this package needs numpy only (no numba).
Choose a backend per call with ``backend=``, or for the whole process with the
environment variable ``FINDER_PAIRS_BACKEND``; otherwise ``"cpu"`` is used.

``"cpu"``
    numba kernels, parallel and cache-blocked (:mod:`finder.pairs.cpu`).
``"reference"``
    plain numpy, block by block: slow but obviously correct; the oracle the
    other backends are tested against (:mod:`finder.pairs.reference`).
``"mih"``
    multi-index hashing (:mod:`finder.pairs.mih`): exact candidate generation
    from substring tables, fast for small radii; pairs only.
    :func:`choose_backend` picks it over ``"cpu"`` below the crossover radius
    measured by ``benchmarks/mih_crossover.py``, and ``"reference"`` for small
    searches, which it finishes before numba could be imported.
``"cuda"``
    an NVIDIA GPU through numba-cuda (:mod:`finder.pairs.cuda`, the ``gpu``
    extra): tiles in shared memory, count then fill; pairs only.  Chosen with
    ``--device cuda`` (:func:`finder.config.choose_pairs_backend`), never by
    :func:`choose_backend` on its own.

The functions here validate their inputs once and hand a backend only clean
data: C-contiguous ``uint64[n, w]`` arrays with ``w >= 1`` (the same ``w`` for
both sets), a radius that is a Python ``int`` in ``[0, 64 w]``, labels as
contiguous ``int64[n]``.  A backend module provides some of

``pairs_within(words, radius) -> Pairs``
``pairs_across(a, b, radius) -> Pairs``
``distance_histogram(words, labels) -> (same, diff)``
    ``int64[64 w + 1]`` each, over the full word width; the padding check and
    the cut to ``bits + 1`` bins happen here.

``knn(words, queries, k) -> Pairs``
    ``1 <= k <= n``; the ``k`` nearest rows of ``words`` for every query row,
    sorted by (query, distance, row): ties go to the lower row.
``prepare(words) -> state`` and ``range_search(state, queries, radius) -> Pairs``
    what :class:`Index` keeps of the indexed rows, and a search with it:
    exactly ``pairs_across(queries, words, radius)``.

and calling one it lacks raises :class:`NotImplementedError`, so a backend
may do only part of the job (``"mih"`` and ``"cuda"`` have no histogram or
knn).  A new backend is registered in ``BACKENDS`` and is then run by
``tests/test_pairs_contract.py`` against brute force and the other backends
(``"cuda"`` by ``tests/test_cuda.py``, in Numba's CUDA simulator).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from finder import config

__all__ = [
    "BACKENDS",
    "BACKEND_ENV",
    "DEFAULT_BACKEND",
    "Index",
    "Pairs",
    "backend_names",
    "default_backend",
    "distance_histogram",
    "get_backend",
    "knn",
    "choose_backend",
    "pairs_across",
    "pairs_within",
]

#: Backend name -> module implementing it (imported lazily by :func:`get_backend`).
BACKENDS: dict[str, str] = {
    "cpu": "finder.pairs.cpu",
    "reference": "finder.pairs.reference",
    "mih": "finder.pairs.mih",
    "cuda": "finder.pairs.cuda",
}
DEFAULT_BACKEND = "cpu"
#: Backends whose kernels are compiled (numba): once one is loaded, it is the fastest at every size.
COMPILED_BACKENDS = frozenset({"cpu", "mih", "cuda"})
#: Backends this process has loaded through :func:`get_backend` (what :func:`choose_backend` knows of the past).
loaded: set[str] = set()
#: Environment variable naming the backend used when a call gives none.
BACKEND_ENV = config.PAIRS_BACKEND


@dataclass(frozen=True)
class Pairs:
    """Matching pairs, sorted lexicographically by ``(i, j)``.

    ``len(pairs)`` is the number of pairs; ``i, j, d = pairs`` unpacks the
    three arrays.

    Attributes
    ----------
    i : int64[m]
        Row in the first (or only) set.
    j : int64[m]
        Row in the second set (for :func:`pairs_within`, also the only set;
        always ``i < j`` there).
    distance : int32[m]
        Hamming distance of the pair.
    """

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return int(self.i.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.i, self.j, self.distance))

    @classmethod
    def empty(cls) -> Pairs:
        """No pairs (arrays of length 0 with the contract's dtypes)."""
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32))

    @classmethod
    def concat(cls, parts: Sequence[Pairs]) -> Pairs:
        """``parts`` one after another (not sorted again: parts in (i, j) order make pairs in order)."""
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(np.concatenate([p.i for p in parts]), np.concatenate([p.j for p in parts]),
                   np.concatenate([p.distance for p in parts]))

    def select(self, keep: np.ndarray) -> Pairs:
        """The pairs where ``keep`` (a bool mask or indices) says so, in their order."""
        return Pairs(self.i[keep], self.j[keep], self.distance[keep])

    def keys(self, width: int) -> np.ndarray:
        """One int64 per pair, ``i * width + j`` (``width`` above every ``j``): pairs as set members."""
        return self.i * width + self.j


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------


def backend_names() -> list[str]:
    """Names of all registered backends, in registration order."""
    return list(BACKENDS)


def default_backend() -> str:
    """The backend used when a call names none: ``$FINDER_PAIRS_BACKEND`` if set, else ``"cpu"``."""
    return config.pairs_backend() or DEFAULT_BACKEND


def _resolve(name: str | None) -> str:
    chosen = default_backend() if name is None else name
    if chosen not in BACKENDS:
        source = f" (from ${BACKEND_ENV})" if name is None else ""
        raise ValueError(f"unknown pairs backend {chosen!r}{source}; available: {', '.join(BACKENDS)}")
    return chosen


def get_backend(name: str | None = None) -> ModuleType:
    """The module implementing backend ``name`` (default: :func:`default_backend`), imported on first use.

    Raises
    ------
    ValueError
        If ``name`` is not registered in ``BACKENDS``.
    """
    chosen = _resolve(name)
    module = importlib.import_module(BACKENDS[chosen])
    loaded.add(chosen)
    return module


def _function(backend: str | None, op: str) -> Any:
    name = _resolve(backend)
    fn = getattr(get_backend(name), op, None)
    if fn is None:
        raise NotImplementedError(f"pairs backend {name!r} does not implement {op}")
    return fn


# --------------------------------------------------------------------------
# Validation (done once here, so that backends receive clean inputs)
# --------------------------------------------------------------------------


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_words(x: object, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        # ValueError, not TypeError: the contract raises one exception type for all bad input.
        raise ValueError(f"{name} must be a numpy array of uint64, got {type(x).__name__}")  # noqa: TRY004
    if x.dtype != np.uint64:
        raise ValueError(f"{name} must have dtype uint64, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, words), got {x.ndim}-D with shape {x.shape}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one word per row, got shape {x.shape}")
    return np.ascontiguousarray(x)


def _check_radius(radius: object, words: int) -> int:
    """``radius`` as a Python int, capped at the hash width ``64 * words``."""
    if not _is_int(radius):
        raise ValueError(f"radius must be an integer, got {radius!r}")
    value = int(radius)  # type: ignore[call-overload]  # an integer: checked above
    if value < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return min(value, 64 * words)


# --------------------------------------------------------------------------
# Contract
# --------------------------------------------------------------------------


def pairs_within(words: np.ndarray, radius: int, *, backend: str | None = None) -> Pairs:
    """Every pair ``i < j`` of one set with Hamming distance ``<= radius``.

    Parameters
    ----------
    words : uint64[n, w]
        Packed hashes, one row per image (made C-contiguous if needed).
    radius : int
        Inclusive radius, ``>= 0``; values beyond the hash width match every
        pair.
    backend : str, optional
        A name from :func:`backend_names`; default :func:`default_backend`.

    Returns
    -------
    Pairs
        ``i, j: int64[m]`` with ``i < j`` and ``distance: int32[m]``, sorted by
        ``(i, j)``.

    Raises
    ------
    ValueError
        If ``words`` is not a 2-D uint64 array with at least one word per row,
        ``radius`` is not an integer ``>= 0``, or ``backend`` is unknown.
    """
    words = _check_words(words, "words")
    r = _check_radius(radius, words.shape[1])
    return _function(backend, "pairs_within")(words, r)


def pairs_across(a: np.ndarray, b: np.ndarray, radius: int, *, backend: str | None = None) -> Pairs:
    """Every pair ``(i, j)``, ``i`` in ``a`` and ``j`` in ``b``, with Hamming distance ``<= radius``.

    Parameters
    ----------
    a : uint64[na, w]
        Packed hashes of the first set.
    b : uint64[nb, w]
        Packed hashes of the second set; the same number of words as ``a``.
    radius : int
        Inclusive radius, ``>= 0``.
    backend : str, optional
        A name from :func:`backend_names`; default :func:`default_backend`.

    Returns
    -------
    Pairs
        ``i`` indexes ``a``, ``j`` indexes ``b`` (int64[m]), ``distance``
        int32[m]; sorted by ``(i, j)``.  Empty when either set is.

    Raises
    ------
    ValueError
        On a wrong type, dtype or shape, different word counts, a bad radius
        or an unknown backend.
    """
    a = _check_words(a, "a")
    b = _check_words(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of words per hash, got {a.shape[1]} and {b.shape[1]}")
    r = _check_radius(radius, a.shape[1])
    return _function(backend, "pairs_across")(a, b, r)


class Index:
    """Rows indexed once and searched many times: FAISS's ``add`` / ``range_search`` shape.

    ``Index(archive).range_search(queries, radius)`` gives exactly
    ``pairs_across(queries, archive, radius)``, but what a backend makes of the
    indexed rows (the ``cpu`` backend's word-major copy and bit planes, the
    ``mih`` backend's substring tables, one per substring count) is made the
    first time a search needs it and kept for the next: a set searched block
    by block, or by one query after another, is prepared once.

    Parameters
    ----------
    words : uint64[n, w]
        The indexed rows (made C-contiguous if needed; not modified).
    """

    def __init__(self, words: np.ndarray) -> None:
        self.words = _check_words(words, "words")
        self._prepared: dict[str, Any] = {}

    def __len__(self) -> int:
        return int(self.words.shape[0])

    def range_search(self, queries: np.ndarray, radius: int, *, backend: str | None = None) -> Pairs:
        """Every (query row ``i``, indexed row ``j``) within ``radius``, sorted by ``(i, j)``.

        ``backend``: as for :func:`pairs_across` (``None``: :func:`default_backend`).
        ValueError on bad queries, a different word count or a bad radius.
        """
        queries = _check_words(queries, "queries")
        if queries.shape[1] != self.words.shape[1]:
            raise ValueError(f"queries must have {self.words.shape[1]} words per hash like the index, "
                             f"got {queries.shape[1]}")
        r = _check_radius(radius, self.words.shape[1])
        name = _resolve(backend)
        module = get_backend(name)
        if not hasattr(module, "range_search"):
            raise NotImplementedError(f"pairs backend {name!r} does not implement range_search")
        if name not in self._prepared:
            self._prepared[name] = module.prepare(self.words)
        return module.range_search(self._prepared[name], queries, r)


def distance_histogram(
    words: np.ndarray, labels: np.ndarray, bits: int, *, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of the distances of all pairs ``i < j``, split by label agreement.

    Gives precision and recall at every threshold at once without
    materialising any pair.

    Parameters
    ----------
    words : uint64[n, w]
        Packed hashes.
    labels : integer[n]
        Ground-truth group of every row (rows with equal labels are true
        duplicates).
    bits : int
        Hash width; ``64 * (w - 1) < bits <= 64 * w``.  Padding bits must be
        zero (as :func:`finder.algorithms.bits.pack_bits` leaves them).
    backend : str, optional
        A name from :func:`backend_names`; default :func:`default_backend`.

    Returns
    -------
    same : int64[bits + 1]
        ``same[d]`` = number of pairs at distance ``d`` with equal labels.
    diff : int64[bits + 1]
        ``diff[d]`` = number of pairs at distance ``d`` with different labels;
        ``same.sum() + diff.sum() == n (n - 1) / 2``.

    Raises
    ------
    ValueError
        On bad ``words``, labels that are not ``n`` integers, a ``bits`` that
        does not fit ``w`` words, a distance above ``bits`` (non-zero padding
        bits) or an unknown backend.
    """
    words = _check_words(words, "words")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != words.shape[0]:
        raise ValueError(f"labels must have shape ({words.shape[0]},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    w = words.shape[1]
    if not _is_int(bits):
        raise ValueError(f"bits must be an integer, got {bits!r}")
    if not 64 * (w - 1) < bits <= 64 * w:
        raise ValueError(f"bits={bits} does not fit {w} words per hash (needs {64 * (w - 1) + 1}..{64 * w})")
    same, diff = _function(backend, "distance_histogram")(words, labels)
    if same[bits + 1 :].any() or diff[bits + 1 :].any():
        raise ValueError(f"some distances exceed bits={bits}: are the padding bits non-zero?")
    return same[: bits + 1].copy(), diff[: bits + 1].copy()


def knn(words: np.ndarray, queries: np.ndarray, k: int, *, backend: str | None = None) -> Pairs:
    """The ``k`` rows of ``words`` nearest to each row of ``queries`` (exact; ties go to the lower row).

    Parameters
    ----------
    words : uint64[n, w]
        Rows searched (e.g. an archive).
    queries : uint64[nq, w]
        Query rows; the same number of words.
    k : int
        Neighbours per query, ``>= 1``; more than ``n`` gives all ``n``.
    backend : str, optional
        A name from :func:`backend_names`; default :func:`default_backend`.

    Returns
    -------
    Pairs
        ``i`` = query row, ``j`` = row of ``words``, ``distance``; exactly
        ``min(k, n)`` per query, sorted by (i, distance, j) -- nearest first,
        not by (i, j) like the pair searches.

    Raises
    ------
    ValueError
        On bad arrays, different word counts, a ``k`` that is not an integer
        ``>= 1``, or an unknown backend.
    """
    words = _check_words(words, "words")
    queries = _check_words(queries, "queries")
    if words.shape[1] != queries.shape[1]:
        raise ValueError(f"words and queries must have the same number of words per hash, "
                         f"got {words.shape[1]} and {queries.shape[1]}")
    if not _is_int(k) or int(k) < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    kk = min(int(k), words.shape[0])
    if kk == 0 or queries.shape[0] == 0:
        return Pairs.empty()
    return _function(backend, "knn")(words, queries, kk)


#: Largest radius, as a share of the hash width, at which ``mih`` was measured faster than ``cpu``:
#: all pairs within 10^5 hashes up to 28 of 256 bits and 7 of 64, a query against 10^6 up to 34 of 256
#: (``benchmarks/mih_crossover.py``; docs/performance.md, "Multi-index hashing").
MIH_MAX_SHARE = 0.11
#: Fewest query rows for which building the ``mih`` index pays off (measured: 1,200-3,000 against
#: 10^6 rows; about the same for any size, as both the build and a linear scan grow with it).
MIH_MIN_QUERIES = 2000
#: Largest search (rows indexed x query rows) given to the numpy ``reference`` backend: below it, numpy's
#: blocks finish before numba could be imported and its cached kernels loaded (1-2 s from a cold process on
#: the development machine; all pairs of 4,096 rows of 256 bits take ~0.3 s in numpy, a sixth of that, so a
#: command making several searches still finishes first: ``benchmarks/small_jobs.py --crossover``).
REFERENCE_MAX_CELLS = 4096 * 4096


def choose_backend(radius: int, width: int, n_indexed: int, n_queries: int) -> str:
    """The backend measured fastest for a search of this size and radius.

    ``"reference"`` (numpy) for searches of at most :data:`REFERENCE_MAX_CELLS`
    row pairs while numba's kernels are not loaded in this process, where
    importing them would cost more than the search; ``"mih"``
    where multi-index hashing is measured to beat the linear scan; else
    :func:`default_backend`.  Every backend gives the same result.

    Parameters
    ----------
    radius : int
        Search radius in bits.
    width : int
        Hash width in bits.
    n_indexed : int
        Rows that would be indexed (the archive); with ``n_queries`` the size of the search
        (the ``mih`` rule does not depend on it: it holds across sizes).
    n_queries : int
        Query rows searched against them.

    Returns
    -------
    str
        A backend name.  ``$FINDER_PAIRS_BACKEND`` always wins when set.
    """
    if config.pairs_backend():
        return default_backend()
    if n_indexed * n_queries <= REFERENCE_MAX_CELLS and not loaded & COMPILED_BACKENDS:
        return "reference"  # once a large search has loaded the kernels, they are faster at every size
    if radius <= MIH_MAX_SHARE * width and n_queries >= MIH_MIN_QUERIES:
        return "mih"
    return default_backend()
