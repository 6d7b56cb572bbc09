"""Matching pairs to groups of similar images.

Two linkages:

* ``single``: connected components of the match graph (union-find).  A chain
  of small differences joins everything along it.
* ``star``: no chaining.  Images are taken in order of how many matches they
  have (most first; ties by index, i.e. by path); an image not yet in a group
  becomes a representative and takes every not-yet-grouped image that matches
  *it* directly.  Every member is therefore within the threshold of its
  representative, and the representative is the image most like the others
  (in a group of edited copies, usually the original).

Group order: largest first, then by first path.  Members: the representative,
then the others by distance to it, then path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

LINKAGES = ("single", "star")


@dataclass(frozen=True)
class Member:
    path: str
    distance: int  # Hamming distance to the group's representative
    same_file_as: str | None = None  # an earlier member that is this very file (hard link)
    # The file's size and mtime as recorded in the hash file (set by matching.cluster; what dedupe checks
    # before acting), and whether it lies under a --reference folder (set by keep.decide; never removed).
    size: int | None = None
    mtime_ns: int | None = None
    reference: bool = False


@dataclass(frozen=True)
class Group:
    id: int
    representative: str
    members: list[Member]
    keeper: str | None = None  # the member the keep rules choose (finder.keep.decide); None when undecided

    @property
    def size(self) -> int:
        return len(self.members)


@njit(cache=True)
def _find(parent: np.ndarray, x: int) -> int:  # pragma: no cover - numba
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        parent[x], x = root, parent[x]
    return root


@njit(cache=True)
def union_find(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """Component label (the smallest member index) of each of ``n`` nodes joined by edges (i, j)."""
    parent = np.arange(n)
    for k in range(i.size):
        a, b = _find(parent, i[k]), _find(parent, j[k])
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
    for x in range(n):
        parent[x] = _find(parent, x)
    return parent


def degrees(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Number of matches of each node."""
    return np.bincount(i, minlength=n) + np.bincount(j, minlength=n)


def single_linkage(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Component label per node; labels are arbitrary but equal within a component."""
    return union_find(n, np.asarray(i, np.int64), np.asarray(j, np.int64))


def star_linkage(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Representative index per node under greedy star clustering (see module docstring)."""
    i = np.asarray(i, np.int64)
    j = np.asarray(j, np.int64)
    # adjacency in CSR form
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    order = np.argsort(src, kind="stable")
    dst = dst[order]
    start = np.searchsorted(src[order], np.arange(n + 1))
    return _star(n, degrees(n, i, j), start, dst)


@njit(cache=True)
def _star(n: int, degree: np.ndarray, start: np.ndarray, dst: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    owner = np.full(n, -1, dtype=np.int64)
    for centre in np.argsort(-degree, kind="mergesort"):
        if owner[centre] >= 0:
            continue
        owner[centre] = centre
        for k in range(start[centre], start[centre + 1]):
            if owner[dst[k]] < 0:
                owner[dst[k]] = centre
    return owner


def group_indices(n: int, i: np.ndarray, j: np.ndarray, linkage: str = "single") -> list[np.ndarray]:
    """Groups as index arrays, representative first, all sizes (including singletons).

    For ``single`` linkage the representative is the member with the most
    matches (ties: lowest index); for ``star`` it is the star's centre.
    """
    if linkage not in LINKAGES:
        raise ValueError(f"unknown linkage {linkage!r}; choose from {', '.join(LINKAGES)}")
    if n == 0:
        return []
    degree = degrees(n, np.asarray(i, np.int64), np.asarray(j, np.int64))
    if linkage == "star":
        label = star_linkage(n, i, j)
    else:
        label = single_linkage(n, i, j)
    # sort nodes by (label, -degree, index) so each group's first entry is its representative
    order = np.lexsort((np.arange(n), -degree, label))
    bounds = np.flatnonzero(np.diff(label[order])) + 1
    return np.split(order, bounds)
