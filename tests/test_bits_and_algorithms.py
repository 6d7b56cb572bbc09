"""Packed bits round-trip to imagehash's text form; the classic hashes are imagehash's own."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from PIL import Image

from finder import algorithms
from finder.bits import from_hex, pack_bits, to_hex, unpack_bits
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


@pytest.mark.parametrize(
    "name,function",
    [("ahash", imagehash.average_hash), ("dhash", imagehash.dhash), ("phash", imagehash.phash), ("whash", imagehash.whash)],
)
def test_classic_algorithms_equal_imagehash(name, function):
    algorithm = algorithms.get(name)
    assert algorithm.bits == 64
    for row in golden_rows()[:8]:
        with Image.open(GOLDEN_DIR / row["file"]) as image:
            image.load()
            assert to_hex(algorithm.hash_image(image), 64) == str(function(image))


def test_registry_lookup():
    assert algorithms.get("FIND").bits == 256
    with pytest.raises(ValueError, match="choose from find, ahash"):
        algorithms.get("md5")
