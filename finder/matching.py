"""HashSets to matching pairs and groups: the library behind ``compare`` and ``cluster``.

A threshold is a normalised Hamming distance: two images match when
``distance / bits <= threshold``, i.e. ``distance <= floor(threshold * bits)``.
``max_distance`` gives the same radius in bits directly.
"""

from __future__ import annotations

import math

import numpy as np

from finder import algorithms as _algorithms
from finder import hamming
from finder.groups import Group, Member, group_indices
from finder.hamming import Pairs
from finder.hashset import HashSet

EPSILON = 1e-9  # so that e.g. 0.3 * 10 bits counts as 3, not 2.9999999999999996


class MatchError(ValueError):
    """Arguments that cannot be matched: unknown algorithm, bad radius, incompatible sets."""


def choose_algorithm(hashset: HashSet, algorithm: str | None, label: str = "hash file") -> str:
    """``algorithm`` if ``hashset`` has it; without one, the file's only algorithm."""
    if algorithm is None:
        if len(hashset.algorithms) == 1:
            return hashset.algorithms[0]
        raise MatchError(f"{label} has several algorithms ({', '.join(hashset.algorithms)}); choose one with -a")
    name = algorithm.lower()
    if name not in hashset.bits:
        raise MatchError(f"{label} has no {name} hashes (it has {', '.join(hashset.algorithms)})")
    return name


def radius(bits: int, threshold: float | None = None, max_distance: int | None = None,
           algorithm: str | None = None) -> int:
    """The maximum matching Hamming distance in bits.

    Exactly one of ``threshold`` (in [0, 1]) and ``max_distance`` (in [0, bits])
    may be given; with neither, the algorithm's documented default threshold.
    """
    if threshold is not None and max_distance is not None:
        raise MatchError("give either a threshold or a maximum distance, not both")
    if max_distance is not None:
        if not 0 <= max_distance <= bits:
            raise MatchError(f"maximum distance must be in [0, {bits}] for {bits}-bit hashes, got {max_distance}")
        return int(max_distance)
    if threshold is None:
        if algorithm is None:
            raise MatchError("no threshold given")
        threshold = _algorithms.get(algorithm).default_threshold
    if not 0.0 <= threshold <= 1.0:
        raise MatchError(f"threshold must be in [0, 1], got {threshold}")
    return int(math.floor(threshold * bits + EPSILON))


def find_pairs(
    a: HashSet,
    algorithm: str | None = None,
    *,
    threshold: float | None = None,
    max_distance: int | None = None,
    b: HashSet | None = None,
) -> Pairs:
    """Every matching pair: i < j within ``a``, or (i in ``a``, j in ``b``) across two sets.

    Returns ``Pairs(i, j, distance)`` sorted by (i, j).
    """
    name = choose_algorithm(a, algorithm, "first hash file" if b is not None else "hash file")
    bits = a.bits[name]
    d = radius(bits, threshold, max_distance, name)
    if b is None:
        return hamming.pairs_within(a.hashes[name], d)
    if name not in b.bits:
        raise MatchError(f"second hash file has no {name} hashes (it has {', '.join(b.algorithms)})")
    if b.bits[name] != bits:
        raise MatchError(f"{name} hashes differ in width: {bits} bits against {b.bits[name]}")
    return hamming.pairs_across(a.hashes[name], b.hashes[name], d)


def distances_to(words: np.ndarray, index: int, members: np.ndarray) -> np.ndarray:
    """Hamming distances from row ``index`` to each row in ``members``."""
    x = np.bitwise_xor(words[members], words[index])
    return np.bitwise_count(x).sum(axis=1).astype(np.int64)


def cluster(
    hashset: HashSet,
    algorithm: str | None = None,
    *,
    threshold: float | None = None,
    max_distance: int | None = None,
    linkage: str = "single",
    min_size: int = 2,
    pairs: Pairs | None = None,
) -> list[Group]:
    """Groups of similar images, largest first (then by first path), of at least ``min_size``.

    ``pairs`` may be given to reuse matches already found for the same radius.
    """
    name = choose_algorithm(hashset, algorithm)
    if pairs is None:
        pairs = find_pairs(hashset, name, threshold=threshold, max_distance=max_distance)
    words = hashset.hashes[name]
    paths = hashset.paths
    found = []
    for indices in group_indices(len(hashset), pairs.i, pairs.j, linkage):
        if len(indices) < min_size:
            continue
        rep = indices[0]
        dist = distances_to(words, rep, indices)
        order = np.lexsort((paths[indices], dist))
        order = np.concatenate([[0], order[order != 0]])
        members = [Member(str(paths[indices[k]]), int(dist[k])) for k in order]
        found.append((members, min(str(paths[k]) for k in indices)))
    found.sort(key=lambda g: (-len(g[0]), g[1]))
    return [Group(k, members[0].path, members) for k, (members, _) in enumerate(found)]
