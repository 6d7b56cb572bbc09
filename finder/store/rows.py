"""One image to rows: decode once, hash every view with every algorithm.

A row is ``(view code, quality, packed bits of every algorithm, concatenated)``.
The plain row comes first, then one per geometric view (mirror, rotations)
and, when the image has a content box, the trimmed (or inset) row.  What each
algorithm's stages are, and which stage a view, a crop or the quality score
reads, comes from its record in :mod:`finder.algorithms`; nothing here names
an algorithm.  :func:`hash_chunk` is the worker entry point the store update
(:mod:`finder.store.update`) sends to an executor.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from finder import algorithms as _algorithms
from finder import views as _views
from finder.algorithms.base import apply_stages
from finder.io.decode import FileError, FileStat, decode_warnings, read_image
from finder.store.resolution import DECODE_REDUCED, min_decode_size
from finder.views import content as _content
from finder.views import geometry as _geometry
from finder.views import quality as _quality

ChunkResult = list[tuple[int, Any]]


Row = tuple[int, int, np.ndarray]  # (view code, quality, uint64 words of every algorithm, concatenated)


def _run(spec: _algorithms.Algorithm, value: Any, after: str = "") -> tuple[np.ndarray, dict[str, Any]]:
    """Run ``spec``'s stages (those after stage ``after``, or all) on ``value``; the hash and every output."""
    outputs: dict[str, Any] = {}
    for stage in spec.stages_after(after):
        value = stage.function(value)
        outputs[stage.name] = value
    return value, outputs


Run = Callable[[_algorithms.Algorithm, Any, str], tuple[np.ndarray, dict[str, Any]]]


def hash_views(image: Image.Image, names: Sequence[str], views: Sequence[str] = ("plain",),
               run: Run = _run) -> list[Row]:
    """The rows of one decoded image: its plain hash first, then one per extra view (see finder.views).

    Every algorithm runs once on the plain image. Geometric views (mirror,
    rotations) transform its :attr:`~finder.algorithms.Algorithm.view_stage`
    output and run only the stages after it. The content box, when there is
    one, is cut out of the algorithm's :attr:`~finder.algorithms.Algorithm.crop_stage`
    output (FINd: its 512 px RGB thumbnail) and hashed from there, or, for
    algorithms without one, from a reduced copy of the image.
    """
    specs = [_algorithms.get(name) for name in names]
    geometric = [v for v in views if v in _geometry.GEOMETRIC]
    plain: list[np.ndarray] = []
    turned: dict[str, list[np.ndarray]] = {v: [] for v in geometric}
    trimmed: list[np.ndarray] = []
    grid: Any = None
    trimmed_grid: Any = None
    reduced_crop = None
    crop_sources: list[Any] = []
    for spec in specs:
        words, outputs = run(spec, image, "")
        plain.append(words)
        middle = outputs[spec.view_stage] if spec.view_stage else image
        for view in geometric:
            turned[view].append(apply_stages(spec.stages_after(spec.view_stage), _geometry.transform(middle, view)))
        if spec.quality_stage and grid is None:
            grid = outputs[spec.quality_stage]
        crop_sources.append(outputs[spec.crop_stage] if spec.crop_stage else None)
    box = None
    if "trimmed" in views:
        # Found on a thumbnail already made (FINd's) when there is one: far cheaper than reducing a large photo.
        thumb = next((s for s in crop_sources if s is not None), None)
        box = _content.content_box(image) if thumb is None else _content.content_box(thumb, image.size)
    for spec, source in zip(specs, crop_sources):
        if box is None:
            break
        if source is not None:
            cut = _geometry.crop_scaled(source, box, image.size)
            words, cropped = run(spec, cut, spec.crop_stage)
        else:
            reduced_crop = reduced_crop if reduced_crop is not None else _geometry.crop_reduced(image, box)
            words, cropped = run(spec, reduced_crop, "")
        trimmed.append(words)
        if spec.quality_stage and trimmed_grid is None:
            trimmed_grid = cropped.get(spec.quality_stage)
    quality = _quality.quality(grid) if grid is not None else _quality.image_quality(image)
    rows: list[Row] = [(_views.view_code("plain"), quality, np.concatenate(plain))]
    rows += [(_views.view_code(v), quality, np.concatenate(parts)) for v, parts in turned.items()]
    if box is not None:
        if trimmed_grid is not None:
            boxed_quality = _quality.quality(trimmed_grid)
        else:
            boxed_quality = _quality.image_quality(reduced_crop if reduced_crop is not None else image.crop(box))
        share = (box[2] - box[0]) * (box[3] - box[1]) / (image.width * image.height)
        code = _views.view_code("inset" if share < _content.FRAME_DOMINATES else "trimmed")
        rows.append((code, boxed_quality, np.concatenate(trimmed)))
    return rows


def _decoded(path: str, names: Sequence[str], exif_transpose: bool, views: Sequence[str], decode: str,
             work: Callable[[Image.Image, FileStat], Any]) -> Any:
    """``work(image, stat)`` on ``path`` decoded as a store with these settings decodes it, or a FileError."""
    decoded = read_image(path, exif_transpose, min_decode_size(names, decode, views))
    if isinstance(decoded, FileError):
        return decoded
    image, st = decoded
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return work(image, st)
    except Exception as exc:  # a decodable image that a hash cannot handle is skipped, not fatal
        return FileError(path, f"cannot hash: {type(exc).__name__}: {exc}")
    finally:
        image.close()


def hash_image(path: str, names: Sequence[str], exif_transpose: bool, views: Sequence[str] = ("plain",),
               decode: str = DECODE_REDUCED) -> tuple[list[Row], FileStat, list[FileError]] | FileError:
    """Decode ``path`` once and hash every view with each algorithm; the rows, the file's stat and the
    defects it was decoded despite (``finder.io.decode.decode_warnings``).  ``decode`` is the decode policy:
    ``"reduced"`` (at the smallest JPEG scale the algorithms allow, ``finder.store.resolution``) or ``"full"``."""
    return _decoded(path, names, exif_transpose, views, decode, lambda image, st: (
        hash_views(image, names, views), st, [FileError(path, w) for w in decode_warnings(image)]))


def plain_rows(path: str, names: Sequence[str], exif_transpose: bool, views: Sequence[str] = ("plain",),
               decode: str = DECODE_REDUCED) -> tuple[np.ndarray, FileStat] | FileError:
    """``path``'s plain hash of every algorithm (concatenated, as in a row) and the stat of the bytes decoded.

    Decoded exactly as a store hashed with these settings decoded it (the decode size depends on its views)
    but only the plain view is hashed: the stored plain row and this one are equal, bit for bit, while the
    file is still the image that was hashed.  ``finder dedupe`` checks that before it acts on a file.
    """
    return _decoded(path, names, exif_transpose, views, decode, lambda image, st: (hash_views(image, names)[0][2], st))


def hash_chunk(args: tuple[list[tuple[int, str]], tuple[str, ...], bool, tuple[str, ...], str]) -> ChunkResult:
    """Worker entry point: hash a chunk of (index, path).  Module-level and picklable (spawn-safe)."""
    chunk, names, exif_transpose, views, decode = args
    return [(index, hash_image(path, names, exif_transpose, views, decode)) for index, path in chunk]


def _gpu_function(spec: _algorithms.Algorithm) -> Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    import importlib

    module, _, name = spec.gpu_batch.partition(":")
    return getattr(importlib.import_module(module), name)


def hash_chunk_gpu(args: tuple[list[tuple[int, str]], tuple[str, ...], bool, tuple[str, ...], str]) -> ChunkResult:
    """:func:`hash_chunk` with the GPU stages of the algorithms that have them (their record's ``gpu_from``
    and ``gpu_batch``: FINd's after its RGB thumbnail) run on a CUDA GPU, each over the chunk in one batch.

    Each image is decoded and taken through :func:`hash_views` twice: first with a runner that runs every
    stage up to an algorithm's ``gpu_from`` and records what goes to the GPU (the RGB thumbnail, the content
    box's cut), then, after one batch per algorithm, with a runner that replays the first pass's results in
    the same order, with the GPU's words and ``view_stage`` outputs (FINd's 64 x 64 samples), which the
    views and the quality score read as they read the CPU's.  The rows equal :func:`hash_chunk`'s.
    """
    chunk, names, exif_transpose, views, decode = args
    inputs: dict[str, list[np.ndarray]] = {}
    done: list[tuple[int, Any]] = []
    recorded: list[tuple[int, Image.Image, FileStat, list[FileError], list]] = []
    for index, path in chunk:
        calls: list = []

        def record(spec: _algorithms.Algorithm, value: Any, after: str = "", calls: list = calls) -> tuple:
            if not spec.gpu_from or after not in ("", spec.gpu_from):
                calls.append(_run(spec, value, after))
                return calls[-1]
            outputs: dict[str, Any] = {}
            if after != spec.gpu_from:
                for stage in spec.stages_after(after):
                    value = stage.function(value)
                    outputs[stage.name] = value
                    if stage.name == spec.gpu_from:
                        break
            batch = inputs.setdefault(spec.name, [])
            calls.append((len(batch), outputs))
            batch.append(np.ascontiguousarray(value))
            return np.zeros(spec.words, np.uint64), {**outputs, spec.view_stage: np.zeros((64, 64))}

        decoded = read_image(path, exif_transpose, min_decode_size(names, decode, views))
        if isinstance(decoded, FileError):
            done.append((index, decoded))
            continue
        image, st = decoded
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hash_views(image, names, views, run=record)
            recorded.append((index, image, st, [FileError(path, w) for w in decode_warnings(image)], calls))
        except Exception as exc:
            image.close()
            done.append((index, FileError(path, f"cannot hash: {type(exc).__name__}: {exc}")))
    results = {name: _gpu_function(_algorithms.get(name))(batch) for name, batch in inputs.items()}
    for index, image, st, defects, calls in recorded:
        replay = iter(calls)

        def replayed(spec: _algorithms.Algorithm, value: Any, after: str = "", replay=replay) -> tuple:
            result = next(replay)
            if not spec.gpu_from or after not in ("", spec.gpu_from):
                return result
            k, outputs = result
            words, middle = results[spec.name]
            return words[k], {**outputs, spec.view_stage: middle[k]}

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                done.append((index, (hash_views(image, names, views, run=replayed), st, defects)))
        finally:
            image.close()
    return sorted(done, key=lambda item: item[0])


def warm_up(names: Sequence[str]) -> None:
    """Load (or compile) every algorithm's kernels once in this process."""
    from PIL import Image

    # Larger than FINd's 512 px thumbnail, in both modes its fast path takes, so its resample kernels load too.
    samples = [Image.new("RGB", (8, 8)), Image.new("RGB", (600, 560)), Image.new("L", (560, 600))]
    for name in names:
        for sample in samples:
            _algorithms.get(name).hash_image(sample)
