"""finder: find near-duplicate images with perceptual hashes.

The library API, the same one the ``finder`` command uses::

    paths, problems = finder.find_images(["photos/"])
    hashes = finder.hash_paths(paths, ["find"]).hashset     # a HashSet
    hashes.save("hashes.npz"); hashes = finder.load("hashes.npz")
    pairs = finder.find_pairs(hashes, "find", threshold=0.39)
    groups = finder.cluster(hashes, "find", threshold=0.39, linkage="star")
"""

__version__ = "0.1.0"

from finder.files import find_images  # noqa: E402
from finder.hashing import HashReport, hash_paths  # noqa: E402
from finder.hashset import HashSet, HashSetError, load  # noqa: E402
from finder.matching import cluster, find_pairs  # noqa: E402

__all__ = ["HashReport", "HashSet", "HashSetError", "cluster", "find_images", "find_pairs", "hash_paths", "load"]
