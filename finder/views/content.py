"""The content box: the picture inside painted frames, bars and screenshot chrome (the ``trimmed`` view)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from finder.views import BOX_SIDE

# Content box. A frame is painted: frame colours are the median colours of the image's outer edges that are
# uniform (at least UNIFORM_SHARE of the edge within TOLERANCE levels of its median in every RGB channel: JPEG
# keeps a solid colour that close, while a sky or a backdrop drifts and has grain, and a dark photo may share
# a border's luma but not its hue): a canvas, a title bar, a border or letterbox bar always makes one; an
# image with no uniform edge has no frame and no trimmed row. A row or
# column is frame when at least UNIFORM_SHARE of it has a frame colour (a solid bar, with room for a clock
# and for JPEG ringing), or when it is made of flat runs (at least FLAT_SHARE of its neighbour steps within
# FLAT_STEP levels, as solid UI elements are and photographed texture is not) and at least BACKGROUND_SHARE
# of it has a frame colour (the canvas around toolbars and buttons). Frame colours, not "uniform rows",
# decide, so a flat sky inside the frame stays content. The content starts at the first run of at least
# MIN_RUN of the height (width) of non-frame lines: shorter islands at the edges (a title's text, a row of
# buttons) go with the frame.
TOLERANCE = 4
UNIFORM_SHARE = 0.9
BACKGROUND_SHARE = 0.4
FLAT_STEP = 4
FLAT_SHARE = 0.9
# When the content box holds less than this share of the image, the frame is most of the picture (a photo
# in a screenshot, a wide mat): the plain hash then describes mostly the frame, and screenshots made on one
# app's layout look alike to it. The box row is stored as view "inset", and the file's plain and geometric
# rows match others only within the tighter view radius, like any view.
FRAME_DOMINATES = 0.5
# A trim counts when it removes at least this share of the width or height, and the box keeps at least
# MIN_AREA of the image (less means the image is nearly flat, and its plain view says all there is).
MIN_TRIM = 0.03
# Runs of kept lines shorter than this share of the height (or width) at the edges are chrome, not content.
MIN_RUN = 0.1
MIN_AREA = 0.1
# Inside the frame, up to INNER_BARS bars of other colours (an app's toolbar between the canvas and the
# picture) are trimmed too, each only where it meets the picture along a straight line: the first line
# inside holds the bar's colour for less than EDGE_SHARE of its length.
INNER_BARS = 2
EDGE_SHARE = 0.5


def _sampled(image: Image.Image | np.ndarray) -> np.ndarray:
    """Every ``factor``-th pixel of ``image`` (about BOX_SIDE px on its short side), uint8 (H, W, 3), or
    (H, W, 1) for a greyscale image; a strided view where possible (its edges are all most images need).

    Sampled, not averaged: an average would mix two frame colours (a title bar over a canvas) into a third
    one at their boundary, which is neither.
    """
    if isinstance(image, Image.Image):
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in ("1", "LA", "I", "I;16", "F") else "RGB")
        image = np.asarray(image)
    factor = max(1, min(image.shape[:2]) // BOX_SIDE)
    sample = image[::factor, ::factor]
    return sample[:, :, None] if sample.ndim == 2 else sample


def _grey(colours: np.ndarray) -> np.ndarray:
    """Grey levels (int16) of contiguous uint8 ``colours`` (H, W, 3 or 1), as Pillow's convert("L")."""
    if colours.shape[2] == 1:
        return colours[:, :, 0].astype(np.int16)
    return np.asarray(Image.fromarray(colours, "RGB").convert("L"), dtype=np.int16)


def _frame_colours(colours: np.ndarray) -> np.ndarray:
    """The colours a frame may have: the median colour of each outer edge that is uniform (a canvas, a
    title bar, a border, a letterbox bar), as (k, channels). Empty when no edge is: then there is no frame."""
    edges = (colours[0], colours[-1], colours[:, 0], colours[:, -1])
    found = []
    for edge in edges:
        median = np.partition(edge, len(edge) // 2, axis=0)[len(edge) // 2].astype(np.int16)  # upper median
        if np.mean(np.abs(edge.astype(np.int16) - median).max(axis=1) <= TOLERANCE) >= UNIFORM_SHARE:
            found.append(median)
    return np.array(found, dtype=np.int16).reshape(len(found), colours.shape[2])


def _near_frame(colours: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Per pixel of ``colours`` (uint8): every channel within :data:`TOLERANCE` levels of one ``frame`` colour."""
    levels = np.arange(256)
    near = np.zeros(colours.shape[:2], dtype=bool)
    for colour in frame:
        hit = np.ones(colours.shape[:2], dtype=bool)
        for channel, value in enumerate(colour):
            hit &= (np.abs(levels - int(value)) <= TOLERANCE)[colours[:, :, channel]]
        near |= hit
    return near


def _trimmable(near: np.ndarray, flat_steps: np.ndarray) -> np.ndarray:
    """Which lines are frame, from each line's pixels of a frame colour and its flat neighbour steps (2-D)."""
    if near.size == 0:
        return np.zeros(len(near), dtype=bool)
    share = near.mean(axis=1)
    flat = flat_steps.mean(axis=1) >= FLAT_SHARE if flat_steps.shape[1] else np.ones(len(near), dtype=bool)
    return (share >= UNIFORM_SHARE) | (flat & (share >= BACKGROUND_SHARE))


def _span(flags: np.ndarray) -> tuple[int, int]:
    """Where the content starts and ends in ``flags`` (True: trimmable line), or (0, 0) if all are trimmable.

    The content starts at the first run of at least ``MIN_RUN`` of the lines
    that stay (and ends after the last such run), so short islands between
    trimmable lines (a title bar's text, a caption, a row of buttons) are cut
    with the frame around them.
    """
    keep = ~flags
    n = len(keep)
    if not keep.any():
        return (0, 0)
    edges = np.diff(np.concatenate(([0], keep.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = (ends - starts) >= max(2, math.ceil(MIN_RUN * n))
    if not long.any():
        return (int(starts[0]), int(ends[-1]))
    return (int(starts[long][0]), int(ends[long][-1]))


def _trim(near: np.ndarray, flat_x: np.ndarray, flat_y: np.ndarray, box: tuple[int, int, int, int]
          ) -> tuple[int, int, int, int] | None:
    """The content box inside ``box`` (top, bottom, left, right): rows judged over the columns that stay,
    columns over the rows that stay, until neither changes; None when nothing is left."""
    t0, b0, l0, r0 = box
    top, bottom, left, right = box
    for _ in range(4):
        before = (top, bottom, left, right)
        t, b = _span(_trimmable(near[t0:b0, left:right], flat_x[t0:b0, left:right - 1]))
        top, bottom = t0 + t, t0 + b
        if bottom - top < 2:
            return None
        lo, hi = _span(_trimmable(near[top:bottom, l0:r0].T, flat_y[top:bottom - 1, l0:r0].T))
        left, right = l0 + lo, l0 + hi
        if right - left < 2:
            return None
        if before == (top, bottom, left, right):
            break
    return (top, bottom, left, right)


def _sharp(near: np.ndarray, box: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    """Whether every side of ``box`` that moved inside ``outer`` ends at a straight edge: its first line
    inside the box holds a frame colour for less than EDGE_SHARE of its length. A bar meets the picture
    along a line; a colour that fades into the picture (a sky, a backdrop) does not."""
    top, bottom, left, right = box
    lines = []
    if top != outer[0]:
        lines.append(near[top, left:right])
    if bottom != outer[1]:
        lines.append(near[bottom - 1, left:right])
    if left != outer[2]:
        lines.append(near[top:bottom, left])
    if right != outer[3]:
        lines.append(near[top:bottom, right - 1])
    return all(line.mean() < EDGE_SHARE for line in lines)


def _chrome(bar: np.ndarray, box: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    """Whether the bands peeled off ``outer`` down to ``box`` run on into the frame beside it, as an app's
    bars span its window while a backdrop of the picture stops at the picture's edge: the pixel just outside
    ``outer`` at either end of each band has the bar colour, in most of the band's lines."""
    top, bottom, left, right = box
    o_top, o_bottom, o_left, o_right = outer
    # rows peeled off the top and bottom, then (on the transposed image) columns peeled off the sides
    return (_bands_run_on(bar, (top, bottom), (o_top, o_bottom), (o_left, o_right))
            and _bands_run_on(bar.T, (left, right), (o_left, o_right), (o_top, o_bottom)))


def _bands_run_on(bar: np.ndarray, kept: tuple[int, int], outer: tuple[int, int], across: tuple[int, int]) -> bool:
    """:func:`_chrome` for the rows of ``bar`` peeled from ``outer`` down to ``kept``; ``across`` is the
    column span of the box they were peeled from."""
    for rows, moved in ((slice(outer[0], kept[0]), kept[0] != outer[0]),
                        (slice(kept[1], outer[1]), kept[1] != outer[1])):
        if moved:
            ends = [bar[rows, across[0] - 1]] if across[0] > 0 else []
            ends += [bar[rows, across[1]]] if across[1] < bar.shape[1] else []
            if not ends or max(end.mean() for end in ends) < 0.5:
                return False
    return True


def content_box(image: Image.Image | np.ndarray, size: tuple[int, int] | None = None
                ) -> tuple[int, int, int, int] | None:
    """The box ``(left, top, right, bottom)`` of ``image`` without its uniform frame, or None if trivial.

    ``image`` is a Pillow image or an (H, W, 3) uint8 RGB array; with ``size``
    (width, height) it is a reduced copy of an image of that size, and the box
    is given in that image's pixels.

    The rows are judged over the columns that stay and the columns over the
    rows that stay, each time from the whole image, until neither changes: a
    row judged over the whole width at first (canvas beside a smooth part of
    the photo) is judged again once the canvas columns are gone.  See the
    module constants for what counts as frame.  None when the image has no
    uniform edge, or the trim is trivial.
    """
    sample = _sampled(image)
    h, w = sample.shape[:2]
    if h < 8 or w < 8:
        return None
    frame = _frame_colours(sample)
    if not len(frame):
        return None
    colours = np.ascontiguousarray(sample)
    grey = _grey(colours)
    near = _near_frame(colours, frame)
    flat_x = np.abs(np.diff(grey, axis=1)) <= FLAT_STEP  # (h, w - 1): steps along each row
    flat_y = np.abs(np.diff(grey, axis=0)) <= FLAT_STEP  # (h - 1, w): steps along each column
    found = _trim(near, flat_x, flat_y, (0, h, 0, w))
    if found is None:
        return None
    for _ in range(INNER_BARS):  # a bar of another colour between the frame and the picture (a toolbar)
        top, bottom, left, right = found
        inner = _frame_colours(colours[top:bottom, left:right])
        inner = np.array([c for c in inner if np.abs(frame - c).max(axis=1).min() > TOLERANCE], np.int16)
        if not len(inner):
            break
        bar = _near_frame(colours, inner.reshape(-1, colours.shape[2]))
        wider = near | bar
        peeled = _trim(wider, flat_x, flat_y, found)
        if peeled is None or peeled == found or not _sharp(wider, peeled, found) or not _chrome(bar, peeled, found):
            break
        frame, near, found = np.concatenate([frame, inner]), wider, peeled
    top, bottom, left, right = found
    if (bottom - top) * (right - left) < MIN_AREA * h * w:
        return None
    if max(top, h - bottom) < MIN_TRIM * h and max(left, w - right) < MIN_TRIM * w:
        return None
    if size is None:
        size = (image.shape[1], image.shape[0]) if isinstance(image, np.ndarray) else image.size
    sx, sy = size[0] / w, size[1] / h
    return (round(left * sx), round(top * sy), round(right * sx), round(bottom * sy))
