"""FINd's stages on a CUDA GPU, for a batch of already decoded images (numba-cuda, the ``gpu`` extra).

Decoding (and FINd's 512 px thumbnail) stays on the CPU; from the RGB pixels on, every stage of
:data:`finder.algorithms.find.STAGES` -- luma, the box blur at the 64 x 64 decimation points, the 16 x 16
DCT, the median and the bits -- runs as a kernel over the whole batch (:mod:`find_cuda_kernels`): one
thread per decimation point, per DCT coefficient, per image for the median.  Each kernel does the CPU
kernel's arithmetic in the same order, in doubles, so the hashes are FINd's own: checked against the
golden hashes in Numba's CUDA simulator.  On hardware the compiler must not fuse a multiply and an add
into one rounding (numba-cuda fuses only with ``fastmath``, which these kernels do not ask for): to be
confirmed on a GPU with the same test (``python benchmarks/gpu.py`` also checks a batch against the
CPU before timing it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from finder.algorithms.find import DCT, FREQS, GRID
from finder.engine.gpu import require

THREADS = 128


@functools.cache
def _kernels() -> Any:
    require()
    from finder.algorithms import find_cuda_kernels

    return find_cuda_kernels


def find_batch(rgbs: Sequence[np.ndarray], samples: bool = False) -> Any:
    """FINd hashes of (H, W, 3) uint8 RGB arrays already thumbnailed to at most 512 px: uint64[n, 4]; with
    ``samples``, also the 64 x 64 blurred samples (float64[n, 64, 64]) the views and quality score read."""
    n = len(rgbs)
    if n == 0:
        empty = np.zeros((0, FREQS * FREQS // 64), dtype=np.uint64)
        return (empty, np.zeros((0, GRID, GRID))) if samples else empty
    cuda = require()
    kernels = _kernels()
    sizes = np.array([[rgb.shape[1], rgb.shape[0]] for rgb in rgbs], dtype=np.int64)
    lengths = sizes[:, 0] * sizes[:, 1] * 3
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    flat = np.concatenate([np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1) for rgb in rgbs])
    grid_samples = cuda.device_array((n, GRID, GRID), dtype=np.float64)

    def grid(cells: int) -> tuple[tuple[int, int], tuple[int, int]]:
        return (n, (cells + THREADS - 1) // THREADS), (1, THREADS)

    blocks, threads = grid(GRID * GRID)
    kernels.blur_samples[blocks, threads](cuda.to_device(flat), cuda.to_device(starts),
                                          cuda.to_device(np.ascontiguousarray(sizes[:, 0])),
                                          cuda.to_device(np.ascontiguousarray(sizes[:, 1])), grid_samples)
    d = cuda.to_device(DCT)
    rows = cuda.device_array((n, FREQS, GRID), dtype=np.float64)
    blocks, threads = grid(FREQS * GRID)
    kernels.dct_rows[blocks, threads](grid_samples, d, rows)
    coefficients = cuda.device_array((n, FREQS, FREQS), dtype=np.float64)
    blocks, threads = grid(FREQS * FREQS)
    kernels.dct_columns[blocks, threads](rows, d, coefficients)
    words = cuda.device_array((n, FREQS * FREQS // 64), dtype=np.uint64)
    kernels.median_bits[(n + THREADS - 1) // THREADS, THREADS](coefficients, words)
    if samples:
        return words.copy_to_host(), grid_samples.copy_to_host()
    return words.copy_to_host()


def find_batch_views(rgbs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`find_batch` with the 64 x 64 samples (FINd's ``view_stage`` output): the record's ``gpu_batch``."""
    words, grid = find_batch(rgbs, samples=True)
    return words, grid
