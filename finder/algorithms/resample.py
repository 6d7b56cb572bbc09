"""Pillow 13's ``Image.thumbnail`` of RGB and L images, bit for bit, with the resample in numba.

FINd starts with ``image.thumbnail((512, 512))`` (Pillow's defaults: BICUBIC,
``reducing_gap=2.0``), and that resample was most of FINd's time on large
images: Pillow's C loops do one scalar multiply-add per tap, channel and
pixel.  :func:`thumbnail_array` computes the same pixels with the same integer
arithmetic, in loops the compiler vectorises.  What Pillow does, step by step:

1. **Size** (:func:`thumbnail_size`).  The side that meets the limit becomes
   the limit; the other is the floor or the ceiling of its scaled length,
   whichever keeps the aspect ratio closer (the floor on a tie), at least 1.
   Images within the limit are left alone.
2. **Reduce**, only where a side shrinks by ``2 * reducing_gap`` or more
   (:func:`reduce_factors`: ``int(side / new_side / 2.0)`` per axis): Pillow's
   own ``Image.reduce`` is called for this, exactly as ``Image.resize`` calls
   it, so it is Pillow's result by construction.  The resample then reads the
   reduced image through the box ``(0, 0, width / fx, height / fy)``, which
   Pillow hands to C as float32.
3. **Bicubic resample** (``Resample.c``), two separable passes with the
   intermediate image clipped to 8 bits.  Per output pixel of an axis,
   ``center = (i + 0.5) * scale``; taps ``int(center - support + 0.5)`` to
   ``int(center + support + 0.5)``, clipped to the image, ``support = 2 *
   max(scale, 1)``; weights ``bicubic((tap - center + 0.5) / max(scale, 1))``
   with ``a = -0.5``, divided by their sum, then fixed point with 22 fraction
   bits (rounded half away from zero).  A pixel is ``clip((2**21 + sum(weight
   * value)) >> 22, 0, 255)`` in 32-bit integers.  A pass that would not change
   its axis is skipped.  **Which pass goes first**: horizontal, except when the
   height shrinks by more than twice as many pixels as the width does
   (:func:`vertical_first`; Pillow 13, python-pillow/Pillow#9549) -- found by
   running both orders against Pillow, and pinned by the tests.

Every sum is of integers, so its order is free.  The horizontal pass gathers
a block of rows column-major into a buffer (a column of the buffer holds one
source column of every row of the block; an RGB pixel moves as one 32-bit
word) and accumulates all rows of the block at once: a contiguous inner loop.
The vertical pass accumulates whole output rows.  ``tests/test_resample.py``
compares :func:`thumbnail_array` with ``Image.thumbnail`` itself on random
images of many sizes, shapes, reduce factors and both modes, and on every
golden image.

The pixels are read from Pillow's own buffer through the Arrow C data
interface (``Image.__arrow_c_array__``, zero-copy: Pillow exports RGB as RGBX,
4 bytes a pixel) when Pillow holds the image in one block, which it does for
every image this module resamples at Pillow's default block size; otherwise
through ``numpy.asarray`` (a copy).

Other modes (palette, RGBA, LA, CMYK, 16-bit, ...) take other paths inside
Pillow (nearest-neighbour for palettes, premultiplied alpha for RGBA);
:func:`supports` says which images this module takes, callers hand the others
to Pillow itself.
"""

from __future__ import annotations

import ctypes
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from numba import njit
from PIL import Image

from finder import config

config.prepare_numba_cache(__file__)

#: The modes resampled here (RGB needs a little-endian machine: pixels are unpacked from 32-bit words).
MODES = ("RGB", "L")
#: Pillow's default for ``Image.thumbnail``: reduce first when a side shrinks by at least twice this.
REDUCING_GAP = 2.0
#: Bicubic's support in output pixels, and Pillow's fixed-point fraction bits for 8-bit images.
SUPPORT = 2.0
PRECISION_BITS = 32 - 8 - 2
#: Rows the horizontal pass accumulates at once (RGB: 3 channels each), measured best on the corpus's images.
ROWS_RGB = 64
ROWS_GREY = 128


def supports(image: Image.Image) -> bool:
    """Whether :func:`thumbnail_array` takes ``image`` (mode RGB or L; RGB on little-endian machines)."""
    return image.mode == "L" or (image.mode == "RGB" and sys.byteorder == "little")


def thumbnail_size(width: int, height: int, limit: tuple[int, int] = (512, 512)) -> tuple[int, int] | None:
    """The size ``Image.thumbnail(limit)`` gives a ``width`` x ``height`` image, or None if it is left alone.

    The side that meets the limit becomes the limit; the other is the floor or
    the ceiling of its scaled length, whichever keeps the aspect ratio closer
    (the floor on a tie), and at least 1.
    """
    x, y = math.floor(limit[0]), math.floor(limit[1])
    if x >= width and y >= height:
        return None
    aspect = width / height

    def closest(length: float, error: Callable[[int], float]) -> int:
        low, high = math.floor(length), math.ceil(length)
        return max(high if error(high) < error(low) else low, 1)

    if x / y >= aspect:
        return closest(y * aspect, lambda n: abs(aspect - n / y)), y
    return x, closest(x / aspect, lambda n: 0.0 if n == 0 else abs(aspect - x / n))


def reduce_factors(width: int, height: int, size: tuple[int, int]) -> tuple[int, int]:
    """``Image.resize``'s integer pre-reduction factors (1: none) for ``reducing_gap`` = :data:`REDUCING_GAP`."""
    return (int(width / size[0] / REDUCING_GAP) or 1), (int(height / size[1] / REDUCING_GAP) or 1)


def vertical_first(in_size: tuple[int, int], out_size: tuple[int, int]) -> bool:
    """Whether Pillow 13 resamples vertically first: the height loses more than twice the pixels the width loses.

    Sizes are (width, height) in pixels, the input taken after any reduce.
    """
    (w, h), (ow, oh) = in_size, out_size
    return oh < h and h - oh > 2 * (w - ow)


@njit(cache=True, nogil=True)
def _bicubic(x: float) -> float:  # pragma: no cover - numba
    """Pillow's bicubic kernel with a = -0.5, term for term in the same order."""
    if x < 0.0:
        x = -x
    if x < 1.0:
        return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * -0.5
    return 0.0


@njit(cache=True, nogil=True)
def bicubic_coefficients(in_size: int, in_end: float,
                         out_size: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """Fixed-point bicubic weights for resampling ``[0, in_end)`` of an axis of ``in_size`` pixels to ``out_size``.

    Returns ``(weights, bounds)``: ``weights[i, t]`` (int32, 22 fraction bits)
    multiplies source pixel ``bounds[i, 0] + t`` for ``t < bounds[i, 1]``.
    ``in_end`` must hold a float32 value (Pillow passes the box as float32).
    """
    scale = in_end / out_size
    filterscale = scale if scale >= 1.0 else 1.0
    support = SUPPORT * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    weights = np.zeros((out_size, ksize), dtype=np.int32)
    bounds = np.zeros((out_size, 2), dtype=np.int64)
    raw = np.zeros(ksize)
    inverse = 1.0 / filterscale
    one = float(1 << PRECISION_BITS)
    for i in range(out_size):
        center = 0.0 + (i + 0.5) * scale
        first = int(center - support + 0.5)  # truncation toward zero, as C's (int)
        if first < 0:
            first = 0
        end = int(center + support + 0.5)
        if end > in_size:
            end = in_size
        count = end - first
        total = 0.0
        for t in range(count):
            w = _bicubic((t + first - center + 0.5) * inverse)
            raw[t] = w
            total += w
        for t in range(count):
            w = raw[t]
            if total != 0.0:
                w = w / total
            weights[i, t] = int(-0.5 + w * one) if w < 0 else int(0.5 + w * one)
        bounds[i, 0] = first
        bounds[i, 1] = count
    return weights, bounds


@njit(cache=True, nogil=True, inline="always")
def _clip8(value: int) -> int:  # pragma: no cover - numba
    v = value >> PRECISION_BITS
    return 0 if v < 0 else (255 if v > 255 else v)


@njit(cache=True, nogil=True, inline="always")
def _gather(src: np.ndarray, top: int, height: int, buffer: np.ndarray) -> None:  # pragma: no cover - numba
    """``buffer[x, r] = src[top + r, x]`` for ``r < height``: a transpose, in 8 x 8 tiles (whole cache lines
    on both sides; twice as fast as row by row), then the ragged edges."""
    w = src.shape[1]
    w8 = w - w % 8
    h8 = height - height % 8
    for r0 in range(0, h8, 8):
        for x0 in range(0, w8, 8):
            for ri in range(8):
                line = src[top + r0 + ri]
                for xi in range(8):
                    buffer[x0 + xi, r0 + ri] = line[x0 + xi]
        for x in range(w8, w):
            for ri in range(8):
                buffer[x, r0 + ri] = src[top + r0 + ri, x]
    for r in range(h8, height):
        line = src[top + r]
        for x in range(w):
            buffer[x, r] = line[x]


@njit(cache=True, nogil=True)
def horizontal_rgb(src: np.ndarray, first: int, weights: np.ndarray, bounds: np.ndarray,
                   out: np.ndarray) -> None:  # pragma: no cover - numba
    """Rows ``first ..`` of ``src`` (H, W) uint32 RGBX words resampled along x into ``out`` (rows, W' * 3) uint8.

    Blocks of :data:`ROWS_RGB` rows are gathered column-major into ``buffer``
    (one 32-bit word per pixel); each output column is then a weighted sum of
    buffer columns, all rows and channels at once; results are staged
    column-major and written out row by row.
    """
    rows = out.shape[0]
    ow = weights.shape[0]
    w = src.shape[1]
    buffer = np.zeros((w, ROWS_RGB), dtype=np.uint32)
    red = np.empty(ROWS_RGB, dtype=np.int32)
    green = np.empty(ROWS_RGB, dtype=np.int32)
    blue = np.empty(ROWS_RGB, dtype=np.int32)
    staged = np.empty((ow, 3 * ROWS_RGB), dtype=np.uint8)
    half = 1 << (PRECISION_BITS - 1)
    for y0 in range(0, rows, ROWS_RGB):
        height = min(ROWS_RGB, rows - y0)
        _gather(src, first + y0, height, buffer)
        for i in range(ow):
            start = bounds[i, 0]
            for lane in range(ROWS_RGB):
                red[lane] = half
                green[lane] = half
                blue[lane] = half
            for t in range(bounds[i, 1]):
                k = weights[i, t]
                column = buffer[start + t]
                for lane in range(ROWS_RGB):
                    p = column[lane]
                    red[lane] += k * np.int32(p & 255)
                    green[lane] += k * np.int32((p >> 8) & 255)
                    blue[lane] += k * np.int32((p >> 16) & 255)
            target = staged[i]
            for lane in range(ROWS_RGB):
                target[3 * lane] = _clip8(red[lane])
                target[3 * lane + 1] = _clip8(green[lane])
                target[3 * lane + 2] = _clip8(blue[lane])
        for r in range(height):
            line_out = out[y0 + r]
            for i in range(ow):
                line_out[3 * i] = staged[i, 3 * r]
                line_out[3 * i + 1] = staged[i, 3 * r + 1]
                line_out[3 * i + 2] = staged[i, 3 * r + 2]


@njit(cache=True, nogil=True)
def horizontal_grey(src: np.ndarray, first: int, weights: np.ndarray, bounds: np.ndarray,
                    out: np.ndarray) -> None:  # pragma: no cover - numba
    """Rows ``first ..`` of ``src`` (H, W) uint8 resampled along x into ``out`` (rows, W') uint8 (as
    :func:`horizontal_rgb`, one channel, :data:`ROWS_GREY` rows a block)."""
    rows = out.shape[0]
    ow = weights.shape[0]
    w = src.shape[1]
    buffer = np.zeros((w, ROWS_GREY), dtype=np.uint8)
    acc = np.empty(ROWS_GREY, dtype=np.int32)
    staged = np.empty((ow, ROWS_GREY), dtype=np.uint8)
    half = 1 << (PRECISION_BITS - 1)
    for y0 in range(0, rows, ROWS_GREY):
        height = min(ROWS_GREY, rows - y0)
        _gather(src, first + y0, height, buffer)
        for i in range(ow):
            start = bounds[i, 0]
            for lane in range(ROWS_GREY):
                acc[lane] = half
            for t in range(bounds[i, 1]):
                k = weights[i, t]
                column = buffer[start + t]
                for lane in range(ROWS_GREY):
                    acc[lane] += k * np.int32(column[lane])
            target = staged[i]
            for lane in range(ROWS_GREY):
                target[lane] = _clip8(acc[lane])
        for r in range(height):
            line_out = out[y0 + r]
            for i in range(ow):
                line_out[i] = staged[i, r]


@njit(cache=True, nogil=True)
def vertical_pass(src: np.ndarray, weights: np.ndarray, bounds: np.ndarray,
                  out: np.ndarray) -> None:  # pragma: no cover - numba
    """``src`` (rows, N) uint8 (rows of N bytes) resampled along y into ``out`` (H', N) uint8, one output row at
    a time: every byte column is an independent channel."""
    oh, n = out.shape
    acc = np.empty(n, dtype=np.int32)
    half = 1 << (PRECISION_BITS - 1)
    for y in range(oh):
        start = bounds[y, 0]
        acc[:] = half
        for t in range(bounds[y, 1]):
            k = weights[y, t]
            line = src[start + t]
            for j in range(n):
                acc[j] += k * np.int32(line[j])
        target = out[y]
        for j in range(n):
            target[j] = _clip8(acc[j])


def _horizontal(pixels: np.ndarray, first: int, rows: int, weights: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The horizontal pass over rows ``first .. first + rows`` of ``pixels`` (H, W, 4 RGBX or 1), (rows, W' * C)."""
    h, w, bands = pixels.shape
    if bands == 4:
        out = np.empty((rows, weights.shape[0] * 3), dtype=np.uint8)
        horizontal_rgb(pixels.view(np.uint32).reshape(h, w), first, weights, bounds, out)
    else:
        out = np.empty((rows, weights.shape[0]), dtype=np.uint8)
        horizontal_grey(pixels.reshape(h, w), first, weights, bounds, out)
    return out


def resample(pixels: np.ndarray, size: tuple[int, int], box: tuple[float, float]) -> np.ndarray:
    """Pillow's bicubic ``resize(size, box=(0, 0) + box)`` of ``pixels``, as a new (H', W', C) uint8 array.

    Parameters
    ----------
    pixels : (H, W, 4) uint8 RGBX (an RGB image; C = 3 out) or (H, W, 1) uint8 (an L image; C = 1 out),
        C-contiguous.
    size : the output (width, height).
    box : the width and height of the source region from (0, 0); Pillow passes them to C as float32.
    """
    h, w, bands = pixels.shape
    channels = 3 if bands == 4 else 1
    ow, oh = size
    bx, by = float(np.float32(box[0])), float(np.float32(box[1]))
    need_x = ow != w or bx != ow
    need_y = oh != h or by != oh
    if not (need_x or need_y):
        return np.array(pixels[:, :, :channels])
    weights_y, bounds_y = bicubic_coefficients(h, by, oh)
    if not need_x:
        tall = np.empty((oh, w * bands), dtype=np.uint8)
        vertical_pass(pixels.reshape(h, w * bands), weights_y, bounds_y, tall)
        return np.array(tall.reshape(oh, w, bands)[:, :, :channels])
    weights_x, bounds_x = bicubic_coefficients(w, bx, ow)
    if need_y and vertical_first((w, h), (ow, oh)):
        narrow = np.empty((oh, w * bands), dtype=np.uint8)
        vertical_pass(pixels.reshape(h, w * bands), weights_y, bounds_y, narrow)
        return _horizontal(narrow.reshape(oh, w, bands), 0, oh, weights_x, bounds_x).reshape(oh, ow, channels)
    first = int(bounds_y[0, 0])
    rows = int(bounds_y[-1, 0] + bounds_y[-1, 1]) - first
    wide = _horizontal(pixels, first, rows, weights_x, bounds_x)
    if not need_y:
        return wide.reshape(rows, ow, channels)
    bounds_y[:, 0] -= first
    out = np.empty((oh, ow * channels), dtype=np.uint8)
    vertical_pass(wide, weights_y, bounds_y, out)
    return out.reshape(oh, ow, channels)


class _ArrowSchema(ctypes.Structure):
    pass


_ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p), ("name", ctypes.c_char_p), ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowSchema))), ("dictionary", ctypes.c_void_p),
    ("release", ctypes.c_void_p), ("private_data", ctypes.c_void_p),
]


class _ArrowArray(ctypes.Structure):
    pass


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64), ("null_count", ctypes.c_int64), ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64), ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)), ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.c_void_p), ("release", ctypes.c_void_p), ("private_data", ctypes.c_void_p),
]

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _arrow_view(image: Image.Image) -> tuple[np.ndarray, object] | None:
    """A read-only (H, W, 4 or 1) uint8 view of Pillow's own pixel buffer and the capsules that keep it alive.

    Pillow exports an L image as Arrow ``C`` (uint8) and an RGB image as
    ``+w:4`` of ``C`` (RGBX), when the image is one block of memory; None
    when it cannot (the caller then copies).
    """
    try:
        schema_capsule, array_capsule = image.__arrow_c_array__()
    except (AttributeError, TypeError, ValueError, OSError):  # e.g. rows in several blocks
        return None
    schema = _ArrowSchema.from_address(_capsule_pointer(schema_capsule, b"arrow_schema"))
    array = _ArrowArray.from_address(_capsule_pointer(array_capsule, b"arrow_array"))
    if image.mode == "L" and schema.format == b"C":
        data, bands = array, 1
    elif (image.mode == "RGB" and schema.format == b"+w:4" and schema.n_children == 1 and array.n_children == 1
          and schema.children[0].contents.format == b"C" and array.offset == 0):
        data, bands = array.children[0].contents, 4
    else:
        return None
    w, h = image.size
    count = w * h * bands
    if data.n_buffers != 2 or not data.buffers[1] or data.length - data.offset < count:
        return None
    memory = (ctypes.c_uint8 * count).from_address(data.buffers[1] + data.offset)
    view = np.ctypeslib.as_array(memory).reshape(h, w, bands)
    view.flags.writeable = False
    return view, (schema_capsule, array_capsule)


@contextmanager
def pixels_of(image: Image.Image) -> Iterator[np.ndarray]:
    """The pixels of an RGB (as RGBX, (H, W, 4)) or L ((H, W, 1)) image as uint8, valid inside the block.

    Zero-copy where Pillow exports its buffer (:func:`_arrow_view`), else a
    copy through ``numpy.asarray``.  The array must not escape the block.
    """
    exported = _arrow_view(image)
    if exported is not None:
        view, keep = exported
        try:
            yield view
        finally:
            del view, keep
        return
    array = np.asarray(image)
    h, w = array.shape[:2]
    if image.mode == "L":
        yield array.reshape(h, w, 1)
        return
    rgbx = np.zeros((h, w, 4), dtype=np.uint8)
    rgbx[:, :, :3] = array
    yield rgbx


def thumbnail_array(image: Image.Image, limit: tuple[int, int] = (512, 512)) -> np.ndarray:
    """The pixels of ``image.copy().thumbnail(limit)`` (Pillow's defaults), computed here; ``image`` is unchanged.

    Parameters
    ----------
    image : a loaded Pillow image that :func:`supports` takes (mode RGB or L).
    limit : the bounding box (width, height).

    Returns
    -------
    (H, W, 3) uint8 for RGB, (H, W, 1) uint8 for L: a new array, equal to
    ``numpy.asarray`` of Pillow's thumbnail (reshaped to three dimensions).
    """
    if not supports(image):
        raise ValueError(f"resample takes mode {' or '.join(MODES)} images, not {image.mode}")
    width, height = image.size
    size = thumbnail_size(width, height, limit)
    channels = 3 if image.mode == "RGB" else 1
    if size is None or size == (width, height):  # left alone: Pillow's packed copy is the fastest way out
        array = np.asarray(image)
        return array.reshape(height, width, channels)
    factors = reduce_factors(width, height, size)
    source, box = image, (float(width), float(height))
    if factors != (1, 1):
        source, box = image.reduce(factors), (width / factors[0], height / factors[1])
    with pixels_of(source) as pixels:
        return resample(pixels, size, box)
