"""The records every algorithm is made of: named stages, run in order.

An algorithm is a sequence of :class:`Stage` s.  The first stage takes the
decoded Pillow image, each next stage takes the previous stage's output, and
the last returns the packed hash (``uint64[words]``, see ``finder.algorithms.bits``).
Hashing runs the stages; ``finder bench`` times the very same stages with
:func:`run_stages`, so what is measured is what is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from finder.algorithms import Algorithm


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
