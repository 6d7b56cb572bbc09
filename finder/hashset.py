"""The HashSet value and its versioned ``.npz`` file format.

A HashSet holds, for ``n`` files, their paths, one packed hash array
``uint64[n, words]`` per algorithm (bit order in ``finder.bits``), each file's
size and mtime (for incremental re-runs), the files that failed and why, and
provenance.  Files are written atomically and loaded without pickle.
"""

from __future__ import annotations

import datetime as _dt
import zipfile
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import PIL

from finder import __version__
from finder.atomic import atomic_write
from finder.bits import n_words, to_hex
from finder.decode import FileError

FORMAT_NAME = "finder.hashset"
FORMAT_VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"
META_KEYS = ("finder_version", "pillow_version", "numpy_version", "created")


class HashSetError(ValueError):
    """A file that is missing, malformed, or not a finder hash file."""


def _text_array(values: Iterable[str]) -> np.ndarray:
    values = list(values)
    return np.array(values, dtype=str) if values else np.zeros(0, dtype="U1")


@dataclass
class HashSet:
    """Hashes of a set of image files.

    Attributes
    ----------
    paths : str array, shape (n,)
    hashes : dict of algorithm name -> uint64 array, shape (n, words)
    bits : dict of algorithm name -> hash width in bits
    size, mtime_ns : int64 arrays, shape (n,)
        File size and modification time when hashed (for incremental runs).
    errors : list of FileError
        Files that were skipped, with the reason.
    exif_transpose : bool
        Whether EXIF orientation was applied before hashing.
    meta : dict of str -> str
        finder, Pillow and numpy versions and the creation time (UTC, ISO 8601).
    """

    paths: np.ndarray
    hashes: dict[str, np.ndarray]
    bits: dict[str, int]
    size: np.ndarray
    mtime_ns: np.ndarray
    errors: list[FileError] = field(default_factory=list)
    exif_transpose: bool = True
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.paths = _text_array(self.paths) if not isinstance(self.paths, np.ndarray) else self.paths
        n = len(self.paths)
        if set(self.hashes) != set(self.bits):
            raise HashSetError("hashes and bits name different algorithms")
        for name, words in self.hashes.items():
            if words.dtype != np.uint64 or words.shape != (n, n_words(self.bits[name])):
                raise HashSetError(
                    f"hash array {name!r} must be uint64[{n}, {n_words(self.bits[name])}], "
                    f"got {words.dtype}{list(words.shape)}"
                )
        if self.size.shape != (n,) or self.mtime_ns.shape != (n,):
            raise HashSetError("size and mtime_ns must have one entry per path")

    @classmethod
    def empty(cls, bits: dict[str, int], exif_transpose: bool = True) -> "HashSet":
        """A HashSet with no files for algorithms of the given widths."""
        return cls(paths=np.zeros(0, dtype="U1"), hashes={a: np.zeros((0, n_words(b)), np.uint64) for a, b in bits.items()},
                   bits=dict(bits), size=np.zeros(0, np.int64), mtime_ns=np.zeros(0, np.int64),
                   exif_transpose=exif_transpose)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def algorithms(self) -> list[str]:
        return list(self.hashes)

    def hex(self, algorithm: str, index: int) -> str:
        """Text form of one hash, identical to ``str(imagehash.ImageHash)``."""
        return to_hex(self.hashes[algorithm][index], self.bits[algorithm])

    def take(self, indices: np.ndarray) -> "HashSet":
        """A HashSet of the rows ``indices`` (errors and metadata kept)."""
        return HashSet(
            paths=self.paths[indices],
            hashes={a: h[indices] for a, h in self.hashes.items()},
            bits=dict(self.bits),
            size=self.size[indices],
            mtime_ns=self.mtime_ns[indices],
            errors=list(self.errors),
            exif_transpose=self.exif_transpose,
            meta=dict(self.meta),
        )

    def save(self, path: str) -> None:
        """Write the ``.npz`` file atomically (temporary file + rename in the same directory)."""
        meta = {
            "finder_version": __version__,
            "pillow_version": PIL.__version__,
            "numpy_version": np.__version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        arrays: dict[str, np.ndarray] = {
            "format": np.array(FORMAT_NAME),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "algorithms": _text_array(self.algorithms),
            "bits": np.array([self.bits[a] for a in self.algorithms], dtype=np.int64),
            "paths": self.paths,
            "size": self.size.astype(np.int64),
            "mtime_ns": self.mtime_ns.astype(np.int64),
            "error_paths": _text_array(e.path for e in self.errors),
            "error_reasons": _text_array(e.reason for e in self.errors),
            "exif_transpose": np.array(self.exif_transpose),
        }
        arrays.update({f"hash_{a}": self.hashes[a] for a in self.algorithms})
        arrays.update({k: np.array(v) for k, v in meta.items()})
        with atomic_write(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        self.meta = meta


def _require(arrays: dict, key: str, kind: str, ndim: int) -> np.ndarray:
    if key not in arrays:
        raise HashSetError(f"missing array {key!r}")
    value = arrays[key]
    if value.dtype.kind != kind or value.ndim != ndim:
        raise HashSetError(f"array {key!r} has dtype {value.dtype} and {value.ndim} dimensions")
    return value


def load(path: str) -> HashSet:
    """Read a hash file written by :meth:`HashSet.save`.

    Never unpickles.  Raises HashSetError with a one-line reason for a missing,
    truncated, foreign, pickled or otherwise malformed file.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != ZIP_MAGIC:
                raise HashSetError(f"{path}: not a finder hash file (not an .npz archive)")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except HashSetError:
        raise
    except FileNotFoundError:
        raise HashSetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HashSetError(f"{path}: is a directory") from None
    except PermissionError:
        raise HashSetError(f"{path}: permission denied") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise HashSetError(f"{path}: not a finder hash file ({exc})") from None
    if "format" not in arrays or str(arrays["format"]) != FORMAT_NAME:
        raise HashSetError(f"{path}: not a finder hash file (no '{FORMAT_NAME}' marker)")
    try:
        version = int(_require(arrays, "format_version", "i", 0))
        if version != FORMAT_VERSION:
            raise HashSetError(f"format version {version} is not supported (this finder reads {FORMAT_VERSION})")
        names = [str(a) for a in _require(arrays, "algorithms", "U", 1)]
        bits = [int(b) for b in _require(arrays, "bits", "i", 1)]
        if len(bits) != len(names):
            raise HashSetError("'algorithms' and 'bits' differ in length")
        error_paths = _require(arrays, "error_paths", "U", 1)
        error_reasons = _require(arrays, "error_reasons", "U", 1)
        if len(error_paths) != len(error_reasons):
            raise HashSetError("'error_paths' and 'error_reasons' differ in length")
        return HashSet(
            paths=_require(arrays, "paths", "U", 1),
            hashes={a: _require(arrays, f"hash_{a}", "u", 2) for a in names},
            bits=dict(zip(names, bits)),
            size=_require(arrays, "size", "i", 1),
            mtime_ns=_require(arrays, "mtime_ns", "i", 1),
            errors=[FileError(str(p), str(r)) for p, r in zip(error_paths, error_reasons)],
            exif_transpose=bool(_require(arrays, "exif_transpose", "b", 0)),
            meta={k: str(arrays[k]) for k in META_KEYS if k in arrays},
        )
    except HashSetError as exc:
        raise HashSetError(f"{path}: malformed finder hash file: {exc}") from None
