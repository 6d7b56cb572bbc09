"""HashSets to matching pairs and groups: the library behind ``compare`` and ``cluster``.

A threshold is a normalised Hamming distance: two images match when
``distance / bits <= threshold``, i.e. ``distance <= floor(threshold * bits)``.
``max_distance`` gives the same radius in bits directly.

Several algorithms can vote: each has its own radius (a :class:`Rule`), and a
pair matches when at least ``k`` of them match it (:func:`vote_pairs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
        dist = pair_distances(words, words, np.full(len(indices), rep), indices)
        order = np.lexsort((paths[indices], dist))
        order = np.concatenate([[0], order[order != 0]])
        members = [Member(str(paths[indices[k]]), int(dist[k])) for k in order]
        found.append((members, min(str(paths[k]) for k in indices)))
    found.sort(key=lambda g: (-len(g[0]), g[1]))
    return [Group(k, members[0].path, members) for k, (members, _) in enumerate(found)]


@dataclass(frozen=True)
class Rule:
    """One algorithm's say in a vote: its name, hash width, and maximum matching distance."""

    algorithm: str
    bits: int
    max_distance: int

    @property
    def threshold(self) -> float:
        return self.max_distance / self.bits


def make_rules(
    hashset: HashSet,
    algorithms: list[str] | tuple[str, ...] = (),
    thresholds: dict[str | None, float] | None = None,
    max_distances: dict[str | None, int] | None = None,
) -> list[Rule]:
    """Rules for the algorithms named in ``algorithms`` or as keys of the two dicts.

    A key ``None`` in ``thresholds`` / ``max_distances`` applies to every
    algorithm without a value of its own; an algorithm with neither uses its
    default threshold.  With no algorithm named at all, the file's only one.
    """
    thresholds = {(k.lower() if k else None): v for k, v in (thresholds or {}).items()}
    max_distances = {(k.lower() if k else None): v for k, v in (max_distances or {}).items()}
    named = [a.lower() for a in algorithms] + [k for k in (*thresholds, *max_distances) if k]
    names = list(dict.fromkeys(named)) or [choose_algorithm(hashset, None)]
    rules = []
    for name in names:
        name = choose_algorithm(hashset, name)
        bits = hashset.bits[name]
        if name in thresholds or name in max_distances:
            d = radius(bits, thresholds.get(name), max_distances.get(name), name)
        else:
            d = radius(bits, thresholds.get(None), max_distances.get(None), name)
        rules.append(Rule(name, bits, d))
    return rules


def default_vote(rules: list[Rule]) -> int:
    """A majority of the rules: 1 of 1, 2 of 2, 2 of 3, 3 of 4..."""
    return len(rules) // 2 + 1


@dataclass(frozen=True)
class VotedPairs:
    """Pairs that at least ``k`` rules matched, sorted by (i, j).

    ``distance[r]`` holds rule ``r``'s Hamming distance for every pair (also
    where that rule did not match), and ``votes`` how many rules matched it.
    """

    i: np.ndarray
    j: np.ndarray
    votes: np.ndarray
    distance: np.ndarray  # int32[rules, pairs]

    def __len__(self) -> int:
        return len(self.i)


def pair_distances(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Hamming distance of rows a[i[k]] and b[j[k]] for every k."""
    return np.bitwise_count(np.bitwise_xor(a[i], b[j])).sum(axis=1, dtype=np.int32)


def vote_pairs(a: HashSet, rules: list[Rule], k: int | None = None, b: HashSet | None = None) -> VotedPairs:
    """Pairs matched by at least ``k`` of ``rules`` (default: a majority), within ``a`` or from ``a`` to ``b``."""
    k = default_vote(rules) if k is None else k
    if not 1 <= k <= len(rules):
        raise MatchError(f"--vote must be between 1 and the number of algorithms ({len(rules)}), got {k}")
    other = a if b is None else b
    keys = []
    for rule in rules:
        pairs = find_pairs(a, rule.algorithm, max_distance=rule.max_distance, b=b)
        keys.append(pairs.i * len(other) + pairs.j)
    unique, votes = np.unique(np.concatenate(keys), return_counts=True)
    keep = votes >= k
    i, j = np.divmod(unique[keep], max(len(other), 1))
    distance = np.array([pair_distances(a.hashes[r.algorithm], other.hashes[r.algorithm], i, j) for r in rules],
                        dtype=np.int32).reshape(len(rules), len(i))
    return VotedPairs(i.astype(np.int64), j.astype(np.int64), votes[keep].astype(np.int32), distance)
