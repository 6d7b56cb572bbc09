"""The ``cuda`` backend of :mod:`finder.pairs`: all pairs on an NVIDIA GPU, with Numba's CUDA target.

Numba's CUDA support lives in the ``numba-cuda`` package (the ``gpu`` extra); no
second toolchain.  The search runs in two passes over the same tiles, so memory
stays ``O(n + matches)`` on the host and on the device:

1. **count**: one thread per query row; the block's threads load a tile of
   :data:`TILE` indexed rows into shared memory together, and each thread
   counts the rows of the tile within the radius (``popc`` of the XOR, summed
   over the words);
2. the host turns the counts into each row's offset (an exclusive prefix sum,
   ``O(n)``), allocates exactly the matches, and
3. **fill**: the same loop writes each match's column and distance at its
   row's offset, in column order, so the pairs come out sorted by ``(i, j)``
   without a sort.

Within one set only the triangle is searched: a block starts at the tile that
holds its own first row.  :func:`prepare` copies the indexed rows to the device
once (an :class:`~finder.pairs.Index` searched many times).  No histogram or
k-nearest search here (``NotImplementedError``, as for ``mih``).

Without a GPU the kernels run in Numba's CUDA simulator when
``NUMBA_ENABLE_CUDASIM=1`` is set before numba is imported: slow (every thread
is Python), and how the tests check this backend on machines without one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from finder.engine.gpu import NoGPUError, available, require
from finder.pairs import Pairs

__all__ = ["NoGPUError", "available", "pairs_across", "pairs_within", "prepare", "range_search", "require"]

#: Threads per block, and indexed rows per shared-memory tile.
TILE = 128
#: The widest hash the kernels take, in 64-bit words (1,024 bits); the shared tile is this wide.
MAX_WORDS = 16


@functools.cache
def _kernel() -> Any:
    """The search kernel (:mod:`finder.pairs.cuda_kernels`), compiled on first use."""
    require()
    from finder.pairs import cuda_kernels

    return cuda_kernels.search


@dataclass
class Prepared:
    """Indexed rows on the device (copied once for every search of an :class:`~finder.pairs.Index`)."""

    words: np.ndarray
    device: Any


def _search(a: np.ndarray, b_device: Any, nb: int, triangular: bool, radius: int) -> Pairs:
    cuda = require()
    search = _kernel()
    na, words = a.shape
    if words > MAX_WORDS:
        raise ValueError(f"the cuda backend takes hashes of at most {64 * MAX_WORDS} bits")
    if na == 0 or nb == 0:
        return Pairs.empty()
    a_device = cuda.to_device(np.ascontiguousarray(a))
    blocks = (na + TILE - 1) // TILE
    counts = cuda.device_array(na, dtype=np.int64)
    nothing = cuda.device_array(1, dtype=np.int64)
    search[blocks, TILE](a_device, b_device, words, triangular, radius, False, nothing, counts, nothing,
                         cuda.device_array(1, dtype=np.int32))
    per_row = counts.copy_to_host()
    offsets = np.zeros(na, dtype=np.int64)
    np.cumsum(per_row[:-1], out=offsets[1:])
    total = int(per_row.sum())
    if total == 0:
        return Pairs.empty()
    out_j = cuda.device_array(total, dtype=np.int64)
    out_d = cuda.device_array(total, dtype=np.int32)
    search[blocks, TILE](a_device, b_device, words, triangular, radius, True, cuda.to_device(offsets), counts,
                         out_j, out_d)
    i = np.repeat(np.arange(na, dtype=np.int64), per_row)
    return Pairs(i, out_j.copy_to_host(), out_d.copy_to_host())


def pairs_within(words: np.ndarray, radius: int) -> Pairs:
    """Every pair ``i < j`` of ``words`` within ``radius``: the triangle, tile by tile on the GPU."""
    cuda = require()
    if words.shape[0] < 2:
        return Pairs.empty()
    return _search(words, cuda.to_device(words), words.shape[0], True, radius)


def pairs_across(a: np.ndarray, b: np.ndarray, radius: int) -> Pairs:
    """Every pair ``(i, j)``, ``i`` in ``a`` and ``j`` in ``b``, within ``radius``."""
    cuda = require()
    if a.shape[0] == 0 or b.shape[0] == 0:
        return Pairs.empty()
    return _search(a, cuda.to_device(b), b.shape[0], False, radius)


def prepare(words: np.ndarray) -> Prepared:
    """The indexed rows copied to the device once."""
    cuda = require()
    return Prepared(words, cuda.to_device(words) if words.shape[0] else None)


def range_search(prepared: Prepared, queries: np.ndarray, radius: int) -> Pairs:
    """:func:`pairs_across` of ``queries`` against the prepared rows."""
    if queries.shape[0] == 0 or prepared.words.shape[0] == 0:
        return Pairs.empty()
    return _search(queries, prepared.device, prepared.words.shape[0], False, radius)
