"""Sidecar caches beside a hash file (``NAME.features.npz``, ``NAME.looks.npz``): read safely, written atomically.

A sidecar holds what is costly to compute per file and cheap to keep, keyed by path with the size and mtime
of the file it was computed from.  It is only a cache: a missing file is empty, one made with other
settings or damaged is recomputed; but a file at that path that is not a cache of this kind is an error,
so that saving cannot destroy it.  Reading never unpickles (:mod:`finder.io.npzsafe`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from finder.errors import FinderError


def path_beside(hashfile: str | os.PathLike, kind: str) -> str:
    """``NAME.KIND.npz`` beside the hash file ``NAME.npz``."""
    path = os.fspath(hashfile)
    stem = path[:-4] if path.lower().endswith(".npz") else path
    return f"{stem}.{kind}.npz"


def entry_arrays(entries: dict[str, tuple[int, int, Any]]) -> tuple[list[Any], dict[str, np.ndarray]]:
    """The values of ``entries`` (path -> (size, mtime_ns, value)) in path order, and the arrays that key
    them: ``paths``, ``path_offsets``, ``size``, ``mtime_ns``."""
    from finder.store.hashset import encode_paths

    paths = sorted(entries)
    items = [entries[p] for p in paths]
    blob, offsets = encode_paths(paths)
    return [value for _, _, value in items], {
        "paths": blob, "path_offsets": offsets,
        "size": np.array([size for size, _, _ in items], np.int64),
        "mtime_ns": np.array([mtime for _, mtime, _ in items], np.int64)}


def read_keys(npz: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The paths, sizes and mtimes :func:`entry_arrays` wrote (shapes checked)."""
    from finder.store.hashset import decode_paths

    offsets = npz.read("path_offsets", "u", (None,))
    n = len(offsets) - 1
    paths = [str(p) for p in decode_paths(npz.read("paths", "u", (None,)), offsets)]
    return paths, npz.read("size", "i", (n,)), npz.read("mtime_ns", "i", (n,))


def load(path: str, format_name: str, settings: dict, read: Callable[[Any], None],
         error: type[FinderError], what: str) -> bool:
    """Read the sidecar at ``path`` with ``read(npz)`` when it is ``format_name`` made with ``settings``.

    Returns whether the cache must be written again (other settings, or damaged: nothing was read).
    Raises ``error`` for a file that is not such a cache (``what`` names it in the message) or that cannot
    be read at all.
    """
    from finder.errors import HashSetError
    from finder.io.npzsafe import ZIP_MAGIC, SafeNpz

    if not os.path.exists(path):
        return False
    foreign = error(f"{path} is not a finder {what}; move it away")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    if magic != ZIP_MAGIC:
        raise foreign
    try:
        with SafeNpz(path) as npz:
            if "format" not in npz or str(npz.read("format", "U", ())) != format_name:
                raise foreign
            stored = json.loads(npz.read("settings", "u", (None,)).tobytes().decode())
            if stored != settings:
                return True
            read(npz)
    except (HashSetError, ValueError, UnicodeDecodeError):
        return True  # our file, but damaged: recompute everything
    return False


def save(path: str, format_name: str, settings: dict, arrays: dict[str, np.ndarray], error: type[FinderError],
         what: str) -> None:
    """Write the sidecar atomically (temp file + rename): its marker, its settings, and ``arrays``."""
    from finder.io.atomic import atomic_write

    record = {"format": np.array(format_name),
              "settings": np.frombuffer(json.dumps(settings, sort_keys=True).encode(), np.uint8), **arrays}
    try:
        with atomic_write(path) as handle:
            np.savez(handle, **record)  # type: ignore[arg-type]  # numpy's stub types the first keyword
    except OSError as exc:
        raise error(f"cannot write the {what} {path}: {exc.strerror or exc}") from None
