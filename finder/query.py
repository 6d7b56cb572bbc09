"""New images against a stored set: "is this image already here?"

:func:`hash_queries` hashes the query images exactly as the archive's were
hashed -- its algorithm, EXIF handling, decode policy and views, read from the
archive's settings record -- and refuses (one-line error) when this finder
cannot reproduce them, since hashes made differently cannot be compared.
:func:`match` then finds, for every query file, the archive files within a
radius or its ``k`` nearest.  Matching is ``compare``'s own
(:func:`finder.match.search.block_pairs`: views, quality rules and the pair
search backend chosen by radius), so ``finder query`` reports the same pairs
as ``finder compare`` of the query images against the archive; the ``k``
nearest come from the :func:`finder.pairs.knn` contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from finder import pairs as _pairs
from finder.errors import SettingsError
from finder.io.decode import FileError
from finder.match.search import (
    block_pairs,
    choose_algorithm,
    file_distances,
    file_view_distances,
    radius,
    same_file,
)
from finder.pairs import Pairs
from finder.store.hashset import HashSet

__all__ = ["Matches", "hash_queries", "match"]

# Settings that decide how an image is hashed, besides the algorithm.
_HOW_HASHED = ("exif_transpose", "decode", "views")


@dataclass(frozen=True)
class Matches:
    """Query files against archive files, nearest first.

    Attributes
    ----------
    i : int64[m]
        Query file (index into the query HashSet).
    j : int64[m]
        Archive file.
    distance : int32[m]
        Hamming distance as matching sees it (``compare``'s distance for a
        matching pair; :func:`finder.match.search.file_distances` for the others).
    match : bool[m]
        ``compare`` would pair them (always true without ``k``).
    same_file : bool[m]
        The two are one file (same device and inode).
    view : list of str
        The row pair the distance comes from (``"plain"``, ``"mirror x plain"``, ``"trimmed x inset"``...).
    blocked : list of str
        For a pair within the radius that does not match, the rule that blocked it
        (:mod:`finder.match.explain`); empty otherwise.
    max_distance : int
        The radius in bits.
    bits : int
        The hash width.

    Sorted by (i, distance, j): for each query, nearest first, ties by path.
    """

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray
    match: np.ndarray
    same_file: np.ndarray
    max_distance: int
    bits: int
    view: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.i.shape[0])

    def matched(self) -> np.ndarray:
        """The query files with at least one archive file within the radius (sorted, unique)."""
        return np.unique(self.i[self.match])

    def by_query(self, n_queries: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(query file, row indices of its results)`` for every query file, in order (empty ones too)."""
        bounds = np.searchsorted(self.i, np.arange(n_queries + 1))
        for q in range(n_queries):
            yield q, np.arange(bounds[q], bounds[q + 1])


def hash_queries(paths: Sequence[str], archive: HashSet, algorithm: str, *, jobs: int | None = None,
                 on_error: Callable[[FileError], None] | None = None):
    """Hash ``paths`` with ``algorithm`` exactly as ``archive`` was hashed.

    Parameters
    ----------
    paths : candidate image paths (``finder.io.files.find_images``).
    archive : the stored set whose settings record says how to hash.
    algorithm : one of the archive's algorithms.
    jobs : worker processes (default all cores; a handful of images is hashed in-process).
    on_error : called for every file that cannot be hashed.

    Returns
    -------
    finder.store.update.HashReport
        Its ``hashset`` holds the query files that could be hashed.

    Raises
    ------
    SettingsError
        The archive was hashed with settings (EXIF handling, decode policy,
        views) this finder does not reproduce.
    """
    from finder.store.resolution import DECODE_POLICIES
    from finder.store.update import hash_paths

    theirs = archive.run_settings()
    decode = str(theirs.get("decode") or "full")
    if decode not in DECODE_POLICIES:
        raise SettingsError(f"the archive was hashed with decode policy {decode!r}, which this finder does not "
                            f"know ({', '.join(DECODE_POLICIES)}); its hashes cannot be compared with new ones. "
                            f"Hash it again with this finder")
    report = hash_paths(paths, [algorithm], jobs=jobs, exif_transpose=archive.exif_transpose, on_error=on_error,
                        views=tuple(theirs.get("views") or ["plain"]), decode=decode)
    ours = report.hashset.run_settings()
    differ = [f"{key} {theirs[key]!r} (this finder: {ours[key]!r})" for key in _HOW_HASHED if ours[key] != theirs[key]]
    if differ:
        raise SettingsError(f"the archive was hashed with {', '.join(differ)}; its hashes cannot be compared "
                            f"with new ones. Hash it again with this finder")
    return report


def match(queries: HashSet, archive: HashSet, algorithm: str | None = None, *, threshold: float | None = None,
          max_distance: int | None = None, k: int | None = None, backend: str | None = None) -> Matches:
    """Archive files near each query file: all that match, or the ``k`` nearest.

    Matching is exactly ``compare``'s (:func:`finder.match.search.block_pairs`
    with the queries as the first set): the same pairs at the same distances,
    views and quality rules included.  With ``k``, the ``k`` nearest archive
    files by :func:`finder.match.search.file_distances` (the smallest distance
    over the two files' views), the matching ones at their matching distance.

    Parameters
    ----------
    queries, archive : HashSet
        Both must hold ``algorithm`` at the same width.
    algorithm : str, optional
        Default: the archive's only algorithm.
    threshold, max_distance : the radius, as a share of the bits or in bits
        (at most one; default: the algorithm's default threshold).
    k : int, optional
        Report each query's ``k`` nearest archive files, matching or not
        (``Matches.match`` says which); without it, every matching file.
    backend : str, optional
        The :mod:`finder.pairs` backend for ``k`` (default: the process default).

    Returns
    -------
    Matches
        Sorted by (query, distance, archive file).
    """
    name = choose_algorithm(archive, algorithm, "archive")
    if name not in queries.bits or queries.bits[name] != archive.bits[name]:
        raise SettingsError(f"the queries have no {archive.bits[name]}-bit {name} hashes")
    bits = archive.bits[name]
    d = radius(bits, threshold, max_distance, name)
    found = block_pairs(queries, name, d, 0, len(queries), archive) if len(queries) else Pairs.empty()
    i, j, dist = found.i, found.j, found.distance
    matched = np.ones(len(i), dtype=bool)
    if k is not None:
        ci, cj = _nearest_candidates(queries, archive, name, k, backend)
        width = max(len(archive), 1)
        new = ~np.isin(ci * width + cj, i * width + j)  # matching pairs keep their matching distance
        ci, cj = ci[new], cj[new]
        i, j = np.concatenate([i, ci]), np.concatenate([j, cj])
        # file_distances walks every extra row of both sets: give it only the candidate archive files
        files, local = np.unique(cj, return_inverse=True)
        near = file_distances(queries, name, ci, local, archive.take(files))
        dist = np.concatenate([dist, near]).astype(np.int32)
        matched = np.concatenate([matched, np.zeros(len(ci), dtype=bool)])
    order = np.lexsort((j, dist, i))
    i, j, dist, matched = i[order], j[order], dist[order], matched[order]
    if k is not None:
        rank = np.arange(len(i)) - np.searchsorted(i, i)  # position within its query file
        keep = rank < k
        i, j, dist, matched = i[keep], j[keep], dist[keep], matched[keep]
    views, blocked = _why(queries, archive, name, d, i, j, dist, matched)
    return Matches(i, j, dist, matched, same_file(queries, i, archive, j), d, bits, views, blocked)


def _why(queries: HashSet, archive: HashSet, name: str, d: int, i: np.ndarray, j: np.ndarray, dist: np.ndarray,
         matched: np.ndarray) -> tuple[list[str], list[str]]:
    """The row pair of each result's distance, and for a pair within the radius that does not match, the rule
    that blocked it (explained one pair at a time: there are at most k per query)."""
    from finder.match.explain import explain

    files, local = np.unique(j, return_inverse=True)
    sub = archive.take(files)
    nearest, views = file_view_distances(queries, name, i, local, sub)
    blocked = [""] * len(i)
    for k in np.flatnonzero((nearest != dist) | (~matched & (dist <= d))).tolist():
        told = explain(queries, int(i[k]), sub, int(local[k]), name, d)
        best = told.best
        if best is not None:
            views[k] = "plain" if best.view_a == best.view_b == "plain" else f"{best.view_a} x {best.view_b}"
        if not matched[k]:
            why = [r.decided for r in told.rows if r.decided.startswith("blocked")]
            blocked[k] = why[0] if why else told.verdict
    return views, blocked


def _nearest_candidates(queries: HashSet, archive: HashSet, name: str, k: int,
                        backend: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(query file, archive file) pairs that include every query file's ``k`` nearest by file distance.

    The file distance is the smallest over plain against plain, a query's
    extra view against the archive's plain, and the query's plain against an
    archive file's extra view.  Every archive file has one plain row, so the
    ``k`` nearest plain rows of each query row cover the first two; an
    archive file has at most ``most`` extra rows, so the ``k * most`` nearest
    extra rows of each query's plain row cover the third.
    """
    q_owner, a_owner, a_view = queries.owner[name], archive.owner[name], archive.view[name]
    near = _pairs.knn(archive.plain(name), queries.hashes[name], k, backend=backend)
    ci, cj = [q_owner[near.i]], [near.j]
    extra = np.flatnonzero(a_view != 0)
    if len(extra):
        most = int(np.bincount(a_owner[extra]).max())
        near = _pairs.knn(archive.hashes[name][extra], queries.plain(name), k * most, backend=backend)
        ci.append(near.i)
        cj.append(a_owner[extra][near.j])
    key = np.unique(np.concatenate(ci) * max(len(archive), 1) + np.concatenate(cj))
    return key // max(len(archive), 1), key % max(len(archive), 1)
