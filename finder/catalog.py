"""The algorithms finder knows, as plain data: name, width, default threshold, description.

Kept free of imports so that reading a hash file, parsing options and
``finder --help`` never load the kernels (numba) that compute the hashes;
:mod:`finder.algorithms` attaches the functions to these records.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    name: str
    bits: int
    default_threshold: float
    description: str


# Default thresholds (normalised distance) are the best-F1 thresholds of `finder evaluate`
# on the shared near-duplicate corpus (945 images, 135 groups); see README, "Accuracy".
CATALOG: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("find", 256, 0.375, "FINd, FIN's 256-bit DCT hash"),
        Entry("ahash", 64, 0.05, "imagehash average_hash, 8x8"),
        Entry("dhash", 64, 0.22, "imagehash dhash, 8x8"),
        Entry("phash", 64, 0.25, "imagehash phash, 8x8"),
        Entry("whash", 64, 0.0625, "imagehash whash (haar), 8x8"),
    )
}
NAMES: tuple[str, ...] = tuple(CATALOG)


def entry(name: str) -> Entry:
    """The catalogue entry called ``name`` (case-insensitive); ValueError lists the known ones."""
    try:
        return CATALOG[name.lower()]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(CATALOG)}") from None
