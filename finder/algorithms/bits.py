"""Packed hash bits: the one bit order every part of finder uses.

A hash of ``bits`` bits is stored as ``words = ceil(bits / 64)`` unsigned 64-bit
integers.  Bit ``k`` of the hash (``k = 0`` is the first element of the boolean
vector, the most significant bit of the first hex digit of imagehash's text
form) lives in word ``k // 64`` at bit position ``63 - k % 64``.  Written as
16 hex digits each, the words therefore concatenate to exactly
``str(imagehash.ImageHash(bits))``: ``word[w] == int(hex[16*w : 16*w + 16], 16)``.
Hash widths that are not a multiple of 64 are padded with zero bits at the end.
"""

from __future__ import annotations

import numpy as np


def n_words(bits: int) -> int:
    """Number of uint64 words that hold ``bits`` bits."""
    return (bits + 63) // 64


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack booleans into uint64 words.

    Parameters
    ----------
    bits : array of bool, shape (bits,) or (n, bits)

    Returns
    -------
    uint64 array, shape (words,) or (n, words)
    """
    bits = np.asarray(bits, dtype=bool)
    single = bits.ndim == 1
    bits2 = np.atleast_2d(bits)
    n, nbits = bits2.shape
    padded = np.zeros((n, n_words(nbits) * 64), dtype=bool)
    padded[:, :nbits] = bits2
    words = np.packbits(padded, axis=1).view(">u8").astype(np.uint64)
    return words[0] if single else words


def unpack_bits(words: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint64 words to booleans of length ``bits``."""
    words = np.asarray(words, dtype=np.uint64)
    single = words.ndim == 1
    w2 = np.ascontiguousarray(np.atleast_2d(words).astype(">u8"))
    out = np.unpackbits(w2.view(np.uint8), axis=1)[:, :bits].astype(bool)
    return out[0] if single else out


def to_hex(words: np.ndarray, bits: int) -> str:
    """Text form of one packed hash: the same string as ``str(imagehash.ImageHash)``."""
    digits = (bits + 3) // 4
    full = "".join(f"{int(w):016x}" for w in np.asarray(words, dtype=np.uint64))
    return full[:digits]


def from_hex(text: str, bits: int) -> np.ndarray:
    """Parse the text form back into packed words (inverse of :func:`to_hex`)."""
    digits = (bits + 3) // 4
    if len(text) != digits:
        raise ValueError(f"expected {digits} hex digits for a {bits}-bit hash, got {len(text)}")
    padded = text.ljust(n_words(bits) * 16, "0")
    return np.array([int(padded[i : i + 16], 16) for i in range(0, len(padded), 16)], dtype=np.uint64)
