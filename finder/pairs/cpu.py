"""The ``cpu`` backend of :mod:`finder.pairs`: all-pairs Hamming search compiled with numba.

Hashes are ``uint64[n, words]`` rows (see :mod:`finder.algorithms.bits`); the Hamming
distance of two rows is the popcount of their XOR summed over the words, so the
bit order inside a word does not matter here.

Backend functions
-----------------
Called by :mod:`finder.pairs`, which validates the inputs first (C-contiguous
``uint64[n, w]``, a radius in ``[0, 64 w]``, labels ``int64[n]``); the
contract's guarantees are documented there.

:func:`pairs_within`
    every pair ``i < j`` of one set with distance ``<= radius``.
:func:`pairs_across`
    every pair ``(ia, ib)`` between two sets with distance ``<= radius``.
:func:`distance_histogram`
    distance histogram of all ``n (n - 1) / 2`` pairs over the full word
    width, split by whether the two rows carry the same label (for
    precision/recall at every threshold).

Two inner loops
---------------
:func:`pairs_within` and :func:`pairs_across` run one of two loops, chosen
per call by :func:`search_loop` (:func:`finder.pairs.simd.cpu_loop`): ``"vector"``,
the loop described below, or ``"bitsliced"`` (:mod:`finder.pairs.bitsliced`:
Harley-Seal carry-save adders over bit planes, faster on AVX2 CPUs without
AVX-512 VPOPCNTDQ).  ``FINDER_POPCOUNT=vector|bitsliced`` forces one.  Both
give identical results; the output slots, overflow recomputation and sorting
below are shared (:func:`_run_pairs`).  The histogram and ``knn`` kernels
always use the vector loop's block distance.

How it is fast
--------------
* The rows are transposed once into a word-major ("structure of arrays")
  layout ``cols[w, k]``, so that the inner loop over candidate rows reads each
  word from a contiguous array.  LLVM then vectorises XOR + popcount over 8
  candidates at a time (``vpopcntq`` on AVX-512 VPOPCNTDQ CPUs; a ``vpshufb``
  nibble-table popcount on AVX2, e.g. 130 ``vpshufb`` and 35 ``vpsadbw`` in
  :func:`_search_chunk` on znver3; a scalar ``popcnt`` loop otherwise).
* Popcount is LLVM's ``llvm.ctpop`` intrinsic, emitted through a small
  ``numba.core.extending.intrinsic`` (numba 0.68 has no public popcount).
  Verified by inspecting the generated assembly: with a fresh
  ``NUMBA_CACHE_DIR`` (cached code cannot be inspected),
  ``_pairs_kernel.inspect_asm(_pairs_kernel.signatures[0])`` holds 81
  ``popcntq`` (scalar paths) and 65 ``vpopcntq %zmm..`` (vectorised paths) on
  the development machine (AMD EPYC, znver5, numba 0.68.1); the test suite
  checks that a function using the intrinsic compiles to ``popcnt``.
* Cache blocking: a chunk of ``_BLOCK_ROWS`` query rows is compared against
  tiles of ``_TILE`` candidate columns that stay in L1 across those rows.
* Early exit (prefilter): for small radii only the first ``p`` words are
  compared in the vectorised loop (``p`` chosen so that random hashes almost
  surely exceed the radius already on those words); a whole block of
  candidates is skipped when the block minimum exceeds the radius, and the
  remaining words are only added for the rare survivors.
* Work balance for the triangular ``i < j`` loop: chunk ``r`` (heavy) is
  scheduled next to chunk ``nc - 1 - r`` (light) and chunks are handed out
  dynamically (``numba.parallel_chunksize(1)``).
* Memory is ``O(n + matches)``: every chunk writes into its own slot of an
  output buffer (never a shared append); a chunk whose matches exceed the slot
  keeps counting without writing and is recomputed afterwards into an exactly
  sized buffer, and slot sizes adapt to the counts seen so far (a first
  launch of two chunks per thread sizes them, so that few chunks are computed
  twice).  Results are
  sorted by ``(i, j)`` per chunk (counting sort by row), so the output is
  deterministic regardless of the number of threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np
from numba import njit, prange, types
from numba.core.extending import intrinsic

from finder import config
from finder.pairs import Pairs

config.prepare_numba_cache(__file__)

__all__ = ["distance_histogram", "knn", "pairs_across", "pairs_within", "two_nearest"]

# Query rows per chunk (one unit of parallel work and one output slot).
_BLOCK_ROWS = 128
# Candidate columns per cache tile (tile * words * 8 bytes should fit in L1).
_TILE = 1024
# Candidates per vectorised block; a block is scanned only if its minimum
# (prefix) distance is within the radius.
_SUB = 512
# Memory allowed for the per-chunk output slots of one kernel launch.
_BUFFER_BYTES = 256 * 2**20
# Bytes per stored match: i (int64) + j (int64) + distance (int32).
_MATCH_BYTES = 20
_BIG = np.uint64(1 << 62)


@intrinsic
def _popcount(typingctx, x):
    """Population count of a uint64 via ``llvm.ctpop`` (hardware popcnt)."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64 and not x.signed):
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


# --------------------------------------------------------------------------
# Vectorisable block distance: first ``p`` words of row ``i`` of ``a`` against
# columns ``lo:hi`` of ``b``; writes buf[0:hi-lo] and returns the minimum.
# --------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _four_words(a, i, b, lo, hi):
    """Row ``i``'s four words of ``a`` and the four word columns ``lo:hi`` of ``b`` (both word-major), as
    separate values: the unrolled form LLVM vectorises (also :mod:`finder.pairs.mirrored`)."""
    return a[0, i], a[1, i], a[2, i], a[3, i], b[0, lo:hi], b[1, lo:hi], b[2, lo:hi], b[3, lo:hi]


@njit(cache=True, inline="always")
def _block_prefix(a, i, b, p, lo, hi, buf):
    # Loops index with ``k in range(hi - lo)`` on slices starting at ``lo``:
    # indices numba knows to be non-negative, so no wraparound selects get in
    # the way of LLVM's vectoriser (``buf[j - lo]`` ran 3x slower).
    m = _BIG
    if p == 1:
        a0 = a[0, i]
        b0 = b[0, lo:hi]
        for k in range(b0.shape[0]):
            d = _popcount(a0 ^ b0[k])
            buf[k] = d
            m = min(m, d)
    elif p == 2:
        a0 = a[0, i]
        a1 = a[1, i]
        b0 = b[0, lo:hi]
        b1 = b[1, lo:hi]
        for k in range(b0.shape[0]):
            d = _popcount(a0 ^ b0[k]) + _popcount(a1 ^ b1[k])
            buf[k] = d
            m = min(m, d)
    elif p == 3:
        a0 = a[0, i]
        a1 = a[1, i]
        a2 = a[2, i]
        b0 = b[0, lo:hi]
        b1 = b[1, lo:hi]
        b2 = b[2, lo:hi]
        for k in range(b0.shape[0]):
            d = _popcount(a0 ^ b0[k]) + _popcount(a1 ^ b1[k]) + _popcount(a2 ^ b2[k])
            buf[k] = d
            m = min(m, d)
    elif p == 4:
        a0, a1, a2, a3, b0, b1, b2, b3 = _four_words(a, i, b, lo, hi)
        for k in range(b0.shape[0]):
            d = (
                _popcount(a0 ^ b0[k])
                + _popcount(a1 ^ b1[k])
                + _popcount(a2 ^ b2[k])
                + _popcount(a3 ^ b3[k])
            )
            buf[k] = d
            m = min(m, d)
    else:
        a0 = a[0, i]
        b0 = b[0, lo:hi]
        for k in range(b0.shape[0]):
            buf[k] = _popcount(a0 ^ b0[k])
        for w in range(1, p):
            aw = a[w, i]
            bw = b[w, lo:hi]
            for k in range(bw.shape[0]):
                buf[k] += _popcount(aw ^ bw[k])
        for k in range(hi - lo):
            m = min(m, buf[k])
    return m


@njit(cache=True)
def _search_chunk(a, b, triangular, dmax, p, i0, i1, cap, out_i, out_j, out_d):
    """Matches of rows ``i0:i1`` of ``a`` against ``b``; returns the count.

    Writes at most ``cap`` matches (sorted by (i, j) when all fit); the return
    value counts all of them so that the caller can detect an overflow.
    """
    words = a.shape[0]
    nb = b.shape[1]
    buf = np.empty(_SUB, dtype=np.uint64)
    cnt = 0
    js = i0 + 1 if triangular else 0
    while js < nb:
        je = min(js + _TILE, nb)
        for i in range(i0, i1):
            lo = max(js, i + 1) if triangular else js
            for s in range(lo, je, _SUB):
                hi = min(s + _SUB, je)
                if _block_prefix(a, i, b, p, s, hi, buf) > dmax:
                    continue
                for k in range(hi - s):
                    d = buf[k]
                    if d > dmax:
                        continue
                    j = s + k
                    for w in range(p, words):
                        d += _popcount(a[w, i] ^ b[w, j])
                    if d <= dmax:
                        if cnt < cap:
                            out_i[cnt] = i
                            out_j[cnt] = j
                            out_d[cnt] = np.int32(d)
                        cnt += 1
        js = je
    if 0 < cnt <= cap:
        _sort_by_row(i0, i1, cnt, out_i, out_j, out_d)
    return cnt


@njit(cache=True)
def _sort_by_row(i0, i1, cnt, out_i, out_j, out_d):
    """Stable counting sort of out[:cnt] by row; rows are in ``i0:i1``.

    Within one row the matches were produced tile by tile with ascending j, so
    the result is sorted by (i, j).
    """
    nrows = i1 - i0
    start = np.zeros(nrows + 1, dtype=np.int64)
    for k in range(cnt):
        start[out_i[k] - i0 + 1] += 1
    for r in range(nrows):
        start[r + 1] += start[r]
    tj = out_j[:cnt].copy()
    td = out_d[:cnt].copy()
    ti = out_i[:cnt].copy()
    for k in range(cnt):
        r = ti[k] - i0
        pos = start[r]
        start[r] = pos + 1
        out_i[pos] = ti[k]
        out_j[pos] = tj[k]
        out_d[pos] = td[k]


@njit(cache=True, parallel=True)
def _pairs_kernel(a, b, triangular, dmax, p, chunks, cap, out_i, out_j, out_d, counts):
    """Run :func:`_search_chunk` for every chunk id in ``chunks`` in parallel.

    Chunk ``c`` covers rows ``c*_BLOCK_ROWS : (c+1)*_BLOCK_ROWS`` of ``a`` and
    writes into row ``k`` of the 2-D output buffers (capacity ``cap``).
    """
    na = a.shape[1]
    for k in prange(chunks.shape[0]):
        i0 = chunks[k] * _BLOCK_ROWS
        i1 = min(i0 + _BLOCK_ROWS, na)
        counts[k] = _search_chunk(a, b, triangular, dmax, p, i0, i1, cap, out_i[k], out_j[k], out_d[k])


@njit(cache=True, parallel=True)
def _hist_kernel(cols, labels, chunks, groups, hist):
    """Per-group histograms of all pairs i < j, keyed ``2 * distance + same``.

    ``groups`` has ``G + 1`` offsets into ``chunks``; group ``g`` processes
    chunks ``chunks[groups[g]:groups[g+1]]`` and accumulates into
    ``hist[g, 0:4, :]`` (four interleaved copies break the store-to-load
    dependency of consecutive increments of the same bin).
    """
    n = cols.shape[1]
    words = cols.shape[0]
    for g in prange(groups.shape[0] - 1):
        h = hist[g]
        buf = np.empty(_TILE, dtype=np.uint64)
        for c in range(groups[g], groups[g + 1]):
            i0 = chunks[c] * _BLOCK_ROWS
            i1 = min(i0 + _BLOCK_ROWS, n)
            js = i0 + 1
            while js < n:
                je = min(js + _TILE, n)
                for i in range(i0, i1):
                    lo = max(js, i + 1)
                    if lo >= je:
                        continue
                    _block_prefix(cols, i, cols, words, lo, je, buf)
                    li = labels[i]
                    lab = labels[lo:je]
                    m = je - lo
                    for k in range(m):
                        buf[k] = buf[k] * np.uint64(2) + np.uint64(lab[k] == li)
                    k = 0
                    while k + 4 <= m:
                        h[0, buf[k]] += 1
                        h[1, buf[k + 1]] += 1
                        h[2, buf[k + 2]] += 1
                        h[3, buf[k + 3]] += 1
                        k += 4
                    while k < m:
                        h[0, buf[k]] += 1
                        k += 1
                js = je


# --------------------------------------------------------------------------
# Python wrappers
# --------------------------------------------------------------------------


def _columns(x: np.ndarray) -> np.ndarray:
    """Word-major copy ``cols[w, k] = x[k, w]`` (C-contiguous, uint64[words, n])."""
    return np.ascontiguousarray(x.T)


def _prefix_words(words: int, dmax: int) -> int:
    """Words compared in the vectorised prefilter.

    The smallest ``p`` for which a random pair's distance over ``p`` words
    (mean ``32 p``, sd ``4 sqrt(p)``) exceeds ``dmax`` by four standard
    deviations, so that whole candidate blocks are skipped after ``p`` words;
    all words when there is no such ``p``.  Correctness does not depend on it.
    """
    for p in range(1, words):
        if 32 * p - dmax >= 16 * math.sqrt(p):
            return p
    return words


def _interleaved(nc: int) -> np.ndarray:
    """Chunk order 0, nc-1, 1, nc-2, ...: heavy and light triangular chunks alternate."""
    order = np.empty(nc, dtype=np.int64)
    order[0::2] = np.arange((nc + 1) // 2)
    order[1::2] = np.arange(nc - 1, (nc + 1) // 2 - 1, -1)
    return order


#: ``run(chunk_ids, cap, out_i, out_j, out_d, counts)``: one loop's kernel on those chunks of rows,
#: writing each chunk's matches into its row of the output buffers and its count into ``counts``.
Launch = Callable[[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


class Prepared:
    """Rows searched many times (:class:`finder.pairs.Index`): their word-major copy for the ``vector`` loop
    and their bit planes for the ``bitsliced`` loop, each made the first time a search needs it."""

    def __init__(self, words: np.ndarray) -> None:
        self.words = words
        self._cols: np.ndarray | None = None
        self._planes: np.ndarray | None = None

    @property
    def cols(self) -> np.ndarray:
        if self._cols is None:
            self._cols = _columns(self.words)
        return self._cols

    @property
    def planes(self) -> np.ndarray:
        if self._planes is None:
            from finder.pairs import bitsliced

            self._planes = bitsliced.planes_of(self.words)
        return self._planes


def _vector_launcher(a: np.ndarray, b: np.ndarray, triangular: bool, dmax: int,
                     b_cols: np.ndarray | None = None) -> Launch:
    """A :data:`Launch` running :func:`_pairs_kernel` (the ``vector`` loop) on chunks of ``a``'s rows.

    Transposes the rows word-major once (one copy when ``b is a``; none for ``b``
    when its copy ``b_cols`` is given) and picks the prefilter width.
    """
    a_cols = _columns(a)
    b_cols = b_cols if b_cols is not None else a_cols if b is a else _columns(b)
    p = _prefix_words(a.shape[1], dmax)
    d64 = np.uint64(dmax)

    def run(chunk_ids: np.ndarray, cap: int, out_i: np.ndarray, out_j: np.ndarray, out_d: np.ndarray,
            counts: np.ndarray) -> None:
        with numba.parallel_chunksize(1):
            _pairs_kernel(a_cols, b_cols, triangular, d64, p, chunk_ids, cap, out_i, out_j, out_d, counts)

    return run


#: Fewest query rows for which the CPU's choice of the ``bitsliced`` loop stands: below, building the
#: candidates' bit planes costs more than the loop saves (``benchmarks/compare_speed.py --planes``: against
#: 10^6 256-bit rows, planes 0.11 s; 16 queries 0.062 s vector / 0.067 s bitsliced, 64: 0.29 / 0.16 s).
BITSLICED_MIN_QUERIES = 32


def search_loop(words: int, dmax: int, queries: int = BITSLICED_MIN_QUERIES) -> str:
    """The inner loop :func:`pairs_within`/:func:`pairs_across` run: ``"vector"`` or ``"bitsliced"``.

    ``$FINDER_POPCOUNT`` when set; otherwise the CPU's choice
    (:func:`finder.pairs.simd.choose_loop`), except that it stays
    ``"vector"`` where that loop's prefilter reads at most half the words
    (small radii: most candidates are left after one or two words; measured
    as fast or faster there) and for fewer than :data:`BITSLICED_MIN_QUERIES`
    query rows.  Hashes wider than :data:`finder.pairs.bitsliced.MAX_WORDS`
    words always use ``"vector"``.

    Parameters
    ----------
    words : int
        Hash width in 64-bit words.
    dmax : int
        Inclusive radius.
    queries : int
        Rows of the first set (all rows for :func:`pairs_within`).
    """
    from finder.pairs import simd

    loop = simd.forced_loop()
    if loop is None:
        loop = simd.choose_loop(simd.host_features())
        if loop == "bitsliced" and (2 * _prefix_words(words, dmax) <= words or queries < BITSLICED_MIN_QUERIES):
            loop = "vector"
    if loop == "bitsliced" and words > 15:  # finder.pairs.bitsliced.MAX_WORDS, not imported for the vector loop
        loop = "vector"
    return loop


def _run_pairs(a: np.ndarray, b: np.ndarray, triangular: bool, dmax: int, prepared: Prepared | None = None) -> Pairs:
    """Drive the chosen loop's kernel over all chunks of ``a``'s rows with adaptive output slots.

    ``prepared``: ``b``'s word-major copy and bit planes, kept by an index that searches ``b`` many times.
    """
    na = a.shape[0]
    dmax = min(dmax, 64 * a.shape[1])
    if search_loop(a.shape[1], dmax, na) == "bitsliced":
        from finder.pairs import bitsliced  # imported (and compiled) only when used

        run = bitsliced.launcher(a, b, triangular, dmax, None if prepared is None else prepared.planes)
    else:
        run = _vector_launcher(a, b, triangular, dmax, None if prepared is None else prepared.cols)
    return _drive(run, na, triangular)


def _drive(run: Launch, na: int, triangular: bool) -> Pairs:
    """Run ``run`` over all chunks of ``na`` query rows with adaptive output slots; the pairs sorted by (i, j)."""
    nc = -(-na // _BLOCK_ROWS)
    order = _interleaved(nc) if triangular else np.arange(nc, dtype=np.int64)
    threads = numba.get_num_threads()
    batch = max(32 * threads, 64)
    max_slots = max(_BUFFER_BYTES // (_MATCH_BYTES * batch), 1)
    cap = min(1024, max_slots)

    counts_all = np.zeros(nc, dtype=np.int64)  # by chunk id
    pieces: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    overflow: list[int] = []
    seen_max = 0

    def launch(chunk_ids: np.ndarray, slots: int):
        k = chunk_ids.shape[0]
        oi = np.empty((k, slots), dtype=np.int64)
        oj = np.empty((k, slots), dtype=np.int64)
        od = np.empty((k, slots), dtype=np.int32)
        cnt = np.zeros(k, dtype=np.int64)
        run(chunk_ids, slots, oi, oj, od, cnt)
        return oi, oj, od, cnt

    # The first launch is small (two chunks per thread): it sizes the slots of
    # the rest, so few chunks overflow and are computed twice.
    start = 0
    while start < nc:
        size = 2 * threads if start == 0 else batch
        ids = order[start : start + size]
        start += size
        oi, oj, od, cnt = launch(ids, cap)
        for k, c in enumerate(ids.tolist()):
            m = int(cnt[k])
            counts_all[c] = m
            if m > cap:
                overflow.append(c)
            elif m:
                pieces[c] = (oi[k, :m].copy(), oj[k, :m].copy(), od[k, :m].copy())
        del oi, oj, od
        seen_max = max(seen_max, int(cnt.max(initial=0)))
        want = 1 << max(int(seen_max * 1.25), 1).bit_length()
        cap = min(max(cap, want), max_slots)

    # Recompute overflowed chunks into exactly sized slots, grouped so that a
    # launch stays within the buffer budget (at least one chunk per launch).
    overflow.sort(key=lambda c: counts_all[c])
    budget = _BUFFER_BYTES // _MATCH_BYTES
    s = 0
    while s < len(overflow):
        e = s + 1
        while e < len(overflow) and (e + 1 - s) * counts_all[overflow[e]] <= budget:
            e += 1
        ids = np.array(overflow[s:e], dtype=np.int64)
        slots = int(counts_all[ids].max())
        oi, oj, od, cnt = launch(ids, slots)
        for k, c in enumerate(ids.tolist()):
            m = int(cnt[k])
            assert m == counts_all[c]
            pieces[c] = (oi[k, :m].copy(), oj[k, :m].copy(), od[k, :m].copy())
        del oi, oj, od
        s = e

    if not pieces:
        return Pairs.empty()
    keys = sorted(pieces)
    i = np.concatenate([pieces[c][0] for c in keys])
    j = np.concatenate([pieces[c][1] for c in keys])
    d = np.concatenate([pieces[c][2] for c in keys])
    return Pairs(i, j, d)


def pairs_within(words: np.ndarray, radius: int) -> Pairs:
    """Every pair ``i < j`` of one set with Hamming distance ``<= radius``.

    Parameters
    ----------
    words : uint64[n, w]
        Packed hashes, one row per image (validated by :mod:`finder.pairs`).
    radius : int
        Inclusive radius in ``[0, 64 w]``.

    Returns
    -------
    Pairs
        ``i, j: int64[m]`` with ``i < j`` and ``distance: int32[m]``, sorted by
        ``(i, j)``; identical for any number of threads.

    Notes
    -----
    Compares all ``n (n - 1) / 2`` pairs in parallel (numba threads); memory is
    ``O(n + m)``.
    """
    if words.shape[0] < 2:
        return Pairs.empty()
    return _run_pairs(words, words, True, radius)


def pairs_across(a: np.ndarray, b: np.ndarray, radius: int) -> Pairs:
    """Every pair ``(ia, ib)`` of two sets with Hamming distance ``<= radius``.

    Parameters
    ----------
    a : uint64[na, w]
        Packed hashes of the first set.
    b : uint64[nb, w]
        Packed hashes of the second set; same number of words as ``a``.
    radius : int
        Inclusive radius in ``[0, 64 w]``.

    Returns
    -------
    Pairs
        ``i`` indexes ``a``, ``j`` indexes ``b`` (int64[m]), ``distance``
        int32[m]; sorted by ``(i, j)``.
    """
    if a.shape[0] == 0 or b.shape[0] == 0:
        return Pairs.empty()
    return _run_pairs(a, b, False, radius)


def prepare(words: np.ndarray) -> Prepared:
    """``words`` ready to be searched many times (see :class:`finder.pairs.Index`)."""
    return Prepared(words)


def range_search(prepared: Prepared, queries: np.ndarray, radius: int) -> Pairs:
    """:func:`pairs_across` of ``queries`` against prepared rows, reusing what earlier searches made."""
    if queries.shape[0] == 0 or prepared.words.shape[0] == 0:
        return Pairs.empty()
    return _run_pairs(queries, prepared.words, False, radius, prepared)


def distance_histogram(words: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of the distances of all pairs ``i < j``, split by label agreement.

    Parameters
    ----------
    words : uint64[n, w]
        Packed hashes.
    labels : int64[n]
        Ground-truth group of every row (C-contiguous).

    Returns
    -------
    same : int64[64 w + 1]
        ``same[d]`` = number of pairs at distance ``d`` with equal labels.
    diff : int64[64 w + 1]
        ``diff[d]`` = number of pairs at distance ``d`` with different labels.
        :func:`finder.pairs.distance_histogram` cuts both to ``bits + 1``.

    Notes
    -----
    Parallel over row chunks with one small histogram per work group, so
    memory is ``O(bits * threads)`` besides the input.
    """
    n, w = words.shape
    width = 64 * w
    if n < 2:
        return np.zeros(width + 1, dtype=np.int64), np.zeros(width + 1, dtype=np.int64)
    cols = _columns(words)
    nc = -(-n // _BLOCK_ROWS)
    order = _interleaved(nc)
    ngroups = min(nc, 4 * numba.get_num_threads())
    # Contiguous slices of the interleaved order: each holds heavy and light chunks.
    groups = np.linspace(0, nc, ngroups + 1).round().astype(np.int64)
    hist = np.zeros((ngroups, 4, 2 * (width + 1)), dtype=np.int64)
    with numba.parallel_chunksize(1):
        _hist_kernel(cols, labels, order, groups, hist)
    total = hist.sum(axis=(0, 1))
    return total[1::2].copy(), total[0::2].copy()


@njit(cache=True, parallel=True)
def _knn_kernel(q_cols, cols, k, out_j, out_d):
    """For every query column ``q``: the ``k`` rows of ``cols`` nearest to it, sorted by (distance, row).

    Two passes over the rows per query: a histogram of distances gives the
    cut distance ``t`` (the k-th smallest) and where each distance starts in
    the output; the second pass writes every row below ``t`` and the first
    rows at ``t``, so ties go to the lower row and no row is sorted.
    """
    words = cols.shape[0]
    n = cols.shape[1]
    for q in prange(q_cols.shape[1]):
        buf = np.empty(_SUB, dtype=np.uint64)
        hist = np.zeros(64 * words + 2, dtype=np.int64)
        for lo in range(0, n, _SUB):
            hi = min(lo + _SUB, n)
            _block_prefix(q_cols, q, cols, words, lo, hi, buf)
            for x in range(hi - lo):
                hist[buf[x]] += 1
        t = 0
        below = 0
        while below + hist[t] < k:
            below += hist[t]
            t += 1
        start = np.zeros(t + 1, dtype=np.int64)
        for d in range(1, t + 1):
            start[d] = start[d - 1] + hist[d - 1]
        left = k - below  # rows to take at distance t, the first ones by row
        for lo in range(0, n, _SUB):
            hi = min(lo + _SUB, n)
            _block_prefix(q_cols, q, cols, words, lo, hi, buf)
            for x in range(hi - lo):
                d = buf[x]
                if d < t or (d == t and left > 0):
                    if d == t:
                        left -= 1
                    out_j[q, start[d]] = lo + x
                    out_d[q, start[d]] = np.int32(d)
                    start[d] += 1


def knn(words: np.ndarray, queries: np.ndarray, k: int) -> Pairs:
    """The ``k`` rows of ``words`` nearest to each query row (ties: the lower row).

    Parameters
    ----------
    words : uint64[n, w]
        Rows searched (validated by :mod:`finder.pairs`).
    queries : uint64[nq, w]
        Query rows; same number of words.
    k : int
        Neighbours per query, ``1 <= k <= n``.

    Returns
    -------
    Pairs
        ``i`` = query row, ``j`` = row of ``words``; ``k`` per query, sorted by
        (i, distance, j).

    Notes
    -----
    Parallel over queries; each query reads all rows twice (``O(nq n)``
    distance computations, ``O(nq k)`` memory).
    """
    nq = queries.shape[0]
    if nq == 0 or k == 0:
        return Pairs.empty()
    out_j = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.int32)
    _knn_kernel(_columns(queries), _columns(words), k, out_j, out_d)
    return Pairs(np.repeat(np.arange(nq, dtype=np.int64), k), out_j.ravel(), out_d.ravel())


@njit(cache=True)
def _two_nearest_kernel(q_cols, cols, out_j, out_d1, out_d2):
    """For every query column: the nearest row of ``cols`` (the first of equals), its distance, and the second
    smallest distance (equal to the first when two rows tie).  One thread: callers run many small searches."""
    words = cols.shape[0]
    n = cols.shape[1]
    buf = np.empty(n, dtype=np.uint64)
    for q in range(q_cols.shape[1]):
        best = _BIG
        for lo in range(0, n, _SUB):  # the distances and their minimum, vectorised
            hi = min(lo + _SUB, n)
            best = min(best, _block_prefix(q_cols, q, cols, words, lo, hi, buf[lo:hi]))
        nearest = 0
        while buf[nearest] != best:
            nearest += 1
        second = _BIG
        for x in range(n):  # branch-free: a vectorised reduction
            second = min(second, _BIG if x == nearest else buf[x])
        out_j[q] = nearest
        out_d1[q] = np.int32(best)
        out_d2[q] = np.int32(second)


def two_nearest(words: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query row, the nearest row of ``words`` and the two smallest distances, for Lowe's ratio test.

    Parameters
    ----------
    words : uint64[n, w], n >= 2
    queries : uint64[nq, w]

    Returns
    -------
    (nearest row int64[nq], its distance int32[nq], the second smallest distance int32[nq]); where two rows
    tie for the nearest, the first of them and a second distance equal to the first.
    """
    if words.shape[0] < 2:
        raise ValueError("two_nearest needs at least two rows")
    nq = queries.shape[0]
    out_j = np.empty(nq, dtype=np.int64)
    out_d1 = np.empty(nq, dtype=np.int32)
    out_d2 = np.empty(nq, dtype=np.int32)
    _two_nearest_kernel(_columns(np.ascontiguousarray(queries)), _columns(np.ascontiguousarray(words)),
                        out_j, out_d1, out_d2)
    return out_j, out_d1, out_d2
