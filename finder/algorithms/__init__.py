"""The hash algorithms finder knows, looked up by name.

Each algorithm is a record ``(name, bits, stages)`` (see
:mod:`finder.algorithms.base`): named stages from a decoded Pillow image to its
packed bits (``uint64[words]``, see ``finder.bits``), run in order by
``Algorithm.hash_image`` and timed one by one by :func:`run_stages`.  Stages must
not modify their input, so one decoded image can feed several algorithms.
"""

from __future__ import annotations

from finder.algorithms import classic, find
from finder.algorithms.base import Algorithm, Stage, apply_stages, run_stages
from finder.catalog import CATALOG

__all__ = ["ALGORITHMS", "Algorithm", "Stage", "apply_stages", "get", "run_stages"]


_STAGES = {"find": find.STAGES, "ahash": classic.AHASH, "dhash": classic.DHASH, "phash": classic.PHASH,
           "whash": classic.WHASH}
# The stage whose output a flip or rotation may transform (finder.views): FINd's 64x64 blurred
# samples (then only the DCT and median run again), imagehash's reduced greyscale image.
_VIEW_STAGE = {"find": "blur_decimate", "ahash": "reduce", "dhash": "reduce", "phash": "reduce", "whash": "reduce"}
# The stage whose output the content box may be cut from (the trimmed view): FINd's RGB thumbnail, which
# spares re-thumbnailing a large photo; imagehash's stages start from a reduced copy of the image instead.
_CROP_STAGE = {"find": "rgb"}

# Names, widths, default thresholds and descriptions live in finder.catalog (no kernels
# imported there); this registry attaches the stages that compute each hash.
ALGORITHMS: dict[str, Algorithm] = {
    e.name: Algorithm(e.name, e.bits, _STAGES[e.name], e.default_threshold, e.description, _VIEW_STAGE[e.name],
                      _CROP_STAGE.get(e.name, ""))
    for e in CATALOG.values()
}


def get(name: str) -> Algorithm:
    """The algorithm called ``name`` (case-insensitive); ValueError lists the known ones."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}") from None
