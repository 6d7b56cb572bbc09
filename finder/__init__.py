"""finder: find near-duplicate images with perceptual hashes.

The library API, the same one the ``finder`` command uses::

    paths, problems = finder.find_images(["photos/"])
    hashes = finder.hash_paths(paths, ["find"], progress=True).hashset   # a HashSet
    hashes.save("hashes.npz"); hashes = finder.load("hashes.npz")
    pairs = finder.find_pairs(hashes, "find", threshold=0.39)
    groups = finder.cluster(hashes, "find", threshold=0.39, linkage="star")
    rules = finder.make_rules(hashes, ["find"])                      # each algorithm's default threshold
    groups = finder.find_groups(hashes, rules, verify=True)          # what `finder cluster --verify` groups

Names are imported on first use, so ``import finder`` (and ``finder --help``)
does not load numpy or numba.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    "find_images": "finder.io.files",
    "HashReport": "finder.store.update",
    "hash_paths": "finder.store.update",
    "HashSet": "finder.store.hashset",
    "load": "finder.store.hashset",
    "cluster": "finder.groups.build",
    "find_groups": "finder.groups.build",
    "make_rules": "finder.match.search",
    "find_pairs": "finder.match.search",
    "FinderError": "finder.errors",
    "HashSetError": "finder.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'finder' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
