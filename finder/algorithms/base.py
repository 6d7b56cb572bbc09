"""The records every algorithm is made of: named stages, run in order.

An algorithm is a sequence of :class:`Stage` s.  The first stage takes the
decoded Pillow image, each next stage takes the previous stage's output, and
the last returns the packed hash (``uint64[words]``, see ``finder.bits``).
Hashing runs the stages; ``finder bench`` times the very same stages with
:func:`run_stages`, so what is measured is what is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Stage:
    """One named step of an algorithm: ``function(previous output) -> output``.

    Attributes
    ----------
    name : short name, unique within its algorithm (``"luma"``, ``"reduce"``).
    function : the step; it must not modify its input (one decoded image feeds
        several algorithms).
    prepare : True for the Pillow resize/convert work an algorithm does before
        its arithmetic; ``finder bench`` reports these stages together as
        *prepare* and the others as *hash*.
    """

    name: str
    function: Callable[[Any], Any]
    prepare: bool = False


def apply_stages(stages: Sequence[Stage], image: Any) -> Any:
    """Run ``stages`` in order on ``image`` and return the last stage's output."""
    value: Any = image
    for stage in stages:
        value = stage.function(value)
    return value


@dataclass(frozen=True)
class Algorithm:
    """A perceptual hash of ``bits`` bits, computed by ``stages`` run in order.

    Attributes
    ----------
    name : registry key, lower case.
    bits : hash width in bits.
    stages : the pipeline, from decoded image to ``uint64[words]``.
    default_threshold : default match threshold, as a normalised distance.
    description : one line for help texts.
    """

    name: str
    bits: int
    stages: tuple[Stage, ...]
    default_threshold: float
    description: str
    view_stage: str = ""
    crop_stage: str = ""

    @property
    def words(self) -> int:
        """Number of uint64 words of one packed hash."""
        return (self.bits + 63) // 64

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The stages' names, in pipeline order."""
        return tuple(stage.name for stage in self.stages)

    def hash_image(self, image: Image.Image) -> np.ndarray:
        """Hash of a decoded, fully loaded Pillow image (not modified), as ``uint64[words]``."""
        return apply_stages(self.stages, image)

    def split(self) -> tuple[tuple[Stage, ...], tuple[Stage, ...]]:
        """The stages up to and including :attr:`view_stage`, and the rest.

        A flip or rotation of the first part's output, run through the second
        part, is the hash of the flipped or rotated image (up to resampling):
        the cheap way to hash geometric views.
        """
        k = self.stage_names.index(self.view_stage) + 1 if self.view_stage else 0
        return self.stages[:k], self.stages[k:]


def run_stages(
    algorithm: Algorithm, image: Image.Image, clock: Callable[[], float] = time.perf_counter
) -> tuple[np.ndarray, dict[str, float]]:
    """Run an algorithm's stages on ``image``, timing each one.

    Parameters
    ----------
    algorithm : the algorithm whose stages to run.
    image : a decoded, fully loaded Pillow image (not modified).
    clock : a monotonic clock in seconds.

    Returns
    -------
    words : ``uint64[words]``, identical to ``algorithm.hash_image(image)``.
    seconds : ``{stage name: seconds}`` in pipeline order.
    """
    seconds: dict[str, float] = {}
    value: Any = image
    for stage in algorithm.stages:
        start = clock()
        value = stage.function(value)
        seconds[stage.name] = clock() - start
    return value, seconds
