"""HashSets to matching pairs: the library behind ``compare``, and the search ``cluster`` groups.

A threshold is a normalised Hamming distance: two images match when
``distance / bits <= threshold``, i.e. ``distance <= floor(threshold * bits)``.
``max_distance`` gives the same radius in bits directly.

Several algorithms can vote: each has its own radius (a :class:`Rule`), and a
pair matches when at least ``k`` of them match it (:func:`vote_pairs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from finder import algorithms as _algorithms
from finder import pairs as _pairs
from finder.match import layout as _layout
from finder.pairs import Pairs
from finder.store.hashset import HashSet
from finder.views import BOX_VIEWS, QUALITY_CUTOFF, VIEW_SETS, view_code, view_radius

EPSILON = 1e-9  # so that e.g. 0.3 * 10 bits counts as 3, not 2.9999999999999996


from finder.errors import MatchError  # noqa: E402  (re-exported)

BOX_CODES = np.array([view_code(v) for v in BOX_VIEWS], dtype=np.uint8)
INSET = view_code("inset")
DIHEDRAL_CODES = np.array([view_code(v) for v in VIEW_SETS["dihedral"] if v not in ("plain", "mirror", "trimmed")],
                          dtype=np.uint8)
# Which view codes are content boxes / dihedral views, as tables indexed by a uint8 view column (one gather,
# where np.isin walks the column once per code and costs ~0.1 ms a call on a few thousand files).
_IS_BOX = np.zeros(256, dtype=bool)
_IS_BOX[BOX_CODES] = True
_IS_DIHEDRAL = np.zeros(256, dtype=bool)
_IS_DIHEDRAL[DIHEDRAL_CODES] = True


def _box(view: np.ndarray) -> np.ndarray:
    """bool per row of a uint8 view column: the row is a content box."""
    return _IS_BOX[view]


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


# Rows per sub-block for the symmetric view comparisons inside a block (see _view_row_pairs).
SUB_BLOCK_ROWS = 4096
# Files per block when pairs are produced block by block (memory O(n + matches of one block)).
BLOCK_FILES = 16384
# search(a, algorithm, max_distance, b, ranges) -> the block_pairs of each (f0, f1) in ranges, in order
# (local_search here; finder.match.dask_search.DaskSearch on a cluster).
Search = Callable[[HashSet, str, int, "HashSet | None", Sequence[tuple[int, int]]], Iterator[Pairs]]


def _check_pair(a: HashSet, algorithm: str | None, threshold: float | None, max_distance: int | None,
                b: HashSet | None) -> tuple[str, int]:
    name = choose_algorithm(a, algorithm, "first hash file" if b is not None else "hash file")
    bits = a.bits[name]
    d = radius(bits, threshold, max_distance, name)
    if b is not None:
        if name not in b.bits:
            raise MatchError(f"second hash file has no {name} hashes (it has {', '.join(b.algorithms)})")
        if b.bits[name] != bits:
            raise MatchError(f"{name} hashes differ in width: {bits} bits against {b.bits[name]}")
    return name, d


def match_share(a: HashSet, rule: Rule, b: HashSet | None = None, sample: int = 2000,
                seed: int = 0) -> tuple[float, int]:
    """Estimated share of all pairs within ``rule``'s radius (from a random sample of files), and the pair count."""
    _check_pair(a, rule.algorithm, None, rule.max_distance, b)
    total = len(a) * (len(a) - 1) // 2 if b is None else len(a) * len(b)
    if total == 0:
        return 0.0, 0
    rng = np.random.default_rng(seed)
    pick_a = np.sort(rng.choice(len(a), min(sample, len(a)), replace=False))
    words_a = a.plain(rule.algorithm)[pick_a]
    if b is None:
        found, possible = len(_within(words_a, rule.max_distance)), len(pick_a) * (len(pick_a) - 1) // 2
    else:
        pick_b = np.sort(rng.choice(len(b), min(sample, len(b)), replace=False))
        found = len(_across(words_a, b.plain(rule.algorithm)[pick_b], rule.max_distance))
        possible = len(pick_a) * len(pick_b)
    return (found / possible if possible else 0.0), total


def file_blocks(n: int, block: int = BLOCK_FILES) -> list[tuple[int, int]]:
    """``[f0, f1)`` ranges of at most ``block`` files covering ``range(n)`` (one range when small)."""
    return [(f0, min(f0 + block, n)) for f0 in range(0, n, block)] or [(0, 0)]


def _plain_only(hs: HashSet, name: str) -> bool:
    return len(hs.hashes[name]) == len(hs) and not hs.view[name].any()


def _within(words: np.ndarray, d: int) -> Pairs:
    """pairs_within with the backend chosen for the radius and size (finder.pairs.choose_backend)."""
    return _pairs.pairs_within(words, d, backend=_pairs.choose_backend(d, 64 * words.shape[1], len(words), len(words)))


def _across(a: np.ndarray, b: np.ndarray, d: int) -> Pairs:
    """pairs_across (``b`` searched by ``a``'s rows) with the backend chosen for the radius and batch."""
    return _pairs.pairs_across(a, b, d, backend=_pairs.choose_backend(d, 64 * a.shape[1], len(b), len(a)))


def _rows_pairs(a_words: np.ndarray, a_rows: np.ndarray, b_words: np.ndarray, b_rows: np.ndarray, d: int) -> Pairs:
    """pairs_across on row subsets, with row numbers mapped back to the full tables."""
    if len(a_rows) == 0 or len(b_rows) == 0:
        return Pairs.empty()
    found = _across(a_words[a_rows], b_words[b_rows], d)
    return Pairs(a_rows[found.i], b_rows[found.j], found.distance)


def block_pairs(a: HashSet, name: str, d: int, f0: int, f1: int, b: HashSet | None = None,
                index: _pairs.Index | None = None) -> Pairs:
    """The file pairs ``(i, j)`` with ``f0 <= i < f1`` (and ``i < j`` within one set), sorted by (i, j).

    ``index``: the searched rows of ``name`` indexed once for every block of a search of plain hashes
    (:func:`search_index`): ``b``'s across two sets, ``a``'s own within one (then each block's rows are
    looked up in all of ``a`` and the pairs with ``j > i`` kept); made here when not given.

    With extra views, a file's plain row is compared with every row of the
    other file, its extra rows with the other's plain row, and content boxes
    with content boxes (two framed copies of one photo); never mirror with
    mirror, which says what plain against plain says.  Matches through an
    extra view must be within the tighter :func:`finder.views.view_radius`.
    Pairs involving a low-quality image (``finder.views.QUALITY_CUTOFF``) are
    kept only at distance 0.
    """
    words, owner = a.hashes[name], a.owner[name]
    r0, r1 = (int(x) for x in np.searchsorted(owner, [f0, f1], side="left"))
    other = a if b is None else b
    if _plain_only(a, name) and _plain_only(other, name):
        if b is not None:
            index = index if index is not None else _pairs.Index(b.hashes[name])
            queries = words[r0:r1]
            found = index.range_search(queries, d, backend=_pairs.choose_backend(d, 64 * queries.shape[1],
                                                                                 len(index), len(queries)))
            rows = Pairs(found.i + r0, found.j, found.distance)
        elif index is not None:  # the backend search_index chose for the whole set, for every block
            queries = words[r0:r1]
            found = index.range_search(queries, d, backend=_pairs.choose_backend(d, 64 * queries.shape[1],
                                                                                 len(index), len(index)))
            rows = Pairs(found.i + r0, found.j, found.distance).select(found.j > found.i + r0)
        else:
            inside = _within(words[r0:r1], d)
            later = _across(words[r0:r1], words[r1:], d)
            i = np.concatenate([inside.i + r0, later.i + r0])
            j = np.concatenate([inside.j + r0, later.j + r1])
            order = np.argsort(i, kind="stable")  # within one row every inside j < r1 <= every later j
            rows = Pairs(i[order], j[order], np.concatenate([inside.distance, later.distance])[order])
    else:
        dv = view_radius(d)
        rows = Pairs.concat(_view_row_pairs(a, other, name, d, r0, r1, within=b is None))
        rows = _framed_filter(rows, a, other, name, dv)
        rows = _boxes_filter(rows, a, other, name, d, dv)
        rows = _layout_filter(rows, a, other, name, dv)
    found = file_pairs(rows, owner, other.owner[name], within=b is None, always=not (_plain_only(a, name)
                                                                                        and _plain_only(other, name)))
    return _quality_filter(found, a, other, name)


def _framed(hs: HashSet, name: str) -> np.ndarray:
    """bool[files]: the files whose content box is stored as ``inset`` (the frame is most of the image)."""
    framed = np.zeros(len(hs), dtype=bool)
    framed[hs.owner[name][hs.view[name] == INSET]] = True
    return framed


def _framed_filter(rows: Pairs, a: HashSet, b: HashSet, name: str, dv: int) -> Pairs:
    """Drop row pairs beyond the view radius ``dv`` that use the plain or geometric row of a framed file.

    Such a row describes mostly the frame (see :data:`finder.views.content.FRAME_DOMINATES`), so it is held to
    the radius of a view; the file's content box row is what speaks for its picture.
    """
    framed_a, framed_b = _framed(a, name), _framed(b, name)
    if not (framed_a.any() or framed_b.any()) or not len(rows.i):
        return rows
    frame_a = framed_a[a.owner[name][rows.i]] & ~_box(a.view[name][rows.i])
    frame_b = framed_b[b.owner[name][rows.j]] & ~_box(b.view[name][rows.j])
    keep = ~((frame_a | frame_b) & (rows.distance > dv))
    return rows.select(keep)


def _box_rows(hs: HashSet, name: str) -> np.ndarray:
    """int64[files]: each file's content box row (``trimmed`` or ``inset``), or -1 for a file without one."""
    rows = np.full(len(hs), -1, dtype=np.int64)
    boxes = np.flatnonzero(_box(hs.view[name]))
    rows[hs.owner[name][boxes]] = boxes
    return rows


def _boxes_filter(rows: Pairs, a: HashSet, b: HashSet, name: str, d: int, dv: int) -> Pairs:
    """Drop a match of two framed files, beyond the view radius ``dv``, that their pictures do not confirm.

    When both files have a content box, a match of their plain or geometric rows may be the frames
    matching (two different photos in the same white border agree on the border's bits: 92 of 256 apart,
    inside FINd's radius of 96 and beyond its view radius of 86).  Such a row pair is kept only when the
    pictures match too: one file's box row within ``d`` of the other's box row or plain row (a padded
    copy's box is its original's whole image).  Closer matches are the picture's own.
    """
    box_a, box_b = _box_rows(a, name), _box_rows(b, name)
    if not len(rows.i) or (box_a < 0).all() or (box_b < 0).all():
        return rows
    fa, fb = a.owner[name][rows.i], b.owner[name][rows.j]
    both = ((rows.distance > dv) & (box_a[fa] >= 0) & (box_b[fb] >= 0) & ~_box(a.view[name][rows.i])
            & ~_box(b.view[name][rows.j]))
    check = np.flatnonzero(both)
    if not len(check):
        return rows
    wa, wb = a.hashes[name], b.hashes[name]
    plain_a, plain_b = _plain_rows(a, name), _plain_rows(b, name)
    ba, bb = box_a[fa[check]], box_b[fb[check]]
    confirmed = ((pair_distances(wa, wb, ba, bb) <= d) | (pair_distances(wa, wb, ba, plain_b[fb[check]]) <= d)
                 | (pair_distances(wa, wb, plain_a[fa[check]], bb) <= d))
    keep = np.ones(len(rows.i), dtype=bool)
    keep[check[~confirmed]] = False
    return rows.select(keep)


def _plain_rows(hs: HashSet, name: str) -> np.ndarray:
    """int64[files]: each file's plain row."""
    rows = np.zeros(len(hs), dtype=np.int64)
    plain = np.flatnonzero(hs.view[name] == 0)
    rows[hs.owner[name][plain]] = plain
    return rows


def _layout_filter(rows: Pairs, a: HashSet, b: HashSet, name: str, dv: int) -> Pairs:
    """Drop row pairs beyond the view radius ``dv`` whose layout bits do not agree beyond chance.

    Only plain rows match beyond the view radius. With views each file pair is
    compared several times, so accidental matches near the threshold become
    more likely; those are the ones a layout check catches (:mod:`finder.match.layout`).
    """
    far = np.flatnonzero(rows.distance > dv)
    if not len(far):
        return rows
    ok = _layout.confirms(name, a.hashes[name][rows.i[far]], b.hashes[name][rows.j[far]])
    if ok is None or ok.all():
        return rows
    keep = np.ones(len(rows.i), dtype=bool)
    keep[far[~ok]] = False
    return rows.select(keep)


#: A file whose mirror row is more than this many bits from its estimate (the plain row with the bits a mirror
#: inverts inverted, :mod:`finder.pairs.mirrored`) has its mirror row searched on its own, outside the one-pass
#: search: each bit of slack widens the estimate's window for every candidate.  A cost cut-off, not a rule: the
#: pairs are the same either way (on the shared corpus 98 % of FINd's mirror rows are within 16 bits).
MIRROR_EXTRA_MAX = 16
_ONE_PASS_VIEWS = frozenset({0, view_code("mirror"), *(int(c) for c in BOX_CODES)})


def _one_pass(a: HashSet, other: HashSet, name: str, d: int, r0: int, r1: int,
              within: bool) -> tuple[list[Pairs], np.ndarray] | None:
    """Plain x plain and mirror x plain row pairs of the files of rows ``[r0, r1)`` in one pass, and the
    block's mirror rows left to the row-by-row search (those further than :data:`MIRROR_EXTRA_MAX` from their
    estimate); None where the one pass does not apply: an algorithm without a known mirror relation, views
    other than plain, mirror and content boxes, or a search the ``cpu`` backend would not make (multi-index
    hashing at small radii, numpy for small sets) or with the ``bitsliced`` loop (the CPU's choice without a
    vector popcount, or ``FINDER_POPCOUNT``) -- those search the rows as before.  The one pass has the
    ``vector`` loop only: where the bit-sliced loop is the faster, two bit-sliced passes measured faster than
    one vector pass (AVX2 code emulated with ``NUMBA_CPU_NAME=haswell``, docs/concepts/views.md).
    """
    inverts = _algorithms.ALGORITHMS[name].mirror_inverts if name in _algorithms.ALGORITHMS else 0
    words = a.hashes[name]
    if not inverts or words.shape[1] % 2 or r1 <= r0:
        return None
    mirror = view_code("mirror")
    codes = set(_view_codes(name, a, other).tolist())
    if mirror not in codes or not codes <= _ONE_PASS_VIEWS or any(
            np.count_nonzero(hs.view[name] == 0) != len(hs) for hs in (a, other)):  # one plain row per file
        return None
    owner = a.owner[name]
    f0, f1 = int(owner[r0]), int(owner[r1 - 1]) + 1
    offset = f0 if within else 0
    candidates = len(other) - offset
    if _pairs.choose_backend(d, 64 * words.shape[1], candidates, f1 - f0) != "cpu":
        return None
    from finder.pairs import mirrored, simd

    if simd.cpu_loop() != "vector":
        return None
    plain_a, mirror_a = _plain_rows(a, name)[f0:f1], _view_rows(a, name, np.array([mirror]))[f0:f1, 0]
    plain_o = _plain_rows(other, name)
    has = mirror_a >= 0
    mirror_a = np.where(has, mirror_a, plain_a)
    p_words, m_words = words[plain_a], words[mirror_a]
    dv = view_radius(d)
    extra = mirrored.extra_bits(p_words, m_words, inverts)
    searched = has & (extra <= MIRROR_EXTRA_MAX)
    limit = np.where(searched, dv + extra, -1)
    b_rows = plain_o[offset:]
    plain, flipped = mirrored.pairs_with_mirror(p_words, m_words, limit, other.hashes[name][b_rows], d, dv,
                                                inverts, triangular=within)
    parts = [Pairs(plain_a[plain.i], b_rows[plain.j], plain.distance),
             Pairs(mirror_a[flipped.i], b_rows[flipped.j], flipped.distance)]
    return parts, mirror_a[has & ~searched]


def _view_row_pairs(a: HashSet, other: HashSet, name: str, d: int, r0: int, r1: int, within: bool) -> list[Pairs]:
    """Row pairs for the files whose rows are ``a``'s ``[r0, r1)``, when files have extra views.

    Within one set only files from the block on are candidates (a pair whose
    smaller file lies in an earlier block was found there). Plain rows are
    compared triangularly, like plain hashes. A geometric view (mirror,
    rotations) of the block's files is compared with the other files' plain
    rows in one direction only: flipping one image of a pair or the other
    gives the same comparison. Content boxes, which are not symmetric (the
    framed copy is the one that is trimmed), are compared both ways with plain
    rows, with each other, and -- when the files have dihedral views -- with
    geometric rows (a mirrored copy of a framed picture).  View matches use
    :func:`finder.views.view_radius`.
    """
    words, view = a.hashes[name], a.view[name]
    o_words, o_view = other.hashes[name], other.view[name]
    block = np.arange(r0, r1)
    plain_a = block[view[r0:r1] == 0]
    is_box, o_is_box = _box(view), _box(o_view)
    trimmed_a = block[is_box[r0:r1]]
    geometric_a = block[(view[r0:r1] != 0) & ~is_box[r0:r1]]
    dv = view_radius(d)
    # Geometric views against content boxes (a mirrored or rotated copy of a framed picture) cost one more
    # comparison of every box with every file; they come with --views dihedral, which asks for every
    # orientation, not with the default views.
    geometric_boxes = bool(_IS_DIHEDRAL[view].any() or _IS_DIHEDRAL[o_view].any())
    one_pass = _one_pass(a, other, name, d, r0, r1, within)
    if within:
        rest, later = np.arange(r0, len(o_words)), np.arange(r1, len(o_words))
        plain_rest, plain_later = rest[o_view[r0:] == 0], later[o_view[r1:] == 0]
        if one_pass is None:
            inside = _within(words[plain_a], d)
            parts = [Pairs(plain_a[inside.i], plain_a[inside.j], inside.distance),
                     _rows_pairs(words, plain_a, o_words, plain_later, d)]
        else:
            parts = one_pass[0]
        parts += [_rows_pairs(words, trimmed_a, o_words, plain_rest, dv),
                 _rows_pairs(words, plain_a, o_words, later[o_is_box[r1:]], dv)]
        if geometric_boxes:
            geometric_later = later[(o_view[r1:] != 0) & ~o_is_box[r1:]]
            parts += [_rows_pairs(words, geometric_a, o_words, rest[o_is_box[r0:]], dv),
                      _rows_pairs(words, trimmed_a, o_words, geometric_later, dv)]
        # Symmetric comparisons (geometric view vs plain, box vs box) only need the files after each one.
        # Geometric rows go in sub-blocks, so their cost is about half a square, as for plain hashes;
        # content boxes are few, so the block's boxes meet every box from the block on in one call.
        owner = a.owner[name]

        def one_way(mine: np.ndarray, theirs: np.ndarray) -> Pairs:
            found = _rows_pairs(words, mine, o_words, theirs, dv)
            later_file = owner[found.i] < owner[found.j]  # exactly one direction, whatever the blocks
            return Pairs(found.i[later_file], found.j[later_file], found.distance[later_file])

        parts.append(one_way(trimmed_a, rest[o_is_box[r0:]]))
        if one_pass is not None:  # the mirror rows the one pass left
            parts.append(one_way(one_pass[1], plain_rest))
        s0 = r0
        while one_pass is None and s0 < r1:  # sub-blocks end on a file boundary
            s1 = min(int(np.searchsorted(owner, owner[min(s0 + SUB_BLOCK_ROWS, r1) - 1], side="right")), r1)
            sub, after = np.arange(s0, s1), np.arange(s0, len(o_words))
            parts.append(one_way(sub[(view[s0:s1] != 0) & ~is_box[s0:s1]], after[o_view[s0:] == 0]))
            s0 = s1
    else:
        every = np.arange(len(o_words))
        plain_o, trimmed_o = every[o_view == 0], every[o_is_box]
        if one_pass is None:
            parts = [_rows_pairs(words, plain_a, o_words, plain_o, d),
                     _rows_pairs(words, geometric_a, o_words, plain_o, dv)]
        else:
            parts = [*one_pass[0], _rows_pairs(words, one_pass[1], o_words, plain_o, dv)]
        parts += [_rows_pairs(words, trimmed_a, o_words, plain_o, dv),
                  _rows_pairs(words, plain_a, o_words, trimmed_o, dv),
                  _rows_pairs(words, trimmed_a, o_words, trimmed_o, dv)]
        if geometric_boxes:
            geometric_o = every[(o_view != 0) & ~o_is_box]
            parts += [_rows_pairs(words, geometric_a, o_words, trimmed_o, dv),
                      _rows_pairs(words, trimmed_a, o_words, geometric_o, dv)]
    return parts


def _qualities(hs: HashSet, name: str, files: np.ndarray) -> np.ndarray:
    """The plain-row quality of ``files``: read straight from the rows when there is one row per file (no pass
    over the whole set for each block of a search)."""
    if _plain_only(hs, name):
        return hs.quality[name][files]
    return hs.file_quality(name)[files]


def _quality_filter(found: Pairs, a: HashSet, b: HashSet, name: str) -> Pairs:
    """Drop pairs at distance > 0 in which either image is flat or nearly blank (low quality)."""
    if not len(found):
        return found
    keep = (found.distance == 0) | ((_qualities(a, name, found.i) >= QUALITY_CUTOFF)
                                    & (_qualities(b, name, found.j) >= QUALITY_CUTOFF))
    return found if keep.all() else found.select(keep)


def iter_pairs(
    a: HashSet,
    algorithm: str | None = None,
    *,
    threshold: float | None = None,
    max_distance: int | None = None,
    b: HashSet | None = None,
    block: int = BLOCK_FILES,
    search: Search | None = None,
) -> Iterator[Pairs]:
    """:func:`find_pairs` in chunks of consecutive ``i`` (``block`` files each), in (i, j) order.

    Memory stays O(n + the matches of one block) however many pairs match,
    so a loose threshold on a large set can still be written out.  ``search``
    computes the blocks elsewhere (e.g. :class:`finder.match.dask_search.DaskSearch`);
    default: :func:`local_search`, here.
    """
    name, d = _check_pair(a, algorithm, threshold, max_distance, b)
    yield from (search or local_search)(a, name, d, b, file_blocks(len(a), block))


def search_index(a: HashSet, name: str, b: HashSet | None, d: int, blocks: int = 2) -> _pairs.Index | None:
    """The index every block of a search of plain hashes searches, or None (then each block searches as it goes).

    Across two sets: ``b``'s rows.  Within one: ``a``'s rows, where multi-index hashing is the backend for the
    whole set (small radii) and the search has several ``blocks``: its substring tables cost a pass over the
    rows, so a table of the later rows made again for every block made the search O(n^2 / block) — 10^7 rows
    at radius 8 took 17 minutes.
    """
    if not (_plain_only(a, name) and (b is None or _plain_only(b, name))):
        return None
    if b is not None:
        return _pairs.Index(b.hashes[name])
    words = a.hashes[name]
    n = len(words)
    if blocks < 2 or _pairs.choose_backend(d, 64 * words.shape[1], n, n) != "mih":
        return None
    return _pairs.Index(words)


def local_search(a: HashSet, name: str, d: int, b: HashSet | None,
                 ranges: Sequence[tuple[int, int]]) -> Iterator[Pairs]:
    """:func:`block_pairs` of every ``(f0, f1)`` in ``ranges``, in this process (the searched rows indexed
    once where that pays: :func:`search_index`)."""
    index = search_index(a, name, b, d, len(ranges))
    for f0, f1 in ranges:
        yield block_pairs(a, name, d, f0, f1, b, index)


def find_pairs(
    a: HashSet,
    algorithm: str | None = None,
    *,
    threshold: float | None = None,
    max_distance: int | None = None,
    b: HashSet | None = None,
    search: Search | None = None,
) -> Pairs:
    """Every matching pair: i < j within ``a``, or (i in ``a``, j in ``b``) across two sets.

    Returns ``Pairs(i, j, distance)`` of files, sorted by (i, j).  A file with
    several hash rows (views) matches at the smallest distance of any two rows.
    """
    chunks = list(iter_pairs(a, algorithm, threshold=threshold, max_distance=max_distance, b=b, search=search))
    return Pairs.concat(chunks)


def _is_identity(owner: np.ndarray) -> bool:
    return bool(np.array_equal(owner, np.arange(len(owner))))


def file_pairs(rows: Pairs, owner_a: np.ndarray, owner_b: np.ndarray, within: bool, always: bool = False) -> Pairs:
    """Pairs of hash rows to pairs of files: the smallest distance over each file pair's rows.

    A file may have several rows (views); within one set, two rows of the same
    file are not a pair.  Sorted by (i, j) like every :class:`Pairs`.
    """
    if not always and _is_identity(owner_a) and _is_identity(owner_b):
        return rows
    i, j = owner_a[rows.i], owner_b[rows.j]
    if within:
        i, j = np.minimum(i, j), np.maximum(i, j)
        keep = i != j
        i, j, d = i[keep], j[keep], rows.distance[keep]
    else:
        d = rows.distance
    # One sort of a packed (i, j, distance) key instead of a three-key lexsort: 5-10x faster. i * n_b * span
    # stays below 2**63 for any realistic set (10**7 x 10**7 files x 257 distances is 2.6e16).
    span = int(d.max()) + 1 if len(d) else 1
    nb = int(len(owner_b) and owner_b.max()) + 1
    key = (i.astype(np.int64) * nb + j) * span + d
    key.sort()
    pair, d = np.divmod(key, span)
    first = np.ones(len(pair), dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    i, j = np.divmod(pair[first], nb)
    return Pairs(i, j, d[first].astype(np.int32))


def same_file(a: HashSet, i: np.ndarray, b: HashSet | None = None, j: np.ndarray | None = None) -> np.ndarray:
    """Whether files ``a[i]`` and ``b[j]`` are one file (hard links: same device and inode, both known)."""
    b = a if b is None else b
    j = i if j is None else j
    if not (a.inode.any() and b.inode.any()):  # identities unknown (synthetic or format-1 sets)
        return np.zeros(len(i), dtype=bool)
    known = (a.inode[i] != 0) & (b.inode[j] != 0)
    return known & (a.device[i] == b.device[j]) & (a.inode[i] == b.inode[j])


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
    thresholds: Mapping[str | None, float] | None = None,
    max_distances: Mapping[str | None, int] | None = None,
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
    return check_vote(None, len(rules))


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


def _view_codes(name: str, *sets: HashSet) -> np.ndarray:
    """int64: the view codes the rows of ``sets`` hold, ascending (codes are uint8: a count, not ``np.unique``,
    which imports ``numpy.ma``: 7 ms of a small ``finder cluster``)."""
    present = np.zeros(256, dtype=bool)
    for hs in sets:
        present[np.flatnonzero(np.bincount(hs.view[name], minlength=1))] = True
    return np.flatnonzero(present).astype(np.int64)


def _view_rows(hs: HashSet, name: str, codes: np.ndarray) -> np.ndarray:
    """int64[files, len(codes)]: each file's row of each view code, -1 where it has none."""
    out = np.full((len(hs), len(codes)), -1, dtype=np.int64)
    view, owner = hs.view[name], hs.owner[name]
    for k, code in enumerate(codes.tolist()):
        rows = np.flatnonzero(view == code)
        out[owner[rows], k] = rows
    return out


def file_view_distances(a: HashSet, name: str, i: np.ndarray, j: np.ndarray, b: HashSet | None = None
                        ) -> tuple[np.ndarray, list[str]]:
    """Distance of files ``a[i[k]]`` and ``b[j[k]]`` as matching sees it, and the row pair it comes from.

    The smallest distance over the row pairs matching compares (:func:`block_pairs`): plain against
    plain, any view of one against the other's plain row, content box against content box, and, when
    the files have dihedral views, geometric views against boxes.  The label names the two rows' views,
    ``"plain"`` for plain against plain, else e.g. ``"mirror x plain"`` or ``"trimmed x inset"``.
    """
    from finder.views import VIEW_NAMES

    b = a if b is None else b
    i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
    codes = _view_codes(name, a, b)
    rows_a, rows_b = _view_rows(a, name, codes)[i], _view_rows(b, name, codes)[j]
    plain = int(np.flatnonzero(codes == 0)[0]) if (codes == 0).any() else 0
    box = np.isin(codes, BOX_CODES.astype(np.int64))
    geometric = ~box & (codes != 0)
    dihedral = bool(np.isin(codes, DIHEDRAL_CODES.astype(np.int64)).any())
    best = np.full(len(i), np.iinfo(np.int32).max, dtype=np.int64)
    which = np.zeros(len(i), dtype=np.int64)
    combos = []
    for x in range(len(codes)):
        for y in range(len(codes)):
            if x == plain or y == plain or (box[x] and box[y]) or (
                    dihedral and (geometric[x] and box[y] or box[x] and geometric[y])):
                combos.append((x, y))
    wa, wb = a.hashes[name], b.hashes[name]
    for k, (x, y) in enumerate(combos):
        have = np.flatnonzero((rows_a[:, x] >= 0) & (rows_b[:, y] >= 0))
        if not len(have):
            continue
        d = pair_distances(wa, wb, rows_a[have, x], rows_b[have, y]).astype(np.int64)
        better = d < best[have]
        best[have[better]] = d[better]
        which[have[better]] = k
    labels = []
    for k in which.tolist():
        x, y = combos[k]
        va, vb = VIEW_NAMES[int(codes[x])], VIEW_NAMES[int(codes[y])]
        labels.append("plain" if va == vb == "plain" else f"{va} x {vb}")
    return best.astype(np.int32), labels


def file_distances(a: HashSet, name: str, i: np.ndarray, j: np.ndarray, b: HashSet | None = None) -> np.ndarray:
    """Distance of files ``a[i[k]]`` and ``b[j[k]]`` as matching sees it: the smallest over their views
    (:func:`file_view_distances`)."""
    return file_view_distances(a, name, i, j, b)[0]


def check_vote(k: int | None, algorithms: int) -> int:
    """The one rule for ``--vote K`` in every command: 1 <= K <= the number of algorithms (default: a majority)."""
    if k is None:
        return algorithms // 2 + 1
    if not 1 <= k <= algorithms:
        raise MatchError(f"--vote must be between 1 and the number of algorithms ({algorithms}), got {k}")
    return k


def iter_voted_pairs(a: HashSet, rules: list[Rule], k: int | None = None, b: HashSet | None = None,
                     block: int = BLOCK_FILES, search: Search | None = None) -> Iterator[VotedPairs]:
    """:func:`vote_pairs` in chunks of consecutive ``i``, in (i, j) order; memory O(n + one block's matches)."""
    k = check_vote(k, len(rules))
    other = a if b is None else b
    for rule in rules:
        _check_pair(a, rule.algorithm, None, rule.max_distance, b)
    width = max(len(other), 1)
    ranges = file_blocks(len(a), block)
    for found in zip(*((search or local_search)(a, r.algorithm, r.max_distance, b, ranges) for r in rules)):
        keys = [p.keys(width) for p in found]
        unique, votes = np.unique(np.concatenate(keys), return_counts=True)
        keep = votes >= k
        i, j = np.divmod(unique[keep], width)
        distance = np.array([file_distances(a, r.algorithm, i, j, b) for r in rules],
                            dtype=np.int32).reshape(len(rules), len(i))
        yield VotedPairs(i.astype(np.int64), j.astype(np.int64), votes[keep].astype(np.int32), distance)


def vote_pairs(a: HashSet, rules: list[Rule], k: int | None = None, b: HashSet | None = None,
               search: Search | None = None) -> VotedPairs:
    """Pairs matched by at least ``k`` of ``rules`` (default: a majority), within ``a`` or from ``a`` to ``b``."""
    chunks = list(iter_voted_pairs(a, rules, k, b, search=search))
    if len(chunks) == 1:
        return chunks[0]
    return VotedPairs(np.concatenate([c.i for c in chunks]), np.concatenate([c.j for c in chunks]),
                      np.concatenate([c.votes for c in chunks]), np.concatenate([c.distance for c in chunks], axis=1))
