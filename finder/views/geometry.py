"""Geometric views and crops: flips and rotations of a stage's output, and cutting a box out of a smaller copy."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from finder.views import HASH_SIDE

GEOMETRIC: dict[str, Image.Transpose] = {
    "mirror": Image.Transpose.FLIP_LEFT_RIGHT,
    "rot90": Image.Transpose.ROTATE_90,
    "rot180": Image.Transpose.ROTATE_180,
    "rot270": Image.Transpose.ROTATE_270,
    "flip_v": Image.Transpose.FLIP_TOP_BOTTOM,
    "transpose": Image.Transpose.TRANSPOSE,
    "transverse": Image.Transpose.TRANSVERSE,
}


def transform(value: Any, view: str) -> Any:
    """Apply geometric ``view`` to a stage's output: a Pillow image or a 2-D array (same orientation rules)."""
    method = GEOMETRIC[view]
    if isinstance(value, Image.Image):
        return value.transpose(method)
    array = np.asarray(value)
    if view == "mirror":
        out = array[:, ::-1]
    elif view == "flip_v":
        out = array[::-1, :]
    elif view == "rot90":  # Pillow's ROTATE_90 is counter-clockwise, as np.rot90
        out = np.rot90(array, 1)
    elif view == "rot180":
        out = np.rot90(array, 2)
    elif view == "rot270":
        out = np.rot90(array, 3)
    elif view == "transpose":
        out = array.T
    else:  # transverse
        out = np.rot90(array, 2).T
    return np.ascontiguousarray(out)


def crop_scaled(value: Any, box: tuple[int, int, int, int], size: tuple[int, int]) -> Any:
    """Cut ``box`` (in the coordinates of an image of ``size``) out of a smaller copy: an array or an image."""
    if isinstance(value, Image.Image):
        width, height = value.size
    else:
        height, width = np.asarray(value).shape[:2]
    sx, sy = width / size[0], height / size[1]
    left, top = int(box[0] * sx), int(box[1] * sy)
    right, bottom = max(left + 1, round(box[2] * sx)), max(top + 1, round(box[3] * sy))
    if isinstance(value, Image.Image):
        return value.crop((left, top, right, bottom))
    return np.ascontiguousarray(np.asarray(value)[top:bottom, left:right])


def crop_reduced(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """``image.crop(box)``, from a copy reduced by an integer factor that keeps >= HASH_SIDE px a side.

    The trimmed view is hashed from this: every hash works far below that
    resolution, so only the cost changes (no full-size resample of a large photo).
    """
    left, top, right, bottom = box
    factor = max(1, min(right - left, bottom - top) // HASH_SIDE)
    if factor == 1:
        return image.crop(box)
    small = image.reduce(factor) if image.mode in ("L", "RGB", "RGBA", "LA") else image.convert("RGB").reduce(factor)
    return small.crop((left // factor, top // factor, right // factor, bottom // factor))
