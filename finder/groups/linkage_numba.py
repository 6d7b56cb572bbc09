"""numba kernels for :mod:`finder.groups.linkage`: union-find and greedy star clustering over large match graphs.

Imported only when a graph is large enough that compiled loops pay for
importing numba and loading the cached kernels (``finder.groups.linkage.NUMBA_MIN_WORK``);
small graphs, the usual case of a small job, are grouped with numpy and plain
Python in :mod:`finder.groups.linkage` and never import this module.  Both paths give
identical labels (``tests/test_groups_and_matching.py`` runs them side by side).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from finder import config

config.prepare_numba_cache(__file__)


@njit(cache=True)
def _find(parent: np.ndarray, x: int) -> int:  # pragma: no cover - numba
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        parent[x], x = root, parent[x]
    return root


@njit(cache=True)
def union_into(parent: np.ndarray, i: np.ndarray, j: np.ndarray) -> None:  # pragma: no cover - numba
    """Join the edges (i, j) into the forest ``parent`` (roots: the smallest index), without flattening it."""
    for k in range(i.size):
        a, b = _find(parent, i[k]), _find(parent, j[k])
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b


@njit(cache=True)
def flatten(parent: np.ndarray) -> None:  # pragma: no cover - numba
    """Point every node of the forest ``parent`` straight at its root."""
    for x in range(parent.size):
        parent[x] = _find(parent, x)


@njit(cache=True)
def union_find(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """Component label (the smallest member index) of each of ``n`` nodes joined by edges (i, j)."""
    parent = np.arange(n)
    union_into(parent, i, j)
    flatten(parent)
    return parent


@njit(cache=True)
def star(order: np.ndarray, start: np.ndarray, dst: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """Representative per node: centres taken in ``order``; each takes its not-yet-owned neighbours (CSR)."""
    n = order.size
    owner = np.full(n, -1, dtype=np.int64)
    for centre in order:
        if owner[centre] >= 0:
            continue
        owner[centre] = centre
        for k in range(start[centre], start[centre + 1]):
            if owner[dst[k]] < 0:
                owner[dst[k]] = centre
    return owner
