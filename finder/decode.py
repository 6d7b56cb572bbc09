"""Open one image file: a loaded Pillow image, or a FileError that says why not.

This is the only module that catches OS and Pillow exceptions for an input
file, and the only one that registers optional codecs (HEIF), so every entry
point — the CLI, the library, a worker process started with ``spawn`` —
decodes the same set of formats.  Everything downstream sees either pixels or
a ``FileError`` value.

A file is opened once, without blocking (a FIFO put in place of a listed file
cannot hang the run), checked to be a regular file through the open
descriptor, and its identity and stat (device, inode, size, mtime) are taken
from that descriptor before and after decoding: a file replaced or rewritten
while it was read is read again, so the recorded stat always belongs to the
bytes that were hashed.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError, features

ORIENTATION_TAG = 0x0112
BASE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})
READ_ATTEMPTS = 3


@dataclass(frozen=True)
class FileError:
    """A file that was skipped, and a short human reason."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class FileStat:
    """What identifies a file and tells whether it changed: the fields finder records per file."""

    size: int
    mtime_ns: int
    device: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(int(st.st_size), int(st.st_mtime_ns), int(st.st_dev), int(st.st_ino))


@functools.cache
def register_codecs() -> frozenset[str]:
    """Register optional codecs once per process; the extensions they add.

    HEIC/HEIF needs the ``heif`` extra (pillow-heif).  Called by every function
    here that decodes, so a worker process needs no set-up of its own.
    """
    extra: set[str] = set()
    try:
        import pillow_heif
    except ImportError:
        pass
    else:
        pillow_heif.register_heif_opener()
        extra |= HEIF_EXTENSIONS
    if features.check("avif"):
        extra.add(".avif")
    return frozenset(extra)


def image_extensions() -> frozenset[str]:
    """Extensions finder treats as images here: the base set, plus AVIF and HEIC/HEIF when available."""
    return BASE_EXTENSIONS | register_codecs()


def describe_os_error(path: str, exc: OSError) -> str:
    """A short reason for an OSError raised while stat-ing or opening ``path``."""
    if exc.errno == errno.ENOENT:
        return "broken symbolic link" if os.path.islink(path) else "no such file"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    return exc.strerror or str(exc)


def check_regular(path: str, st: os.stat_result) -> FileError | None:
    """Why ``st`` cannot be an image file (directory, device, FIFO, empty), or None."""
    if stat.S_ISDIR(st.st_mode):
        return FileError(path, "is a directory")
    if not stat.S_ISREG(st.st_mode):
        return FileError(path, "not a regular file")
    if st.st_size == 0:
        return FileError(path, "empty file (0 bytes)")
    return None


def stat_file(path: str) -> FileStat | FileError:
    """The stat of a candidate image file (symbolic links followed), or why it can't be one."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return FileError(path, describe_os_error(path, exc))
    return check_regular(path, st) or FileStat.of(st)


def _decode(handle, path: str, exif_transpose: bool) -> Image.Image | FileError:
    image: Image.Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(handle) as opened:
                opened.load()
            image = opened
            if exif_transpose and image.getexif().get(ORIENTATION_TAG, 1) in range(2, 9):
                image = ImageOps.exif_transpose(image)
        return image
    except Image.DecompressionBombError as exc:
        return FileError(path, f"decompression bomb: {exc}")
    except UnidentifiedImageError:
        return FileError(path, "not an image (unrecognised format)")
    except OSError as exc:
        if exc.errno is not None:
            return FileError(path, describe_os_error(path, exc))
        return FileError(path, f"corrupt or truncated image: {exc}")
    except Exception as exc:  # Pillow plugins raise ValueError, SyntaxError, struct.error...
        return FileError(path, f"cannot decode: {type(exc).__name__}: {exc}")


def read_image(path: str, exif_transpose: bool = True) -> tuple[Image.Image, FileStat] | FileError:
    """Decode ``path`` completely (first frame of an animation), with the stat of the bytes decoded.

    With ``exif_transpose`` the EXIF orientation tag is applied, so a photo
    stored sideways is hashed the way it is shown.  The full image is decoded
    (no JPEG draft scaling: FINd's golden hashes need the full-size decode).
    """
    register_codecs()
    for _ in range(READ_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            return FileError(path, describe_os_error(path, exc))
        with os.fdopen(fd, "rb") as handle:
            try:
                before = os.fstat(fd)
            except OSError as exc:
                return FileError(path, describe_os_error(path, exc))
            problem = check_regular(path, before)
            if problem is not None:
                return problem
            image = _decode(handle, path, exif_transpose)
            after = os.fstat(fd)
        if isinstance(image, FileError):
            return image
        if FileStat.of(before) == FileStat.of(after):
            return image, FileStat.of(after)
        image.close()  # rewritten while being read: read it again
    return FileError(path, f"file kept changing while it was read ({READ_ATTEMPTS} attempts)")


def open_image(path: str, exif_transpose: bool = True) -> Image.Image | FileError:
    """Decode ``path`` completely; :func:`read_image` without the stat."""
    result = read_image(path, exif_transpose)
    return result if isinstance(result, FileError) else result[0]
