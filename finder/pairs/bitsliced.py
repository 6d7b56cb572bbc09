"""The ``bitsliced`` loop of the ``cpu`` pairs backend: carry-save adders over bit planes.

:mod:`finder.pairs.cpu` runs this loop for :func:`~finder.pairs.pairs_within`
and :func:`~finder.pairs.pairs_across` where :func:`finder.pairs.cpu.search_loop`
chooses it (AVX2 CPUs without AVX-512 VPOPCNTDQ, or ``FINDER_POPCOUNT=bitsliced``).

Why
---
AVX2 has no vector popcount.  The ``vector`` loop's XOR + popcount of four
candidates at a time becomes a ``vpshufb`` nibble-table count there: about
ten vector instructions per pair of 256-bit hashes (167 per 16 pairs in the
generated assembly on AMD EPYC, znver3).  Counted *bit-sliced*, 256 pairs at
a time, the same distances take about five, all of them AND/OR/XOR, which
every vector port executes (123 instructions per step of 16 planes below,
about 8 steps per query, plus the comparison).

Layout
------
The candidates (rows of ``b``) are cut into groups of :data:`GROUP` = 256 rows.
``planes[g, t, l]`` holds, in bit ``c``, bit ``t`` of row ``256 g + 64 l + c``,
where bit ``t`` of a row is bit ``t % 64`` of its word ``t // 64``: a group
is ``64 w`` planes of four words, one 256-bit register per plane.  Then come
a zero plane and ten planes holding each row's popcount, bit-sliced.  Rows
past the end of ``b`` are zero and never reported.  Memory: about ``8 w``
bytes per row of ``b`` (the size of ``b``), built by :func:`planes_of`.

Kernel
------
The distance of query ``a`` and candidate ``b`` is ``|a| + |b| - 2 |a & b|``
(``|x|`` = popcount), and ``|a & b|`` is the number of planes ``t`` with
``a_t = 1`` in which ``b`` has a one: only the planes of ``a``'s one bits
are summed, or of its zero bits when those are fewer
(``|a| - |b| + 2 |~a & b|``), so at most half the planes and no XOR.  Sixteen
planes at a time are added by 15 carry-save adders (Harley-Seal) into
counters held *bit-sliced* — register ``k`` holds bit ``k`` of all 256 sums —
and a bit-sliced subtraction and comparison with the stored ``|b|`` planes
give four 64-bit masks of the candidates within the radius.  Only their
(rare) set bits are visited, and each match's distance is recomputed from
the rows with ``popcount``.  The adders are written in LLVM vector IR
(``<4 x i64>``, the intrinsics below), so the loop does not depend on LLVM's
auto-vectoriser: on AVX2 every operation is one ``ymm`` instruction, and
narrower SIMD splits it.  No early exit: the ``vector`` loop's prefilter
(first words only) is what small radii want, and :func:`finder.pairs.cpu.search_loop`
keeps them there.

The rest is the ``vector`` loop's: chunks of :data:`~finder.pairs.cpu._BLOCK_ROWS`
query rows, each writing its own output slot, sorted by ``(i, j)``
(:func:`finder.pairs.cpu._sort_by_row`), and candidate groups tiled so that
a tile of planes (:func:`tile_groups`) stays in L1 across those rows; each
query row's plane list is made once per chunk.  Hashes of up to
:data:`MAX_WORDS` words (960 bits: ten counter bits); the caller uses the
``vector`` loop for wider ones.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.core.extending import intrinsic

from finder import config
from finder.pairs.cpu import _BLOCK_ROWS, Launch, _popcount, _sort_by_row

config.prepare_numba_cache(__file__)

__all__ = ["GROUP", "MAX_WORDS", "launcher", "planes_of", "tile_groups"]

#: Candidate rows per group: four 64-bit lanes, one 256-bit register per plane.
GROUP = 256
_LANES = 4
#: Planes added per Harley-Seal step (15 carry-save adders).
_STEP = 16
#: Bits of the bit-sliced counters and of the stored popcounts (up to 2**10 - 1).
_COUNTER_BITS = 10
#: Bits of the signed difference ``+-(2 S - B)`` (two's complement, |value| < 2**11).
_W_BITS = 12
#: Widest hash (in 64-bit words) the counters hold: 15 * 64 = 960 < 2**10.
MAX_WORDS = 15
#: Bytes of planes per cache tile (groups reused across a chunk's rows).
_TILE_BYTES = 32 * 1024

_V = ir.VectorType(ir.IntType(64), _LANES)
_I64 = ir.IntType(64)


# --------------------------------------------------------------------------
# LLVM IR: carry-save adders and the bit-sliced comparison
# --------------------------------------------------------------------------


def _splat(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """``<x, x, x, x>``."""
    one = builder.insert_element(ir.Constant(_V, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, ir.Constant(_V, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES))


def _csa(builder: ir.IRBuilder, a: ir.Value, b: ir.Value, c: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Carry-save adder, bit by bit: ``(carry, sum)`` of ``a + b + c``."""
    u = builder.xor(a, b)
    return builder.or_(builder.and_(a, b), builder.and_(u, c)), builder.xor(u, c)


def _add16(builder: ir.IRBuilder, x: list[ir.Value], slots: list[ir.Value]) -> None:
    """Add 16 one-bit vectors ``x`` into the bit-sliced counters in ``slots`` (Harley-Seal)."""
    ones, twos, fours, eights = (builder.load(s) for s in slots[:4])
    t_a, ones = _csa(builder, ones, x[0], x[1])
    t_b, ones = _csa(builder, ones, x[2], x[3])
    f_a, twos = _csa(builder, twos, t_a, t_b)
    t_a, ones = _csa(builder, ones, x[4], x[5])
    t_b, ones = _csa(builder, ones, x[6], x[7])
    f_b, twos = _csa(builder, twos, t_a, t_b)
    e_a, fours = _csa(builder, fours, f_a, f_b)
    t_a, ones = _csa(builder, ones, x[8], x[9])
    t_b, ones = _csa(builder, ones, x[10], x[11])
    f_a, twos = _csa(builder, twos, t_a, t_b)
    t_a, ones = _csa(builder, ones, x[12], x[13])
    t_b, ones = _csa(builder, ones, x[14], x[15])
    f_b, twos = _csa(builder, twos, t_a, t_b)
    e_b, fours = _csa(builder, fours, f_a, f_b)
    carry, eights = _csa(builder, eights, e_a, e_b)
    for slot, value in zip(slots[:4], (ones, twos, fours, eights)):
        builder.store(value, slot)
    for slot in slots[4:]:  # ripple the sixteens into bits 4..9 (no overflow: distances < 2**10)
        bit = builder.load(slot)
        builder.store(builder.xor(bit, carry), slot)
        carry = builder.and_(bit, carry)


def _is_c_array(ty: types.Type, ndim: int, dtype: types.Type = types.uint64) -> bool:
    return isinstance(ty, types.Array) and ty.dtype == dtype and ty.ndim == ndim and ty.layout == "C"


def _vec(builder: ir.IRBuilder, ptr: ir.Value, k: int | ir.Value) -> ir.Value:
    """Pointer to the ``k``-th ``<4 x i64>`` from ``ptr`` (an ``i64*``)."""
    offset = ir.Constant(_I64, _LANES * k) if isinstance(k, int) else builder.mul(k, ir.Constant(_I64, _LANES))
    return builder.bitcast(builder.gep(ptr, [offset]), _V.as_pointer())


@intrinsic
def _count(typingctx, planes, g, sel, steps, counters):
    """``counters`` (``uint64[10, 4]``) = bit-sliced sum of the planes ``sel[0 : 16 steps]`` of group ``g``.

    ``sel`` (int32) holds element offsets (``4 t``) of planes within the group.
    """
    if not (_is_c_array(planes, 3) and _is_c_array(sel, 1, types.int32) and _is_c_array(counters, 2)):
        return None
    if not (isinstance(g, types.Integer) and isinstance(steps, types.Integer)):
        return None
    sig = types.void(planes, g, sel, steps, counters)

    def codegen(context, builder, signature, args):
        planes_v, g_v, sel_v, steps_v, counters_v = args
        ty = signature.args
        pa = context.make_array(ty[0])(context, builder, planes_v)
        sa = context.make_array(ty[2])(context, builder, sel_v)
        ca = context.make_array(ty[4])(context, builder, counters_v)
        g_i = context.cast(builder, g_v, ty[1], types.int64)
        steps_i = context.cast(builder, steps_v, ty[3], types.int64)
        per_group = builder.mul(cgutils.unpack_tuple(builder, pa.shape)[1], ir.Constant(_I64, _LANES))
        base = builder.gep(pa.data, [builder.mul(g_i, per_group)])
        slots = [cgutils.alloca_once_value(builder, ir.Constant(_V, [0] * _LANES)) for _ in range(_COUNTER_BITS)]
        with cgutils.for_range(builder, steps_i) as loop:
            t0 = builder.mul(loop.index, ir.Constant(_I64, _STEP))
            x = []
            for k in range(_STEP):
                offset = builder.sext(builder.load(builder.gep(sa.data, [builder.add(t0, ir.Constant(_I64, k))])), _I64)
                ptr = builder.bitcast(builder.gep(base, [offset]), _V.as_pointer())
                x.append(builder.load(ptr, align=8))
            _add16(builder, x, slots)
        for k in range(_COUNTER_BITS):
            builder.store(builder.load(slots[k]), _vec(builder, ca.data, k), align=8)
        return context.get_dummy_value()

    return sig, codegen


def _within_intrinsic(ones: bool):
    """An intrinsic ``(planes, g, counters, limit, masks) -> bool`` comparing group ``g`` with a query.

    With ``S`` = ``counters`` (the sum of the query's selected planes), ``B``
    = the candidates' popcounts (planes ``64 w + 1 ...`` of the group) and
    ``A`` the query's popcount, the distance is ``A + B - 2 S`` when the
    query's one bits were selected (``ones``) and ``A - B + 2 S`` when its
    zero bits were; both are ``<= dmax`` exactly when ``W <= dmax - A`` with
    ``W = B - 2 S`` or ``2 S - B``.  ``W`` is computed bit-sliced in 12-bit
    two's complement (a ripple-carry ``X + ~Y + 1``) and compared unsigned
    after flipping its sign bit with ``dmax - A + 2**11``, given as
    ``limit[k]`` = its bit ``k`` spread over a word (0 or all ones).
    ``masks[l]`` gets the bits of lane ``l`` within the radius; returns
    whether any is set.
    """

    def typer(typingctx, planes, g, counters, limit, masks):
        if not (_is_c_array(planes, 3) and _is_c_array(counters, 2) and _is_c_array(limit, 1)
                and _is_c_array(masks, 1) and isinstance(g, types.Integer)):
            return None
        sig = types.boolean(planes, g, counters, limit, masks)

        def codegen(context, builder, signature, args):
            planes_v, g_v, counters_v, limit_v, masks_v = args
            ty = signature.args
            pa = context.make_array(ty[0])(context, builder, planes_v)
            ca = context.make_array(ty[2])(context, builder, counters_v)
            la = context.make_array(ty[3])(context, builder, limit_v)
            oa = context.make_array(ty[4])(context, builder, masks_v)
            g_i = context.cast(builder, g_v, ty[1], types.int64)
            nplanes = cgutils.unpack_tuple(builder, pa.shape)[1]
            base = builder.gep(pa.data, [builder.mul(g_i, builder.mul(nplanes, ir.Constant(_I64, _LANES)))])
            popcount_at = builder.sub(nplanes, ir.Constant(_I64, _COUNTER_BITS))  # first popcount plane
            zero = ir.Constant(_V, [0] * _LANES)
            every = ir.Constant(_V, [-1] * _LANES)
            s2 = [zero] + [builder.load(_vec(builder, ca.data, k), align=8) for k in range(_COUNTER_BITS)]
            bb = [builder.load(_vec(builder, base, builder.add(popcount_at, ir.Constant(_I64, k))), align=8)
                  for k in range(_COUNTER_BITS)]
            s2 += [zero] * (_W_BITS - len(s2))
            bb += [zero] * (_W_BITS - len(bb))
            x, y = (bb, s2) if ones else (s2, bb)
            carry = every  # X + ~Y + 1
            w = []
            for k in range(_W_BITS):
                ny = builder.xor(y[k], every)
                u = builder.xor(x[k], ny)
                w.append(builder.xor(u, carry))
                carry = builder.or_(builder.and_(x[k], ny), builder.and_(u, carry))
            w[-1] = builder.xor(w[-1], every)  # sign bit flipped: offset binary, compared unsigned
            gt = zero
            eq = every
            for k in reversed(range(_W_BITS)):
                lbit = _splat(builder, builder.load(builder.gep(la.data, [ir.Constant(_I64, k)])))
                gt = builder.or_(gt, builder.and_(eq, builder.and_(w[k], builder.xor(lbit, every))))
                eq = builder.and_(eq, builder.xor(builder.xor(w[k], lbit), every))
            le = builder.xor(gt, every)
            builder.store(le, _vec(builder, oa.data, 0), align=8)
            wide = ir.IntType(64 * _LANES)
            return builder.icmp_unsigned("!=", builder.bitcast(le, wide), ir.Constant(wide, 0))

        return sig, codegen

    typer.__name__ = typer.__qualname__ = "_within_ones" if ones else "_within_zeros"
    return intrinsic(typer)


_within_ones = _within_intrinsic(True)
_within_zeros = _within_intrinsic(False)


@intrinsic
def _ctz(typingctx, x):
    """Trailing zeros of a non-zero uint64 (``llvm.cttz``, ``tzcnt``/``bsf``)."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64 and not x.signed):
        return None
    sig = types.int64(x)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return sig, codegen


# --------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _transpose64(x):
    """Transpose the 64 x 64 bit matrix ``x`` (uint64[64], bit ``t`` of ``x[c]``) in place.

    Afterwards bit ``c`` of ``x[t]`` is the former bit ``t`` of ``x[c]``.  Six
    rounds swap ever smaller off-diagonal blocks (32, 16, ..., 1 bits), 32
    word pairs each: about 18 operations per word instead of 64 bit moves.
    """
    j = 32
    m = np.uint64(0x00000000FFFFFFFF)
    while j:
        k = 0
        while k < 64:
            t = ((x[k] >> np.uint64(j)) ^ x[k + j]) & m
            x[k] ^= t << np.uint64(j)
            x[k + j] ^= t
            k = (k + j + 1) & ~j
        j >>= 1
        m ^= m << np.uint64(j)


@njit(cache=True, parallel=True)
def _fill_planes(rows, planes):
    """Transpose ``rows`` (uint64[n, w]) into ``planes`` with each row's popcount (see :func:`planes_of`)."""
    n, words = rows.shape
    at = 64 * words + 1  # first popcount plane; plane 64 w is zero
    for g in prange(planes.shape[0]):
        block = np.empty(64, dtype=np.uint64)
        total = np.empty(64, dtype=np.uint64)
        for lane in range(_LANES):
            r0 = GROUP * g + 64 * lane
            total[:] = 0
            for w in range(words):
                for c in range(64):
                    block[c] = rows[r0 + c, w] if r0 + c < n else np.uint64(0)
                    total[c] += _popcount(block[c])
                _transpose64(block)
                for t in range(64):
                    planes[g, 64 * w + t, lane] = block[t]
            planes[g, 64 * words, lane] = 0
            for k in range(_COUNTER_BITS):
                plane = np.uint64(0)
                for c in range(64):
                    plane |= ((total[c] >> np.uint64(k)) & np.uint64(1)) << np.uint64(c)
                planes[g, at + k, lane] = plane


@njit(cache=True)
def _select(x, words, sel):
    """Offsets of the planes to sum for query row ``x``: its one bits, or its zero bits when fewer.

    Writes ``4 t`` for each selected bit ``t`` into ``sel`` (int32; visiting
    only those bits), pads with the zero plane to a multiple of 16 and
    returns ``(steps, ones, popcount)``.
    """
    total = 0
    for w in range(words):
        total += _popcount(x[w])
    ones = 2 * total <= 64 * words
    k = 0
    for w in range(words):
        bits = x[w] if ones else ~x[w]
        while bits:
            sel[k] = _LANES * (64 * w + _ctz(bits))
            bits &= bits - np.uint64(1)
            k += 1
    steps = -(-k // _STEP)
    for p in range(k, steps * _STEP):
        sel[p] = _LANES * 64 * words  # the zero plane
    return steps, ones, total


@njit(cache=True)
def _spread_bits(value, out):
    """``out[k]`` = bit ``k`` of ``value`` spread over a word (0 or all ones)."""
    for k in range(out.shape[0]):
        out[k] = np.uint64(0) - np.uint64((value >> k) & 1)


@njit(cache=True)
def _search_chunk(a, b, planes, triangular, dmax, tile, i0, i1, cap, out_i, out_j, out_d):
    """Matches of rows ``i0:i1`` of ``a`` against ``b`` (as ``planes``); returns their count.

    Writes at most ``cap`` matches (sorted by (i, j) when all fit), like
    :func:`finder.pairs.cpu._search_chunk`.
    """
    words = a.shape[1]
    nb = b.shape[0]
    ng = planes.shape[0]
    rows = i1 - i0
    # Per query row, once per chunk: the planes to sum, their steps, and the limit's bits.
    sel = np.empty((rows, 64 * words + _STEP), dtype=np.int32)
    steps = np.empty(rows, dtype=np.int64)
    ones = np.empty(rows, dtype=np.bool_)
    limit_bits = np.empty((rows, _W_BITS), dtype=np.uint64)
    for r in range(rows):
        steps[r], ones[r], total = _select(a[i0 + r], words, sel[r])
        _spread_bits(dmax - total + 2 ** (_W_BITS - 1), limit_bits[r])
    counters = np.empty((_COUNTER_BITS, _LANES), dtype=np.uint64)
    masks = np.empty(_LANES, dtype=np.uint64)
    cnt = 0
    gs = (i0 + 1) // GROUP if triangular else 0
    while gs < ng:
        ge = min(gs + tile, ng)
        for i in range(i0, i1):
            lo = max(gs, (i + 1) // GROUP) if triangular else gs
            if lo >= ge:
                continue
            r = i - i0
            for g in range(lo, ge):
                _count(planes, g, sel[r], steps[r], counters)
                if ones[r]:
                    hit = _within_ones(planes, g, counters, limit_bits[r], masks)
                else:
                    hit = _within_zeros(planes, g, counters, limit_bits[r], masks)
                if not hit:
                    continue
                for lane in range(_LANES):
                    mask = masks[lane]
                    while mask:
                        j = GROUP * g + 64 * lane + _ctz(mask)
                        mask &= mask - np.uint64(1)
                        if j >= nb:
                            break
                        if triangular and j <= i:
                            continue
                        d = 0
                        for w in range(words):
                            d += _popcount(a[i, w] ^ b[j, w])
                        if cnt < cap:
                            out_i[cnt] = i
                            out_j[cnt] = j
                            out_d[cnt] = np.int32(d)
                        cnt += 1
        gs = ge
    if 0 < cnt <= cap:
        _sort_by_row(i0, i1, cnt, out_i, out_j, out_d)
    return cnt


@njit(cache=True, parallel=True)
def _pairs_kernel(a, b, planes, triangular, dmax, tile, chunks, cap, out_i, out_j, out_d, counts):
    """Run :func:`_search_chunk` for every chunk id in ``chunks`` in parallel (as the vector loop's kernel)."""
    na = a.shape[0]
    for k in prange(chunks.shape[0]):
        i0 = chunks[k] * _BLOCK_ROWS
        i1 = min(i0 + _BLOCK_ROWS, na)
        counts[k] = _search_chunk(a, b, planes, triangular, dmax, tile, i0, i1, cap,
                                  out_i[k], out_j[k], out_d[k])


# --------------------------------------------------------------------------
# Python side
# --------------------------------------------------------------------------


def planes_of(rows: np.ndarray) -> np.ndarray:
    """Bit planes of ``rows`` for the kernel, with a zero plane and each row's popcount.

    Parameters
    ----------
    rows : uint64[n, w]
        C-contiguous packed hashes, ``w <= MAX_WORDS``.

    Returns
    -------
    uint64[ceil(n / 256), 64 w + 11, 4]
        ``planes[g, t, l]`` bit ``c`` = bit ``t`` of row ``r = 256 g + 64 l + c``
        for ``t < 64 w``; plane ``64 w`` is zero; plane ``64 w + 1 + k`` holds
        bit ``k`` of ``popcount(row r)``.  All zero past the last row.
    """
    shape = (-(-rows.shape[0] // GROUP), 64 * rows.shape[1] + 1 + _COUNTER_BITS, _LANES)
    planes = np.empty(shape, dtype=np.uint64)
    _fill_planes(rows, planes)
    return planes


def tile_groups(words: int) -> int:
    """Groups per cache tile: about 32 KiB of planes (L1; 3 groups of 256-bit hashes)."""
    return max(1, _TILE_BYTES // ((64 * words + 1 + _COUNTER_BITS) * _LANES * 8))


def launcher(a: np.ndarray, b: np.ndarray, triangular: bool, dmax: int, planes: np.ndarray | None = None) -> Launch:
    """A :data:`~finder.pairs.cpu.Launch` running this loop's kernel on chunks of ``a``'s rows against ``b``.

    Parameters
    ----------
    a, b : uint64[na, w], uint64[nb, w]
        C-contiguous packed hashes, ``w <= MAX_WORDS`` (``b is a`` for one set).
    triangular : bool
        Only pairs ``i < j`` (one set).
    dmax : int
        Inclusive radius, at most ``64 w``.

    Returns
    -------
    Launch
        Runs the kernel on chunks of :data:`~finder.pairs.cpu._BLOCK_ROWS`
        rows, as the ``vector`` loop's does; the planes of ``b`` are built
        here, once (or given, by an index that keeps them).
    """
    if a.shape[1] > MAX_WORDS:
        raise ValueError(f"the bitsliced loop takes hashes of at most {64 * MAX_WORDS} bits, got {64 * a.shape[1]}")
    planes = planes_of(b) if planes is None else planes
    tile = tile_groups(a.shape[1])

    def run(chunk_ids: np.ndarray, cap: int, out_i: np.ndarray, out_j: np.ndarray, out_d: np.ndarray,
            counts: np.ndarray) -> None:
        with numba.parallel_chunksize(1):
            _pairs_kernel(a, b, planes, triangular, dmax, tile, chunk_ids, cap, out_i, out_j, out_d, counts)

    return run
