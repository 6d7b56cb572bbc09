"""aHash, dHash, pHash and wHash from the ``imagehash`` library, with its default sizes, as two stages.

Every imagehash function starts with ``image.convert("L").resize(size, imagehash.ANTIALIAS)``.
The stages split each hash there:

``reduce``
    that Pillow work, to the function's own working size (for wHash, its
    default ``image_scale``: the largest power of two not above the smaller
    side, at least the hash size);
``hash``
    the real imagehash function on the reduced image, its bits packed into
    uint64 words.  Its own ``convert("L")`` and ``resize`` are then copies
    (Pillow returns a copy for the same mode and the same size), so the result
    is imagehash's on the full image; the test suite checks this bit for bit.

Nothing of imagehash's arithmetic is rewritten here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import imagehash
import numpy as np
from PIL import Image

from finder.algorithms.base import Stage
from finder.bits import pack_bits

#: imagehash's default hash size (8 x 8 = 64 bits) and pHash's default oversampling.
HASH_SIZE = 8
PHASH_HIGHFREQ = 4

Size = Callable[[Image.Image], tuple[int, int]]


def ahash_size(image: Image.Image) -> tuple[int, int]:
    """``average_hash``'s working size, (width, height)."""
    return HASH_SIZE, HASH_SIZE


def dhash_size(image: Image.Image) -> tuple[int, int]:
    """``dhash``'s working size: one extra column for the horizontal differences."""
    return HASH_SIZE + 1, HASH_SIZE


def phash_size(image: Image.Image) -> tuple[int, int]:
    """``phash``'s working size, ``hash_size * highfreq_factor`` square."""
    side = HASH_SIZE * PHASH_HIGHFREQ
    return side, side


def whash_size(image: Image.Image) -> tuple[int, int]:
    """``whash``'s default ``image_scale`` square, computed as imagehash computes it."""
    scale = max(2 ** int(np.log2(min(image.size))), HASH_SIZE)
    return scale, scale


def reduce(image: Image.Image, size: Size) -> Image.Image:
    """Grey, resized to ``size(image)`` with imagehash's own filter: the first line of every imagehash function."""
    return image.convert("L").resize(size(image), imagehash.ANTIALIAS)


def hash_reduced(reduced: Image.Image, function: Callable[[Image.Image], imagehash.ImageHash]) -> np.ndarray:
    """The imagehash ``function`` on an already reduced image, packed into uint64 words."""
    return pack_bits(function(reduced).hash.ravel())


def staged(function: Callable[[Image.Image], imagehash.ImageHash], size: Size) -> tuple[Stage, Stage]:
    """The ``reduce`` and ``hash`` stages of an imagehash function with working size ``size(image)``.

    Both are partials of module-level functions, so the stages pickle (spawned workers can receive them).
    """
    return (Stage("reduce", partial(reduce, size=size), prepare=True),
            Stage("hash", partial(hash_reduced, function=function)))


AHASH = staged(imagehash.average_hash, ahash_size)
DHASH = staged(imagehash.dhash, dhash_size)
PHASH = staged(imagehash.phash, phash_size)
WHASH = staged(imagehash.whash, whash_size)
