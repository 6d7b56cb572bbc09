"""aHash, dHash, pHash and wHash from the ``imagehash`` library, with its default sizes, as two stages.

Every imagehash function starts with ``image.convert("L").resize(size, imagehash.ANTIALIAS)``.
The stages split each hash there:

``reduce``
    that Pillow work, to the function's own working size (for wHash, its
    default ``image_scale``: the largest power of two not above the smaller
    side, at least the hash size, and at most :data:`WHASH_MAX_SCALE`);
``hash``
    the real imagehash function on the reduced image, its bits packed into
    uint64 words.  Its own ``convert("L")`` and ``resize`` are then copies
    (Pillow returns a copy for the same mode and the same size), so the result
    is imagehash's on the full image; the test suite checks this bit for bit.

Nothing of imagehash's arithmetic is rewritten here.

wHash's working size is capped at :data:`WHASH_MAX_SCALE` = 2048.  imagehash
runs its Haar transforms in float64 at ``image_scale`` squared, several arrays
at once; on a 12000 x 12000 image (natural scale 8192) that was 2.3 GiB above
the decoded image and 35 s on a 2-core machine.  With the cap the same image
takes 0.17 GiB (mostly the 144 MB grey copy) and 4 s, most of it Pillow's
resize in ``reduce``.  So finder's wHash is
``imagehash.whash(image, image_scale=min(natural scale, 2048))``: bit-identical
to ``imagehash.whash(image)`` whenever the smaller side is under 4096 pixels
(every image in tests/data/golden and the shared corpus, whose largest smaller
side is 1415), imagehash's own function at a smaller scale above that.  What
wHash keeps, the 8 x 8 low band with the mean removed, is in effect the image's
8 x 8 block means, which hardly depend on the working size: on 60 corpus images
upscaled to a smaller side of 4600 (natural scale 4096), 20 of them again
with +-40 of noise added to every upscaled pixel, and 4 noisy ones upscaled to
8300 (natural scale 8192), capped and uncapped hashes had 0 bits apart, at caps
2048 and 1024 alike (upscaled copies: the corpus has no image above the cap).
The cap stays at 2048 rather than lower so that ordinary photos up to 24 Mpx
keep imagehash's exact hash; the transforms cost about 1.4 s and 0.17 GiB there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import imagehash
import numpy as np
from PIL import Image

from finder.algorithms.base import Stage
from finder.algorithms.bits import pack_bits

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


#: Largest wHash working size (a power of two): above it the hash is imagehash's with this ``image_scale``.
WHASH_MAX_SCALE = 2048


def whash_size(image: Image.Image) -> tuple[int, int]:
    """``whash``'s default ``image_scale`` square, computed as imagehash computes it, capped at
    :data:`WHASH_MAX_SCALE` (imagehash's own ``whash`` on the reduced image then keeps that scale)."""
    scale = max(2 ** int(np.log2(min(image.size))), HASH_SIZE)
    return min(scale, WHASH_MAX_SCALE), min(scale, WHASH_MAX_SCALE)


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
