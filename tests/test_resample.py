"""finder.algorithms.resample against Pillow itself: the same thumbnail, pixel for pixel.

The independent computation is Pillow 13's own ``Image.thumbnail`` /
``Image.resize`` on the same image; FINd's golden hashes need exactly those
pixels.  Random noise is the hard case (every pixel rings and clips).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from finder.algorithms import find, resample
from tests.conftest import GOLDEN_DIR, golden_rows


def noise(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    """A random image of ``size`` in ``mode``: uniform noise with a few saturated blocks (clipping)."""
    w, h = size
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    pixels[: h // 3, : w // 3] = 255
    pixels[h // 2 :, w // 2 :: 2] = 0
    return Image.fromarray(pixels).convert(mode)


def pillow_thumbnail(image: Image.Image) -> np.ndarray:
    small = image.copy()
    small.thumbnail((512, 512))
    array = np.asarray(small)
    return array.reshape(array.shape[0], array.shape[1], -1)


# Sizes: within the limit, one side over it, 1-pixel lines, odd sizes, both orientations, and long strips that
# reach every reduce factor 1..8 on each axis (a strip keeps the test light: 8200 x 40 is 1 MB).
SIZES = [(1, 1), (5, 3), (512, 512), (513, 512), (512, 513), (700, 1), (1, 700), (1200, 2), (3, 1500),
         (1023, 767), (767, 1023), (1025, 1025), (2047, 1537), (1796, 1384), (1007, 1642), (600, 1400),
         (2100, 1500), (1500, 2100), (3100, 200), (200, 3100), (4200, 90), (90, 4200), (5200, 70), (70, 5200),
         (6200, 50), (50, 6200), (7200, 44), (44, 7200), (8200, 40), (40, 8200), (3000, 2000), (4100, 1030),
         (2069, 4150)]


def test_sizes_reach_every_reduce_factor_on_both_axes():
    factors = [resample.reduce_factors(w, h, resample.thumbnail_size(w, h) or (w, h)) for w, h in SIZES]
    assert {fx for fx, _ in factors} >= set(range(1, 9))
    assert {fy for _, fy in factors} >= set(range(1, 9))
    # (2069, 4150) tells the two readings of the pass-order rule apart: reduced 4x to 518 x 1038 pixels (box
    # 517.25 x 1037.5) for a 255 x 512 thumbnail, the rule on pixel sizes says horizontal first (526 is not more
    # than 2 x 263), the rule on the float box would say vertical first. Pillow agrees with the pixel sizes
    # (test_thumbnail_array_equals_pillow_thumbnail[2069x4150-*]).
    assert resample.thumbnail_size(2069, 4150) == (255, 512)
    assert resample.reduce_factors(2069, 4150, (255, 512)) == (4, 4)
    assert not resample.vertical_first((518, 1038), (255, 512))
    assert 1037.5 - 512 > 2 * (517.25 - 255)


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_thumbnail_array_equals_pillow_thumbnail(size, mode):
    image = noise(size, mode, seed=size[0] * 7 + size[1])
    expected = pillow_thumbnail(image)
    ours = resample.thumbnail_array(image)
    assert ours.shape == expected.shape
    assert np.array_equal(ours, expected)


def test_thumbnail_size_is_pillows_for_many_shapes():
    rng = np.random.default_rng(11)
    shapes = [(int(w), int(h)) for w, h in rng.integers(1, 5000, (300, 2))] + [(513, 1), (1, 513), (10000, 19)]
    for w, h in shapes:
        image = Image.new("1", (w, h))
        image.thumbnail((512, 512))
        assert (resample.thumbnail_size(w, h) or (w, h)) == image.size, (w, h)


@pytest.mark.parametrize("vertical", [False, True])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_pass_order_at_the_boundary_equals_pillow_resize(vertical, mode):
    # Pillow 13 resamples vertically first when the height loses more than twice the pixels the width loses;
    # at the boundary one pixel decides, and the two orders round differently on noise.
    ow, oh, w = 61, 47, 83
    h = oh + 2 * (w - ow) + (1 if vertical else 0)
    image = noise((w, h), mode, seed=h)
    assert resample.vertical_first((w, h), (ow, oh)) is vertical
    expected = np.asarray(image.resize((ow, oh), Image.Resampling.BICUBIC))
    with resample.pixels_of(image) as pixels:
        ours = resample.resample(pixels, (ow, oh), (w, h))
    assert np.array_equal(ours, expected.reshape(ours.shape))


@pytest.mark.parametrize(("size", "out"), [((40, 30), (40, 17)), ((40, 30), (23, 30)), ((40, 30), (40, 30)),
                                           ((40, 30), (90, 30)), ((40, 30), (40, 77)), ((17, 9), (50, 40))])
def test_single_passes_and_enlargements_equal_pillow_resize(size, out):
    image = noise(size, "RGB", seed=out[0])
    expected = np.asarray(image.resize(out, Image.Resampling.BICUBIC))
    with resample.pixels_of(image) as pixels:
        assert np.array_equal(resample.resample(pixels, out, size), expected)


def test_copy_path_equals_zero_copy_path(monkeypatch):
    images = [noise((1300, 900), "RGB", 1), noise((900, 1300), "L", 2), noise((4100, 1030), "RGB", 3)]
    direct = [resample.thumbnail_array(image) for image in images]
    with resample.pixels_of(images[0]) as pixels:
        assert pixels.shape == (900, 1300, 4) and not pixels.flags.writeable
        assert np.array_equal(pixels[:, :, :3], np.asarray(images[0]))
    monkeypatch.setattr(resample, "_arrow_view", lambda image: None)
    for image, expected in zip(images, direct):
        assert np.array_equal(resample.thumbnail_array(image), expected)


@pytest.mark.parametrize("row", golden_rows(), ids=lambda r: r["file"])
def test_every_bundled_golden_image(row):
    with Image.open(GOLDEN_DIR / row["file"]) as image:
        image.load()
        expected = np.asarray(find.thumbnail(image).convert("RGB"))
        assert np.array_equal(find.to_rgb(find.thumbnail_pixels(image)), expected)
        if resample.supports(image):
            assert np.array_equal(resample.thumbnail_array(image), pillow_thumbnail(image))


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "CMYK", "1", "I"])
def test_other_modes_go_through_pillow_and_reach_the_same_rgb(mode):
    image = noise((900, 600), mode, seed=5)
    assert not resample.supports(image)
    with pytest.raises(ValueError, match="mode"):
        resample.thumbnail_array(image)
    expected = np.asarray(find.thumbnail(image).convert("RGB"))
    assert np.array_equal(find.to_rgb(find.thumbnail_pixels(image)), expected)


def test_the_image_is_not_modified_and_results_are_new_arrays():
    image = noise((1000, 700), "RGB", 9)
    before = image.tobytes()
    first = resample.thumbnail_array(image)
    second = resample.thumbnail_array(image)
    assert image.tobytes() == before and image.size == (1000, 700)
    assert np.array_equal(first, second) and not np.shares_memory(first, second)


def test_luma_and_blur_kernels_keep_the_reference_order_exactly():
    # luma: the spec's expression per pixel; blur: each sample's sum rows outer, columns inner, from 0.0.
    rgb = np.random.default_rng(3).integers(0, 256, (70, 130, 3), dtype=np.uint8)
    lum = find.to_luma(rgb)
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    assert np.array_equal(lum, (0.299 * r + 0.587 * g) + 0.114 * b)
    assert np.array_equal(find.to_luma(rgb[:, ::-1]), lum[:, ::-1])  # a non-contiguous input
    h, w = lum.shape
    half_y, half_x = (-(-h // 64) + 2) // 2, (-(-w // 64) + 2) // 2
    out = find.blur_decimate(lum)
    for i in range(64):
        cy = (2 * i + 1) * h // 128
        y0, y1 = max(0, cy - half_y), min(h, cy + half_y)
        for j in range(64):
            cx = (2 * j + 1) * w // 128
            x0, x1 = max(0, cx - half_x), min(w, cx + half_x)
            s = 0.0
            for yy in range(y0, y1):
                for xx in range(x0, x1):
                    s += float(lum[yy, xx])
            assert out[i, j] == s / ((y1 - y0) * (x1 - x0))
