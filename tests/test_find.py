"""FINd: bit-exact with the reference's golden hashes, and each stage against plain numpy."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from finder.algorithms import find
from finder.algorithms.bits import pack_bits, to_hex
from tests.conftest import GOLDEN_DIR, golden_rows, shared_dir
from tests.spec_find import spec_find_bits


def hash_file(path) -> str:
    with Image.open(path) as image:
        image.load()
        return to_hex(find.find_hash(image), 256)


@pytest.mark.parametrize("row", golden_rows(), ids=lambda r: f"{r['file']}-{r['width']}x{r['height']}-{r['transform']}")
def test_bundled_golden_rows_are_bit_exact(row):
    assert hash_file(GOLDEN_DIR / row["file"]) == row["find_hex"]


def test_bundled_golden_subset_covers_shapes_and_transforms():
    rows = golden_rows()
    shapes = {("square" if r["width"] == r["height"] else "wide" if int(r["width"]) > int(r["height"]) else "tall",
               max(int(r["width"]), int(r["height"])) > 512) for r in rows}
    assert len(shapes) == 6
    assert len({r["transform"] for r in rows}) >= 18
    assert {r["variant"] for r in rows} == {"reference", "corrected"}


@pytest.mark.skipif(shared_dir() is None, reason="../shared/corpus not present")
def test_whole_golden_file_is_bit_exact():
    corpus = shared_dir() / "corpus"
    with open(corpus / "find_golden.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 945
    wrong = [(r["path"], bin(int(hash_file(corpus / r["path"]), 16) ^ int(r["find_hex"], 16)).count("1"))
             for r in rows if hash_file(corpus / r["path"]) != r["find_hex"]]
    assert wrong == []


@pytest.mark.parametrize("size", [(1, 1), (3, 7), (64, 64), (65, 33), (40, 130), (129, 70), (100, 100)])
def test_kernel_equals_plain_python_spec_on_random_images(size):
    w, h = size
    rgb = np.random.default_rng(w * 1000 + h).integers(0, 256, (h, w, 3), dtype=np.uint8)
    rows = [[tuple(int(c) for c in rgb[y, x]) for x in range(w)] for y in range(h)]
    expected = pack_bits(np.array(spec_find_bits(rows)))
    assert np.array_equal(find.find_from_rgb(rgb, find.DCT), expected)


def test_luma_is_the_exact_weighted_sum():
    rgb = np.random.default_rng(1).integers(0, 256, (31, 17, 3), dtype=np.uint8)
    out = np.empty((31, 17))
    find.luma(rgb, out)
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    assert np.array_equal(out, (0.299 * r + 0.587 * g) + 0.114 * b)


def test_blur_samples_match_a_numpy_box_filter():
    rng = np.random.default_rng(2)
    h, w = 300, 200
    lum = rng.random((h, w)) * 255
    out = np.empty((64, 64))
    find.blur_samples(lum, out)
    half_y, half_x = (-(-h // 64) + 2) // 2, (-(-w // 64) + 2) // 2
    for i in range(0, 64, 7):
        for j in range(0, 64, 5):
            cy, cx = (2 * i + 1) * h // 128, (2 * j + 1) * w // 128
            window = lum[max(0, cy - half_y) : cy + half_y, max(0, cx - half_x) : cx + half_x]
            assert out[i, j] == pytest.approx(window.mean(), rel=1e-12)


def test_dct_matches_matrix_product():
    a = np.random.default_rng(3).random((64, 64)) * 255
    np.testing.assert_allclose(find.dct_16x16(a, find.DCT), find.DCT @ a @ find.DCT.T, rtol=1e-10, atol=1e-8)


def test_median_bits_set_exactly_the_upper_half_in_reversed_order():
    b = np.random.default_rng(4).permutation(256).astype(np.float64).reshape(16, 16)
    words = find.median_bits(b)
    expected_bits = (b.ravel() > 127)[::-1]
    assert np.array_equal(words, pack_bits(expected_bits))
    assert sum(bin(int(w)).count("1") for w in words) == 128


def test_find_hash_does_not_modify_the_image_and_thumbnails_large_ones():
    image = Image.new("RGB", (1000, 600), (10, 200, 30))
    before = image.tobytes()
    small = find.thumbnail(image)
    assert small.size == (512, 307) and image.size == (1000, 600)
    find.find_hash(image)
    assert image.tobytes() == before and image.size == (1000, 600)


def test_find_hash_converts_modes_like_pillow_convert():
    rgb = Image.fromarray(np.random.default_rng(5).integers(0, 256, (50, 80, 3), dtype=np.uint8))
    palette = rgb.convert("P")
    assert np.array_equal(find.find_hash(palette), find.find_hash(palette.convert("RGB")))
    grey = rgb.convert("L")
    assert np.array_equal(find.find_hash(grey), find.find_hash(grey.convert("RGB")))
