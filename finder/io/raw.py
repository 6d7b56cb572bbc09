"""Camera RAW files (DNG, CR2, CR3, NEF, ARW, ...) as Pillow images, decoded by LibRaw (the ``raw`` extra).

Photographers keep RAW files next to the camera's JPEGs.  With the ``raw``
extra (`rawpy <https://github.com/letmaik/rawpy>`_, LibRaw's Python binding)
finder treats them as images: :class:`RawImage` is a Pillow image whose
pixels are LibRaw's standard rendering (demosaiced, the camera's white
balance, sRGB, the camera's orientation applied), so hashing, the keep
rules' looks, thumbnails and verification read a RAW like any other image.
The reduced decode policy asks LibRaw for a half-size image (each 2x2 block
of the sensor one pixel: 4x fewer pixels to demosaic) when that is still
large enough.  Without the extra, RAW files are not images to finder (as
before: passed over by the walk).

Dispatch is by extension (:func:`is_raw`): most RAW formats are TIFF inside,
and Pillow would open them as TIFFs and show a thumbnail or the undemosaiced
sensor data.
"""

from __future__ import annotations

import io
import os
from typing import Any

from PIL import Image, ImageFile

from finder import config
from finder.io import RAW_EXTENSIONS  # noqa: F401  (re-exported: the extensions this module decodes)

FORMAT = "RAW"


def available() -> bool:
    """Whether the ``raw`` extra (rawpy) is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("rawpy") is not None


def is_raw(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a camera RAW file (by extension) and RAW files can be decoded here."""
    return os.path.splitext(os.fspath(path))[1].lower() in RAW_EXTENSIONS and available()


class RawImage(ImageFile.ImageFile):
    """A RAW file as a Pillow image: its size on opening, LibRaw's rendering on :meth:`load`."""

    format = FORMAT
    format_description = "camera RAW (LibRaw)"

    def _open(self) -> None:
        import rawpy

        assert self.fp is not None
        self._data = self.fp.read()
        with rawpy.imread(io.BytesIO(self._data)) as raw:
            sizes = raw.sizes
            width, height = int(sizes.width), int(sizes.height)
            turned = int(sizes.flip) in (5, 6)
        self._size = (height, width) if turned else (width, height)
        self._mode = "RGB"
        self._half = False
        self.tile = []

    def draft(self, mode: str | None, size: tuple[int, int] | None) -> Any:
        """Decode at half size (LibRaw's ``half_size``) when that still keeps ``size``."""
        if size is not None and self._im is None and not self._half:
            half = (self.size[0] // 2, self.size[1] // 2)
            if half[0] >= size[0] and half[1] >= size[1]:
                self._half = True
                self._size = half
                return self.mode, (0, 0) + self.size
        return None

    def load(self) -> Any:
        if self._im is None:
            import rawpy

            # LibRaw demosaics with OpenMP, whose thread pool a forked child inherits half of (and deadlocks on):
            # from now on finder's worker pools start by forkserver in this process.
            config.mark_fork_unsafe("LibRaw's OpenMP threads")
            with rawpy.imread(io.BytesIO(self._data)) as raw:
                pixels = raw.postprocess(use_camera_wb=True, half_size=self._half, output_bps=8)
            decoded = Image.fromarray(pixels, "RGB")
            self.im = decoded.im
            self._size = decoded.size
            self._data = b""
        return Image.Image.load(self)


def open_raw(source: Any, path: str | os.PathLike) -> RawImage:
    """``source`` (a path or a binary file object) opened as a :class:`RawImage`; LibRaw's errors as OSError."""
    try:
        if isinstance(source, (str, bytes, os.PathLike)):
            with open(source, "rb") as handle:
                return RawImage(handle, os.fspath(path))
        return RawImage(source, os.fspath(path))
    except OSError:
        raise
    except Exception as exc:  # rawpy's LibRawError and friends: not a RAW file LibRaw can read
        raise OSError(f"cannot decode camera RAW: {type(exc).__name__}: {exc}") from None
