"""Benchmark-only overrides of how small a reduced decode may make an image for FINd; never a default.

A setting is a string:

``"N"``
    a reduced decode keeps FINd's longer side >= N px: ``finder.store.resolution.WORKING_SIZE["find"]`` becomes
    ``(ceil(N / margin), 0)``, the margin of the default policy ``reduced-1x`` (1).  finder's own minimum is
    512 (FINd's 512 px thumbnail; 1024 under the 2x policy ``reduced``).
``"N+up"``
    the same, and an image that a reduced decode left smaller than FINd's 512 px thumbnail is resized up
    (bicubic) to the size the thumbnail of the undecimated image has, before FINd's other stages.  FINd's
    box blur windows are a fixed number of *pixels* of its input (``ceil(side / 64)``), so a 500 px input is
    sampled on another grid than the reference's 512 px one; this puts the reference's grid back.

:func:`override` applies a setting within a ``with`` block (this process); :func:`apply` for the rest of
the process, as the launcher of ``phone_breakdown.py`` does with the value of :data:`ENV` before it runs
the ``finder`` command line.  Nothing in ``finder/`` is edited: module attributes are patched.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from PIL import Image

import finder.io.decode as decode
from finder.store import resolution

#: The environment variable the launcher reads: a setting, as above.
ENV = "FINDER_BENCH_FIND_MIN_LONG"
#: ``image.info`` key under which ``N+up`` records the stored size of an image a draft made smaller.
ORIGINAL_SIZE = "finder.evaluate.bench.original_size"
THUMBNAIL = 512  # finder.algorithms.find.THUMBNAIL's side (not imported here: that module compiles kernels)


def parse(setting: str) -> tuple[int, bool]:
    """``"128+up"`` -> ``(128, True)``; ``"1024"`` -> ``(1024, False)``."""
    side, _, up = setting.partition("+")
    if up not in ("", "up") or not side.isdigit():
        raise ValueError(f"bad setting {setting!r}: want N or N+up")
    return int(side), up == "up"


def thumbnail_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size FINd's 512 px thumbnail of an image of ``size`` has (the longer side 512, aspect kept)."""
    w, h = size
    if max(w, h) <= THUMBNAIL:
        return w, h
    if w >= h:
        return THUMBNAIL, max(1, round(THUMBNAIL * h / w))
    return max(1, round(THUMBNAIL * w / h)), THUMBNAIL


def _patches(setting: str) -> list[Callable[[], None]]:
    """Apply ``setting``; the functions that undo it, in the order to call them."""
    side, up = parse(setting)
    undo: list[Callable[[], None]] = []
    from finder import algorithms

    saved = algorithms.ALGORITHMS["find"]
    margin = resolution.MARGINS[resolution.DECODE_REDUCED]
    algorithms.ALGORITHMS["find"] = replace(saved, working_size=(-(-side // margin), 0))
    undo.append(lambda: algorithms.ALGORITHMS.__setitem__("find", saved))
    if not up:
        return undo
    draft, spec = decode._draft, algorithms.ALGORITHMS["find"]
    stock = spec.stages[spec.stage_names.index("thumbnail")].function

    def recording_draft(opened: Image.Image, min_size: Any) -> None:
        before = opened.size
        draft(opened, min_size)
        if opened.size != before:
            opened.info[ORIGINAL_SIZE] = before

    def reference_thumbnail(image: Image.Image) -> Image.Image:
        original = image.info.get(ORIGINAL_SIZE)
        if original is None or max(image.size) >= THUMBNAIL:
            return stock(image)
        if (original[0] >= original[1]) != (image.width >= image.height):  # EXIF turned it
            original = original[::-1]
        target = thumbnail_size(original)
        return image if target == image.size else image.resize(target, Image.Resampling.BICUBIC)

    stages = tuple(dataclasses.replace(s, function=reference_thumbnail) if s.name == "thumbnail" else s
                   for s in spec.stages)
    decode._draft = recording_draft
    algorithms.ALGORITHMS["find"] = spec.with_stages(stages)
    undo.append(lambda: setattr(decode, "_draft", draft))
    undo.append(lambda: algorithms.ALGORITHMS.__setitem__("find", spec))
    return undo


@contextlib.contextmanager
def override(setting: str | None) -> Iterator[None]:
    """Within the block, hash under ``setting`` (None: finder's own minimum); undone on exit."""
    undo = _patches(setting) if setting else []
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


def apply(setting: str) -> None:
    """Hash under ``setting`` for the rest of this process."""
    _patches(setting)
