"""The HashSet value and its versioned ``.npz`` file format (format 2).

A HashSet describes ``n`` hashed files and, per algorithm, any number of hash
*rows*: each row belongs to one file (``owner``) and is the hash of one *view*
of it (``view``: the image as decoded, and later its mirror, its content box
...).  Every hashed file has exactly one ``plain`` row per algorithm.

On disk (all plain arrays, ``np.load(path, allow_pickle=False)`` reads them):

==================  ======================  ==========================================
key                 dtype, shape            meaning
==================  ======================  ==========================================
``format``          str scalar              ``"finder.hashset"``
``format_version``  int64 scalar            ``2``
``settings``        uint8 ``[bytes]``       UTF-8 JSON: see :data:`RUN_KEYS`, versions
``paths``           uint8 ``[bytes]``       every file's path (UTF-8, ``surrogateescape``), concatenated
``path_offsets``    uint64 ``[N + 1]``      path ``k`` is ``paths[off[k]:off[k + 1]]``
``size``            int64 ``[N]``           file size in bytes when hashed
``mtime_ns``        int64 ``[N]``           modification time, ns
``device``          uint64 ``[N]``          ``st_dev``
``inode``           uint64 ``[N]``          ``st_ino``
``status``          uint8 ``[N]``           0 hashed, 1 skipped with an error
``reasons``         uint8 ``[bytes]``       the skipped files' reasons, concatenated
``reason_offsets``  uint64 ``[E + 1]``      one per status-1 file, in file order
``hash_<a>``        uint64 ``[R, words]``   packed bits (``finder.algorithms.bits``)
``owner_<a>``       int64 ``[R]``           file index of each row (into the hashed files)
``view_<a>``        uint8 ``[R]``           index into ``settings["view_names"]``
``quality_<a>``     uint8 ``[R]``           PDQ-style quality 0-100 of the row's view (``finder.views``)
==================  ======================  ==========================================

Format 1 files (fixed-width unicode ``paths``, one row per file) are read and
written back as format 2 on the next save.  Loading never unpickles, reads only
the members it needs, and checks every header before decompressing
(:mod:`finder.io.npzsafe`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast, overload

import numpy as np

from finder import __version__
from finder.algorithms import ALGORITHMS
from finder.algorithms.bits import n_words, to_hex
from finder.errors import HashSetError
from finder.io.atomic import atomic_write
from finder.io.npzsafe import SafeNpz
from finder.views import QUALITY_UNKNOWN, VIEW_NAMES

if TYPE_CHECKING:  # finder.io.decode imports Pillow, which reading a hash file does not need
    from finder.io.decode import FileError

FORMAT_NAME = "finder.hashset"  # the file format's marker, not the module's name: never change it
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
STATUS_HASHED = 0
STATUS_ERROR = 1
# The decode policy of a store that records none (made before finder decoded at reduced size: full);
# finder.store.update.hash_paths records the policy of its run ("reduced" by default).
DECODE_POLICY = "full"
# The settings a store was made with; a run with other values may not reuse its hashes.
RUN_KEYS = ("algorithms", "bits", "exif_transpose", "decode", "views")
MAX_ALGORITHMS = 64
MAX_SETTINGS_BYTES = 1 << 20

__all__ = ["HashSet", "HashSetError", "PathColumn", "load", "FORMAT_VERSION", "encode_paths", "decode_paths"]


def encode_paths(paths: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Paths to (uint8 bytes concatenated, uint64 offsets of length n + 1); any POSIX name round-trips."""
    encoded = [os.fsencode(p) for p in paths]
    offsets = np.zeros(len(encoded) + 1, dtype=np.uint64)
    if encoded:
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def decode_paths(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_paths`: an object array of ``str`` (undecodable bytes as surrogates)."""
    data = blob.tobytes()
    bounds = offsets.tolist()
    out = np.empty(len(bounds) - 1, dtype=object)
    for k in range(len(bounds) - 1):
        out[k] = os.fsdecode(data[bounds[k]:bounds[k + 1]])
    return out


class PathColumn:
    """File paths held as the file format holds them: one byte string and ``n + 1`` offsets.

    About 55 bytes a path at 10^7 files, where an object array of ``str`` takes about 110 and makes a Python
    object per file.  ``column[k]`` is a ``str``; a slice, a boolean mask or an index array gives an object
    array of ``str`` (for the few files a group or a page shows); iterating yields ``str``; ``np.asarray``
    decodes them all.  Names that are not UTF-8 round-trip as surrogates (``os.fsdecode``).
    """

    __slots__ = ("blob", "offsets")

    def __init__(self, blob: np.ndarray, offsets: np.ndarray) -> None:
        self.blob = np.ascontiguousarray(blob, dtype=np.uint8)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.uint64)

    @classmethod
    def of(cls, paths: Iterable[Any]) -> PathColumn:
        return cls(*encode_paths(str(p) for p in paths))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def _one(self, k: int) -> str:
        return os.fsdecode(self.blob[int(self.offsets[k]):int(self.offsets[k + 1])].tobytes())

    @overload
    def __getitem__(self, key: int | np.integer) -> str: ...

    @overload
    def __getitem__(self, key: slice | np.ndarray | Sequence[int]) -> np.ndarray: ...

    def __getitem__(self, key: Any) -> Any:
        n = len(self)
        if isinstance(key, int | np.integer):
            k = int(key) + (n if key < 0 else 0)
            if not 0 <= k < n:
                raise IndexError(f"path index {int(key)} out of range for {n} paths")
            return self._one(k)
        indices = self._indices(key)
        out = np.empty(len(indices), dtype=object)
        for m, k in enumerate(indices.tolist()):
            out[m] = self._one(k)
        return out

    def _indices(self, key: Any) -> np.ndarray:
        n = len(self)
        if isinstance(key, slice):
            return np.arange(*key.indices(n), dtype=np.int64)
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (n,):
                raise IndexError(f"boolean index of shape {key.shape} for {n} paths")
            return np.flatnonzero(key)
        indices = key.astype(np.int64).reshape(-1)
        indices = np.where(indices < 0, indices + n, indices)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"path index out of range for {n} paths")
        return indices

    def take(self, key: Any) -> PathColumn:
        """The paths at ``key`` (indices, mask or slice) as a new column, gathered without decoding."""
        indices = self._indices(key)
        starts = self.offsets[:-1][indices].astype(np.int64)
        lengths = (self.offsets[1:][indices] - self.offsets[:-1][indices]).astype(np.int64)
        offsets = np.zeros(len(indices) + 1, dtype=np.uint64)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        # Byte p of the new blob comes from start[k] + (p - new offset[k]) of the old one, k its path.
        gather = np.repeat(starts - offsets[:-1].astype(np.int64), lengths) + np.arange(total, dtype=np.int64)
        return PathColumn(self.blob[gather], offsets)

    def __iter__(self) -> Iterator[str]:
        data, bounds = self.blob.data, self.offsets.tolist()
        for k in range(len(bounds) - 1):
            yield os.fsdecode(bytes(data[bounds[k]:bounds[k + 1]]))

    def tolist(self) -> list[str]:
        return list(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = decode_paths(self.blob, self.offsets)
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"PathColumn({len(self)} paths, {self.blob.nbytes:,} bytes)"

    @property
    def nbytes(self) -> int:
        return int(self.blob.nbytes + self.offsets.nbytes)


def default_settings(bits: dict[str, int], exif_transpose: bool = True) -> dict[str, Any]:
    """The run settings of a store of plain hashes made by this finder."""
    return {"algorithms": list(bits), "bits": dict(bits), "exif_transpose": bool(exif_transpose),
            "decode": DECODE_POLICY, "views": ["plain"]}


@dataclass
class HashSet:
    """Hashes of a set of image files.

    Attributes
    ----------
    paths : PathColumn, n paths (any sequence of str is accepted and stored as one)
        Hashed files, sorted (by their bytes); absolute resolved paths when made by ``finder hash``.
    hashes : dict of algorithm -> uint64 array, shape (rows, words)
    bits : dict of algorithm -> hash width in bits
    size, mtime_ns : int64 arrays, shape (n,)
        File size and modification time of the bytes that were hashed.
    device, inode : uint64 arrays, shape (n,)
        The file's identity (0 where unknown, e.g. read from format 1).
    owner : dict of algorithm -> int64 array, shape (rows,)
        The file each hash row belongs to; default one row per file.
    view : dict of algorithm -> uint8 array, shape (rows,)
        Which view of the file each row hashes (index into ``view_names``).
    errors : list of FileError
        Files that were skipped, with the reason.
    settings : dict
        Run settings (``RUN_KEYS``) plus provenance written on save.
    """

    paths: PathColumn
    hashes: dict[str, np.ndarray]
    bits: dict[str, int]
    size: np.ndarray
    mtime_ns: np.ndarray
    device: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    inode: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    owner: dict[str, np.ndarray] = field(default_factory=dict)
    view: dict[str, np.ndarray] = field(default_factory=dict)
    quality: dict[str, np.ndarray] = field(default_factory=dict)
    errors: list[FileError] = field(default_factory=list)
    exif_transpose: bool = True
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.paths, PathColumn):
            self.paths = PathColumn.of(self.paths)
        n = len(self.paths)
        if set(self.hashes) != set(self.bits):
            raise HashSetError("hashes and bits name different algorithms")
        self.size = np.asarray(self.size, dtype=np.int64)
        self.mtime_ns = np.asarray(self.mtime_ns, dtype=np.int64)
        self.device = np.asarray(self.device, np.uint64) if len(self.device) or not n else np.zeros(n, np.uint64)
        self.inode = np.asarray(self.inode, np.uint64) if len(self.inode) or not n else np.zeros(n, np.uint64)
        for label, column in (("size", self.size), ("mtime_ns", self.mtime_ns), ("device", self.device),
                              ("inode", self.inode)):
            if column.shape != (n,):
                raise HashSetError(f"{label} must have one entry per path")
        for name, words in self.hashes.items():
            rows = len(words)
            if words.dtype != np.uint64 or words.ndim != 2 or words.shape[1] != n_words(self.bits[name]):
                raise HashSetError(f"hash array {name!r} must be uint64[rows, {n_words(self.bits[name])}], "
                                   f"got {words.dtype}{list(words.shape)}")
            if name not in self.owner:
                if rows != n:
                    raise HashSetError(f"hash array {name!r} has {rows} rows for {n} files and no owner column")
                self.owner[name] = np.arange(n, dtype=np.int64)
            self.owner[name] = np.asarray(self.owner[name], dtype=np.int64)
            self.view.setdefault(name, np.zeros(rows, np.uint8))
            self.view[name] = np.asarray(self.view[name], dtype=np.uint8)
            self.quality.setdefault(name, np.full(rows, QUALITY_UNKNOWN, np.uint8))
            self.quality[name] = np.asarray(self.quality[name], dtype=np.uint8)
            if any(c[name].shape != (rows,) for c in (self.owner, self.view, self.quality)):
                raise HashSetError(f"owner, view and quality of {name!r} must have one entry per hash row")
            if rows and (self.owner[name].min() < 0 or self.owner[name].max() >= n):
                raise HashSetError(f"owner column of {name!r} points outside the {n} files")
            if rows > 1 and np.any(np.diff(self.owner[name]) < 0):  # keep each file's rows together, in file order
                order = np.argsort(self.owner[name], kind="stable")
                self.hashes[name], self.owner[name] = words[order], self.owner[name][order]
                self.view[name], self.quality[name] = self.view[name][order], self.quality[name][order]
        base = default_settings(self.bits, self.exif_transpose)
        base.update(self.settings)
        base["algorithms"], base["bits"] = list(self.bits), dict(self.bits)
        self.settings = base
        self.exif_transpose = bool(self.settings["exif_transpose"])

    @classmethod
    def empty(cls, bits: dict[str, int], exif_transpose: bool = True, settings: dict | None = None) -> HashSet:
        """A HashSet with no files for algorithms of the given widths."""
        return cls(paths=PathColumn.of(()),
                   hashes={a: np.zeros((0, n_words(b)), np.uint64) for a, b in bits.items()},
                   bits=dict(bits), size=np.zeros(0, np.int64), mtime_ns=np.zeros(0, np.int64),
                   exif_transpose=exif_transpose, settings=dict(settings or {}))

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def algorithms(self) -> list[str]:
        return list(self.hashes)

    @property
    def meta(self) -> dict[str, str]:
        """Provenance recorded on save (versions, creation time)."""
        return {k: str(v) for k, v in self.settings.items() if k.endswith("_version") or k == "created"}

    def run_settings(self) -> dict[str, Any]:
        """The settings that decide whether another run may reuse these hashes."""
        return {k: self.settings.get(k) for k in RUN_KEYS}

    def plain(self, algorithm: str) -> np.ndarray:
        """One row per file, in file order: the hash of each file as decoded, uint64[n, words]."""
        words, owner, view = self.hashes[algorithm], self.owner[algorithm], self.view[algorithm]
        if len(words) == len(self) and not view.any() and np.array_equal(owner, np.arange(len(self))):
            return words
        rows = np.flatnonzero(view == 0)
        out = np.zeros((len(self), words.shape[1]), np.uint64)
        out[owner[rows]] = words[rows]
        return out

    def file_quality(self, algorithm: str) -> np.ndarray:
        """The quality of each file's plain row, uint8[n] (finder.views)."""
        rows = np.flatnonzero(self.view[algorithm] == 0)
        out = np.full(len(self), QUALITY_UNKNOWN, np.uint8)
        out[self.owner[algorithm][rows]] = self.quality[algorithm][rows]
        return out

    def hex(self, algorithm: str, index: int) -> str:
        """Text form of file ``index``'s plain hash, identical to ``str(imagehash.ImageHash)``."""
        return to_hex(self.plain(algorithm)[index], self.bits[algorithm])

    def take(self, indices: Sequence[int] | np.ndarray) -> HashSet:
        """A HashSet of the files ``indices`` (in that order) with all their rows; errors and settings kept."""
        indices = np.asarray(indices, dtype=np.int64)
        new_index = np.full(len(self), -1, dtype=np.int64)
        new_index[indices] = np.arange(len(indices))
        hashes, owner, view, quality = {}, {}, {}, {}
        for name in self.algorithms:
            mapped = new_index[self.owner[name]]
            rows = np.flatnonzero(mapped >= 0)
            rows = rows[np.argsort(mapped[rows], kind="stable")]
            hashes[name], owner[name], view[name] = self.hashes[name][rows], mapped[rows], self.view[name][rows]
            quality[name] = self.quality[name][rows]
        return HashSet(paths=self.paths.take(indices), hashes=hashes, bits=dict(self.bits), size=self.size[indices],
                       mtime_ns=self.mtime_ns[indices], device=self.device[indices], inode=self.inode[indices],
                       owner=owner, view=view, quality=quality, errors=list(self.errors),
                       exif_transpose=self.exif_transpose,
                       settings=dict(self.settings))

    def save(self, path: str | os.PathLike) -> None:
        """Write the format-2 ``.npz`` atomically (temporary file + rename in the same directory)."""
        settings = dict(self.settings)
        settings.update({
            "format_version": FORMAT_VERSION,
            "finder_version": __version__,
            "pillow_version": _pillow_version(),
            "numpy_version": np.__version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "view_names": list(VIEW_NAMES),
            "files": len(self) + len(self.errors),
            "rows": {a: int(len(self.hashes[a])) for a in self.algorithms},
        })
        errors = list(self.errors)
        error_blob, error_offsets = encode_paths(e.path for e in errors)
        blob = np.concatenate([self.paths.blob, error_blob])
        offsets = np.concatenate([self.paths.offsets, error_offsets[1:] + self.paths.offsets[-1]])
        reasons, reason_offsets = encode_paths(e.reason for e in errors)
        zeros = np.zeros(len(errors), np.int64)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(FORMAT_NAME),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "settings": np.frombuffer(json.dumps(settings, sort_keys=True).encode(), dtype=np.uint8),
            "paths": blob,
            "path_offsets": offsets,
            "size": np.concatenate([self.size, zeros]),
            "mtime_ns": np.concatenate([self.mtime_ns, zeros]),
            "device": np.concatenate([self.device, zeros.astype(np.uint64)]),
            "inode": np.concatenate([self.inode, zeros.astype(np.uint64)]),
            "status": np.concatenate([np.full(len(self), STATUS_HASHED, np.uint8),
                                      np.full(len(errors), STATUS_ERROR, np.uint8)]),
            "reasons": reasons,
            "reason_offsets": reason_offsets,
        }
        for a in self.algorithms:
            arrays[f"hash_{a}"] = np.ascontiguousarray(self.hashes[a])
            arrays[f"owner_{a}"] = self.owner[a]
            arrays[f"view_{a}"] = self.view[a]
            arrays[f"quality_{a}"] = self.quality[a]
        with atomic_write(path, "wb") as handle:
            np.savez_compressed(handle, **cast(dict[str, Any], arrays))
        self.settings = settings


def is_hash_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a finder hash file (an ``.npz`` with finder's format marker)."""
    try:
        with SafeNpz(os.fspath(path)) as npz:
            return "format" in npz and npz.read("format", "U", ()).item() == FORMAT_NAME
    except HashSetError:
        return False


def _pillow_version() -> str:
    import PIL

    return str(PIL.__version__)


def _scalar(npz: SafeNpz, key: str, kinds: str) -> Any:
    return npz.read(key, kinds, ()).item()


def _check_algorithms(bits: dict[str, int]) -> None:
    if not bits or len(bits) > MAX_ALGORITHMS:
        raise HashSetError(f"{len(bits)} algorithms")
    for name, width in bits.items():
        known = ALGORITHMS.get(str(name))
        if known is None:
            raise HashSetError(f"unknown algorithm {name!r}")
        if width != known.bits:
            raise HashSetError(f"{name} hashes are {known.bits} bits, the file says {width}")


def load(path: str | os.PathLike) -> HashSet:
    """Read a hash file written by :meth:`HashSet.save` (format 2) or by finder 0.1 (format 1).

    Never unpickles, reads only the members it needs, checks each member's
    header (dtype, shape against the file's own counts) before decompressing.
    Raises HashSetError with a one-line reason for a missing, truncated,
    foreign, pickled, damaged or otherwise malformed file.
    """
    path = os.fspath(path)
    with SafeNpz(path) as npz:
        try:
            marker = npz.read("format", "U", ()).item() if "format" in npz else None
        except HashSetError:
            marker = None
        if marker != FORMAT_NAME:
            raise HashSetError(f"{path}: not a finder hash file (no '{FORMAT_NAME}' marker)")
        try:
            version = int(_scalar(npz, "format_version", "iu"))
            if version not in READABLE_VERSIONS:
                raise HashSetError(f"format version {version} is not supported (this finder reads 1 and 2)")
            return _load_v2(npz) if version == 2 else _load_v1(npz)
        except HashSetError as exc:
            raise HashSetError(f"{path}: malformed finder hash file: {exc}") from None


def read_info(path: str | os.PathLike) -> dict[str, Any]:
    """The settings record and counts of a hash file, as ``finder show --info`` prints them, read without
    its paths or hashes (a 10^7-file store: its settings and status column only).  Format 1 is loaded whole."""
    path = os.fspath(path)
    with SafeNpz(path) as npz:
        try:
            marker = npz.read("format", "U", ()).item() if "format" in npz else None
            version = int(_scalar(npz, "format_version", "iu")) if marker == FORMAT_NAME else None
        except HashSetError:
            marker = version = None
        if version == 2:
            try:
                settings, count, bits, rows, _, exif = _read_settings(npz)
                status = npz.read("status", "iu", (count,))
            except HashSetError as exc:
                raise HashSetError(f"{path}: malformed finder hash file: {exc}") from None
            errors = int(np.count_nonzero(status == STATUS_ERROR))
            record = default_settings(bits, exif)
            record.update(settings)
            record["algorithms"], record["bits"] = list(bits), dict(bits)
            record.update(files=count - errors, errors=errors, rows=rows)
            return record
    hashset = load(path)
    record = dict(hashset.settings)
    record.update(files=len(hashset), errors=len(hashset.errors),
                  rows={a: len(hashset.hashes[a]) for a in hashset.algorithms})
    return record


def _read_settings(npz: SafeNpz) -> tuple[dict[str, Any], int, dict[str, int], dict[str, int], list[str], bool]:
    """A format-2 file's settings record, checked: it, the file count, bits and rows per algorithm, view names
    and EXIF handling."""
    raw = npz.read("settings", "u", lambda s: len(s) == 1 and s[0] <= MAX_SETTINGS_BYTES)
    try:
        settings = json.loads(raw.tobytes().decode("utf-8"))
        count = int(settings["files"])
        bits = {str(a): int(settings["bits"][a]) for a in settings["algorithms"]}
        _check_algorithms(bits)
        rows = {a: int(settings["rows"][a]) for a in bits}
        view_names = [str(v) for v in settings.get("view_names", ["plain"])]
        exif = bool(settings["exif_transpose"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        if isinstance(exc, HashSetError):
            raise
        raise HashSetError(f"bad settings record ({type(exc).__name__}: {exc})") from None
    if count < 0 or any(r < 0 for r in rows.values()):
        raise HashSetError("negative counts in settings")
    return settings, count, bits, rows, view_names, exif


def _load_v2(npz: SafeNpz) -> HashSet:
    settings, count, bits, rows, view_names, exif = _read_settings(npz)
    offsets = npz.read("path_offsets", "u", (count + 1,)).astype(np.uint64)
    blob = npz.read("paths", "u", lambda s: len(s) == 1)
    _check_offsets(offsets, len(blob), "path_offsets")
    names = PathColumn(blob, offsets)
    columns = {k: npz.read(k, "iu", (count,)) for k in ("size", "mtime_ns", "device", "inode", "status")}
    status = columns["status"]
    if status.size and status.max() > STATUS_ERROR:
        raise HashSetError("unknown status value")
    failed = np.flatnonzero(status == STATUS_ERROR)
    reason_offsets = npz.read("reason_offsets", "u", (len(failed) + 1,)).astype(np.uint64)
    reason_blob = npz.read("reasons", "u", lambda s: len(s) == 1)
    _check_offsets(reason_offsets, len(reason_blob), "reason_offsets")
    reasons = decode_paths(reason_blob, reason_offsets)
    ok = np.flatnonzero(status == STATUS_HASHED)
    hashes, owner, view, quality = {}, {}, {}, {}
    for a, width in bits.items():
        hashes[a] = npz.read(f"hash_{a}", "u", (rows[a], n_words(width))).astype(np.uint64)
        owner[a] = npz.read(f"owner_{a}", "iu", (rows[a],)).astype(np.int64)
        view[a] = npz.read(f"view_{a}", "u", (rows[a],)).astype(np.uint8)
        if view[a].size and view[a].max() >= len(view_names):
            raise HashSetError(f"view_{a} names a view the settings do not list")
        quality[a] = (npz.read(f"quality_{a}", "u", (rows[a],)).astype(np.uint8) if f"quality_{a}" in npz
                      else np.full(rows[a], QUALITY_UNKNOWN, np.uint8))
    return HashSet(paths=names if len(ok) == count else names.take(ok), hashes=hashes, bits=bits,
                   size=columns["size"][ok].astype(np.int64), mtime_ns=columns["mtime_ns"][ok].astype(np.int64),
                   device=columns["device"][ok].astype(np.uint64), inode=columns["inode"][ok].astype(np.uint64),
                   owner=owner, view=view, quality=quality,
                   errors=_file_errors(names[failed], reasons),
                   exif_transpose=exif, settings=settings)


def _file_errors(paths: Iterable[Any], reasons: Iterable[Any]) -> list[FileError]:
    """The skipped files' records (Pillow is imported only when there are some)."""
    pairs = list(zip(paths, reasons))
    if not pairs:
        return []
    from finder.io.decode import FileError

    return [FileError(str(p), str(r)) for p, r in pairs]


def _check_offsets(offsets: np.ndarray, total: int, label: str) -> None:
    if offsets[0] != 0 or offsets[-1] != total or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise HashSetError(f"{label} do not describe the data they index")


def _load_v1(npz: SafeNpz) -> HashSet:
    names = [str(a) for a in npz.read("algorithms", "U", lambda s: len(s) == 1 and s[0] <= MAX_ALGORITHMS)]
    widths = [int(b) for b in npz.read("bits", "i", (len(names),))]
    bits = dict(zip(names, widths))
    _check_algorithms(bits)
    paths = npz.read("paths", "U", lambda s: len(s) == 1)
    n = len(paths)
    error_paths = npz.read("error_paths", "U", lambda s: len(s) == 1)
    error_reasons = npz.read("error_reasons", "U", (len(error_paths),))
    settings: dict[str, Any] = {"format_version": 1, "resolved_paths": False}
    settings.update({k: str(npz.read(k, "U", ()).item()) for k in
                     ("finder_version", "pillow_version", "numpy_version", "created") if k in npz})
    return HashSet(
        paths=PathColumn.of(paths),
        hashes={a: npz.read(f"hash_{a}", "u", (n, n_words(bits[a]))).astype(np.uint64) for a in names},
        bits=bits,
        size=npz.read("size", "i", (n,)),
        mtime_ns=npz.read("mtime_ns", "i", (n,)),
        errors=_file_errors(error_paths, error_reasons),
        exif_transpose=bool(npz.read("exif_transpose", "b", ()).item()),
        settings=settings,
    )
