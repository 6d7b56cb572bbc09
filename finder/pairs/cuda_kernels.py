# mypy: ignore-errors
# (numba-cuda kernel code: its types are numba's, which mypy cannot follow)
"""The kernel of the ``cuda`` backend (:mod:`finder.pairs.cuda`): count, then fill, tile by tile.

Imported only once :func:`finder.pairs.cuda.require` found a GPU (or the simulator), so that importing
:mod:`finder.pairs.cuda` needs no numba-cuda.  The kernel walks the same tiles in the same order in both
passes: one thread per query row ``i``; the block loads :data:`~finder.pairs.cuda.TILE` indexed rows into shared
memory together, then each thread compares its row with every row of the tile (within one set only the
columns ``j > i``, from the tile holding the block's first row on).
"""

from __future__ import annotations

from numba import cuda, int32, uint64

from finder.pairs.cuda import MAX_WORDS, TILE


@cuda.jit
def search(a, b, words, triangular, dmax, fill, offsets, counts, out_j, out_d):
    """One pass: with ``fill`` False count each row's matches into ``counts``; with ``fill`` True write them
    (column, distance) from the row's offset on, in column order."""
    tile = cuda.shared.array((TILE, MAX_WORDS), dtype=uint64)
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * TILE + t
    na, nb = a.shape[0], b.shape[0]
    at = offsets[i] if fill and i < na else 0
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
                    if fill:
                        out_j[at + found] = j
                        out_d[at + found] = int32(distance)
                    found += 1
        cuda.syncthreads()
        start += TILE
    if not fill and i < na:
        counts[i] = found
