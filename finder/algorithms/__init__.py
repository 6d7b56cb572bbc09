"""The hash algorithms finder knows: one record per algorithm, looked up by name.

Everything finder knows about an algorithm is in its :class:`Algorithm`
record below; nothing else in finder tests an algorithm's name.  A record
holds plain data (width, default threshold, working size, which stages views,
crops and quality read, layout bits) and names the module whose ``STAGES``
compute the hash: named steps from a decoded Pillow image to packed bits
(``uint64[words]``, see :mod:`finder.algorithms.bits`), run in order (see
:mod:`finder.algorithms.base`).  Stages must not modify their input, so one
decoded image can feed several algorithms.

The stages are imported on first use, so reading a hash file, parsing
options and ``finder --help`` never load the kernels (numba) or Pillow.

To add an algorithm: write its stages in a module of this package (a
``STAGES`` tuple, or several), add its record to ``ALGORITHMS``, and add its
golden values to the tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from finder.algorithms.base import Stage

__all__ = ["ALGORITHMS", "NAMES", "Algorithm", "get"]

@dataclass(frozen=True)
class Algorithm:
    """A perceptual hash of ``bits`` bits: what finder knows about it, and the stages that compute it.

    Attributes
    ----------
    name : registry key, lower case.
    bits : hash width in bits.
    default_threshold : default match threshold, as a normalised distance.
    description : one line for help texts.
    stages_from : ``"module:ATTRIBUTE"`` holding the stages (a tuple of
        :class:`~finder.algorithms.base.Stage`), imported on first use.
    working_size : the (longer side, shorter side) its stages resample a
        decoded image to (0: no minimum on that side); a reduced decode keeps it times its policy's
        margin (:mod:`finder.store.resolution`).
    view_stage : the stage whose output a flip or rotation may transform
        (:mod:`finder.views.geometry`); only the stages after it run again.
        Empty: the decoded image is transformed and every stage runs.
    crop_stage : the stage whose output the content box may be cut from (the
        trimmed view); empty: a reduced copy of the image is cropped instead.
    quality_stage : the stage whose output is a 64x64 luma grid, on which a
        row's quality score is taken (:mod:`finder.views.quality`); empty:
        the score is taken on the image.
    layout_side : side of the lowest-frequency block of its DCT that
        describes the picture's layout (:mod:`finder.match.layout`); 0: none.
    gpu_from : the stage after which the rest run on a CUDA GPU for a batch of images
        (``finder hash --device cuda``; ``gpu_batch`` names the function); empty: on the CPU only.
    gpu_batch : ``"module:FUNCTION"`` taking the ``gpu_from`` outputs of a batch and returning
        (words, the ``view_stage`` outputs), imported on first use.
    mirror_inverts : the bits of every word that a left-right mirror of the image inverts, where its
        definition makes them so (all but the few near its median threshold); 0: none known.  Matching
        with the mirror view then finds plain and mirror pairs in one pass (:mod:`finder.pairs.mirrored`).
    """

    name: str
    bits: int
    default_threshold: float
    description: str
    stages_from: str
    working_size: tuple[int, int]
    view_stage: str = ""
    crop_stage: str = ""
    quality_stage: str = ""
    layout_side: int = 0
    gpu_from: str = ""
    gpu_batch: str = ""
    mirror_inverts: int = 0

    @property
    def words(self) -> int:
        """Number of uint64 words of one packed hash."""
        return (self.bits + 63) // 64

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        """The pipeline, from decoded image to ``uint64[words]`` (imports the algorithm's module)."""
        module, _, attribute = self.stages_from.partition(":")
        return tuple(getattr(importlib.import_module(module), attribute))

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The stages' names, in pipeline order."""
        return tuple(stage.name for stage in self.stages)

    def stages_after(self, stage: str) -> tuple[Stage, ...]:
        """The stages after ``stage`` (all of them for ``""``)."""
        return self.stages[self.stage_names.index(stage) + 1:] if stage else self.stages

    def with_stages(self, stages: tuple[Stage, ...]) -> Algorithm:
        """A copy of this record computed by ``stages`` instead (for measurements that swap one stage)."""
        copy = replace(self)
        copy.__dict__["stages"] = tuple(stages)  # fills the cached property
        return copy

    def hash_image(self, image: Any) -> np.ndarray:
        """Hash of a decoded, fully loaded Pillow image (not modified), as ``uint64[words]``."""
        from finder.algorithms.base import apply_stages

        return apply_stages(self.stages, image)


# The working sizes are those of the stages' own constants (asserted by tests/test_decode_policy.py):
# FINd's thumbnail((512, 512)) keeps the aspect ratio, so its longer side becomes 512; imagehash resizes to
# 8x8 (aHash), 9x8 (dHash), 32x32 (pHash: 8 x its oversampling 4) whatever the aspect, so the shorter side
# matters; wHash works at the largest power of two not above the shorter side, capped at 2048 (classic.py).
# Default thresholds (normalised distance) are the best-F1 thresholds of `finder evaluate` on the shared
# near-duplicate corpus (945 images, 135 groups); see the docs, "Accuracy".
# FINd's bit for coefficient (i, j) of B = D A D^T, where D's row j is the cosine of frequency j + 1, sits at
# flattened position 255 - (16 i + j) (FIND_SPEC.md, section 6), i.e. at bit 63 - k % 64 of its word. A
# left-right mirror negates the coefficients of odd horizontal frequency (even j): the odd k, the even bit
# positions of every word.
FIND_MIRROR_INVERTS = 0x5555555555555555
ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("find", 256, 0.375, "FINd, FIN's 256-bit DCT hash", "finder.algorithms.find:STAGES", (512, 0),
                  view_stage="blur_decimate", crop_stage="rgb", quality_stage="blur_decimate", layout_side=5,
                  gpu_from="rgb", gpu_batch="finder.algorithms.find_cuda:find_batch_views",
                  mirror_inverts=FIND_MIRROR_INVERTS),
        Algorithm("ahash", 64, 0.05, "imagehash average_hash, 8x8", "finder.algorithms.classic:AHASH", (0, 8),
                  view_stage="reduce"),
        Algorithm("dhash", 64, 0.22, "imagehash dhash, 8x8", "finder.algorithms.classic:DHASH", (0, 9),
                  view_stage="reduce"),
        Algorithm("phash", 64, 0.25, "imagehash phash, 8x8", "finder.algorithms.classic:PHASH", (0, 32),
                  view_stage="reduce"),
        Algorithm("whash", 64, 0.0625, "imagehash whash (haar), 8x8", "finder.algorithms.classic:WHASH", (0, 2048),
                  view_stage="reduce"),
    )
}
NAMES: tuple[str, ...] = tuple(ALGORITHMS)


def get(name: str) -> Algorithm:
    """The algorithm called ``name`` (case-insensitive); ValueError lists the known ones."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGORITHMS)}") from None
