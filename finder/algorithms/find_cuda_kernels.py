# mypy: ignore-errors
# (numba-cuda kernel code: its types are numba's, which mypy cannot follow)
"""FINd's stages as CUDA kernels (:mod:`finder.algorithms.find_cuda`), each the CPU kernel's arithmetic in
the same order (:mod:`finder.algorithms.find`), so the doubles are the same.

Imported only after :func:`finder.engine.gpu.require` found a GPU (or the simulator).
"""

from __future__ import annotations

from numba import cuda, float64, uint64

GRID = 64
FREQS = 16
CELLS = FREQS * FREQS


@cuda.jit
def blur_samples(rgb, starts, widths, heights, out):
    """out[image, i, j]: the box blur of the luma at decimation point (i, j): rows outer, columns inner."""
    image, cell = cuda.grid(2)
    if image >= out.shape[0] or cell >= GRID * GRID:
        return
    i, j = cell // GRID, cell % GRID
    w, h, base = widths[image], heights[image], starts[image]
    half_y = ((h + 63) // 64 + 2) // 2
    half_x = ((w + 63) // 64 + 2) // 2
    cy = ((2 * i + 1) * h) // (2 * GRID)
    cx = ((2 * j + 1) * w) // (2 * GRID)
    y0, y1 = max(0, cy - half_y), min(h, cy + half_y)
    x0, x1 = max(0, cx - half_x), min(w, cx + half_x)
    s = 0.0
    for yy in range(y0, y1):
        for xx in range(x0, x1):
            k = base + 3 * (yy * w + xx)
            s += (0.299 * float64(rgb[k]) + 0.587 * float64(rgb[k + 1])) + 0.114 * float64(rgb[k + 2])
    out[image, i, j] = s / ((y1 - y0) * (x1 - x0))


@cuda.jit
def dct_rows(a, d, t):
    """t[image] = D A: t[i, j] = sum over k ascending from 0.0 of d[i, k] * a[k, j]."""
    image, cell = cuda.grid(2)
    if image >= a.shape[0] or cell >= FREQS * GRID:
        return
    i, j = cell // GRID, cell % GRID
    s = 0.0
    for k in range(GRID):
        s += d[i, k] * a[image, k, j]
    t[image, i, j] = s


@cuda.jit
def dct_columns(t, d, b):
    """b[image] = T D^T: b[i, j] = sum over k ascending from 0.0 of t[i, k] * d[j, k]."""
    image, cell = cuda.grid(2)
    if image >= t.shape[0] or cell >= CELLS:
        return
    i, j = cell // FREQS, cell % FREQS
    s = 0.0
    for k in range(GRID):
        s += t[image, i, k] * d[j, k]
    b[image, i, j] = s


@cuda.jit
def median_bits(b, words):
    """Bit k (word k // 64, from the top) = the k-th value of B's row-major order reversed > its lower median."""
    image = cuda.grid(1)
    if image >= b.shape[0]:
        return
    values = cuda.local.array(CELLS, dtype=float64)
    for k in range(CELLS):
        values[k] = b[image, k // FREQS, k % FREQS]
    for k in range(1, CELLS):  # insertion sort: 256 values
        v = values[k]
        m = k - 1
        while m >= 0 and values[m] > v:
            values[m + 1] = values[m]
            m -= 1
        values[m + 1] = v
    median = values[CELLS // 2 - 1]
    for w in range(CELLS // 64):
        words[image, w] = uint64(0)
    for k in range(CELLS):
        flat = CELLS - 1 - k
        if b[image, flat // FREQS, flat % FREQS] > median:
            words[image, k // 64] |= uint64(1) << uint64(63 - k % 64)
