"""Read named members of an untrusted ``.npz`` archive with bounded work and memory.

``numpy.load`` trusts the archive: a member's header may claim any shape (a
9 KB file can ask for terabytes), corrupt deflate data surfaces as a
``zlib.error``, and nothing stops a caller from touching a 4 GiB member it
never needed.  :class:`SafeNpz` opens only the members asked for, checks each
``.npy`` header (dtype kind, number of dimensions, shape against the caller's
expectation) and the zip entry's declared sizes *before* any data is
decompressed, refuses object dtypes (no pickle, ever), and turns every failure
into :class:`finder.errors.HashSetError` with a one-line reason.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from finder.errors import HashSetError

# Deflate cannot expand data by more than about 1032:1; anything claiming more is forged.
MAX_DEFLATE_RATIO = 1100
ZIP_MAGIC = b"PK\x03\x04"

ShapeCheck = Callable[[tuple[int, ...]], bool]


class SafeNpz:
    """A read-only view of the members of an ``.npz`` file; use as a context manager."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, "rb") as handle:
                if handle.read(4) != ZIP_MAGIC:
                    raise HashSetError(f"{path}: not a finder hash file (not an .npz archive)")
            self._zip = zipfile.ZipFile(path)
        except HashSetError:
            raise
        except FileNotFoundError:
            raise HashSetError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise HashSetError(f"{path}: is a directory") from None
        except PermissionError:
            raise HashSetError(f"{path}: permission denied") from None
        except (OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise HashSetError(f"{path}: not a finder hash file ({exc})") from None
        self.names = {info.filename.removesuffix(".npy"): info for info in self._zip.infolist()}

    def __enter__(self) -> SafeNpz:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def __contains__(self, key: str) -> bool:
        return key in self.names

    def read(self, key: str, kinds: str, shape: ShapeCheck | Sequence[int | None]) -> np.ndarray:
        """Member ``key`` as an array, after checking its header.

        Parameters
        ----------
        key : member name without ``.npy``.
        kinds : accepted dtype kinds, e.g. ``"iu"`` (numpy ``dtype.kind`` letters).
        shape : the expected shape (``None`` entries match any length) or a predicate.
        """
        info = self.names.get(key)
        if info is None:
            raise HashSetError(f"missing array {key!r}")
        try:
            with self._zip.open(info) as stream:
                version = np.lib.format.read_magic(stream)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                declared, fortran, dtype = header(stream, max_header_size=10_000)
                self._check_header(key, declared, dtype, kinds, shape)
                itemsize = dtype.itemsize
                count = int(np.prod(declared, dtype=np.int64)) if declared else 1
                data_bytes = count * itemsize
                header_bytes = stream.tell()
                if info.file_size != header_bytes + data_bytes:
                    raise HashSetError(f"array {key!r}: header says {data_bytes} bytes, archive entry holds "
                                       f"{info.file_size - header_bytes}")
                if info.compress_type != zipfile.ZIP_STORED and info.file_size > info.compress_size * MAX_DEFLATE_RATIO:
                    raise HashSetError(f"array {key!r}: declared size is impossible for its compressed size")
                raw = stream.read(data_bytes)
                if len(raw) != data_bytes:
                    raise HashSetError(f"array {key!r} is truncated")
        except HashSetError:
            raise
        except (zlib.error, zipfile.BadZipFile, EOFError, OSError, ValueError, SyntaxError, NotImplementedError,
                RuntimeError) as exc:
            raise HashSetError(f"array {key!r} is damaged ({type(exc).__name__}: {exc})") from None
        array = np.frombuffer(raw, dtype=dtype, count=count)
        return array.reshape(declared, order="F" if fortran else "C")

    @staticmethod
    def _check_header(key: str, declared: tuple[int, ...], dtype: np.dtype, kinds: str,
                      shape: ShapeCheck | Sequence[int | None]) -> None:
        if dtype.hasobject or dtype.kind not in kinds:
            raise HashSetError(f"array {key!r} has dtype {dtype}")
        if callable(shape):
            ok = shape(declared)
        else:
            ok = len(declared) == len(shape) and all(s is None or s == d for s, d in zip(shape, declared))
        if not ok:
            raise HashSetError(f"array {key!r} has shape {list(declared)}")
