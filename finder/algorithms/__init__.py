"""The hash algorithms finder knows, looked up by name.

Each algorithm is a small record: a name, its width in bits, and a function
from a decoded Pillow image to its packed bits (``uint64[words]``, see
``finder.bits``).  Functions must not modify the image they are given, so one
decoded image can feed several algorithms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from finder.algorithms import classic, find


@dataclass(frozen=True)
class Algorithm:
    """A perceptual hash: ``hash_image(image) -> uint64[words]`` of ``bits`` bits."""

    name: str
    bits: int
    hash_image: Callable[[Image.Image], np.ndarray]
    default_threshold: float
    description: str

    @property
    def words(self) -> int:
        return (self.bits + 63) // 64


# Default thresholds (normalised distance) are the best-F1 thresholds of `finder evaluate`
# on the shared near-duplicate corpus (945 images, 135 groups); see README, "Accuracy".
ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("find", find.BITS, find.find_hash, 0.375, "FINd, FIN's 256-bit DCT hash"),
        Algorithm("ahash", 64, classic.ahash, 0.05, "imagehash average_hash, 8x8"),
        Algorithm("dhash", 64, classic.dhash, 0.22, "imagehash dhash, 8x8"),
        Algorithm("phash", 64, classic.phash, 0.25, "imagehash phash, 8x8"),
        Algorithm("whash", 64, classic.whash, 0.0625, "imagehash whash (haar), 8x8"),
    )
}


def get(name: str) -> Algorithm:
    """The algorithm called ``name`` (case-insensitive); ValueError lists the known ones."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}") from None
