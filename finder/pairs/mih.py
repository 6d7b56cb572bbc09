"""The ``mih`` backend of :mod:`finder.pairs`: multi-index hashing for small radii.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space
with Multi-Index Hashing", CVPR 2012) avoids comparing every pair.  The
``64 w`` bits of a hash are cut into ``m`` disjoint substrings.  If two hashes
are within distance ``r``, then by the pigeonhole principle at least one of
their ``m`` substrings differs in at most ``r' = floor(r / m)`` bits (were all
``m`` to differ in ``r' + 1`` or more, the total would exceed ``r``).  So:

1. **index**: for every substring position ``k``, a table from substring value
   to the rows holding it (a counting sort: ``offsets[k][v] : offsets[k][v+1]``
   into ``ids[k]``, rows ascending);
2. **candidates**: for a query, every value within ``r'`` bits of its
   substring ``k`` is looked up, for every ``k`` -- exactly the rows that
   can match, no approximation;
3. **verify**: each candidate's full distance is computed and kept if ``<= r``.

A row that shares several near substrings with the query is reported once: a
candidate found through substring ``k`` is skipped when an earlier substring
``l < k`` is already within ``r'`` (it was found there), so no "seen" array is
needed and the result does not depend on the number of threads.

The number of substrings is chosen per call from a cost model (table lookups
plus expected candidates per query, see :func:`plan`), with substrings of at
most ``MAX_SUBSTRING_BITS`` bits so each table has at most ``2**20 + 1``
offsets.  MIH wins for small radii, where ``r'`` is 0-2 and few values are
enumerated; for large radii the enumeration grows combinatorially and a linear
scan (the ``cpu`` backend) is faster -- :func:`finder.pairs.choose_backend`
picks between them from the crossover measured by
``benchmarks/mih_crossover.py`` (see docs/performance.md).  Results are exact at every
radius, so the backend passes the same contract test as the others.

Backend functions receive inputs validated by :mod:`finder.pairs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numba
import numpy as np
from numba import njit, prange

from finder import config
from finder.pairs import Pairs
from finder.pairs.cpu import _popcount

config.prepare_numba_cache(__file__)

__all__ = ["MAX_SUBSTRING_BITS", "Index", "build_index", "pairs_across", "pairs_within", "plan"]

#: Longest substring: its table has ``2**bits + 1`` offsets (8 MiB at 20 bits).
MAX_SUBSTRING_BITS = 20
# Queries per parallel chunk (one unit of work and one output slot).
_CHUNK = 64
# Memory allowed for the per-chunk output slots of one kernel launch.
_BUFFER_BYTES = 128 * 2**20
_MATCH_BYTES = 12  # j (int64) + distance (int32)


# --------------------------------------------------------------------------
# Planning: how many substrings
# --------------------------------------------------------------------------


def _ball(bits: int, radius: int) -> int:
    """Number of values within Hamming distance ``radius`` of a ``bits``-bit value."""
    return sum(math.comb(bits, t) for t in range(min(radius, bits) + 1))


def plan(width: int, n: int, radius: int) -> int:
    """Number of substrings ``m`` for an index of ``n`` rows of ``width`` bits searched at ``radius``.

    Minimises the estimated work per query, ``m * ball(s, r') * (1 + n / 2**s)``
    (``ball`` values looked up in each of ``m`` tables, each bucket holding
    ``n / 2**s`` rows on average), over every ``m`` whose substrings have at
    most ``MAX_SUBSTRING_BITS`` bits; ties go to fewer substrings (less memory).

    Parameters
    ----------
    width : int
        Bits per hash (``64 * words``).
    n : int
        Rows in the index.
    radius : int
        Search radius in bits.

    Returns
    -------
    int
        ``m`` in ``[ceil(width / MAX_SUBSTRING_BITS), width]``.
    """
    best, best_cost = width, math.inf
    for m in range(-(-width // MAX_SUBSTRING_BITS), width + 1):
        s = width // m  # the shorter substrings; the longer ones have s + 1 bits
        cost = m * _ball(s + (width % m > 0), radius // m) * (1.0 + n / 2.0**s)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def _layout(width: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Bit offset and length of each of ``m`` nearly equal substrings covering ``width`` bits."""
    lengths = np.full(m, width // m, dtype=np.int64)
    lengths[: width % m] += 1
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return offsets, lengths


@cache
def _masks(bits: int, radius: int) -> np.ndarray:
    """Every ``bits``-bit value of weight ``<= radius`` (the XOR masks to enumerate), by weight."""
    values = np.arange(1 << bits, dtype=np.uint32)
    weight = np.bitwise_count(values)
    keep = values[weight <= radius]
    masks = keep[np.argsort(weight[weight <= radius], kind="stable")]
    masks.flags.writeable = False
    return masks


# --------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _bits_of(x, o, length):
    """Bits ``o : o + length`` of the row ``x`` (bit p is bit ``p % 64`` of word ``p // 64``), ``length <= 32``."""
    wi = o >> 6
    sh = o & 63
    v = x[wi] >> np.uint64(sh)
    if sh + length > 64:
        v |= x[wi + 1] << np.uint64(64 - sh)
    return v & np.uint64((1 << length) - 1)


@njit(cache=True, parallel=True)
def _substrings(words, offsets, lengths, out):
    """``out[k, i]``: substring ``k`` of row ``i`` (substring-major, for the counting sorts)."""
    for i in prange(words.shape[0]):
        for k in range(offsets.shape[0]):
            out[k, i] = np.uint32(_bits_of(words[i], offsets[k], lengths[k]))


@njit(cache=True, parallel=True)
def _build_tables(subs, lengths, starts, offsets, ids):
    """Rows sorted by each substring's value (``ids[k]``, stable) and the CSR offsets of every value.

    A two-pass LSD radix sort per substring (low half of the bits, then the
    high half) keeps each pass's counters in L1 and every read sequential; the
    offsets come from one sweep over the sorted values.  A direct counting
    sort into ``2**s`` counters would miss the cache on every row.
    """
    m, n = subs.shape
    for k in prange(m):
        keys = subs[k]
        length = lengths[k]
        low = length // 2
        low_mask = np.uint32((1 << low) - 1)
        rows1 = np.empty(n, dtype=ids.dtype)
        keys1 = np.empty(n, dtype=np.uint32)
        count = np.zeros((1 << low) + 1, dtype=np.int64)
        for i in range(n):
            count[(keys[i] & low_mask) + 1] += 1
        for b in range(1 << low):
            count[b + 1] += count[b]
        for i in range(n):
            b = keys[i] & low_mask
            rows1[count[b]] = i
            keys1[count[b]] = keys[i]
            count[b] += 1
        count = np.zeros((1 << (length - low)) + 1, dtype=np.int64)
        for t in range(n):
            count[(keys1[t] >> low) + 1] += 1
        for b in range(1 << (length - low)):
            count[b + 1] += count[b]
        out = ids[k]
        keys2 = np.empty(n, dtype=np.uint32)
        for t in range(n):
            b = keys1[t] >> low
            out[count[b]] = rows1[t]
            keys2[count[b]] = keys1[t]
            count[b] += 1
        base = starts[k]
        p = 0
        for v in range(1 << length):
            offsets[base + v] = p
            while p < n and keys2[p] == v:
                p += 1
        offsets[base + (1 << length)] = n


@njit(cache=True)
def _query_chunk(queries, q_subs, words, bit_offsets, lengths, offsets, starts, ids, masks, mask_starts,
                 mask_counts, r_sub, dmax, triangular, q0, q1, cap, out_j, out_d, row_counts):
    """Matches of queries ``q0:q1``: at most ``cap`` (j, d) written, sorted by (query, j); returns the total.

    Each candidate costs one read of its row: the full distance first (most
    candidates fail it), then -- only for matches -- whether an earlier
    substring of the XOR is within ``r_sub`` (then it was reported there).
    """
    m = lengths.shape[0]
    nw = queries.shape[1]
    x = np.empty(nw, dtype=np.uint64)
    cnt = 0
    for q in range(q0, q1):
        first = cnt
        for k in range(m):
            v0 = q_subs[k, q]
            base = starts[k]
            ms = mask_starts[k]
            row_ids = ids[k]
            for t in range(mask_counts[k]):
                v = v0 ^ masks[ms + t]
                for p in range(offsets[base + v], offsets[base + v + 1]):
                    j = row_ids[p]
                    if triangular and j <= q:
                        continue
                    d = np.uint64(0)
                    for w in range(nw):
                        x[w] = queries[q, w] ^ words[j, w]
                        d += _popcount(x[w])
                    if d > dmax:
                        continue
                    seen = False
                    for s in range(k):
                        if _popcount(_bits_of(x, bit_offsets[s], lengths[s])) <= r_sub:
                            seen = True
                            break
                    if seen:
                        continue
                    if cnt < cap:
                        out_j[cnt] = j
                        out_d[cnt] = np.int32(d)
                    cnt += 1
        row_counts[q - q0] = cnt - first
        if cnt <= cap and cnt - first > 1:
            order = np.argsort(out_j[first:cnt])
            out_j[first:cnt] = out_j[first:cnt][order]
            out_d[first:cnt] = out_d[first:cnt][order]
    return cnt


@njit(cache=True, parallel=True)
def _query_kernel(queries, q_subs, words, bit_offsets, lengths, offsets, starts, ids, masks, mask_starts,
                  mask_counts, r_sub, dmax, triangular, chunks, cap, out_j, out_d, row_counts, counts):
    nq = queries.shape[0]
    for c in prange(chunks.shape[0]):
        q0 = chunks[c] * _CHUNK
        q1 = min(q0 + _CHUNK, nq)
        counts[c] = _query_chunk(queries, q_subs, words, bit_offsets, lengths, offsets, starts, ids, masks,
                                 mask_starts, mask_counts, r_sub, dmax, triangular, q0, q1, cap, out_j[c],
                                 out_d[c], row_counts[c])


# --------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    """A multi-index over the rows of one set, for one substring layout.

    Attributes
    ----------
    words : uint64[n, w]
        The indexed rows (C-contiguous).
    bit_offsets, lengths : int64[m]
        Where each substring starts (bit ``p`` is bit ``p % 64`` of word
        ``p // 64``) and how many bits it has.
    subs : uint32[m, n]
        Every row's substrings, substring-major.
    starts : int64[m]
        Where substring ``k``'s offsets begin in ``offsets``.
    offsets : int32 or int64[sum(2**lengths + 1)]
        Per substring, the CSR offsets of each value's rows in ``ids[k]``.
    ids : int32 or int64[m, n]
        Rows sorted by substring value (ascending within a value); int32
        while ``n < 2**31``.
    """

    words: np.ndarray
    bit_offsets: np.ndarray
    lengths: np.ndarray
    subs: np.ndarray
    starts: np.ndarray
    offsets: np.ndarray
    ids: np.ndarray

    @property
    def m(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the index beyond the rows themselves."""
        return int(self.subs.nbytes + self.offsets.nbytes + self.ids.nbytes)


def _substrings_of(words: np.ndarray, bit_offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = np.empty((lengths.shape[0], words.shape[0]), dtype=np.uint32)
    if words.shape[0]:
        _substrings(words, bit_offsets, lengths, out)
    return out


def build_index(words: np.ndarray, m: int) -> Index:
    """Index the rows of ``words`` (C-contiguous ``uint64[n, w]``) by ``m`` substrings.

    Parameters
    ----------
    words : uint64[n, w]
        Rows to index.
    m : int
        Number of substrings, each of at most ``MAX_SUBSTRING_BITS`` bits
        (see :func:`plan`).

    Returns
    -------
    Index
        Built in ``O(m (n + 2**s))`` time (radix sorts), parallel over substrings.
    """
    n = words.shape[0]
    width = 64 * words.shape[1]
    if not -(-width // MAX_SUBSTRING_BITS) <= m <= width:
        raise ValueError(f"m={m} substrings do not fit {width} bits with at most {MAX_SUBSTRING_BITS} bits each")
    bit_offsets, lengths = _layout(width, m)
    subs = _substrings_of(words, bit_offsets, lengths)
    sizes = (np.int64(1) << lengths) + 1
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    index_type = np.int32 if n < 2**31 else np.int64
    offsets = np.empty(int(sizes.sum()), dtype=index_type)
    ids = np.empty((m, n), dtype=index_type)
    _build_tables(subs, lengths, starts, offsets, ids)
    return Index(words, bit_offsets, lengths, subs, starts, offsets, ids)


def search(index: Index, queries: np.ndarray, radius: int, triangular: bool = False) -> Pairs:
    """Every (query row, index row) within ``radius``, sorted by (i, j).

    Parameters
    ----------
    index : Index
        Built over the rows ``j``.
    queries : uint64[nq, w]
        C-contiguous query rows ``i`` (for ``triangular``, the indexed rows themselves).
    radius : int
        Inclusive radius in ``[0, 64 w]``.
    triangular : bool
        Keep only ``j > i`` (all pairs within one set).

    Returns
    -------
    Pairs
    """
    nq = queries.shape[0]
    if nq == 0 or index.words.shape[0] == 0:
        return Pairs.empty()
    r_sub = radius // index.m
    tables = {int(length): _masks(int(length), r_sub) for length in np.unique(index.lengths)}
    lengths = sorted(tables)
    masks = np.concatenate([tables[length] for length in lengths])
    first = dict(zip(lengths, np.concatenate([[0], np.cumsum([len(tables[x]) for x in lengths])[:-1]]).tolist()))
    mask_starts = np.array([first[int(x)] for x in index.lengths], dtype=np.int64)
    mask_counts = np.array([len(tables[int(x)]) for x in index.lengths], dtype=np.int64)
    q_subs = index.subs if triangular else _substrings_of(queries, index.bit_offsets, index.lengths)

    nc = -(-nq // _CHUNK)
    batch = max(16 * numba.get_num_threads(), 32)
    max_cap = max(_BUFFER_BYTES // (_MATCH_BYTES * batch), _CHUNK)
    cap = min(4 * _CHUNK, max_cap)
    pieces: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def launch(ids: np.ndarray, slots: int):
        k = ids.shape[0]
        oj = np.empty((k, slots), dtype=np.int64)
        od = np.empty((k, slots), dtype=np.int32)
        rc = np.zeros((k, _CHUNK), dtype=np.int64)
        cnt = np.zeros(k, dtype=np.int64)
        with numba.parallel_chunksize(1):
            _query_kernel(queries, q_subs, index.words, index.bit_offsets, index.lengths, index.offsets,
                          index.starts, index.ids, masks, mask_starts, mask_counts, np.uint64(r_sub),
                          np.uint64(radius), triangular, ids, slots, oj, od, rc, cnt)
        return oj, od, rc, cnt

    def keep(c: int, oj: np.ndarray, od: np.ndarray, rc: np.ndarray, total: int) -> None:
        if total:
            q0 = c * _CHUNK
            rows = np.repeat(np.arange(q0, q0 + _CHUNK, dtype=np.int64), rc)
            pieces.append((c, rows, oj[:total].copy(), od[:total].copy()))

    overflow: list[tuple[int, int]] = []
    for s in range(0, nc, batch):
        ids = np.arange(s, min(s + batch, nc), dtype=np.int64)
        oj, od, rc, cnt = launch(ids, cap)
        for k, c in enumerate(ids.tolist()):
            total = int(cnt[k])
            if total > cap:
                overflow.append((c, total))
            else:
                keep(c, oj[k], od[k], rc[k], total)
        cap = min(max(cap, 1 << max(int(cnt.max(initial=0) * 1.25), 1).bit_length()), max_cap)
    for c, total in overflow:  # rare: recompute into an exactly sized slot
        oj, od, rc, cnt = launch(np.array([c], dtype=np.int64), total)
        keep(c, oj[0], od[0], rc[0], total)
    if not pieces:
        return Pairs.empty()
    pieces.sort(key=lambda p: p[0])
    return Pairs(np.concatenate([p[1] for p in pieces]), np.concatenate([p[2] for p in pieces]),
                 np.concatenate([p[3] for p in pieces]))


# --------------------------------------------------------------------------
# Backend functions
# --------------------------------------------------------------------------


def pairs_within(words: np.ndarray, radius: int) -> Pairs:
    """Every pair ``i < j`` of one set with Hamming distance ``<= radius``, by multi-index hashing.

    Parameters
    ----------
    words : uint64[n, w]
        Packed hashes (validated by :mod:`finder.pairs`).
    radius : int
        Inclusive radius in ``[0, 64 w]``.

    Returns
    -------
    Pairs
        Sorted by ``(i, j)``, ``i < j``.
    """
    if words.shape[0] < 2:
        return Pairs.empty()
    index = build_index(words, plan(64 * words.shape[1], words.shape[0], radius))
    return search(index, words, radius, triangular=True)


def pairs_across(a: np.ndarray, b: np.ndarray, radius: int) -> Pairs:
    """Every pair ``(i, j)``, ``i`` in ``a`` and ``j`` in ``b``, within ``radius``: ``b`` is indexed, ``a`` queries it.

    Parameters
    ----------
    a : uint64[na, w]
        Query rows.
    b : uint64[nb, w]
        Indexed rows; same number of words.
    radius : int
        Inclusive radius in ``[0, 64 w]``.

    Returns
    -------
    Pairs
        Sorted by ``(i, j)``.
    """
    if a.shape[0] == 0 or b.shape[0] == 0:
        return Pairs.empty()
    index = build_index(b, plan(64 * b.shape[1], b.shape[0], radius))
    return search(index, a, radius)


class Prepared:
    """Rows searched many times (:class:`finder.pairs.Index`): one multi-index per substring count, built
    the first time a radius needs it (the count depends on the radius, see :func:`plan`)."""

    def __init__(self, words: np.ndarray) -> None:
        self.words = words
        self.indexes: dict[int, Index] = {}

    def index(self, radius: int) -> Index:
        m = plan(64 * self.words.shape[1], self.words.shape[0], radius)
        if m not in self.indexes:
            self.indexes[m] = build_index(self.words, m)
        return self.indexes[m]


def prepare(words: np.ndarray) -> Prepared:
    """``words`` ready to be searched many times (see :class:`finder.pairs.Index`)."""
    return Prepared(words)


def range_search(prepared: Prepared, queries: np.ndarray, radius: int) -> Pairs:
    """:func:`pairs_across` of ``queries`` against prepared rows, each multi-index built once."""
    if queries.shape[0] == 0 or prepared.words.shape[0] == 0:
        return Pairs.empty()
    return search(prepared.index(radius), queries, radius)
