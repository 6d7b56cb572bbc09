"""FINd: FIN's 256-bit perceptual hash, bit-exact with the reference.

The stages follow ``FIND_SPEC.md``: thumbnail to 512 px, luma, box blur,
decimate to 64x64, 16x16 DCT, median threshold.  Two observations make it fast:

* Only the 64x64 decimated samples of the blurred image are ever read, so the
  blur is evaluated at those 4096 points only (about 100 additions each for a
  512 px image), never for the whole image.
* Every floating-point sum keeps the reference's order (rows outer, columns
  inner; DCT terms with ``k`` ascending from 0.0), and numba does not contract
  multiply-add into FMA without ``fastmath``, so the result is the reference's
  bit for bit.

The hash is :data:`STAGES` run in order (the thumbnail of RGB and L images in
numba, bit-exact with Pillow's, see :mod:`finder.algorithms.resample`; other
modes' thumbnail and RGB conversion in Pillow; then one numba kernel per stage
over an explicit output buffer); ``finder bench`` times these same stages.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from PIL import Image

from finder import config
from finder.algorithms import resample
from finder.algorithms.base import Stage, apply_stages

config.prepare_numba_cache(__file__)

BITS = 256
THUMBNAIL = (512, 512)
GRID = 64  # the decimated image is GRID x GRID
FREQS = 16  # DCT coefficients kept per axis


def _dct_matrix() -> np.ndarray:
    """The 16x64 DCT-II basis, evaluated exactly as the reference does (unscaled)."""
    d = np.empty((FREQS, GRID), dtype=np.float64)
    for i in range(FREQS):
        for j in range(GRID):
            d[i, j] = math.cos(((math.pi / 2 / GRID) * (i + 1)) * (2 * j + 1))
    return d


DCT = _dct_matrix()


@njit(cache=True, nogil=True)
def luma(rgb: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    """Y = (0.299 R + 0.587 G) + 0.114 B in doubles, for an (H, W, 3) uint8 array into a C-contiguous ``out``.

    One flat loop over the pixels (it vectorises; the 3-D loop did not): each
    Y is the same expression as before, so the same double.
    """
    flat = np.ascontiguousarray(rgb).reshape(-1)
    target = out.reshape(-1)
    for k in range(target.size):
        target[k] = (0.299 * flat[3 * k] + 0.587 * flat[3 * k + 1]) + 0.114 * flat[3 * k + 2]


@njit(cache=True, nogil=True)
def blur_samples(lum: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    """The box-blurred image at the 64x64 decimation points only.

    Window ``ceil(size / 64)``, half window ``(win + 2) // 2``; the window spans
    ``[c - half, c + half)`` clipped to the image, summed rows outer, columns
    inner, in one running sum, then divided by the pixel count.  The 64 sums of
    a row of samples advance together, window row by window row (each sum
    still adds its own pixels in exactly that order), so the CPU overlaps
    their independent addition chains.
    """
    h, w = lum.shape
    half_y = ((h + 63) // 64 + 2) // 2
    half_x = ((w + 63) // 64 + 2) // 2
    n = out.shape[0]
    x0 = np.empty(n, dtype=np.int64)
    x1 = np.empty(n, dtype=np.int64)
    for j in range(n):
        cx = ((2 * j + 1) * w) // (2 * n)
        x0[j] = max(0, cx - half_x)
        x1[j] = min(w, cx + half_x)
    sums = np.empty(n)
    for i in range(n):
        cy = ((2 * i + 1) * h) // (2 * n)
        y0 = max(0, cy - half_y)
        y1 = min(h, cy + half_y)
        sums[:] = 0.0
        for yy in range(y0, y1):
            row = lum[yy]
            for j in range(n):
                s = sums[j]
                for xx in range(x0[j], x1[j]):
                    s += row[xx]
                sums[j] = s
        for j in range(n):
            out[i, j] = sums[j] / ((y1 - y0) * (x1[j] - x0[j]))


@njit(cache=True, nogil=True)
def dct_into(a: np.ndarray, d: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    """``out`` = D A D^T (16x16) through the scratch ``t`` = D A (16x64), each sum over k ascending from 0.0."""
    nf, ng = d.shape
    t[:, :] = 0.0
    for i in range(nf):
        for k in range(ng):
            dik = d[i, k]
            for j in range(ng):  # independent sums per j: vectorises, same order per sum
                t[i, j] += dik * a[k, j]
    for i in range(nf):
        for j in range(nf):
            s = 0.0
            for k in range(ng):
                s += t[i, k] * d[j, k]
            out[i, j] = s


@njit(cache=True, nogil=True)
def dct_16x16(a: np.ndarray, d: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """B = D A D^T with each sum over k ascending from 0.0 (the reference's order)."""
    nf, ng = d.shape
    b = np.empty((nf, nf))
    dct_into(a, d, np.empty((nf, ng)), b)
    return b


@njit(cache=True, nogil=True)
def median_bits(b: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """Bit (15-i, 15-j) = B[i, j] > lower median of B, packed into 4 uint64 words.

    The flattened bit vector is B's row-major order reversed; bit k goes to
    word k // 64, position 63 - k % 64 (see ``finder.algorithms.bits``).
    """
    flat = b.ravel()
    m = np.sort(flat)[flat.size // 2 - 1]
    nbits = flat.size
    words = np.zeros((nbits + 63) // 64, dtype=np.uint64)
    for k in range(nbits):
        if flat[nbits - 1 - k] > m:
            words[k // 64] |= np.uint64(1) << np.uint64(63 - k % 64)
    return words


def thumbnail(image: Image.Image) -> Image.Image:
    """Pillow's ``thumbnail((512, 512))`` with its defaults, without mutating ``image``."""
    if image.width <= THUMBNAIL[0] and image.height <= THUMBNAIL[1]:
        return image
    small = image.copy()
    small.thumbnail(THUMBNAIL)
    return small


def thumbnail_pixels(image: Image.Image) -> np.ndarray | Image.Image:
    """:func:`thumbnail`, as pixels: RGB and L images through :mod:`finder.algorithms.resample` (bit-exact with
    Pillow's thumbnail, about 4x faster on large images), any other mode through Pillow itself (an image)."""
    if resample.supports(image):
        return resample.thumbnail_array(image, THUMBNAIL)
    return thumbnail(image)


def to_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 array of ``image`` through Pillow's ``convert("RGB")``, as the reference does.

    Palette, alpha, CMYK, grey and 16-bit images all go through it; ``image`` is
    not modified.  An (H, W, 3) array is RGB already; an (H, W, 1) or (H, W)
    array is grey, and ``convert("RGB")`` of grey repeats it in every channel.
    """
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[2] == 3:
            return image
        grey = image.reshape(image.shape[0], image.shape[1], 1)
        return np.repeat(grey, 3, axis=2)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image)


def to_luma(rgb: np.ndarray) -> np.ndarray:
    """The (H, W) float64 luma of an (H, W, 3) uint8 array (kernel :func:`luma`)."""
    out = np.empty(rgb.shape[:2])
    luma(rgb, out)
    return out


def blur_decimate(lum: np.ndarray) -> np.ndarray:
    """The 64x64 decimated box blur of the luma (kernel :func:`blur_samples`)."""
    out = np.empty((GRID, GRID))
    blur_samples(lum, out)
    return out


def low_dct(samples: np.ndarray) -> np.ndarray:
    """The 16x16 low-frequency DCT of the 64x64 samples (kernel :func:`dct_into`)."""
    out = np.empty((FREQS, FREQS))
    dct_into(samples, DCT, np.empty((FREQS, GRID)), out)
    return out


#: FINd's pipeline, from a decoded image to 4 packed uint64 words.
STAGES = (
    Stage("thumbnail", thumbnail_pixels, prepare=True),
    Stage("rgb", to_rgb, prepare=True),
    Stage("luma", to_luma),
    Stage("blur_decimate", blur_decimate),
    Stage("dct", low_dct),
    Stage("median_bits", median_bits),
)


def find_from_rgb(rgb: np.ndarray, d: np.ndarray) -> np.ndarray:
    """FINd of an (H, W, 3) uint8 RGB array that is already thumbnailed, with DCT basis ``d``."""
    return median_bits(dct_16x16(blur_decimate(to_luma(rgb)), d))


def prepare(image: Image.Image) -> np.ndarray:
    """The kernels' input: thumbnail first, then RGB, as an (H, W, 3) uint8 array; ``image`` is not modified."""
    return to_rgb(thumbnail_pixels(image))


def find_hash(image: Image.Image) -> np.ndarray:
    """FINd hash of a decoded, fully loaded Pillow image, as 4 packed uint64 words."""
    return apply_stages(STAGES, image)
