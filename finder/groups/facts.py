"""What the keep rules and the report know about a file: its recorded size and mtime, and its image header.

The hash file records each file's size and mtime (the bytes that were
hashed); pixel size, format, the EXIF date taken and the camera model are not
in it, so they are read here from the image *header* only (``Image.open``
without ``load``: a few KB per file, no decoding).  Reading is done once per
run for the grouped files only, in the same process pool as hashing
(:func:`finder.engine.local_executor`), and every failure becomes a
``problem`` text on the record, never an exception.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image

from finder.io.decode import register_codecs

T = TypeVar("T")
R = TypeVar("R")

EXIF_IFD = 0x8769
DATE_TAGS = (0x9003, 0x9004, 0x0132)  # DateTimeOriginal, DateTimeDigitized, DateTime
OFFSET_TAGS = {0x9003: 0x9011, 0x9004: 0x9012, 0x0132: 0x9010}  # OffsetTimeOriginal, ...Digitized, OffsetTime
MODEL_TAG = 0x0110
ORIENTATION_TAG = 0x0112
TEXT_LIMIT = 100
# Below this many files a process pool costs more than it saves: a header takes ~0.1-0.2 ms in-process, a
# pool ~0.1 s to start; on 2 cores 500 headers took 0.09 s in-process and 0.18 s in the pool, 4,000 took
# 0.75 s and 1.2 s (benchmarks/small_jobs.py measures the whole cluster command).
POOL_MIN_FILES = 2000


@dataclass(frozen=True)
class FileFacts:
    """One file's facts.

    Attributes
    ----------
    path : str
        The path as recorded in the hash file.
    size, mtime_ns : int
        File size (bytes) and modification time (ns) recorded when it was hashed.
    width, height : int or None
        Pixel size as displayed (EXIF orientation applied), None when the header cannot be read.
    format : str or None
        Pillow's format name (``JPEG``, ``PNG``, ``WEBP``, ...).
    taken : str or None
        The EXIF date taken (DateTimeOriginal, else DateTimeDigitized, else DateTime) as ISO 8601 text.
    taken_ns : int or None
        The same instant in ns since the epoch (the EXIF offset when recorded, else local time).
    camera : str or None
        EXIF camera model, as text (shown by the report, escaped).
    problem : str or None
        Why the header could not be read now (the file was hashed earlier but is gone, damaged, ...).
    """

    path: str
    size: int
    mtime_ns: int
    width: int | None = None
    height: int | None = None
    format: str | None = None
    taken: str | None = None
    taken_ns: int | None = None
    camera: str | None = None
    problem: str | None = None

    @property
    def pixels(self) -> int | None:
        """Pixel area, or None when unknown."""
        return self.width * self.height if self.width is not None and self.height is not None else None

    @property
    def date_ns(self) -> int:
        """The file's date for oldest/newest: the EXIF date taken when present, else its mtime."""
        return self.taken_ns if self.taken_ns is not None else self.mtime_ns


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value[:TEXT_LIMIT] or None


def parse_exif_date(value: Any, offset: Any = None) -> tuple[str, int] | None:
    """EXIF ``YYYY:MM:DD HH:MM:SS`` (and an optional ``+HH:MM`` offset) as (ISO text, ns since the epoch).

    Without an offset the time is taken as local time, as cameras record it.
    Blank, zero (``0000:00:00 00:00:00``) or malformed dates give None.
    """
    text = _text(value)
    if text is None:
        return None
    try:
        when = _dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone = _text(offset)
    if zone:
        try:
            when = when.replace(tzinfo=_dt.datetime.strptime(zone[:6], "%z").tzinfo)
        except ValueError:
            pass
    try:
        stamp = when.timestamp()  # naive: local time
    except (OverflowError, OSError, ValueError):
        return None
    return when.isoformat(), int(round(stamp * 1e9))


def header_facts(image: Image.Image, path: str, size: int, mtime_ns: int) -> FileFacts:
    """Facts from an opened (not loaded) image: pixel size, format, EXIF date and camera."""
    width, height = image.size
    taken = camera = None
    taken_ns = None
    # A PNG's eXIf chunk may follow the pixel data; Pillow would decode the image to reach it.
    if image.format != "PNG" or "exif" in image.info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                exif = image.getexif()
                details = exif.get_ifd(EXIF_IFD)
            except Exception:  # a damaged EXIF block: the file's other facts still count
                exif, details = Image.Exif(), {}
        if exif.get(ORIENTATION_TAG) in (5, 6, 7, 8):
            width, height = height, width
        camera = _text(exif.get(MODEL_TAG))
        for tag in DATE_TAGS:
            parsed = parse_exif_date(details.get(tag) or exif.get(tag), details.get(OFFSET_TAGS[tag]))
            if parsed is not None:
                taken, taken_ns = parsed
                break
    return FileFacts(path, size, mtime_ns, width, height, image.format, taken, taken_ns, camera)


def open_header(path: str) -> Image.Image:
    """``Image.open`` with the same codecs as hashing (HEIF when installed); raises what Pillow raises."""
    register_codecs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Image.open(path)


def describe(exc: BaseException) -> str:
    """A short reason for a file whose header could not be read."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"cannot read image header: {type(exc).__name__}: {exc}"


def read_facts(path: str, size: int, mtime_ns: int) -> FileFacts:
    """Facts of one file from its header; a FileFacts with ``problem`` set when it cannot be read."""
    try:
        with open_header(path) as image:
            return header_facts(image, path, size, mtime_ns)
    except Exception as exc:  # Pillow plugins raise OSError, ValueError, SyntaxError, struct.error ...
        return FileFacts(path, size, mtime_ns, problem=describe(exc))


def facts_chunk(chunk: list[tuple[str, int, int]]) -> list[FileFacts]:
    """Worker entry point: facts of a chunk of (path, size, mtime_ns).  Module-level and picklable."""
    return [read_facts(path, size, mtime_ns) for path, size, mtime_ns in chunk]


def run_chunks(fn: Callable[[list[T]], list[R]], items: Sequence[T], jobs: int | None = None,
               progress: Callable[[int], None] | None = None, chunk: int = 16) -> Iterator[R]:
    """Yield ``fn`` over ``items`` in chunks, in this process or the local pool, as they finish (unordered).

    The same executor as hashing (:func:`finder.engine.local_executor`);
    small jobs run in-process, where starting a pool would cost more.
    """
    from finder.engine import local_executor

    chunks = [list(items[k:k + chunk]) for k in range(0, len(items), chunk)]
    workers = 1 if len(items) < POOL_MIN_FILES else jobs
    with local_executor(workers) as executor:
        for results in executor.map(fn, chunks):
            if progress is not None:
                progress(len(results))
            yield from results


def gather(files: Iterable[tuple[str, int, int]], jobs: int | None = None,
           progress: Callable[[int], None] | None = None) -> dict[str, FileFacts]:
    """Facts of every (path, recorded size, recorded mtime_ns), headers read in parallel; keyed by path."""
    items = list({path: (path, size, mtime_ns) for path, size, mtime_ns in files}.values())
    return {f.path: f for f in run_chunks(facts_chunk, items, jobs, progress)}
