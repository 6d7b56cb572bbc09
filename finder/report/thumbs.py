"""Thumbnails for the report: one small JPEG per image, and the file's facts, from one open of the file.

Made in the same process pool as hashing (:func:`finder.groups.facts.run_chunks`).
JPEGs are decoded at reduced size (libjpeg's DCT scaling through Pillow's
``draft``, at least twice the thumbnail box), so a 12-megapixel photo costs a
fraction of a full decode.  EXIF orientation is applied, transparency is
flattened onto white, and a file that cannot be read gets no thumbnail and a
``problem`` on its facts — never an exception.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from PIL import Image, ImageOps

from finder.groups.facts import FileFacts, describe, header_facts, open_header, run_chunks

DEFAULT_BOX = 160
JPEG_QUALITY = 75


@dataclass(frozen=True)
class Thumb:
    """A file's facts and its thumbnail (JPEG bytes and pixel size; ``data`` is None when unreadable)."""

    facts: FileFacts
    data: bytes | None = None
    width: int = 0
    height: int = 0


def flatten(image: Image.Image) -> Image.Image:
    """An RGB copy of ``image``; transparent parts onto white, other modes (CMYK, 16-bit, palette) converted."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit grey: scale to 8 bits, not clip
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return image.convert("RGB")


def make_thumb(path: str, size: int, mtime_ns: int, box: int = DEFAULT_BOX) -> Thumb:
    """Facts and a JPEG thumbnail fitting ``box`` x ``box`` pixels of one file."""
    facts = FileFacts(path, size, mtime_ns)
    try:
        with open_header(path) as image:
            facts = header_facts(image, path, size, mtime_ns)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image.draft("RGB", (2 * box, 2 * box))  # JPEG only: decode at 1/2 .. 1/8 scale
                shown = ImageOps.exif_transpose(image)
                shown.thumbnail((box, box), Image.Resampling.LANCZOS, reducing_gap=2.0)
                picture = flatten(shown)
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
            return Thumb(facts, buffer.getvalue(), picture.width, picture.height)
    except Exception as exc:  # Pillow plugins raise OSError, ValueError, SyntaxError, struct.error ...
        return Thumb(replace(facts, problem=describe(exc)))


def thumb_chunk(chunk: list[tuple[str, int, int]], box: int = DEFAULT_BOX) -> list[Thumb]:
    """Worker entry point: thumbnails of a chunk of (path, size, mtime_ns).  Module-level and picklable."""
    return [make_thumb(path, size, mtime_ns, box) for path, size, mtime_ns in chunk]


def make_thumbs(files: Iterable[tuple[str, int, int]], box: int = DEFAULT_BOX, jobs: int | None = None,
                progress: Callable[[int], None] | None = None) -> dict[str, Thumb]:
    """Thumbnails and facts of every (path, recorded size, recorded mtime_ns), in parallel; keyed by path."""
    items = list({path: (path, size, mtime_ns) for path, size, mtime_ns in files}.values())
    worker = functools.partial(thumb_chunk, box=box)
    return {t.facts.path: t for t in run_chunks(worker, items, jobs, progress, chunk=8)}
