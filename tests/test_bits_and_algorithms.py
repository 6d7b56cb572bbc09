"""Packed bits round-trip to imagehash's text form; the classic hashes are imagehash's own."""

from __future__ import annotations

import pickle

import imagehash
import numpy as np
import pytest
from PIL import Image

from finder import algorithms
from finder.algorithms.base import run_stages
from finder.algorithms.bits import from_hex, pack_bits, to_hex, unpack_bits
from tests.conftest import GOLDEN_DIR, golden_rows


@pytest.mark.parametrize("nbits", [64, 256])
def test_packed_words_print_as_imagehash_text(nbits):
    rng = np.random.default_rng(nbits)
    side = int(nbits**0.5)
    for _ in range(20):
        bits = rng.random(nbits) < 0.5
        words = pack_bits(bits)
        assert words.dtype == np.uint64 and words.shape == (nbits // 64,)
        assert to_hex(words, nbits) == str(imagehash.ImageHash(bits.reshape(side, side)))
        assert np.array_equal(from_hex(to_hex(words, nbits), nbits), words)
        assert np.array_equal(unpack_bits(words, nbits), bits)


def test_first_bit_is_the_most_significant_bit_of_the_first_word():
    bits = np.zeros(64, dtype=bool)
    bits[0] = True
    assert int(pack_bits(bits)[0]) == 1 << 63


def test_pack_bits_2d_and_padding():
    bits = np.random.default_rng(0).random((5, 70)) < 0.5
    words = pack_bits(bits)
    assert words.shape == (5, 2)
    assert np.array_equal(unpack_bits(words, 70), bits)
    assert not unpack_bits(words, 128)[:, 70:].any()


def test_from_hex_rejects_wrong_length():
    with pytest.raises(ValueError, match="hex digits"):
        from_hex("abc", 64)


IMAGEHASH = {"ahash": imagehash.average_hash, "dhash": imagehash.dhash, "phash": imagehash.phash,
             "whash": imagehash.whash}


def odd_images() -> list[tuple[str, Image.Image]]:
    """Extreme shapes and the modes Pillow's ``convert("L")`` has to handle."""
    rng = np.random.default_rng(11)
    rgb = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8), "RGB")
    return [
        ("1x1", Image.new("RGB", (1, 1), (200, 10, 30))),
        ("3x2000", Image.fromarray(rng.integers(0, 256, (2000, 3), dtype=np.uint8), "L")),
        ("2000x3", Image.fromarray(rng.integers(0, 256, (3, 2000, 3), dtype=np.uint8), "RGB")),
        ("RGBA", Image.fromarray(rng.integers(0, 256, (40, 70, 4), dtype=np.uint8), "RGBA")),
        ("P", rgb.convert("P")),
        ("I;16", Image.frombytes("I;16", (33, 45), rng.integers(0, 65536, (45, 33), dtype="<u2").tobytes())),
        ("CMYK", rgb.convert("CMYK")),
        ("1", rgb.convert("1")),
        ("LA", rgb.convert("LA")),
    ]


def golden_images() -> list[tuple[str, Image.Image]]:
    images = []
    for row in golden_rows():
        with Image.open(GOLDEN_DIR / row["file"]) as image:
            image.load()
            images.append((row["file"], image.copy()))
    return images


@pytest.fixture(scope="module")
def test_images() -> list[tuple[str, Image.Image]]:
    return golden_images() + odd_images()


@pytest.mark.parametrize("name", list(IMAGEHASH))
def test_classic_stages_equal_imagehash_on_the_full_image(name, test_images):
    algorithm = algorithms.get(name)
    assert algorithm.bits == 64
    assert algorithm.stage_names == ("reduce", "hash") and algorithm.stages[0].prepare
    for label, image in test_images:
        before = (image.mode, image.size, image.tobytes())
        reduced = algorithm.stages[0].function(image)
        assert reduced.mode == "L", label
        expected = str(IMAGEHASH[name](image))
        assert to_hex(algorithm.stages[1].function(reduced), 64) == expected, label
        assert to_hex(algorithm.hash_image(image), 64) == expected, label
        assert (image.mode, image.size, image.tobytes()) == before, label


def test_classic_working_sizes():
    tall = Image.new("L", (3, 2000))
    assert algorithms.get("ahash").stages[0].function(tall).size == (8, 8)
    assert algorithms.get("dhash").stages[0].function(tall).size == (9, 8)
    assert algorithms.get("phash").stages[0].function(tall).size == (32, 32)
    assert algorithms.get("whash").stages[0].function(tall).size == (8, 8)
    assert algorithms.get("whash").stages[0].function(Image.new("L", (700, 300))).size == (256, 256)


@pytest.mark.parametrize("name", list(algorithms.ALGORITHMS))
def test_run_stages_times_every_stage_and_gives_the_hash(name):
    algorithm = algorithms.get(name)
    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (90, 130, 3), dtype=np.uint8), "RGB")
    words, seconds = run_stages(algorithm, image)
    assert words.dtype == np.uint64 and words.shape == (algorithm.words,)
    assert np.array_equal(words, algorithm.hash_image(image))
    assert tuple(seconds) == algorithm.stage_names
    assert all(v >= 0 for v in seconds.values())
    assert len(set(algorithm.stage_names)) == len(algorithm.stages)
    assert any(s.prepare for s in algorithm.stages) and not all(s.prepare for s in algorithm.stages)
    assert np.array_equal(pickle.loads(pickle.dumps(algorithm)).hash_image(image), words)  # spawn-safe


def test_registry_lookup():
    assert algorithms.get("FIND").bits == 256
    with pytest.raises(ValueError, match="choose from find, ahash"):
        algorithms.get("md5")
