"""Views: what a hash is computed over, besides the image as decoded.

A global perceptual hash changes completely when the picture is mirrored, or
when it is framed by borders, letterbox bars or screenshot chrome.  finder
therefore hashes a few *views* of every image and lets two files match when
any view of one is within the threshold of the other's plain view:

``plain``
    the image as decoded (FINd's plain row is bit-exact with the reference);
``mirror``
    the horizontal mirror;
``trimmed``
    the content box: the image with near-uniform edge rows and columns (solid
    borders, letterbox and pillarbox bars, the canvas and bars around a pasted
    screenshot) trimmed away; stored only when the trim is not trivial, and
    stored as ``inset`` when the box is less than half of the image
    (:data:`FRAME_DOMINATES`);
``rot90``, ``rot180``, ``rot270``, ``flip_v``, ``transpose``, ``transverse``
    the rest of the eight dihedral transforms, with ``--views dihedral``.

Geometric views are cheap: every algorithm names the stage after which a
flip or rotation may be applied (FINd: its 64x64 blurred samples, so only the
16x16 DCT and the median run again; imagehash: its reduced greyscale image).
The trimmed view runs the whole algorithm on the cropped image.

Each row also carries a **quality** score, PDQ's: the summed absolute
differences between neighbouring cells of a 64x64 luma grid (values scaled to
0-100), divided by 90 and capped at 100.  Flat, nearly blank images (scores
below :data:`QUALITY_CUTOFF`) carry almost no information and collide with
each other; matching keeps them out of groups unless their hashes are identical.

Names, sizes and radii live here and import nothing (no Pillow), so a hash file
can be read and options parsed without the image stack; the work itself is in
:mod:`finder.views.geometry` (flips, rotations, crops), :mod:`finder.views.quality`
and :mod:`finder.views.content` (the content box).
"""

from __future__ import annotations

from collections.abc import Sequence

VIEW_NAMES: tuple[str, ...] = ("plain", "mirror", "trimmed", "rot90", "rot180", "rot270", "flip_v", "transpose",
                               "transverse", "inset")
# Views a user may ask for; "inset" is what a "trimmed" row is stored as when the frame is most of the image.
REQUESTABLE: tuple[str, ...] = VIEW_NAMES[:-1]
# Rows that hash a content box.
BOX_VIEWS: tuple[str, ...] = ("trimmed", "inset")
VIEW_SETS: dict[str, tuple[str, ...]] = {
    "plain": ("plain",),
    "default": ("plain", "mirror", "trimmed"),
    "dihedral": REQUESTABLE,
}

# A match through an extra view must be this much closer than the plain threshold (radius * factor,
# rounded down). Each file pair is compared up to three times instead of once (plain-plain, view-plain
# both ways), so the chance that two unrelated images fall within the radius by accident grows about
# threefold; on FINd's 256 bits the share of unrelated pairs within a radius drops by an order of
# magnitude for every few bits closer, so a radius 10% tighter (96 -> 86 bits) more than pays for it.
VIEW_RADIUS_FACTOR = 0.9

# PDQ's reference implementation treats hashes of quality below 50 as unreliable.
QUALITY_CUTOFF = 50
QUALITY_UNKNOWN = 100  # rows written before quality was recorded
QUALITY_GRID = 64  # the score is taken on a 64x64 luma grid

# The box is found on a copy reduced by an integer factor to about this many pixels on its short side,
# and the trimmed view is hashed from a copy with at least HASH_SIDE (FINd works at 512 px at most).
BOX_SIDE = 128
HASH_SIDE = 512


def resolve_views(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"default"``, ``"plain"``, ``"dihedral"`` or a comma-separated list of view names, in canonical order."""
    if isinstance(spec, str):
        names = VIEW_SETS.get(spec) or tuple(n.strip() for n in spec.split(",") if n.strip())
    else:
        names = tuple(spec)
    unknown = [n for n in names if n not in REQUESTABLE]
    if unknown:
        raise ValueError(f"unknown view {unknown[0]!r}; choose from {', '.join(VIEW_SETS)} or {', '.join(REQUESTABLE)}")
    chosen = set(names) | {"plain"}
    return tuple(n for n in REQUESTABLE if n in chosen)


def view_radius(radius: int) -> int:
    """The radius for matches through an extra view (see :data:`VIEW_RADIUS_FACTOR`)."""
    return int(radius * VIEW_RADIUS_FACTOR)


def view_code(name: str) -> int:
    return VIEW_NAMES.index(name)
