"""Open one image file: a loaded Pillow image, or a FileError that says why not.

This is the only module that catches OS and Pillow exceptions for an input
file; everything downstream sees either pixels or a ``FileError`` value.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class FileError:
    """A file that was skipped, and a short human reason."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


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


def stat_file(path: str) -> os.stat_result | FileError:
    """``os.stat`` of a candidate image file (symlinks followed), or why it can't be one."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return FileError(path, describe_os_error(path, exc))
    if stat.S_ISDIR(st.st_mode):
        return FileError(path, "is a directory")
    if not stat.S_ISREG(st.st_mode):
        return FileError(path, "not a regular file")
    if st.st_size == 0:
        return FileError(path, "empty file (0 bytes)")
    return st


def open_image(path: str, exif_transpose: bool = True) -> Image.Image | FileError:
    """Decode ``path`` completely (first frame of an animation).

    With ``exif_transpose`` the EXIF orientation tag is applied, so a photo
    stored sideways is hashed the way it is shown.  The full image is decoded:
    JPEG draft (DCT) scaling is never used, because FINd's golden hashes need
    the full-size decode.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image.load()
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
