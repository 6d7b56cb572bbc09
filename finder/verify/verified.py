"""Verified matching: the pairs ``compare --verify`` and ``cluster --verify`` report.

Hashes decide most pairs on their own; geometry (:mod:`finder.verify.geometry`) is
asked only where hashes are unsure, in two places:

* **Near the threshold**: a hash match at more than :data:`NEAR_SHARE` of the
  threshold is kept only if verification confirms it (or cannot decide: an
  image with too few keypoints keeps what the hash said).  This is where the
  false matches of a hash live, so verification raises precision.  Matches
  closer than that are kept as they are: at half of FINd's threshold (48 of
  256 bits) two unrelated photos would be ten standard deviations closer than
  random hashes.
* **Beyond the threshold**: each image's :data:`K_NEIGHBOURS` nearest images
  by hash within a relaxed radius (halfway between the threshold and half the
  bits, where unrelated hashes sit), and its :data:`K_NEIGHBOURS` most similar
  images by visual words (:mod:`finder.verify.visualwords`: crops and rotations that
  the hash has lost entirely), are kept only if verification confirms them.
  So are pairs with a flat, low-quality image that matching keeps out of
  groups (``finder.views``): hash collisions of such images are what the
  quality rule prevents, and geometry is independent evidence.

``K_NEIGHBOURS`` bounds the cost at about ``2 K`` checks per image; it is also
the largest number of copies of one picture that each image can reach
directly (single linkage joins larger groups through their members).

Features are computed once per image and cached beside the hash file
(:class:`finder.verify.features.FeatureCache`); pairs are checked in parallel.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from finder import pairs as _pairs
from finder.errors import FinderError, MatchError
from finder.match.search import Rule, file_distances
from finder.pairs import Pairs
from finder.store.hashset import HashSet
from finder.verify.features import FeatureCache, Features

#: Hash matches farther than this share of the threshold are verified.
NEAR_SHARE = 0.5
#: Candidates per image beyond the threshold, from the hash and from visual words each.
K_NEIGHBOURS = 8
#: Pairs per parallel task (a few hundred milliseconds of matching).
CHUNK_PAIRS = 64


def relaxed_radius(rule: Rule) -> int:
    """Halfway between the threshold and half the bits (the distance of unrelated hashes)."""
    return max(rule.max_distance, (rule.max_distance + rule.bits // 2) // 2)


@dataclass(frozen=True)
class VerifiedPairs:
    """Pairs kept by verified matching, sorted by (i, j).

    ``distance`` is the hash distance (smallest over views), ``verified`` says
    whether geometry confirmed the pair (False: kept on its hash alone), and
    ``inliers`` how many keypoint matches agreed (0 when not checked).
    """

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray
    verified: np.ndarray
    inliers: np.ndarray

    def __len__(self) -> int:
        return int(len(self.i))

    def pairs(self) -> Pairs:
        return Pairs(self.i, self.j, self.distance)


@dataclass
class VerifyStats:
    """What verification did, for the summary line and ``--summary json``."""

    sure: int = 0
    near: int = 0
    near_kept: int = 0
    candidates: int = 0
    confirmed: int = 0
    undecided: int = 0
    features_computed: int = 0
    features_reused: int = 0
    unreadable: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"verified: {self.near:,} hash matches near the threshold checked, {self.near_kept:,} kept"
                f"{f' ({self.undecided:,} undecided, kept)' if self.undecided else ''}; "
                f"{self.candidates:,} candidates beyond it checked, {self.confirmed:,} confirmed; "
                f"features: {self.features_computed:,} computed, {self.features_reused:,} reused")

    def to_dict(self) -> dict:
        return {"sure": self.sure, "near": self.near, "near_kept": self.near_kept, "candidates": self.candidates,
                "confirmed": self.confirmed, "undecided": self.undecided,
                "features_computed": self.features_computed, "features_reused": self.features_reused,
                "unreadable": len(self.unreadable)}


def hash_neighbours(a: HashSet, name: str, k: int, radius: int, b: HashSet | None = None) -> Pairs:
    """Each file's ``k`` nearest files by hash within ``radius`` (views as in matching), as file pairs.

    Within one set the pairs are ``i < j`` (each found from either side);
    across two sets ``i`` is in ``a`` and ``j`` in ``b``.  Sorted by (i, j),
    each pair once, at its smallest distance.
    """
    other = a if b is None else b
    words_a, owner_a, view_a = a.hashes[name], a.owner[name], a.view[name]
    words_b, owner_b, view_b = other.hashes[name], other.owner[name], other.view[name]
    if len(words_a) == 0 or len(words_b) == 0 or k < 1:
        return Pairs.empty()
    per_file = int(np.bincount(owner_b).max())
    found = _pairs.knn(words_b, words_a, (k + 1) * per_file)
    fi, fj, d = owner_a[found.i], owner_b[found.j], found.distance
    keep = (d <= radius) & ((view_a[found.i] == 0) | (view_b[found.j] == 0))  # never extra view with extra view
    if b is None:
        keep &= fi != fj
    fi, fj, d = fi[keep], fj[keep], d[keep]
    # smallest distance per (i, j), then the k nearest j of every i (ties: the lower j)
    order = np.lexsort((fj, d, fi))
    fi, fj, d = fi[order], fj[order], d[order]
    _, first = np.unique(np.stack([fi, fj]), axis=1, return_index=True)
    first.sort()
    fi, fj, d = fi[first], fj[first], d[first]
    order = np.lexsort((fj, d, fi))
    fi, fj, d = fi[order], fj[order], d[order]
    rank = np.arange(len(fi)) - np.searchsorted(fi, fi, side="left")
    fi, fj, d = fi[rank < k], fj[rank < k], d[rank < k]
    if b is None:
        fi, fj = np.minimum(fi, fj), np.maximum(fi, fj)
    return _unique_pairs(fi, fj, d)


def _unique_pairs(i: np.ndarray, j: np.ndarray, d: np.ndarray) -> Pairs:
    """Each (i, j) once (its smallest d), sorted by (i, j)."""
    if len(i) == 0:
        return Pairs.empty()
    order = np.lexsort((d, j, i))
    i, j, d = i[order], j[order], d[order]
    first = np.ones(len(i), dtype=bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    return Pairs(i[first].astype(np.int64), j[first].astype(np.int64), d[first].astype(np.int32))


def _features(cache: FeatureCache, hashset: HashSet, jobs: int | None, reporter, stats: VerifyStats,
              label: str) -> list[Features | None]:
    def unreadable(path: str, reason: str) -> None:
        stats.unreadable.append(path)
        if reporter is not None:
            reporter.error(f"no features for {path}: {reason}")

    before_computed, before_reused = cache.computed, cache.reused
    paths = [str(p) for p in hashset.paths]
    if reporter is not None:
        with reporter.bar(len(paths), label) as advance:
            found = cache.get(paths, jobs, advance, unreadable)
    else:
        found = cache.get(paths, jobs, None, unreadable)
    stats.features_computed += cache.computed - before_computed
    stats.features_reused += cache.reused - before_reused
    return found


def _present(features: Features | None) -> Features:
    assert features is not None  # pairs without features are left out before
    return features


def _check_pairs(i: np.ndarray, j: np.ndarray, fa: list[Features | None], fb: list[Features | None],
                 jobs: int | None, progress: Callable[[int], None] | None) -> tuple[np.ndarray, ...]:
    """(ok, decided, inliers) for every pair (i[k], j[k]); pairs missing features are undecided."""
    from finder.engine import local_executor
    from finder.verify.geometry import check_chunk

    n = len(i)
    ok, decided, inliers = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, np.int32)
    todo = [k for k in range(n) if fa[i[k]] is not None and fb[j[k]] is not None]
    if progress is not None and n > len(todo):
        progress(n - len(todo))
    chunks: list[tuple[list[tuple[int, int, int]], dict[int, Features], dict[int, Features]]] = []
    for c0 in range(0, len(todo), CHUNK_PAIRS):
        part = [(k, int(i[k]), int(j[k])) for k in todo[c0:c0 + CHUNK_PAIRS]]
        chunks.append((part, {ia: _present(fa[ia]) for _, ia, _ in part}, {ib: _present(fb[ib]) for _, _, ib in part}))
    workers = min(jobs or os.cpu_count() or 1, max(1, len(chunks)))
    with local_executor(workers) as executor:
        for results in executor.map(check_chunk, chunks):
            for k, good, sure, count, _mirrored in results:
                ok[k], decided[k], inliers[k] = good, sure, count
            if progress is not None:
                progress(len(results))
    return ok, decided, inliers


def verify_pairs(
    a: HashSet,
    rule: Rule,
    matches: Pairs,
    b: HashSet | None = None,
    *,
    cache_a: FeatureCache | None = None,
    cache_b: FeatureCache | None = None,
    k: int = K_NEIGHBOURS,
    jobs: int | None = None,
    reporter=None,
) -> tuple[VerifiedPairs, VerifyStats]:
    """The matching pairs of ``a`` (or from ``a`` to ``b``) under ``rule``, decided by geometric verification.

    Parameters
    ----------
    a, b : HashSet
        One set (pairs ``i < j``) or two (``i`` in ``a``, ``j`` in ``b``).
    rule : Rule
        The algorithm and its threshold.
    matches : Pairs
        The pairs matching found under ``rule`` (:func:`finder.match.search.find_pairs`,
        here or on a cluster); verification takes them as given and searches no
        pairs of its own, only each image's nearest candidates beyond the threshold.
    cache_a, cache_b : FeatureCache, optional
        Where features are looked up and added (default: in memory only).
    k : int
        Candidates per image beyond the threshold from each source.
    jobs : int, optional
        Worker processes for features and checks (default: all cores).
    reporter : finder.progress.Reporter, optional
        Progress bars and diagnostics on stderr.

    Returns
    -------
    (VerifiedPairs, VerifyStats)
    """
    name, threshold = rule.algorithm, rule.max_distance
    other = a if b is None else b
    stats = VerifyStats()
    cache_a = cache_a if cache_a is not None else FeatureCache(None, a.exif_transpose)
    if b is not None and cache_b is None:
        cache_b = FeatureCache(None, b.exif_transpose)
    near = matches.distance > NEAR_SHARE * threshold
    stats.sure, stats.near = int((~near).sum()), int(near.sum())

    fa = _features(cache_a, a, jobs, reporter, stats, "features")
    fb = fa if b is None else _features(cache_b, b, jobs, reporter, stats, "features (second set)")  # type: ignore[arg-type]

    from finder.verify import visualwords
    hashed = hash_neighbours(a, name, k, relaxed_radius(rule), b)
    wi, wj = visualwords.similar(fa, k, None if b is None else fb)
    if b is None:
        wi, wj = np.minimum(wi, wj), np.maximum(wi, wj)
    wd = file_distances(a, name, wi, wj, b)
    cand = _unique_pairs(np.concatenate([hashed.i, wi]), np.concatenate([hashed.j, wj]),
                         np.concatenate([hashed.distance, wd]))
    # everything matching did not already report: beyond the threshold, or flat images that matching keeps
    # out of groups (finder.views quality) -- geometry is independent evidence, so it may confirm those
    width = max(len(other), 1)
    cand = cand.select(~np.isin(cand.keys(width), matches.keys(width)))
    stats.candidates = len(cand)

    ci = np.concatenate([matches.i[near], cand.i])
    cj = np.concatenate([matches.j[near], cand.j])
    total = len(ci)
    if reporter is not None:
        with reporter.bar(total, "verifying") as advance:
            ok, decided, inliers = _check_pairs(ci, cj, fa, fb, jobs, advance)
    else:
        ok, decided, inliers = _check_pairs(ci, cj, fa, fb, jobs, None)
    n_near = int(near.sum())
    near_keep = ok[:n_near] | ~decided[:n_near]
    stats.near_kept = int(near_keep.sum())
    stats.undecided = int((~decided[:n_near]).sum())
    stats.confirmed = int(ok[n_near:].sum())

    keep_match = ~near
    keep_match[np.flatnonzero(near)[near_keep]] = True
    verified_match = np.zeros(len(matches), bool)
    verified_match[np.flatnonzero(near)] = ok[:n_near]
    inliers_match = np.zeros(len(matches), np.int32)
    inliers_match[np.flatnonzero(near)] = inliers[:n_near]
    confirmed = ok[n_near:]
    i = np.concatenate([matches.i[keep_match], cand.i[confirmed]])
    j = np.concatenate([matches.j[keep_match], cand.j[confirmed]])
    d = np.concatenate([matches.distance[keep_match], cand.distance[confirmed]])
    v = np.concatenate([verified_match[keep_match], np.ones(int(confirmed.sum()), bool)])
    c = np.concatenate([inliers_match[keep_match], inliers[n_near:][confirmed]])
    order = np.lexsort((j, i))
    result = VerifiedPairs(i[order].astype(np.int64), j[order].astype(np.int64), d[order].astype(np.int32),
                           v[order], c[order].astype(np.int32))
    return result, stats


__all__ = ["K_NEIGHBOURS", "NEAR_SHARE", "VerifiedPairs", "VerifyStats", "hash_neighbours",
           "relaxed_radius", "verify_pairs"]


# --------------------------------------------------------------------------
# What the command line calls
# --------------------------------------------------------------------------

#: CSV columns of ``compare --verify``.
VERIFIED_HEADER = ("path_a", "path_b", "distance", "similarity", "same_file", "verified", "inliers")


def single_rule(rules: list[Rule]) -> Rule:
    """The one rule verification checks; MatchError when several algorithms were named."""
    if len(rules) != 1:
        raise MatchError("--verify checks the matches of one algorithm; name one with -a")
    return rules[0]


def verified_for_files(
    a: HashSet,
    rule: Rule,
    matches: Pairs,
    hashfile_a: str | None,
    b: HashSet | None = None,
    hashfile_b: str | None = None,
    *,
    jobs: int | None = None,
    reporter=None,
) -> VerifiedPairs:
    """:func:`verify_pairs` for hash files: features cached beside each file, the summary line on stderr.

    ``hashfile_a`` (and ``hashfile_b``) are the paths ``a`` (and ``b``) were
    loaded from; each set's features go to its own cache
    (:func:`finder.verify.features.sidecar_path`), or stay in memory for a set
    without a file.  A cache that cannot be written is reported and the results are kept.
    """
    from finder.verify.features import sidecar_path

    path_a = sidecar_path(hashfile_a) if hashfile_a else None
    cache_a = FeatureCache.load(path_a, a.exif_transpose) if path_a else FeatureCache(None, a.exif_transpose)
    cache_b = None
    if b is not None:
        path_b = sidecar_path(hashfile_b) if hashfile_b else None
        same = (path_a is not None and path_b is not None and os.path.realpath(path_a) == os.path.realpath(path_b)
                and a.exif_transpose == b.exif_transpose)
        cache_b = (cache_a if same else FeatureCache.load(path_b, b.exif_transpose) if path_b
                   else FeatureCache(None, b.exif_transpose))
    try:
        found, stats = verify_pairs(a, rule, matches, b, cache_a=cache_a, cache_b=cache_b, jobs=jobs,
                                    reporter=reporter)
    finally:
        for cache in dict.fromkeys(c for c in (cache_a, cache_b) if c is not None):
            try:
                cache.save()
            except FinderError as exc:
                if reporter is not None:
                    reporter.error(str(exc))
    if reporter is not None:
        reporter.info(stats.line())
    return found


def verified_rows(found: VerifiedPairs, a: HashSet, b: HashSet | None, bits: int):
    """Rows of :data:`VERIFIED_HEADER`, in (path_a, path_b) order."""
    from finder.match.search import same_file

    paths_a, paths_b = a.paths, (a if b is None else b).paths
    same = same_file(a, found.i, b, found.j)
    similarity = np.round(1.0 - found.distance / bits, 6)
    for k, (i, j) in enumerate(zip(found.i.tolist(), found.j.tolist())):
        yield (str(paths_a[i]), str(paths_b[j]), int(found.distance[k]), float(similarity[k]), bool(same[k]),
               bool(found.verified[k]), int(found.inliers[k]))
