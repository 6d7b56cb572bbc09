"""aHash, dHash, pHash and wHash from the ``imagehash`` library, with its default sizes."""

from __future__ import annotations

from typing import Callable

import imagehash
import numpy as np
from PIL import Image

from finder.bits import pack_bits


def adapt(function: Callable[[Image.Image], imagehash.ImageHash]) -> Callable[[Image.Image], np.ndarray]:
    """Wrap an imagehash function so it returns packed uint64 words."""

    def hash_image(image: Image.Image) -> np.ndarray:
        return pack_bits(function(image).hash.ravel())

    hash_image.__name__ = function.__name__
    hash_image.__doc__ = f"imagehash.{function.__name__}, packed into uint64 words."
    return hash_image


ahash = adapt(imagehash.average_hash)
dhash = adapt(imagehash.dhash)
phash = adapt(imagehash.phash)
whash = adapt(imagehash.whash)
