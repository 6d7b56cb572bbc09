"""How small a reduced-size decode may make an image: the resolution each algorithm works at, times a margin.

``finder hash`` decodes JPEGs at reduced size by default (libjpeg's DCT
scaling through Pillow's ``Image.draft``, see :func:`finder.io.decode.read_image`):
a 12-megapixel photo decoded at 1/4 scale costs a fraction of the full decode,
and every hash here works far below 6 megapixels.  The decoded image must
keep at least the policy's margin (:data:`MARGINS`) times the resolution an
algorithm resamples to: ``reduced-1x`` (the default) keeps 1x, ``reduced``
(the default until 2026-12, kept for stores that record it) 2x.  The 1x
margin was adopted on measurement (docs/concepts/decoding.md,
``benchmarks/decode_policy.py``): on the shared corpus and on a ``finder synth``
set from 64 large photos outside it, every algorithm's pair F1 at its default
threshold stays within 0.01 of ``--exact``'s, FINd's within 0.002.

Working resolutions (each record's ``working_size`` in :mod:`finder.algorithms`), as (longer side,
shorter side) minima of the decoded image, before the margin:

* FINd: ``thumbnail((512, 512))`` keeps the aspect ratio, so its longer side
  becomes 512.
* aHash, dHash, pHash: ``resize`` to 8x8, 9x8 and 32x32 whatever the aspect,
  so both sides matter: the shorter side 8, 9 and 32.
* wHash: its working size is the largest power of two not above the shorter
  side, capped at ``WHASH_MAX_SCALE`` (2048).  Keeping at least that on the
  shorter side leaves the scale, and so the hash's definition, unchanged.

Views (``finder.views``) add their own, always with a 2x margin
(:data:`VIEW_MARGIN`; the smaller one was not measured for them): every row's
quality score is taken on a 64x64 luma grid (keep the shorter side >= 128), and
the trimmed view's content box is found on a copy of about ``BOX_SIDE`` (128)
px on its shorter side (keep >= 256).  These only matter for runs of imagehash
algorithms alone: FINd's longer side keeps more on any ordinary photo.

Several algorithms in one run take the largest of each minimum, so one decode
serves them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from finder.algorithms import ALGORITHMS
from finder.io.decode import DECODE_FULL, DECODE_POLICIES, DECODE_REDUCED, DECODE_REDUCED_2X, MinSize
from finder.views import BOX_SIDE, QUALITY_GRID

#: How many times each algorithm's working size a reduced decode keeps, by policy.
MARGINS = {DECODE_REDUCED: 1, DECODE_REDUCED_2X: 2}
#: The views' minimums (quality grid, content box) keep twice their size under every reduced policy.
VIEW_MARGIN = 2

__all__ = ["DECODE_FULL", "DECODE_POLICIES", "DECODE_REDUCED", "DECODE_REDUCED_2X", "MARGINS", "VIEW_MARGIN",
           "check_policy", "is_reduced", "min_decode_size"]


def check_policy(policy: str) -> str:
    """``policy`` if it is a decode policy (:data:`DECODE_POLICIES`); ValueError naming them otherwise."""
    if policy not in DECODE_POLICIES:
        raise ValueError(f"unknown decode policy {policy!r}; choose from {', '.join(DECODE_POLICIES)}")
    return policy


def is_reduced(policy: str) -> bool:
    """Whether ``policy`` decodes at reduced size (any margin)."""
    return policy in MARGINS


def min_decode_size(names: Iterable[str], policy: str = DECODE_REDUCED,
                    views: Iterable[str] = ("plain",)) -> MinSize | None:
    """The smallest (longer side, shorter side) a decode for ``names`` may produce; None means full size.

    Parameters
    ----------
    names : algorithm names (lower case, as in ``finder.algorithms.ALGORITHMS``).
    policy : ``"reduced-1x"``, ``"reduced"`` (2x) or ``"full"``.
    views : the views hashed (``finder.views.resolve_views``); ``trimmed`` needs more.

    Returns
    -------
    None for the ``full`` policy, or for an algorithm whose working size is not
    known here (decoding in full is always correct); else the policy's margin
    times the largest working size of each side (at least the views' minimums).
    """
    if check_policy(policy) == DECODE_FULL:
        return None
    margin = MARGINS[policy]
    long_side = 0
    short_side = VIEW_MARGIN * (BOX_SIDE if "trimmed" in views else QUALITY_GRID)
    for name in names:
        if name not in ALGORITHMS:
            return None
        work_long, work_short = ALGORITHMS[name].working_size
        long_side, short_side = max(long_side, margin * work_long), max(short_side, margin * work_short)
    return long_side, short_side
