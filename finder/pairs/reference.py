"""The ``reference`` backend of :mod:`finder.pairs`: plain numpy, the oracle.

Written to be obviously correct rather than fast.  A block of query rows is
compared with every candidate column at once: ``np.bitwise_xor`` and
``np.bitwise_count`` word by word, summed into an ``int32`` distance block;
``np.nonzero`` of the ``distance <= radius`` mask walks the block row by row,
so matches come out sorted by ``(i, j)``.  Blocks hold at most ``_CELLS``
distances, so memory is ``O(n + matches)`` (each block is bounded, the output
is the only thing that grows), never an ``n x n`` matrix.

Inputs arrive validated by :mod:`finder.pairs` (C-contiguous ``uint64[n, w]``,
a radius in ``[0, 64 w]``, labels ``int64[n]``).
"""

from __future__ import annotations

import numpy as np

from finder.pairs import Pairs

__all__ = ["distance_histogram", "knn", "pairs_across", "pairs_within"]

# Distances computed per block (int32 block plus a uint64 XOR buffer: ~12 MiB).
_CELLS = 1 << 20


def _block_rows(ncols: int) -> int:
    """Query rows per block so that a block holds at most ``_CELLS`` distances."""
    return max(1, _CELLS // max(ncols, 1))


def _block_distances(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Distances of ``rows`` (uint64[r, w]) against ``cols`` (uint64[w, c], word-major): int32[r, c]."""
    d = np.zeros((rows.shape[0], cols.shape[1]), dtype=np.int32)
    x = np.empty(d.shape, dtype=np.uint64)
    for k in range(cols.shape[0]):
        np.bitwise_xor(rows[:, k, None], cols[k][None, :], out=x)
        d += np.bitwise_count(x)
    return d


def _concat(pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Pairs:
    if not pieces:
        return Pairs.empty()
    i, j, d = (np.concatenate(p) for p in zip(*pieces))
    return Pairs(i.astype(np.int64), j.astype(np.int64), d.astype(np.int32))


def pairs_within(words: np.ndarray, radius: int) -> Pairs:
    """Every pair ``i < j`` with distance ``<= radius``.

    Parameters
    ----------
    words : uint64[n, w]
        C-contiguous packed hashes.
    radius : int
        Inclusive radius in ``[0, 64 w]``.

    Returns
    -------
    Pairs
        Sorted by ``(i, j)``.
    """
    n = words.shape[0]
    cols = np.ascontiguousarray(words.T)
    step = _block_rows(n)
    pieces = []
    for i0 in range(0, n - 1, step):
        i1 = min(i0 + step, n)
        lo = i0 + 1
        d = _block_distances(words[i0:i1], cols[:, lo:])
        # Column c of the block is row j = lo + c, so j > i (i = i0 + r) iff c >= r.
        r, c = np.nonzero(np.triu(d <= radius))
        if r.size:
            pieces.append((r + i0, c + lo, d[r, c]))
    return _concat(pieces)


def pairs_across(a: np.ndarray, b: np.ndarray, radius: int) -> Pairs:
    """Every pair ``(i, j)``, ``i`` in ``a`` and ``j`` in ``b``, with distance ``<= radius``.

    Parameters
    ----------
    a : uint64[na, w]
        C-contiguous packed hashes of the first set.
    b : uint64[nb, w]
        C-contiguous packed hashes of the second set.
    radius : int
        Inclusive radius in ``[0, 64 w]``.

    Returns
    -------
    Pairs
        Sorted by ``(i, j)``.
    """
    return range_search(prepare(b), a, radius)


def prepare(words: np.ndarray) -> np.ndarray:
    """The rows word-major (``uint64[w, n]``), as every search of them reads them (see :class:`finder.pairs.Index`)."""
    return np.ascontiguousarray(words.T)


def range_search(cols: np.ndarray, a: np.ndarray, radius: int) -> Pairs:
    """:func:`pairs_across` of the rows ``a`` against prepared rows ``cols``."""
    na, nb = a.shape[0], cols.shape[1]
    if na == 0 or nb == 0:
        return Pairs.empty()
    step = _block_rows(nb)
    pieces = []
    for i0 in range(0, na, step):
        d = _block_distances(a[i0 : i0 + step], cols)
        r, c = np.nonzero(d <= radius)
        if r.size:
            pieces.append((r + i0, c, d[r, c]))
    return _concat(pieces)


def distance_histogram(words: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances of all pairs ``i < j``, counted separately for equal and different labels.

    Parameters
    ----------
    words : uint64[n, w]
        C-contiguous packed hashes.
    labels : int64[n]
        Group of every row.

    Returns
    -------
    same, diff : int64[64 w + 1]
        Pair counts by distance over the full word width, for pairs with equal
        and with different labels.
    """
    n, w = words.shape
    bins = 64 * w + 1
    counts = np.zeros(2 * bins, dtype=np.int64)  # key 2 * distance + (labels equal)
    cols = np.ascontiguousarray(words.T)
    step = _block_rows(n)
    for i0 in range(0, n - 1, step):
        i1 = min(i0 + step, n)
        lo = i0 + 1
        d = _block_distances(words[i0:i1], cols[:, lo:])
        key = 2 * d + (labels[i0:i1, None] == labels[None, lo:])
        upper = np.triu(np.ones(d.shape, dtype=bool))
        counts += np.bincount(key[upper], minlength=2 * bins)
    return counts[1::2].copy(), counts[0::2].copy()


def knn(words: np.ndarray, queries: np.ndarray, k: int) -> Pairs:
    """The ``k`` rows of ``words`` nearest to each query row (ties: the lower row).

    Parameters
    ----------
    words : uint64[n, w]
        C-contiguous rows searched.
    queries : uint64[nq, w]
        C-contiguous query rows.
    k : int
        Neighbours per query, ``1 <= k <= n``.

    Returns
    -------
    Pairs
        ``i`` = query row, ``j`` = row of ``words``, sorted by (i, distance, j).
    """
    nq = queries.shape[0]
    if nq == 0 or k == 0:
        return Pairs.empty()
    cols = np.ascontiguousarray(words.T)
    step = _block_rows(words.shape[0])
    pieces = []
    for i0 in range(0, nq, step):
        d = _block_distances(queries[i0 : i0 + step], cols)
        nearest = np.argsort(d, axis=1, kind="stable")[:, :k]  # stable: equal distances keep row order
        rows = np.repeat(np.arange(i0, i0 + d.shape[0]), k)
        pieces.append((rows, nearest.ravel(), np.take_along_axis(d, nearest, axis=1).ravel()))
    return _concat(pieces)
