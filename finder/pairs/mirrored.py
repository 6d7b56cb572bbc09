"""One pass for two distances: plain against plain, and mirror against plain, for hashes whose mirror
inverts a fixed half of the bits.

FINd's bit for DCT coefficient ``(i, j)`` is ``B[i, j] > median`` (``FIND_SPEC.md`` section 6).  Flipping
the image left to right negates every coefficient of odd horizontal frequency -- FINd's row ``j`` of ``D``
is frequency ``j + 1``, so the even ``j`` -- and those 128 coefficients sit at the even bit positions of
every word (:data:`finder.algorithms.Algorithm.mirror_inverts`).  So the mirror row ``m`` of an image is
its plain row ``p`` with those bits inverted, except for the few coefficients near the median (which
moves a little): ``e = popcount(m ^ p ^ M)`` is 0-20 bits on the shared corpus, median 6.

With ``x = p_i ^ p_j`` split into the bits a mirror keeps (``K``) and those it inverts (``F``)::

    plain distance   d(p_i, p_j)     = pop(x & K) + pop(x & F)
    mirror estimate  d(p_i ^ M, p_j) = pop(x & K) + |F| - pop(x & F)

and the true mirror distance ``d(m_i, p_j)`` is within ``e_i`` of the estimate (triangle inequality).
One pass over the plain rows -- with the bits reordered so that ``K`` and ``F`` fill whole words, so both
sums cost what the plain distance alone costs -- therefore finds every plain match and every pair whose
estimate is within ``view radius + e_i``; the exact mirror distance of those few is counted from ``m_i``.
The pairs are those of two passes (plain x plain, then mirror x plain); the cost is about one.

Backend function of the ``cpu`` family (numba), used by :mod:`finder.match.search` for the default views.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from finder.pairs import Pairs
from finder.pairs.cpu import (
    _BLOCK_ROWS,
    _SUB,
    _TILE,
    Launch,
    _drive,
    _four_words,
    _popcount,
    _sort_by_row,
)

__all__ = ["extra_bits", "pairs_with_mirror", "split_words"]

_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA
_NONE = np.int64(1) << np.int64(40)


@njit(cache=True, inline="always")
def _gather_even(x):
    """The 32 bits at even positions of a uint64, packed into its low half (in order)."""
    x = x & np.uint64(_EVEN)
    x = (x | (x >> np.uint64(1))) & np.uint64(0x3333333333333333)
    x = (x | (x >> np.uint64(2))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    x = (x | (x >> np.uint64(4))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x | (x >> np.uint64(8))) & np.uint64(0x0000FFFF0000FFFF)
    return (x | (x >> np.uint64(16))) & np.uint64(0x00000000FFFFFFFF)


@njit(cache=True)
def _split_columns(words, odd_kept):
    """:func:`split_words`, word-major (``out[w, k]`` is word ``w`` of row ``k``: the kernels' layout)."""
    n, w = words.shape
    half = w // 2
    out = np.empty((w, n), dtype=np.uint64)
    one = np.uint64(1)
    for k in range(n):
        for q in range(half):
            x, y = words[k, 2 * q], words[k, 2 * q + 1]
            ex, ey = _gather_even(x), _gather_even(y)
            ox, oy = _gather_even(x >> one), _gather_even(y >> one)
            if odd_kept:
                kx, ky, fx, fy = ox, oy, ex, ey
            else:
                kx, ky, fx, fy = ex, ey, ox, oy
            out[q, k] = (kx << np.uint64(32)) | ky
            out[half + q, k] = (fx << np.uint64(32)) | fy
    return out


def split_columns(words: np.ndarray, inverts: int) -> np.ndarray:
    """:func:`split_words` of ``words``, word-major: uint64[w, n], C-contiguous (the kernels' layout)."""
    if inverts not in (_EVEN, _ODD):
        raise ValueError("split_words handles masks of every even or every odd bit position")
    if words.shape[1] % 2:
        raise ValueError("split_words needs an even number of words")
    return _split_columns(np.ascontiguousarray(words, dtype=np.uint64), inverts == _EVEN)


def split_words(words: np.ndarray, inverts: int) -> np.ndarray:
    """``words`` (uint64[n, w], w even) with each row's bits reordered: first the bits a mirror keeps, then
    the ``inverts`` bits (every word's even or odd positions), each ``w / 2`` words.

    A fixed permutation of bit positions, so Hamming distances between rows split alike are unchanged.
    """
    return np.ascontiguousarray(split_columns(words, inverts).T)


def extra_bits(plain: np.ndarray, mirror: np.ndarray, inverts: int) -> np.ndarray:
    """int64[n]: ``popcount(mirror ^ plain ^ M)`` per row: how far each mirror row is from the estimate."""
    x = mirror ^ plain ^ np.uint64(inverts)
    return np.bitwise_count(x).sum(axis=1).astype(np.int64)


@njit(cache=True, inline="always")
def _split_block(a, i, b, half, lo, hi, score, dmax, lim, flipped):
    """Per candidate column in ``lo:hi``: the smaller of ``plain - dmax`` and ``estimate - lim`` into ``score``
    (a candidate is looked at again only where it is <= 0); returns the block's minimum."""
    m = _NONE
    if a.shape[0] == 4 and half == 2:  # FINd's width, unrolled as finder.pairs.cpu._block_prefix is, to vectorise
        a0, a1, a2, a3, b0, b1, b2, b3 = _four_words(a, i, b, lo, hi)
        for k in range(b0.shape[0]):
            kp = np.int64(_popcount(a0 ^ b0[k]) + _popcount(a1 ^ b1[k]))
            fp = np.int64(_popcount(a2 ^ b2[k]) + _popcount(a3 ^ b3[k]))
            x = min(kp + fp - dmax, kp + flipped - fp - lim)
            score[k] = x
            m = min(m, x)
    else:
        words = a.shape[0]
        for k in range(hi - lo):
            kp, fp = _halves(a, i, b, lo + k, half, words)
            x = min(kp + fp - dmax, kp + flipped - fp - lim)
            score[k] = x
            m = min(m, x)
    return m


@njit(cache=True, inline="always")
def _halves(a, i, b, j, half, words):
    """Popcounts of row ``i`` of ``a`` XOR column ``j`` of ``b`` over the kept words and over the flipped ones."""
    kp = np.int64(0)
    fp = np.int64(0)
    for w in range(half):
        kp += np.int64(_popcount(a[w, i] ^ b[w, j]))
    for w in range(half, words):
        fp += np.int64(_popcount(a[w, i] ^ b[w, j]))
    return kp, fp


@njit(cache=True, inline="always")
def _emit(cnt, cap, out_i, out_j, out_d, i, j, d):
    """Store match ``cnt`` if the slot has room; the new count (an overflowing chunk is recomputed)."""
    if cnt < cap:
        out_i[cnt] = i
        out_j[cnt] = j
        out_d[cnt] = np.int32(d)
    return cnt + 1


@njit(cache=True)
def _mirror_chunk(a, mirror, b, triangular, dmax, dview, half, limit, i0, i1, cap, out_i, out_j, out_d):
    """Plain matches (distance >= 0) and mirror matches (stored as ``-1 - distance``) of rows ``i0:i1``."""
    words = a.shape[0]
    nb = b.shape[1]
    flipped = np.int64(64 * (words - half))
    score = np.empty(_SUB, dtype=np.int64)
    cnt = 0
    js = i0 + 1 if triangular else 0
    while js < nb:
        je = min(js + _TILE, nb)
        for i in range(i0, i1):
            lo = max(js, i + 1) if triangular else js
            lim = limit[i]
            for s in range(lo, je, _SUB):
                hi = min(s + _SUB, je)
                if _split_block(a, i, b, half, s, hi, score, dmax, lim, flipped) > 0:
                    continue
                for k in range(hi - s):
                    if score[k] > 0:
                        continue
                    j = s + k
                    kp, fp = _halves(a, i, b, j, half, words)
                    if kp + fp <= dmax:
                        cnt = _emit(cnt, cap, out_i, out_j, out_d, i, j, kp + fp)
                    if kp + flipped - fp <= lim:
                        d = np.int64(0)
                        for w in range(words):
                            d += np.int64(_popcount(mirror[w, i] ^ b[w, j]))
                        if d <= dview:
                            cnt = _emit(cnt, cap, out_i, out_j, out_d, i, j, -1 - d)
        js = je
    if 0 < cnt <= cap:
        _sort_by_row(i0, i1, cnt, out_i, out_j, out_d)
    return cnt


@njit(cache=True, parallel=True)
def _mirror_kernel(a, mirror, b, triangular, dmax, dview, half, limit, chunks, cap, out_i, out_j, out_d, counts):
    na = a.shape[1]
    for k in prange(chunks.shape[0]):
        i0 = chunks[k] * _BLOCK_ROWS
        i1 = min(i0 + _BLOCK_ROWS, na)
        counts[k] = _mirror_chunk(a, mirror, b, triangular, dmax, dview, half, limit, i0, i1, cap,
                                  out_i[k], out_j[k], out_d[k])


def pairs_with_mirror(plain_a: np.ndarray, mirror_a: np.ndarray, limit: np.ndarray, plain_b: np.ndarray,
                      dmax: int, dview: int, inverts: int, triangular: bool) -> tuple[Pairs, Pairs]:
    """Plain pairs ``d(plain_a[i], plain_b[j]) <= dmax`` and mirror pairs ``d(mirror_a[i], plain_b[j]) <= dview``
    in one pass.

    Parameters
    ----------
    plain_a, mirror_a : uint64[n, w] (w even): the query files' plain and mirror rows (any row where a file
        has no mirror; its ``limit`` is then -1).
    limit : int64[n]: ``dview + extra_bits`` for the rows whose mirror is searched here, -1 for the others
        (their mirror pairs are not looked for).
    plain_b : uint64[m, w]: the candidates' plain rows; with ``triangular`` ``plain_a`` is its first ``n`` rows
        and only ``j > i`` is compared.
    inverts : the bits a mirror inverts in every word (:func:`split_words`).

    Returns
    -------
    (plain pairs, mirror pairs), each sorted by (i, j), in row numbers of ``plain_a`` and ``plain_b``.
    """
    half = plain_a.shape[1] // 2
    a_cols = split_columns(plain_a, inverts)
    m_cols = split_columns(mirror_a, inverts)
    b_cols = split_columns(plain_b, inverts)
    limits = np.ascontiguousarray(limit, dtype=np.int64)
    d64, v64 = np.int64(dmax), np.int64(dview)

    def run(chunk_ids: np.ndarray, cap: int, out_i: np.ndarray, out_j: np.ndarray, out_d: np.ndarray,
            counts: np.ndarray) -> None:
        with numba.parallel_chunksize(1):
            _mirror_kernel(a_cols, m_cols, b_cols, triangular, d64, v64, half, limits, chunk_ids, cap,
                           out_i, out_j, out_d, counts)

    launch: Launch = run
    both = _drive(launch, plain_a.shape[0], triangular)
    is_mirror = both.distance < 0
    plain = both.select(~is_mirror)
    mirror = both.select(is_mirror)
    return plain, Pairs(mirror.i, mirror.j, (-1 - mirror.distance).astype(mirror.distance.dtype))
