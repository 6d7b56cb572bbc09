# mypy: ignore-errors
# (numba-cuda kernel code: its types are numba's, which mypy cannot follow)
"""The kernels of the ``cuda`` backend (:mod:`finder.pairs.cuda`): count, then fill, tile by tile.

Imported only once :func:`finder.pairs.cuda.require` found a GPU (or the simulator), so that importing
:mod:`finder.pairs.cuda` needs no numba-cuda.  Both kernels walk the same tiles in the same order: one
thread per query row ``i``; the block loads :data:`~finder.pairs.cuda.TILE` indexed rows into shared
memory together, then each thread compares its row with every row of the tile (within one set only the
columns ``j > i``, from the tile holding the block's first row on).
"""

from __future__ import annotations

from numba import cuda, int32, uint64

from finder.pairs.cuda import MAX_WORDS, TILE


@cuda.jit
def count(a, b, words, triangular, dmax, counts):
    tile = cuda.shared.array((TILE, MAX_WORDS), dtype=uint64)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * TILE + t
    na, nb = a.shape[0], b.shape[0]
    found = 0
    start = cuda.blockIdx.x * TILE if triangular else 0
    while start < nb:
        r = start + t
        if r < nb:
            for k in range(words):
                tile[t, k] = b[r, k]
        cuda.syncthreads()
        if i < na:
            for c in range(min(TILE, nb - start)):
                j = start + c
                if triangular and j <= i:
                    continue
                distance = 0
                for k in range(words):
                    distance += cuda.popc(a[i, k] ^ tile[c, k])
                if distance <= dmax:
                    found += 1
        cuda.syncthreads()
        start += TILE
    if i < na:
        counts[i] = found

@cuda.jit
def fill(a, b, words, triangular, dmax, offsets, out_j, out_d):
    tile = cuda.shared.array((TILE, MAX_WORDS), dtype=uint64)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * TILE + t
    na, nb = a.shape[0], b.shape[0]
    at = offsets[i] if i < na else 0
    start = cuda.blockIdx.x * TILE if triangular else 0
    while start < nb:
        r = start + t
        if r < nb:
            for k in range(words):
                tile[t, k] = b[r, k]
        cuda.syncthreads()
        if i < na:
            for c in range(min(TILE, nb - start)):
                j = start + c
                if triangular and j <= i:
                    continue
                distance = 0
                for k in range(words):
                    distance += cuda.popc(a[i, k] ^ tile[c, k])
                if distance <= dmax:
                    out_j[at] = j
                    out_d[at] = int32(distance)
                    at += 1
        cuda.syncthreads()
        start += TILE

