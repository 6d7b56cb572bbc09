"""Layout agreement: a second look at matches near the threshold, from the bits a hash already has.

FINd sets one bit per coefficient of a 16x16 DCT block, against the block's
median.  Most of those coefficients are fine detail; the lowest ones say where
the light and dark masses of the picture lie.  A true near-duplicate keeps
that layout even when blur, noise, a caption or a new aspect ratio flip many
of the fine bits, while two unrelated photos that land near the threshold
(FINd collides at 92-96 of 256 bits) agree on their layout bits no better
than chance.

:func:`confirms` therefore asks of such a pair that its layout bits agree
*beyond chance*: with ``k`` layout bits, each matching by chance with
probability 1/2, the number of differing bits must be at most the largest
``c`` for which ``P(Binomial(k, 1/2) <= c) <= LAYOUT_SIGNIFICANCE``
(a one-sided binomial test at 5 %).  For FINd's 5x5 lowest frequencies
(``k = 25``: cosines of up to four half-periods across the image, structure a
quarter of the image wide or coarser) that is at most 7 differing bits.

Matching applies it to plain-row matches farther than the view radius, where
the accidental matches are (see :func:`finder.match.search.block_pairs`).  Hashes
without a DCT layout (aHash, dHash, wHash; pHash's 64 bits *are* its lowest
frequencies) have no layout bits and are not checked.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from finder.algorithms import get
from finder.algorithms.bits import n_words

LAYOUT_SIGNIFICANCE = 0.05


def chance_cutoff(k: int, significance: float = LAYOUT_SIGNIFICANCE) -> int:
    """Largest ``c`` with ``P(Binomial(k, 1/2) <= c) <= significance`` (-1 if none)."""
    total, c = 0, -1
    for x in range(k + 1):
        total += math.comb(k, x)
        if total / 2**k > significance:
            break
        c = x
    return c


@cache
def layout_mask(algorithm: str) -> np.ndarray | None:
    """uint64 words selecting ``algorithm``'s layout bits, or None when it has none."""
    record = get(algorithm)
    side = record.layout_side
    if not side:
        return None
    # A layout hash's bits are its square DCT block: bit k holds coefficient B[i, j] with
    # k = bits - 1 - (block * i + j) (FINd: block 16, see finder.algorithms.find).
    nbits = record.bits
    block = math.isqrt(nbits)
    mask = np.zeros(n_words(nbits), dtype=np.uint64)
    for i in range(side):
        for j in range(side):
            k = nbits - 1 - (block * i + j)
            mask[k // 64] |= np.uint64(1) << np.uint64(63 - k % 64)
    mask.setflags(write=False)
    return mask


def layout_distance(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Differing layout bits of each row pair ``a[r], b[r]`` ((m, words) uint64 each)."""
    return np.bitwise_count((a ^ b) & mask).sum(axis=1, dtype=np.int32)


def confirms(algorithm: str, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """bool[m]: whether each row pair's layout bits agree beyond chance; None if ``algorithm`` has none."""
    mask = layout_mask(algorithm)
    if mask is None:
        return None
    return layout_distance(a, b, mask) <= chance_cutoff(int(np.bitwise_count(mask).sum()))
