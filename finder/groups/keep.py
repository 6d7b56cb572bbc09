"""Keep rules: which member of each group is kept (the *keeper*), why, and which lie in reference folders.

The default looks for the **original**: in a group of copies made from one
image, the one the others derive from (the question image phylogeny asks;
Dias, Rocha & Goldenstein, "Image phylogeny by minimal spanning trees", IEEE
TIFS 2012).  Each edit leaves a trace that points away from the source: a
resize or upscale leaves less detail per pixel, a frame or a screenshot
leaves a smaller picture inside a larger canvas, a stretch leaves a shape no
other copy has, a greyscale copy loses colour, and every edit moves a copy
away from the source in pixels, so the source is the copy the others are
closest to.  Rules are applied in order; each keeps the members it prefers
and passes them on (rules marked "within" treat values that close as equal,
since they are estimates); the path (byte order) breaks what is left, so the
choice never depends on anything but the facts.  The rules:

=================  ===================================================================
``shape``          the content's aspect ratio that most members share (within 3 %):
                   a stretched or squeezed copy, or a crop of another shape, stands alone
``orientation``    the orientation most members share: a member that more of its group see
                   mirrored than not is a mirrored copy (a pair's relation decided where one
                   way round is at most half as far in pixels as the other)
``noise``          not much noisier than the group: a noise level above twice the group's
                   median plus half a grey level is added noise (:func:`finder.views.detail.noise_level`)
``detail``         not upsampled: detail per pixel at least half the group's median (an
                   upscale by 1.4x or more per side has less; :mod:`finder.views.detail`),
                   and not a smaller member resampled up (that member resampled comes
                   closer to it than it comes to that member resampled down)
``content``        the largest picture, frames and screenshot chrome not counted
                   (the content box, in pixels as shown; within 10 %), an area counting only as
                   far as it holds detail (an upscale's extra pixels hold none)
``frame``          the least added frame: the largest share of the canvas is picture
                   (within 2 %; a padded or bordered copy of the same picture loses)
``colour``         in colour rather than greyscale
``camera``         has the camera's EXIF model
``formats``        format priority: camera RAW, HEIF, TIFF, JPEG, WebP/AVIF, PNG, then the rest
``coding``         not a JPEG re-encode of another candidate: re-encoding it with the other's
                   quantisation tables gives the other back, not the other way round
``central``        the copy the others are closest to in pixels (their contents reduced
                   to 32 x 32, a mirrored copy compared mirrored), once copies that are
                   another candidate blurred or with noise added are out
``pixels``         largest pixel area (width x height)
``size``           largest file (bytes)
``oldest``         earliest date: the EXIF date taken, else the file's mtime; ties by mtime
``newest``         latest date, the same way
``shortest-path``  shortest path
``format:NAME``    files of this format first (``jpeg``, ``png``, ``tiff``, ... or an
                   extension); repeat for an order: ``format:tiff,format:png``
``path:GLOB``      files whose path matches GLOB first (``~`` expanded, a relative
                   pattern taken from the current folder; a pattern without
                   wildcards means that folder and everything under it)
=================  ===================================================================

Default: ``shape,orientation,noise,detail,content,frame,colour,camera,formats,coding,central,oldest,size``,
then path order.  ``shape``, ``orientation``, ``noise``, ``detail``, ``content``, ``frame``,
``colour`` and ``central`` look at the pictures (:class:`finder.groups.facts.Look`, one
reduced decode of each grouped file); a member that cannot be decoded is
passed over by them.  A file whose header cannot be read now (gone, damaged)
is chosen only when no member can be read.  Every keeper carries its reason:
the rules that narrowed the choice, in order (:func:`choose`).

Reference folders (``--reference DIR``): images under them are never proposed
for removal; in a group with reference members the keeper is the best of
them, every reference member is kept, and groups without one are unaffected.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from finder.errors import KeepRuleError
from finder.groups.facts import (
    LOWPASSED,
    NOISED,
    RECODED,
    RECODED_MIRRORED,
    RESAMPLED,
    FileFacts,
    Look,
    LookCache,
)
from finder.groups.linkage import Group, Member
from finder.io import RAW_EXTENSIONS

DEFAULT_RULES = ("shape", "orientation", "noise", "detail", "content", "frame", "colour", "camera", "formats",
                 "coding", "central", "oldest", "size")
RULE_NAMES = ("shape", "orientation", "noise", "detail", "content", "frame", "colour", "camera", "formats", "coding",
              "central", "pixels", "size", "oldest", "newest", "shortest-path", "format:NAME", "path:GLOB")
WILDCARDS = "*?["
FORMAT_ALIASES = {"JPG": "JPEG", "JPE": "JPEG", "TIF": "TIFF", "HEIC": "HEIF", "HIF": "HEIF"}
# formats: a camera's or scanner's own formats first, then lossy delivery formats, then screenshot formats.
FORMAT_PRIORITY = ("RAW", "HEIF", "TIFF", "JPEG", "WEBP", "AVIF", "PNG")
# shape: aspect ratios within 3 % are one shape (rounding a side to whole pixels, and a content box a pixel
# or two off, stay well inside it; the corpus's stretches start at 10 %).
SHAPE_TOLERANCE = 0.03
# detail: a copy with less than half its group's median detail per pixel (the best member's, in a pair) is
# upsampled (by 1.4x per side or more) or blurred.
DETAIL_RATIO = 0.5
#: ``detail``: B is an upscale of A where A resampled to B's size comes at most this share as close to B as B
#: resampled to A's size comes to A.  Pairs that hold the same, or two framings that share nothing, come out
#: alike both ways (0.98-1.03 on 73 crops, rotations and perspective copies of three labelled sets); an upscale
#: is closer from its source (0.25-1.03 on 57 upscales), a downscale's source closer from above (1.05-9.9 on 76
#: downscales; ``benchmarks/keeper.py --pairs``).  5 % below 1 leaves the alike pairs' spread out.
UPSCALE_RATIO = 0.95
#: ``detail``: up to this share either way a pair comes out alike (the 5 % the ratio leaves, mirrored: every
#: downscale but one nearest-neighbour 3x reduction measured 1.27 or more); there the larger is taken for the
#: upscale only where more members share the smaller's size.  On five ``finder synth`` draws of 64 photos this
#: kept the original of 6 more of 294 groups (upscales of smooth pictures), of 4 more of 215 on five draws of
#: the artwork set, and changed nothing on the corpus; a smooth original with several downscales of one size
#: would be taken for their upscale.
UPSCALE_ALIKE = 1.05
#: ``detail`` and ``central``: their pair tests only between members whose thumbnails are within this RMS
#: distance (grey levels): one picture in one framing (upscales and downscales within 6 of their source, one
#: noisy pair 8.9; crops, rotations and perspective copies 10 or more).
ALIGNED_THUMBS = 8.0
#: ``detail``: the smaller members each candidate is tested against (those whose thumbnails are nearest it).
UPSCALE_SOURCES = 4
#: ``central``: B is A blurred where A blurred comes at most this share as close to B as B blurred comes to A.
#: Blurred copies measured 0.02-0.67 (52 of 55 at most half) on three labelled sets.  Strong noise makes a
#: source look like a blur of its noisy copy (0.23 at the lowest, for 2.7 grey levels of noise or more; weaker
#: noise stayed above half), but then the noise test points the other way and the pair decides nothing.
#: ``benchmarks/keeper.py --pairs``: 51 of 55 blurred copies decided, no other copy and no source.
LOWPASS_RATIO = 0.5
#: ``central``: the least noise, in grey levels, a copy must have over another to be that one with noise added.
#: At 2, 39 of 63 noisy copies of three labelled sets are decided and nothing else; at 1, 48, but one source is
#: taken for its coarsely coded noisy copy with noise added (the coding smoothed more than the noise added).
NOISE_ADDED = 2.0
#: Groups from which the keep rules that look run in the local process pool (its start, ~0.1 s with fork, is
#: what a few dozen groups' decisions take), and groups per task.
DECIDE_POOL_MIN_GROUPS = 32
DECIDE_CHUNK = 8
#: ``central``: candidates compared pair by pair at most (each decoded once, as its look is).
EDITED_CANDIDATES = 8
# content: picture areas within 10 % are alike (a content box is found on a reduced copy, a few pixels off).
CONTENT_RATIO = 0.9
#: ``content``: pictures whose areas are within this share are one size (a content box a pixel or two off).
SAME_SIZE = 0.02
# frame: shares of the canvas within 2 % are alike (the box's own few pixels of error).
FRAME_RATIO = 0.98
# central (and shape's mode): at most this many members are compared with each candidate (the first by
# path): a group of thousands is no duplicate group anyway (see the guard rails).
CENTRAL_SAMPLE = 200
#: ``noise``: a member whose noise level exceeds this times its group's median, plus NOISE_LEVELS grey levels,
#: has noise added.  Gaussian noise of sigma s over a source's own s0 shows as sqrt(s0^2 + s^2); the copies of
#: one source share s0, and an original measured at most 1.45x its group's median on the corpus and on a
#: synth set outside it, so twice the median leaves a margin.  The half grey level keeps smooth groups (median
#: noise well under one level) from taking coding ringing for noise: in the 255 labelled groups of three
#: labelled sets every original is at most twice its group's median (``benchmarks/keeper.py --pairs``,
#: "noisier than group": no original flagged; 42 of 64 noisy copies at a half level, 36 at one level).
NOISE_RATIO = 2.0
NOISE_LEVELS = 0.5
#: ``orientation``: two members' relation is decided (same way round, or mirrored) where one way is at most
#: this share of the other's RMS distance between their thumbnails.  A mirrored copy of a photo is ~0.01 of
#: its plain distance, and only near-symmetric pictures come near 1 (then nothing is decided); on the corpus
#: and a synth set outside it no pair of copies in the same orientation was decided mirrored at 0.5.
MIRROR_RATIO = 0.5
#: ``coding``: B is A's re-encode where re-encoding A with B's tables comes at most this share as close to B as
#: re-encoding B with A's tables comes to A (one direction reproduces, the other cannot restore what coarser
#: coding removed).  A re-encode by the same encoder comes back exactly (0 on all 64 JPEG copies of the corpus,
#: against 0.03-14 grey levels the other way; ``benchmarks/keeper.py --pairs``); another encoder's rounding
#: leaves a residue, and half keeps the decision to clear cases.
RECODE_RATIO = 0.5
#: ``coding``: candidates compared at most (each is decoded once in full, each pair costs two window encodes),
#: and pictures of more pixels than this are left to the next rule (a cost cut-off: a full decode of a
#: 4-megapixel JPEG takes ~30 ms).
RECODE_CANDIDATES = 8
RECODE_PIXELS = 4_000_000

Key = Callable[[FileFacts], tuple]
# A group rule: (candidates, every member of the group) -> the candidates it prefers (never none).
Prefer = Callable[[Sequence[FileFacts], Sequence[FileFacts]], list[FileFacts]]


@dataclass(frozen=True)
class KeepRule:
    """One keep rule: its text as given, how it prefers, and the reason a keeper it decided carries.

    A rule has a sort ``key`` over one file's facts (smaller is preferred, and only the smallest pass), or
    a ``prefer`` function that compares the members of a group.  ``looks``: it needs the pictures' looks.
    """

    text: str
    key: Key | None = None
    prefer: Prefer | None = None
    reason: str = ""
    looks: bool = False

    def narrow(self, pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
        """The members of ``pool`` this rule prefers (all of them when it cannot tell)."""
        if self.prefer is not None:
            return self.prefer(pool, group) or list(pool)
        assert self.key is not None
        keys = [self.key(f) for f in pool]
        best = min(keys)
        return [f for f, k in zip(pool, keys) if k == best]


def _pixels(f: FileFacts) -> tuple:
    area = f.pixels
    return (0, -area) if area is not None else (1, 0)


def _size(f: FileFacts) -> tuple:
    return (-f.size,)


def _oldest(f: FileFacts) -> tuple:
    return (f.date_ns, f.mtime_ns)


def _newest(f: FileFacts) -> tuple:
    return (-f.date_ns, -f.mtime_ns)


def _shortest_path(f: FileFacts) -> tuple:
    return (len(os.fsencode(f.path)),)


def _camera(f: FileFacts) -> tuple:
    return (0,) if f.camera else (1,)


def _formats(f: FileFacts) -> tuple:
    name = format_of(f)
    return (FORMAT_PRIORITY.index(name) if name in FORMAT_PRIORITY else len(FORMAT_PRIORITY),)


SIMPLE_RULES: dict[str, Key] = {
    "pixels": _pixels, "size": _size, "oldest": _oldest, "newest": _newest, "shortest-path": _shortest_path,
    "camera": _camera, "formats": _formats,
}
SIMPLE_REASONS = {
    "pixels": "the most pixels", "size": "the largest file", "oldest": "the oldest (EXIF date taken, else mtime)",
    "newest": "the newest (EXIF date taken, else mtime)", "shortest-path": "the shortest path",
    "camera": "has the camera's EXIF model", "formats": f"format priority ({', '.join(FORMAT_PRIORITY)}, others)",
}


def _looked(pool: Sequence[FileFacts]) -> list[tuple[FileFacts, Look]]:
    return [(f, f.look) for f in pool if f.look is not None]


def _at_least(pool: Sequence[FileFacts], value: Callable[[Look], float], ratio: float) -> list[FileFacts]:
    """The members whose look's ``value`` is at least ``ratio`` times the best (members without a look lose)."""
    looked = _looked(pool)
    if not looked:
        return list(pool)
    best = max(value(look) for _, look in looked)
    return [f for f, look in looked if value(look) >= ratio * best]


def _median(values: Sequence[float]) -> float:
    """The median (not np.median, which imports numpy.ma, nor statistics, which imports fractions and decimal:
    both a few ms of a small cluster's start-up)."""
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def _near(a: float, b: float, tolerance: float = SHAPE_TOLERANCE) -> bool:
    return abs(math.log(a / b)) <= tolerance


def _shapes(look: Look) -> tuple[float, ...]:
    """The shapes a member's picture may have: its content box's and its canvas's (a photo with dark edges
    has a box of its own that a padded copy of it, framed in another colour, does not)."""
    canvas = look.canvas[0] / max(1, look.canvas[1]) if look.canvas[0] else look.shape
    return (look.shape, canvas)


class Members(list):
    """The facts of a group's members, with what the group rules compare among them worked out once."""

    @functools.cached_property
    def pictures(self) -> tuple[float | None, dict[str, tuple[int, int]]]:
        return _pictures(self)

    @functools.cached_property
    def thumbs(self) -> Thumbs:
        return Thumbs.of(self, self)

    @functools.cached_property
    def pairs(self) -> dict:
        """The pair residuals ``coding``, ``detail`` and ``central`` measured, by (source, copy, kind) (kinds:
        :data:`finder.groups.facts.RECODED` ...), for the group's later questions; :func:`decide` fills it from
        the look cache and keeps what is new."""
        return {}

    @functools.cached_property
    def contents(self) -> dict:
        """What ``detail`` and ``central`` decoded, by path (:func:`finder.groups.facts.read_content`; None: not
        decodable)."""
        return {}

    @functools.cached_property
    def decoded(self) -> dict:
        """What ``coding`` decoded, by path (:func:`finder.groups.facts.read_coded`; None: not a JPEG it can
        compare)."""
        return {}


def pictures(group: Sequence[FileFacts]) -> tuple[float | None, dict[str, tuple[int, int]]]:
    """The group's commonest shape (the mode: the shape the most members have a picture within half
    :data:`SHAPE_TOLERANCE` of, so a shape between two clusters does not win; counted over at most
    :data:`CENTRAL_SAMPLE` members) and each member's picture: its content box, or its whole canvas where only
    the canvas is within the tolerance of the mode.  Members without a look are left out."""
    return group.pictures if isinstance(group, Members) else _pictures(group)


def _pictures(group: Sequence[FileFacts]) -> tuple[float | None, dict[str, tuple[int, int]]]:
    looks = [(m.path, m.look) for m in group if m.look is not None]
    sample = sorted(looks, key=lambda item: os.fsencode(item[0]))[:CENTRAL_SAMPLE]
    candidates = sorted({s for _, look in sample for s in _shapes(look)})
    if not candidates:
        return None, {}
    mode = max(candidates, key=lambda s: sum(any(_near(s, t, SHAPE_TOLERANCE / 2) for t in _shapes(look))
                                             for _, look in sample))
    chosen = {}
    for path, look in looks:
        canvas_near = look.canvas[0] and _near(_shapes(look)[1], mode) and not _near(look.shape, mode)
        chosen[path] = look.canvas if canvas_near else look.content
    return mode, chosen


def prefer_shape(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The members with a picture of the group's commonest shape (:func:`pictures`)."""
    mode, _ = pictures(group)
    if mode is None:
        return list(pool)
    return [f for f, look in _looked(pool) if any(_near(s, mode) for s in _shapes(look))]


def prefer_quiet(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The members not noisier than the group: a noise level above :data:`NOISE_RATIO` times the group's
    median plus :data:`NOISE_LEVELS` grey levels is added noise (the other copies share their source's)."""
    levels = [m.look.noise for m in group if m.look is not None]
    if len(levels) < 3:  # with two copies, neither is the group's typical one
        return list(pool)
    median = _median(levels)
    return [f for f, look in _looked(pool) if look.noise <= NOISE_RATIO * median + NOISE_LEVELS]


def prefer_detail(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The members not upsampled: detail per pixel at least :data:`DETAIL_RATIO` of the group's median (of
    the best member's in a group of two), and not another member resampled up (:func:`upscaled`).  Most
    copies of a picture hold its source's detail per pixel (re-encodes, colour edits, crops, frames), so the
    median is the source's, and one copy whose coding noise or grain raises the measure does not make the
    source look upsampled, as the best member would."""
    levels = [m.look.sharpness for m in group if m.look is not None]
    if len(levels) < 3:
        kept = _at_least(pool, lambda look: look.sharpness, DETAIL_RATIO)
    else:
        median = _median(levels)
        looked = _looked(pool)
        kept = [f for f, look in looked if look.sharpness >= DETAIL_RATIO * median] or [f for f, _ in looked]
    up = upscaled(kept, group)
    return [f for f in kept if f.path not in up] or kept


def _pair_measure(group: Sequence[FileFacts], source: str, copy: str, kind: int,
                  measure: Callable[[Any, Any], float | None]) -> float | None:
    """``measure`` of two members' contents (:func:`finder.groups.facts.read_content`, each decoded once per
    group), kept by (source, copy, kind) in the group's pair residuals (:class:`Members`; a plain sequence
    keeps nothing)."""
    from finder.groups.facts import read_content

    known, contents = (group.pairs, group.contents) if isinstance(group, Members) else ({}, {})
    if (source, copy, kind) not in known:
        for path in (source, copy):
            if path not in contents:
                contents[path] = read_content(path)
        a, b = contents[source], contents[copy]
        known[source, copy, kind] = None if a is None or b is None else measure(a, b)
    return known[source, copy, kind]


def upscaled(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> set[str]:
    """The candidates, largest picture first, that are a smaller member of the same shape resampled up: B is
    A's upscale where A resampled to B's size comes at most :data:`UPSCALE_RATIO` as close to B as B resampled
    to A's size comes to A (:func:`finder.groups.facts.resampling_residual`) -- or, where the two come out
    alike (within :data:`UPSCALE_ALIKE`: a smooth picture, with nothing near its resolution for a filter to
    blur), where more members have A's size than B's (the copies made from a picture share its scale; a
    resized copy stands alone).  Asked only while the largest
    candidate left would win ``content`` by its area (a member of at most :data:`CONTENT_RATIO` of it is
    there), of the :data:`UPSCALE_SOURCES` such members whose thumbnails are nearest its own, within
    :data:`ALIGNED_THUMBS` (one picture, one framing: a source looks like its upscale); the first candidate
    that is no upscale ends it."""
    from finder.groups.facts import resampling_residual

    _, chosen = pictures(group)
    members = [m for m in group if m.look is not None and m.path in chosen]
    candidates = [f for f, _ in _looked(pool) if f.path in chosen]
    if len(members) < 2 or not candidates:
        return set()

    def area(f: FileFacts) -> int:
        return chosen[f.path][0] * chosen[f.path][1]

    def resampled(a: Any, b: Any) -> float | None:
        """The resampling residual from the smaller picture to the larger, or back; None where the pictures as
        decoded are not in that order (a large JPEG is reduced on decoding, as for its look)."""
        small, large = sorted((a.width * a.height, b.width * b.height))
        return resampling_residual(a, b) if small <= CONTENT_RATIO * large else None

    def sharing(f: FileFacts) -> int:
        """Members whose picture is ``f``'s size (areas within SAME_SIZE)."""
        return sum(abs(area(m) / max(area(f), 1) - 1) <= SAME_SIZE for m in members)

    def upscale_of(b: FileFacts, a: FileFacts) -> bool:
        up = _pair_measure(group, a.path, b.path, RESAMPLED, resampled)
        down = _pair_measure(group, b.path, a.path, RESAMPLED, resampled)
        if up is None or down is None:
            return False
        return up <= UPSCALE_RATIO * down or (up <= UPSCALE_ALIKE * down and sharing(a) > sharing(b))

    found: set[str] = set()
    for b in sorted(candidates, key=lambda f: (-area(f), os.fsencode(f.path))):
        assert b.look is not None
        smaller = [a for a in members if a.path != b.path and area(a) <= CONTENT_RATIO * area(b)
                   and _near(a.look.shape, b.look.shape)]  # type: ignore[union-attr]
        if not smaller:
            break
        near = Thumbs.of([b], smaller).plain[0]
        sources = [smaller[k] for k in np.argsort(near, kind="stable")[:UPSCALE_SOURCES] if near[k] <= ALIGNED_THUMBS]
        if not any(upscale_of(b, a) for a in sources):
            break
        found.add(b.path)
    return found


def _by_picture(pool: Sequence[FileFacts], group: Sequence[FileFacts], value: Callable[[FileFacts, tuple], float],
                ratio: float) -> list[FileFacts]:
    _, chosen = pictures(group)
    looked = [f for f, _ in _looked(pool) if f.path in chosen]
    if not looked:
        return list(pool)
    values = {f.path: value(f, chosen[f.path]) for f in looked}
    best = max(values.values())
    return [f for f in looked if values[f.path] >= ratio * best]


def prefer_content(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The members with the largest picture (:func:`pictures`; areas within :data:`CONTENT_RATIO` alike), a
    picture's area counted only as far as it holds detail: a member whose effective resolution (area times
    detail per pixel, the best of its size's) is no more than a smaller member's (within the ratio) counts
    that member's area -- its extra pixels are an upscale's, holding nothing the smaller one does not."""
    _, chosen = pictures(group)
    looked = [(f.path, look) for f, look in _looked(pool) if f.path in chosen]
    own = np.array([chosen[path][0] * chosen[path][1] for path, _ in looked], dtype=np.float64)
    # Detail per pixel as the best member of each size has it (areas within SAME_SIZE): copies of one size hold
    # one resolution -- none is an upscale of another --, so one whose coding noise or edit measures a little
    # more detail must not leave the others capped where it is not.
    sharpness = np.array([look.sharpness for _, look in looked], dtype=np.float64)
    same = np.abs(own[:, None] / np.maximum(own[None, :], 1.0) - 1) <= SAME_SIZE
    effective = own * np.where(same, sharpness[None, :], 0.0).max(axis=1, initial=0.0)
    # counted[k]: the largest area of a smaller member (of another size) holding at least CONTENT_RATIO of k's
    # effective resolution, else k's own (all pairs at once: a group's pool is compared once, not member by
    # member)
    smaller_enough = ((own[None, :] < own[:, None]) & ~same
                      & (effective[None, :] >= CONTENT_RATIO * effective[:, None]))
    counted = np.where(smaller_enough.any(axis=1),
                       np.where(smaller_enough, own[None, :], 0.0).max(axis=1, initial=0.0), own)
    area = {path: float(a) for (path, _), a in zip(looked, counted)}
    return _by_picture(pool, group, lambda f, picture: area[f.path], CONTENT_RATIO)


def prefer_frame(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The members with the least added frame: the largest share of the canvas is picture."""
    def share(f: FileFacts, picture: tuple) -> float:
        assert f.look is not None
        canvas = f.look.canvas if f.look.canvas[0] else picture
        return picture[0] * picture[1] / max(1, canvas[0] * canvas[1])

    return _by_picture(pool, group, share, FRAME_RATIO)


def prefer_colour(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The members in colour, when some are and some are not."""
    looked = _looked(pool)
    return [f for f, look in looked if look.colour] or [f for f, _ in looked] or list(pool)


def _rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS pixel distance of every thumbnail in ``a`` (k, 32, 32, 3) to every one in ``b`` (m, ...): (k, m)."""
    x = a.reshape(len(a), -1).astype(np.float32)
    y = b.reshape(len(b), -1).astype(np.float32)
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    return np.sqrt(np.maximum(d, 0) / x.shape[1])


@dataclass(frozen=True)
class Thumbs:
    """The thumbnail distances the group rules compare with: from members (``rows``, by path) to a sample of
    their group (at most :data:`CENTRAL_SAMPLE` members, by path), as they are and with the sample mirrored,
    worked out once per group (:class:`Members`) for the rules that read them."""

    rows: dict[str, int]
    sample: tuple[str, ...]
    plain: np.ndarray  # float32 (rows, sample)
    mirrored: np.ndarray

    @classmethod
    def of(cls, members: Sequence[FileFacts], group: Sequence[FileFacts]) -> Thumbs:
        looked = [(m.path, m.look.thumb) for m in members if m.look is not None]
        sample = sorted(((m.path, m.look.thumb) for m in group if m.look is not None),
                        key=lambda item: os.fsencode(item[0]))[:CENTRAL_SAMPLE]
        if not looked or not sample:
            empty = np.zeros((len(looked), len(sample)), np.float32)
            return cls({p: k for k, (p, _) in enumerate(looked)}, tuple(p for p, _ in sample), empty, empty)
        thumbs = np.stack([t for _, t in looked])
        columns = np.stack([t for _, t in sample])
        return cls({p: k for k, (p, _) in enumerate(looked)}, tuple(p for p, _ in sample),
                   _rms(thumbs, columns), _rms(thumbs, columns[:, :, ::-1]))

    def select(self, looked: Sequence[tuple[FileFacts, Look]]) -> tuple[np.ndarray, np.ndarray]:
        """(plain, mirrored) distances of these members' rows, in their order."""
        rows = [self.rows[f.path] for f, _ in looked]
        return self.plain[rows], self.mirrored[rows]


def _thumbs_for(looked: Sequence[tuple[FileFacts, Look]], group: Sequence[FileFacts]) -> Thumbs:
    """The group's :class:`Thumbs` (kept on a :class:`Members`), covering every member in ``looked``."""
    if isinstance(group, Members) and all(f.path in group.thumbs.rows for f, _ in looked):
        return group.thumbs
    return Thumbs.of([f for f, _ in looked], group)


def prefer_orientation(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The members in the orientation most of the group shares.  Each candidate is compared with the others
    as it is and mirrored; a pair is the same way round where the plain distance is at most
    :data:`MIRROR_RATIO` of the mirrored one, mirrored where the reverse holds, undecided otherwise.  A
    candidate that more members see mirrored than not is dropped -- once some candidate is seen the same way
    round by more than see it mirrored (with an original and its mirror alone, neither is)."""
    looked = _looked(pool)
    compared = _thumbs_for(looked, group)
    if not looked or len(compared.sample) < 3:  # with two copies, each is the other's mirror
        return [f for f, _ in looked] or list(pool)
    plain, mirrored = compared.select(looked)
    other = np.array([[f.path != path for path in compared.sample] for f, _ in looked])
    agree = ((plain < MIRROR_RATIO * mirrored) & other).sum(axis=1)
    disagree = ((mirrored < MIRROR_RATIO * plain) & other).sum(axis=1)
    if not np.any(agree > disagree):
        return [f for f, _ in looked]
    return [f for (f, _), a, d in zip(looked, agree, disagree) if a >= d]


def prefer_central(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The member the others are closest to in pixels (smallest sum of thumbnail distances, a mirrored copy
    compared mirrored), once candidates that are another candidate blurred or with noise added are out
    (:func:`edited`): the thumbnails average both away, so such a copy can sit as close to the others as its
    source."""
    looked = _looked(pool)
    gone = edited([f for f, _ in looked], group)
    looked = [(f, look) for f, look in looked if f.path not in gone] or looked
    compared = _thumbs_for(looked, group)
    if len(looked) < 2 or len(compared.sample) < 3:  # with two copies, each is as close to the other
        return [f for f, _ in looked] or list(pool)
    total = np.minimum(*compared.select(looked)).sum(axis=1)
    best = total.min()
    return [f for (f, _), t in zip(looked, total) if t == best]


def edited(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> set[str]:
    """The candidates that are another candidate of the same size (as decoded; thumbnails within
    :data:`ALIGNED_THUMBS`: one picture, one framing) blurred -- that one blurred comes at most
    :data:`LOWPASS_RATIO` as close to it as it blurred comes to that one
    (:func:`finder.groups.facts.lowpass_residual`) -- or with Gaussian noise of at least :data:`NOISE_ADDED`
    grey levels added (:func:`finder.groups.facts.added_noise`).  A pair whose evidence points both ways
    decides nothing: a grainy source's blurred copy lost grain, which the noise test takes for noise added to
    the source.  At most :data:`EDITED_CANDIDATES` candidates are compared."""
    from finder.groups.facts import added_noise, lowpass_residual

    looked = [f for f, _ in _looked(pool)]
    if not 2 <= len(looked) <= EDITED_CANDIDATES:
        return set()

    def derived(a: str, b: str) -> bool:
        """Whether ``b`` is ``a`` blurred or with noise added."""
        forward = _pair_measure(group, a, b, LOWPASSED, lowpass_residual)
        back = _pair_measure(group, b, a, LOWPASSED, lowpass_residual)
        if forward is not None and back is not None and back > 0 and forward <= LOWPASS_RATIO * back:
            return True
        noise = _pair_measure(group, a, b, NOISED, added_noise)
        return noise is not None and noise >= NOISE_ADDED

    thumbs = np.stack([f.look.thumb for f in looked])  # type: ignore[union-attr]
    near = _rms(thumbs, thumbs)
    found = set()
    for k, a in enumerate(looked):
        for m in range(k + 1, len(looked)):
            b = looked[m]
            if near[k, m] > ALIGNED_THUMBS or a.look.content != b.look.content:  # type: ignore[union-attr]
                continue
            one, other = derived(a.path, b.path), derived(b.path, a.path)
            if one != other:
                found.add(b.path if one else a.path)
    return found


def prefer_source_coding(pool: Sequence[FileFacts], group: Sequence[FileFacts]) -> list[FileFacts]:
    """The members that are no other candidate's JPEG re-encode: B is A's where re-encoding A as B is encoded
    reproduces B, and re-encoding B as A is encoded does not reproduce A
    (:func:`finder.groups.facts.reencoding_residual`, :data:`RECODE_RATIO`); where that decides nothing and
    the two look closer mirrored, the same with each mirrored first (a mirrored re-encode: the mirror of a
    near-symmetric picture, which ``orientation`` cannot tell).  Compared among candidates of one size that
    are JPEGs (at most :data:`RECODE_CANDIDATES` of at most :data:`RECODE_PIXELS` pixels)."""
    from finder.groups.facts import read_coded, reencoding_residual

    looked = [f for f, _ in _looked(pool)]
    jpegs = [f for f in looked if f.format == "JPEG" and f.width and f.height and f.width * f.height <= RECODE_PIXELS]
    sizes = Counter((f.width, f.height) for f in jpegs)
    jpegs = [f for f in jpegs if sizes[f.width, f.height] > 1]
    if len(jpegs) < 2 or len(jpegs) > RECODE_CANDIDATES:
        return looked or list(pool)
    known, decoded = (group.pairs, group.decoded) if isinstance(group, Members) else ({}, {})

    def residual(source: str, copy: str, mirrored: bool) -> float | None:
        key = (source, copy, RECODED_MIRRORED if mirrored else RECODED)
        if key not in known:
            for path in (source, copy):
                if path not in decoded:
                    decoded[path] = read_coded(path, RECODE_PIXELS)
            coded_source, coded_copy = decoded[source], decoded[copy]
            known[key] = (None if coded_source is None or coded_copy is None
                          else reencoding_residual(coded_source, coded_copy, mirrored))
        return known[key]

    def derived(a: FileFacts, b: FileFacts, mirrored: bool) -> FileFacts | None:
        """The one of ``a``, ``b`` that is the other's re-encode (mirrored first), or None."""
        a_to_b, b_to_a = residual(a.path, b.path, mirrored), residual(b.path, a.path, mirrored)
        if a_to_b is None or b_to_a is None:
            return None
        if a_to_b <= RECODE_RATIO * b_to_a and b_to_a > 0:
            return b
        if b_to_a <= RECODE_RATIO * a_to_b and a_to_b > 0:
            return a
        return None

    copies = set()
    for k, a in enumerate(jpegs):
        for b in jpegs[k + 1:]:
            if (a.width, a.height) != (b.width, b.height):
                continue
            copy = derived(a, b, False)
            if copy is None and a.look is not None and b.look is not None:  # a mirrored re-encode?
                plain, mirrored = Thumbs.of([a], [b]).select([(a, a.look)])
                if mirrored[0, 0] < plain[0, 0]:
                    copy = derived(a, b, True)
            if copy is not None:
                copies.add(copy.path)
    return [f for f in looked if f.path not in copies] or looked or list(pool)


GROUP_RULES: dict[str, tuple[Prefer, str]] = {
    "shape": (prefer_shape, "the shape most copies share (the others are stretched, squeezed or cut)"),
    "orientation": (prefer_orientation, "the orientation most copies share (the others see it mirrored)"),
    "noise": (prefer_quiet, "no added noise (the others are much noisier than their group)"),
    "detail": (prefer_detail, "not upsampled (the others hold less detail per pixel than the group, or are a "
                              "smaller copy resampled up)"),
    "content": (prefer_content, "the largest picture (frames, borders and screenshot chrome not counted)"),
    "frame": (prefer_frame, "no added frame (the others are the same picture with a border or on a canvas)"),
    "colour": (prefer_colour, "in colour (the others are greyscale)"),
    "coding": (prefer_source_coding, "not a JPEG re-encode (re-encoding it the way the others are encoded gives "
                                     "them back, not the other way round)"),
    "central": (prefer_central, "the copy the others are closest to (each edit moves a copy away from its "
                                "source; blurred and noisy copies of another are not it)"),
}


def known_formats() -> set[str]:
    """Format names Pillow knows (with every plugin loaded), plus their aliases."""
    from PIL import Image

    from finder.io.decode import register_codecs

    register_codecs()
    Image.init()
    return {f.upper() for f in Image.OPEN} | {f.upper() for f in Image.registered_extensions().values()} | set(
        FORMAT_ALIASES.values())


def format_of(f: FileFacts) -> str:
    """A file's format: Pillow's name from the header (``RAW`` for camera RAW files), else from the extension."""
    if f.format:
        return f.format.upper()
    if os.path.splitext(f.path)[1].lower() in RAW_EXTENSIONS:
        return "RAW"
    ext = os.path.splitext(f.path)[1].lstrip(".").upper()
    return FORMAT_ALIASES.get(ext, ext)


def companions(keeper: str, members: Sequence[Member]) -> set[str]:
    """The members that are ``keeper``'s RAW+JPEG companion: the same name in the same folder, one of the
    two a camera RAW file and the other not (a camera writes both; photographers keep both on purpose)."""
    def split(path: str) -> tuple[str, str, bool]:
        stem, ext = os.path.splitext(path)
        return stem.lower(), ext.lower(), ext.lower() in RAW_EXTENSIONS

    stem, _, raw = split(keeper)
    found = set()
    for m in members:
        other_stem, _, other_raw = split(m.path)
        if m.path != keeper and other_stem == stem and other_raw != raw:
            found.add(m.path)
    return found


def format_rule(name: str) -> Key:
    """Prefer files of format ``name`` (a Pillow format name or an extension, any case)."""
    wanted = name.strip().lstrip(".").upper()
    wanted = FORMAT_ALIASES.get(wanted, wanted)
    if not wanted or wanted not in known_formats():
        raise KeepRuleError(f"--keep format:{name}: unknown image format (e.g. format:jpeg, format:png, format:tiff)")
    return _FormatFirst(wanted)


@dataclass(frozen=True)
class _FormatFirst:
    """The key of ``format:NAME`` (an object, not a closure, so rules travel to worker processes)."""

    wanted: str

    def __call__(self, f: FileFacts) -> tuple:
        return (0,) if format_of(f) == self.wanted else (1,)


@dataclass(frozen=True)
class _PathFirst:
    """The key of ``path:GLOB``, its pattern already expanded."""

    pattern: str

    def __call__(self, f: FileFacts) -> tuple:
        return (0,) if fnmatch.fnmatchcase(f.path, self.pattern) else (1,)


def expand_pattern(pattern: str, cwd: str | None = None) -> str:
    """A path:GLOB pattern as matched against the absolute, resolved paths of the hash file.

    ``~`` is expanded; a relative pattern starts at ``cwd``; the folders before
    the first wildcard are resolved like the hash file's paths (symbolic links);
    a pattern without wildcards, or ending in ``/``, matches everything under it.
    """
    if not pattern.strip():
        raise KeepRuleError("--keep path: needs a pattern, e.g. 'path:~/Pictures/originals/*'")
    text = os.path.expanduser(pattern)
    if not os.path.isabs(text) and text[0] not in WILDCARDS:
        text = os.path.join(cwd or os.getcwd(), text)
    if not any(c in text for c in WILDCARDS):
        return os.path.realpath(text).rstrip("/") + "/*"
    parts = text.split("/")
    fixed = next(k for k, part in enumerate(parts) if any(c in part for c in WILDCARDS))
    if fixed > 1:
        parts[:fixed] = os.path.realpath("/".join(parts[:fixed])).split("/")
    text = "/".join(parts)
    return text + "*" if text.endswith("/") else text


def path_rule(pattern: str, cwd: str | None = None) -> Key:
    """Prefer files whose path matches ``pattern`` (fnmatch: ``*`` also crosses ``/``)."""
    return _PathFirst(expand_pattern(pattern, cwd))


def split_rules(values: Iterable[str]) -> list[str]:
    """``--keep`` values to rule texts: comma-separated, except that ``path:`` takes the rest of its value."""
    texts: list[str] = []
    for value in values:
        rest = value
        while rest:
            if rest.lstrip().startswith("path:"):
                texts.append(rest.strip())
                break
            token, _, rest = rest.partition(",")
            if token.strip():
                texts.append(token.strip())
    return texts


def parse_rules(values: Sequence[str] = (), cwd: str | None = None) -> list[KeepRule]:
    """Keep rules from ``--keep`` values (default :data:`DEFAULT_RULES`); raises KeepRuleError on a bad one."""
    texts = split_rules(values) or list(DEFAULT_RULES)
    rules = []
    for text in texts:
        kind, colon, argument = text.partition(":")
        kind = kind.strip().lower()
        if not colon and kind in SIMPLE_RULES:
            rules.append(KeepRule(kind, SIMPLE_RULES[kind], reason=SIMPLE_REASONS[kind]))
        elif not colon and kind in GROUP_RULES:
            prefer, reason = GROUP_RULES[kind]
            rules.append(KeepRule(kind, prefer=prefer, reason=reason, looks=True))
        elif colon and kind == "format":
            rules.append(KeepRule(text, format_rule(argument), reason=f"format {argument.strip()} first"))
        elif colon and kind == "path":
            rules.append(KeepRule(text, path_rule(argument, cwd), reason=f"path matches {argument.strip()}"))
        else:
            raise KeepRuleError(f"--keep: unknown rule {text!r}; rules: {', '.join(RULE_NAMES)}")
    return rules


def choose(facts: Sequence[FileFacts], rules: Sequence[KeepRule], group: Sequence[FileFacts] | None = None
           ) -> tuple[int, str]:
    """The index of the member of ``facts`` the rules keep, and why.

    Readable members first (a file whose header cannot be read now is chosen only when none can be),
    then each rule keeps the ones it prefers; the path (bytes) decides what is left.  ``group``: every
    member of the group, for rules that compare with the others (default ``facts``).  The reason names
    each rule that narrowed the choice, in order.
    """
    group = Members(facts if group is None else group) if not isinstance(group, Members) else group
    pool = [f for f in facts if f.problem is None]
    reasons = ["the others cannot be read now"] if pool and len(pool) < len(facts) else []
    pool = pool or list(facts)
    for rule in rules:
        if len(pool) == 1:
            break
        kept = rule.narrow(pool, group)
        if len(kept) < len(pool):
            reasons.append(f"{rule.text}: {rule.reason}")
        pool = kept
    best = min(pool, key=lambda f: os.fsencode(f.path))
    if len(pool) > 1:
        reasons.append("first in path order (alike by every rule)")
    return next(k for k, f in enumerate(facts) if f is best), "; ".join(reasons) or "the only copy"


def rank(facts: Sequence[FileFacts], rules: Sequence[KeepRule]) -> list[int]:
    """Indices of ``facts`` from most to least preferred: the keeper (:func:`choose`), then the keeper of the
    rest, and so on."""
    left = list(range(len(facts)))
    order = []
    group = Members(facts)
    while left:
        k, _ = choose([facts[i] for i in left], rules, group)
        order.append(left.pop(k))
    return order


def resolve_folders(folders: Iterable[str]) -> tuple[str, ...]:
    """Reference folders as absolute resolved paths (the form the hash file records)."""
    resolved = []
    for folder in folders:
        if not os.path.isdir(folder):
            raise KeepRuleError(f"--reference {folder}: not a folder")
        resolved.append(os.path.realpath(folder))
    return tuple(dict.fromkeys(resolved))


def under(path: str, folders: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``folders`` or lies below one."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in folders)


def member_facts(member: Member, facts: Mapping[str, FileFacts]) -> FileFacts:
    """The facts of ``member``, or its recorded ones alone when its header was not read."""
    found = facts.get(member.path)
    if found is not None:
        return found
    return FileFacts(member.path, member.size or 0, member.mtime_ns or 0, problem="not read")


def decide(groups: Iterable[Group], facts: Mapping[str, FileFacts], rules: Sequence[KeepRule],
           references: Sequence[str] = (), cache: LookCache | None = None, jobs: int | None = 1) -> list[Group]:
    """Each group with its keeper chosen and its reference members marked.

    The keeper is the best member by ``rules`` (:func:`rank`) among the
    group's reference members when it has any, else among all members.
    ``cache``: the look cache whose kept pair residuals ``coding``, ``detail`` and ``central`` reuse, and which
    keeps the new ones.  ``jobs``: worker processes; from :data:`DECIDE_POOL_MIN_GROUPS` groups on, the rules
    that look decide in the local process pool (the same keepers) -- unless every look came from ``cache``
    unchanged, when the last run measured these groups' pairs too and deciding here costs less than starting
    the pool.
    """
    groups = list(groups)
    cached = cache is not None and not cache.changed
    if (any(rule.looks for rule in rules) and not cached and len(groups) >= DECIDE_POOL_MIN_GROUPS
            and (jobs or os.cpu_count() or 1) > 1):
        return _decide_pooled(groups, facts, rules, references, cache, jobs)
    decided = []
    for group in groups:
        known = cache.pairs_among(m.path for m in group.members) if cache is not None else {}
        chosen, measured = decide_one(group, facts, rules, references, known)
        if cache is not None:
            cache.keep_pairs(measured)
        decided.append(chosen)
    return decided


def decide_one(group: Group, facts: Mapping[str, FileFacts], rules: Sequence[KeepRule],
               references: Sequence[str] = (), known: Mapping | None = None) -> tuple[Group, dict]:
    """``group`` with its keeper chosen (:func:`decide`), and the pair residuals the rules know of it then:
    ``known`` (from a look cache) and what they measured."""
    members = [replace(m, reference=under(m.path, references)) for m in group.members]
    pool = [m for m in members if m.reference] or members
    everyone = Members(member_facts(m, facts) for m in members)
    everyone.pairs.update(known or {})
    best, reason = choose([member_facts(m, facts) for m in pool], rules, everyone)
    if len(pool) < len(members):
        reason = "in a reference folder" + (f"; {reason}" if reason != "the only copy" else "")
    keeper = pool[best].path
    pair = companions(keeper, members)
    members = [replace(m, kept_with=keeper) if m.path in pair else m for m in members]
    return replace(group, members=members, keeper=keeper, keeper_reason=reason), everyone.pairs


def _decide_chunk(chunk: tuple[Sequence[KeepRule], Sequence[str], list]) -> list[tuple[int, Group, dict]]:
    """:func:`decide_one` over a chunk of groups in a worker: (rules, references, [(index, group, facts of its
    members, known pairs)]) -> [(index, decided group, pairs)]."""
    rules, references, items = chunk
    return [(k, *decide_one(group, facts, rules, references, known)) for k, group, facts, known in items]


def proposed(group: Group, distinct: bool = False) -> list[Member]:
    """Members proposed for removal: not the keeper, not a reference image, not the keeper's RAW+JPEG
    companion (:func:`companions`), not a hard link of any of them.

    Hard links are known from ``same_file_as`` (each name points to the
    group's first name of the same file).  With ``distinct``, one member per
    file, for counting bytes.
    """
    def file_of(m: Member) -> str:
        return m.same_file_as or m.path

    kept = {file_of(m) for m in group.members if m.path == group.keeper or m.reference or m.kept_with}
    found, seen = [], set()
    for m in group.members:
        if file_of(m) in kept or (distinct and file_of(m) in seen):
            continue
        seen.add(file_of(m))
        found.append(m)
    return found


def decide_groups(groups: Sequence[Group], rules: Sequence[KeepRule], references: Sequence[str] = (),
                  jobs: int | None = None, progress: Callable[[int], None] | None = None,
                  looks: str | None = None) -> tuple[list[Group], dict[str, FileFacts]]:
    """Read the grouped files' headers (in parallel) and :func:`decide`; the groups and the facts read.

    ``looks``: the look cache to read and update (``NAME.looks.npz`` beside a hash file,
    :class:`finder.groups.facts.LookCache`), for the rules that look at the pictures; None: none.
    """
    from finder.groups.facts import LookCache, gather

    look = any(rule.looks for rule in rules)
    cache = LookCache.load(looks) if look and looks else None
    facts = gather(((m.path, m.size or 0, m.mtime_ns or 0) for g in groups for m in g.members), jobs, progress,
                   look=look, cache=cache)
    decided = decide(groups, facts, rules, references, cache, jobs)
    if cache is not None:
        cache.save()
    return decided, facts


def _decide_pooled(groups: Sequence[Group], facts: Mapping[str, FileFacts], rules: Sequence[KeepRule],
                   references: Sequence[str], cache: LookCache | None, jobs: int | None) -> list[Group]:
    """:func:`decide` with the groups shared out over the local process pool (the rules that look decode
    and compare pictures: seconds for a thousand groups); the same keepers, in the same order."""
    from finder.engine import local_executor

    items = []
    for k, group in enumerate(groups):
        known = cache.pairs_among(m.path for m in group.members) if cache is not None else {}
        items.append((k, group, {m.path: facts[m.path] for m in group.members if m.path in facts}, known))
    chunks = [(rules, references, items[k:k + DECIDE_CHUNK]) for k in range(0, len(items), DECIDE_CHUNK)]
    decided: list[Group | None] = [None] * len(groups)
    with local_executor(jobs) as executor:
        for results in executor.map(_decide_chunk, chunks):
            for k, group, measured in results:
                decided[k] = group
                if cache is not None:
                    cache.keep_pairs(measured)
    return [g for g in decided if g is not None]


def describe_rules(rules: Sequence[KeepRule]) -> str:
    """The rules as one line, for reports and summaries."""
    return ", ".join(r.text for r in rules) + ", then path order"
