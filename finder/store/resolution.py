"""How small a reduced-size decode may make an image: the resolution each algorithm works at, times two.

``finder hash`` decodes JPEGs at reduced size by default (libjpeg's DCT
scaling through Pillow's ``Image.draft``, see :func:`finder.io.decode.read_image`):
a 12-megapixel photo decoded at 1/2 scale costs a fraction of the full decode,
and every hash here works far below 6 megapixels.  The decoded image must
keep at least :data:`SAFETY` (2) times the resolution an algorithm resamples
to, so the resample still averages several source pixels into each working
pixel and the hash hardly changes (measured in docs/concepts/decoding.md: FINd and dHash at
most a few bits).

Working resolutions (each record's ``working_size`` in :mod:`finder.algorithms`), as (longer side,
shorter side) minima of the decoded image:

* FINd: ``thumbnail((512, 512))`` keeps the aspect ratio, so its longer side
  becomes 512: keep the longer side >= 1024.
* aHash, dHash, pHash: ``resize`` to 8x8, 9x8 and 32x32 whatever the aspect,
  so both sides matter: keep the shorter side >= 16, 18 and 64.
* wHash: its working size is the largest power of two not above the shorter
  side, capped at ``WHASH_MAX_SCALE`` (2048).  Keeping twice that (4096 on the
  shorter side) leaves the scale, and so the hash's definition, unchanged; a
  photo with a shorter side under 8192 is therefore decoded in full.

Views (``finder.views``) add their own: every row's quality score is taken
on a 64x64 luma grid (keep the shorter side >= 128), and the trimmed view's
content box is found on a copy of about ``BOX_SIDE`` (128) px on its shorter
side (keep >= 256).  These only matter for runs of imagehash algorithms alone:
FINd's 1024 px longer side keeps more on any ordinary photo.

Several algorithms in one run take the largest of each minimum, so one decode
serves them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from finder.algorithms import ALGORITHMS
from finder.io.decode import DECODE_FULL, DECODE_POLICIES, DECODE_REDUCED, MinSize
from finder.views import BOX_SIDE, QUALITY_GRID

SAFETY = 2

__all__ = ["DECODE_FULL", "DECODE_POLICIES", "DECODE_REDUCED", "check_policy", "min_decode_size"]


def check_policy(policy: str) -> str:
    """``policy`` if it is a decode policy (``reduced`` or ``full``); ValueError naming both otherwise."""
    if policy not in DECODE_POLICIES:
        raise ValueError(f"unknown decode policy {policy!r}; choose from {', '.join(DECODE_POLICIES)}")
    return policy


def min_decode_size(names: Iterable[str], policy: str = DECODE_REDUCED,
                    views: Iterable[str] = ("plain",)) -> MinSize | None:
    """The smallest (longer side, shorter side) a decode for ``names`` may produce; None means full size.

    Parameters
    ----------
    names : algorithm names (lower case, as in ``finder.algorithms.ALGORITHMS``).
    policy : ``"reduced"`` or ``"full"``.
    views : the views hashed (``finder.views.resolve_views``); ``trimmed`` needs more.

    Returns
    -------
    None for the ``full`` policy, or for an algorithm whose working size is not
    known here (decoding in full is always correct); else :data:`SAFETY` times
    the largest working size of each side.
    """
    if check_policy(policy) == DECODE_FULL:
        return None
    long_side = 0
    short_side = SAFETY * (BOX_SIDE if "trimmed" in views else QUALITY_GRID)
    for name in names:
        if name not in ALGORITHMS:
            return None
        work_long, work_short = ALGORITHMS[name].working_size
        long_side, short_side = max(long_side, SAFETY * work_long), max(short_side, SAFETY * work_short)
    return long_side, short_side
