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

Small graphs are grouped with numpy and plain Python, large ones with numba
kernels (:mod:`finder.groups.linkage_numba`, imported only then): a small job does not
pay for importing numba.  Both give identical results (:func:`choose_kernel`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LINKAGES = ("single", "star")
KERNELS = ("numpy", "numba")
#: Nodes plus edges from which the numba kernels (:mod:`finder.groups.linkage_numba`) group a graph; below it numpy
#: and plain Python do, so a small job never imports numba (about 1 s from a cold process on the development
#: machine, with loading the cached kernels).  Graphs this large come from searches that loaded numba anyway,
#: where the compiled star loop is ~3x faster than Python's (``benchmarks/small_jobs.py --crossover``;
#: docs/performance.md, "Start-up cost").
NUMBA_MIN_WORK = 200_000


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
    view: str | None = None  # the row pair the distance comes from ("plain", "mirror x plain", ...)
    kept_with: str | None = None  # the keeper whose RAW (or camera JPEG) companion this is: kept too


@dataclass(frozen=True)
class Group:
    id: int
    representative: str
    members: list[Member]
    keeper: str | None = None  # the member the keep rules choose (finder.groups.keep.decide); None when undecided
    keeper_reason: str | None = None  # why the keep rules chose it (finder.groups.keep.choose)

    @property
    def size(self) -> int:
        return len(self.members)


def degrees(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Number of matches of each node."""
    return np.bincount(i, minlength=n) + np.bincount(j, minlength=n)


def choose_kernel(n: int, edges: int, kernel: str | None = None) -> str:
    """``kernel`` if given, else ``"numba"`` for graphs of at least :data:`NUMBA_MIN_WORK` nodes plus edges.

    Raises
    ------
    ValueError
        If ``kernel`` is not one of :data:`KERNELS`.
    """
    if kernel is None:
        return "numba" if n + edges >= NUMBA_MIN_WORK else "numpy"
    if kernel not in KERNELS:
        raise ValueError(f"unknown grouping kernel {kernel!r}; choose from {', '.join(KERNELS)}")
    return kernel


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected components with numpy: the smallest node index of each node's component.

    Vectorised union-find: every root hooks onto the smallest root that one
    of its edges reaches, then pointer jumping (``label = label[label]``)
    flattens the trees; repeated until no edge joins two labels.  Labels only
    ever decrease and stay inside the component, so the fixed point is the
    component's smallest index, the same label :func:`finder.groups.linkage_numba.union_find` gives.
    """
    return _merge(np.arange(n, dtype=np.int64), i, j)


def _merge(label: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """:func:`_components` continued from ``label`` (a flat labelling: each node's smallest component index)
    with more edges."""
    while True:
        li, lj = label[i], label[j]
        differ = li != lj
        if not differ.any():
            return label
        li, lj = li[differ], lj[differ]
        np.minimum.at(label, np.maximum(li, lj), np.minimum(li, lj))  # li, lj are roots: hook roots only
        while True:
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped


def _star_python(order: np.ndarray, start: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Greedy star clustering in plain Python: :func:`finder.groups.linkage_numba.star`, line for line."""
    owner = [-1] * len(order)
    first, targets = start.tolist(), dst.tolist()
    for centre in order.tolist():
        if owner[centre] >= 0:
            continue
        owner[centre] = centre
        for k in range(first[centre], first[centre + 1]):
            if owner[targets[k]] < 0:
                owner[targets[k]] = centre
    return np.array(owner, dtype=np.int64)


def single_linkage(n: int, i: np.ndarray, j: np.ndarray, kernel: str | None = None) -> np.ndarray:
    """Component label per node: the smallest node index in its component.

    Parameters
    ----------
    n : int
        Number of nodes.
    i, j : integer[m]
        Edges (matching pairs), node indices in ``[0, n)``.
    kernel : {"numpy", "numba"}, optional
        Force one implementation; default :func:`choose_kernel` by size.  Both give the same labels.

    Returns
    -------
    int64[n]
    """
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    if choose_kernel(n, len(i), kernel) == "numba":
        from finder.groups.linkage_numba import union_find

        return union_find(n, i, j)
    return _components(n, i, j)


def star_linkage(n: int, i: np.ndarray, j: np.ndarray, kernel: str | None = None) -> np.ndarray:
    """Representative index per node under greedy star clustering (see module docstring).

    Parameters are those of :func:`single_linkage`; returns ``int64[n]``, each node's centre.
    """
    i = np.asarray(i, np.int64)
    j = np.asarray(j, np.int64)
    # adjacency in CSR form
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    order = np.argsort(src, kind="stable")
    dst = dst[order]
    start = np.searchsorted(src[order], np.arange(n + 1))
    centres = np.argsort(-degrees(n, i, j), kind="stable")  # most matches first; ties by index
    if choose_kernel(n, len(i), kernel) == "numba":
        from finder.groups.linkage_numba import star

        return star(centres, start, dst)
    return _star_python(centres, start, dst)


def group_indices(n: int, i: np.ndarray, j: np.ndarray, linkage: str = "single",
                  kernel: str | None = None) -> list[np.ndarray]:
    """Groups as index arrays, representative first, all sizes (including singletons).

    For ``single`` linkage the representative is the member with the most
    matches (ties: lowest index); for ``star`` it is the star's centre.
    ``kernel`` forces numpy or numba (default: by size, :func:`choose_kernel`).
    """
    if linkage not in LINKAGES:
        raise ValueError(f"unknown linkage {linkage!r}; choose from {', '.join(LINKAGES)}")
    if n == 0:
        return []
    degree = degrees(n, np.asarray(i, np.int64), np.asarray(j, np.int64))
    if linkage == "star":
        label = star_linkage(n, i, j, kernel)
    else:
        label = single_linkage(n, i, j, kernel)
    return _split(label, degree)


def _split(label: np.ndarray, degree: np.ndarray) -> list[np.ndarray]:
    """Nodes by label, each group's representative (most matches, then lowest index) first."""
    order = np.lexsort((np.arange(len(label)), -degree, label))
    bounds = np.flatnonzero(np.diff(label[order])) + 1
    return np.split(order, bounds)


class StreamedLinkage:
    """Single linkage fed pairs block by block: labels and match counts in O(n) memory, no pair kept.

    ``add`` each block of a search (:func:`finder.match.search.iter_pairs`), then :meth:`groups` gives what
    :func:`group_indices` gives for all the pairs at once — so ``cluster`` on 10^7 files holds the files and
    the groups, never the pairs.  Large sets join edges in numba's union-find (its work is the edges, not a
    pass over every node per block); small ones in numpy.
    """

    def __init__(self, n: int, kernel: str | None = None) -> None:
        self.n = n
        self.kernel = choose_kernel(n, 0, kernel)
        self.label = np.arange(n, dtype=np.int64)
        self.degree = np.zeros(n, dtype=np.int64)

    def add(self, i: np.ndarray, j: np.ndarray) -> None:
        i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
        if not len(i):
            return
        self.degree += np.bincount(i, minlength=self.n) + np.bincount(j, minlength=self.n)
        if self.kernel == "numba":
            from finder.groups.linkage_numba import union_into

            union_into(self.label, i, j)
        else:
            self.label = _merge(self.label, i, j)

    def groups(self) -> list[np.ndarray]:
        """The groups so far, as :func:`group_indices` orders them (``single`` linkage)."""
        if self.kernel == "numba":
            from finder.groups.linkage_numba import flatten

            flatten(self.label)
        return _split(self.label, self.degree) if self.n else []
