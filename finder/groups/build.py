"""From a hash file's matching rules to groups: the one path ``cluster``, ``report`` and the library share.

:func:`find_groups` searches once (here, or on a Dask cluster through
``search``), lets geometric verification decide the pairs when asked (it
takes the pairs the search found; it never searches again), and links the
pairs into groups (:func:`cluster`).  Choosing each group's keeper is the
next step (:mod:`finder.groups.keep`): ``cluster`` reads image headers for
it, ``report`` takes the facts from the thumbnails it makes anyway.
"""

from __future__ import annotations

import numpy as np

from finder.groups.decisions import Decisions, FileKeys, drop_distinct
from finder.groups.linkage import Group, Member, StreamedLinkage, group_indices
from finder.match.search import (
    Rule,
    Search,
    VotedPairs,
    choose_algorithm,
    file_view_distances,
    find_pairs,
    iter_pairs,
    vote_pairs,
)
from finder.pairs import Pairs
from finder.store.hashset import HashSet


def cluster(
    hashset: HashSet,
    algorithm: str | None = None,
    *,
    threshold: float | None = None,
    max_distance: int | None = None,
    linkage: str = "single",
    min_size: int = 2,
    pairs: Pairs | VotedPairs | None = None,
    linked: list[np.ndarray] | None = None,
) -> list[Group]:
    """Groups of similar images, largest first (then by first path), of at least ``min_size``.

    ``pairs`` may be given to reuse matches already found for the same radius; ``linked``, the groups
    themselves as :func:`finder.groups.linkage.group_indices` gives them (representative first).
    """
    name = choose_algorithm(hashset, algorithm)
    if linked is None:
        if pairs is None:
            pairs = find_pairs(hashset, name, threshold=threshold, max_distance=max_distance)
        linked = group_indices(len(hashset), pairs.i, pairs.j, linkage)
    paths = hashset.paths
    found = []
    kept = [indices for indices in linked if len(indices) >= min_size]
    # One pass over every member's row pair to its representative (a pass per group scans the whole store
    # each time: 10^4 groups of 10^5 files took 14 s).
    flat = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    reps = np.concatenate([np.full(len(g), g[0]) for g in kept]) if kept else np.zeros(0, np.int64)
    all_dist, all_views = file_view_distances(hashset, name, reps, flat)
    bounds = np.cumsum([0] + [len(g) for g in kept])
    for g, indices in enumerate(kept):
        dist, views = all_dist[bounds[g]:bounds[g + 1]], all_views[bounds[g]:bounds[g + 1]]
        order = np.lexsort((paths[indices], dist))
        order = np.concatenate([[0], order[order != 0]])
        members = []
        first_name: dict[tuple[int, int], str] = {}
        for k in order:
            f = indices[k]
            identity = (int(hashset.device[f]), int(hashset.inode[f]))
            path = str(paths[f])
            twin = first_name.setdefault(identity, path) if identity[1] else path
            members.append(Member(path, int(dist[k]), twin if twin != path else None,
                                  size=int(hashset.size[f]), mtime_ns=int(hashset.mtime_ns[f]),
                                  view=views[k] if k != 0 else None))
        found.append((members, min(str(paths[k]) for k in indices)))
    found.sort(key=lambda g: (-len(g[0]), g[1]))
    return [Group(k, members[0].path, members) for k, (members, _) in enumerate(found)]
def find_groups(
    hashset: HashSet,
    rules: list[Rule],
    *,
    vote: int | None = None,
    linkage: str = "single",
    min_size: int = 2,
    search: Search | None = None,
    verify: bool = False,
    hashfile: str | None = None,
    jobs: int | None = None,
    reporter=None,
    decisions: Decisions | None = None,
) -> list[Group]:
    """Groups of similar images under ``rules``, largest first; keepers are not chosen yet.

    Parameters
    ----------
    hashset : the hash file's contents.
    rules : one rule per algorithm (:func:`finder.match.search.make_rules`); several vote.
    vote : with several rules, how many must match (default: a majority).
    linkage, min_size : as for :func:`cluster`.
    search : where the pair search runs (default: here, block by block;
        :class:`finder.match.dask_search.DaskSearch` on a cluster).  Called once.
    verify : let geometric verification decide the pairs (needs the ``verify``
        extra; one rule only).  Features are cached beside ``hashfile`` when given.
    jobs, reporter : worker processes and progress for verification.
    decisions : what a person decided in review: pairs marked "not a duplicate" are not linked
        (the rest, "keep all" and chosen keepers, apply once keepers are chosen: :func:`honour`).
    """
    first = rules[0]
    pairs: Pairs | VotedPairs
    if len(rules) == 1 and not verify and linkage == "single":
        # Streamed: each block of pairs joins the groups and is dropped (memory O(files + groups)).
        streamed = StreamedLinkage(len(hashset))
        keys = FileKeys(hashset) if decisions is not None else None
        for block in iter_pairs(hashset, first.algorithm, max_distance=first.max_distance, search=search):
            if keys is not None and decisions is not None:
                block = drop_distinct(block, keys, decisions)
            streamed.add(block.i, block.j)
        return cluster(hashset, first.algorithm, max_distance=first.max_distance, min_size=min_size,
                       linked=streamed.groups())
    if len(rules) > 1:
        if verify:
            from finder.verify.verified import single_rule

            single_rule(rules)  # raises: verification checks one algorithm's matches
        pairs = vote_pairs(hashset, rules, vote, search=search)
    else:
        pairs = find_pairs(hashset, first.algorithm, max_distance=first.max_distance, search=search)
        if verify:
            from finder.verify.verified import verified_for_files

            pairs = verified_for_files(hashset, first, pairs, hashfile, jobs=jobs, reporter=reporter).pairs()
    if decisions is not None:
        pairs = drop_distinct(pairs, FileKeys(hashset), decisions)
    return cluster(hashset, first.algorithm, max_distance=first.max_distance, linkage=linkage, min_size=min_size,
                   pairs=pairs)
