"""What the keep rules and the report know about a file: its recorded size and mtime, its image header,
and (for the rules that look at pixels) how its picture looks.

The hash file records each file's size and mtime (the bytes that were
hashed); pixel size, format, the EXIF date taken and the camera model are not
in it, so they are read here from the image *header* (``Image.open`` without
``load``: a few KB per file).  The default keep rules also look at the
picture (:class:`Look`): its content box, its detail along each axis, whether
it has colour, and a 32 x 32 thumbnail of its content for comparing the
members of a group; that takes one reduced decode (a JPEG at the smallest
scale keeping 1,024 pixels on its shorter side).  Reading is done once per
run for the grouped files only, in the same process pool as hashing
(:func:`finder.engine.local_executor`), and every failure becomes a
``problem`` text on the record, never an exception.
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from finder.views.detail import detail, noise_level

if TYPE_CHECKING:  # Pillow is imported where a file is opened: a cluster whose facts are all cached opens none
    from PIL import Image

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
# A look costs a decode (~3-30 ms): the pool pays for itself from a few dozen files.
LOOK_POOL_MIN_FILES = 64
# A look decodes at no less than this on the shorter side: enough detail to tell a copy upsampled from it.
LOOK_SIDE = 1024
THUMB_SIDE = 32
# Mean distance of a pixel's channels from its grey, in levels, above which a picture has colour (JPEG's
# chroma noise on a greyscale photo stays well under one level).
COLOUR_LEVELS = 1.0


@dataclass(frozen=True)
class Look:
    """How a file's picture looks, for the keep rules that compare the members of a group.

    Attributes
    ----------
    content : (width, height) of the picture inside any painted frame (the content box), in the file's
        pixels as displayed (EXIF orientation applied).
    canvas : (width, height) of the whole image, the same way.
    detail : (across, down), each 0..1: how much detail the picture holds per pixel along each axis
        (:func:`finder.views.detail.detail`; an upsampled copy has less), measured on the decoded image.
    colour : whether the picture has colour (a greyscale copy of a colour photo has none).
    thumb : uint8 (32, 32, 3): the content, reduced, for comparing members.
    picture_share : the content box's share of the canvas (1.0: no frame).
    noise : the picture's noise, in grey levels (:func:`finder.views.detail.noise_level`): comparable between
        copies of one picture, where added noise stands out.
    """

    content: tuple[int, int]
    detail: tuple[float, float]
    colour: bool
    thumb: np.ndarray = field(compare=False, repr=False)
    picture_share: float = 1.0  # the content box's share of the canvas (1.0: no frame)
    canvas: tuple[int, int] = (0, 0)
    noise: float = 0.0

    @property
    def sharpness(self) -> float:
        """Detail per pixel over both axes (1.0: every pixel carries detail)."""
        return self.detail[0] * self.detail[1]

    @property
    def shape(self) -> float:
        """The content's aspect ratio, width / height."""
        return self.content[0] / max(1, self.content[1])


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
    look : Look or None
        How the picture looks, when it was asked for and the file could be decoded.
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
    look: Look | None = None

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
    from PIL import Image

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
    from finder.io.decode import open_file, register_codecs

    register_codecs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return open_file(path, path)


def describe(exc: BaseException) -> str:
    """A short reason for a file whose header could not be read."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"cannot read image header: {type(exc).__name__}: {exc}"


def _look_picture(image: Image.Image) -> tuple[Image.Image, tuple[float, float]]:
    """``image`` decoded as a look sees it: reduced where its format allows (a JPEG at the smallest DCT scale
    keeping both sides >= :data:`LOOK_SIDE`), turned by its EXIF orientation, in RGB; and the scale from
    those pixels to the file's."""
    from PIL import ImageOps

    full = image.size
    if image.format == "JPEG":
        image.draft("RGB", (LOOK_SIDE, LOOK_SIDE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scale = (full[0] / image.size[0], full[1] / image.size[1])
        picture = ImageOps.exif_transpose(image).convert("RGB")
    if picture.size != image.size:  # turned by its EXIF orientation
        scale = scale[::-1]
    return picture, scale


def look_at(image: Image.Image) -> Look:
    """The :class:`Look` of an opened image (decoded here, reduced where its format allows)."""
    from PIL import Image

    from finder.views.content import content_box

    picture, scale = _look_picture(image)
    box = content_box(picture) or (0, 0, picture.width, picture.height)
    inner = picture.crop(box)
    luma = np.asarray(inner.convert("L"))
    content = (round((box[2] - box[0]) * scale[0]), round((box[3] - box[1]) * scale[1]))
    thumb = np.asarray(inner.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX), dtype=np.uint8)
    small = thumb.astype(np.float32)
    colour = float(np.abs(small - small.mean(axis=2, keepdims=True)).mean()) > COLOUR_LEVELS
    share = (box[2] - box[0]) * (box[3] - box[1]) / (picture.width * picture.height)
    canvas = (round(picture.width * scale[0]), round(picture.height * scale[1]))
    return Look(content, detail(luma), colour, thumb, share, canvas, noise_level(luma))


def read_content(path: str) -> Image.Image | None:
    """The content box of ``path``'s picture in grey (mode L), decoded as its look is (:func:`look_at`): what
    the pair tests of ``detail`` and ``central`` compare.  None for a file that cannot be decoded."""
    from finder.views.content import content_box

    try:
        with open_header(path) as image:
            picture, _ = _look_picture(image)
            box = content_box(picture) or (0, 0, picture.width, picture.height)
            return picture.crop(box).convert("L")
    except Exception:  # Pillow plugins raise OSError, ValueError, SyntaxError, struct.error ...
        return None


#: Resampling (``detail``): the central window compared, at most this many pixels a side of the smaller
#: picture, a margin of this many of its pixels left out at the content box's edges (a box found a pixel
#: off), and the filters a copy may have been resampled with: every one Pillow has, the best taken.
RESAMPLE_WINDOW = 256
RESAMPLE_MARGIN = 8
RESAMPLE_FILTERS = ("NEAREST", "BOX", "BILINEAR", "HAMMING", "BICUBIC", "LANCZOS")


def resampling_residual(source: Image.Image, copy: Image.Image) -> float | None:
    """How far ``copy`` is from ``source`` resampled to its size: the RMS grey-level difference over a
    central window (:data:`RESAMPLE_WINDOW`) with the filter that comes closest (:data:`RESAMPLE_FILTERS`);
    None where the window is too small to compare.  Both are content boxes of one picture
    (:func:`read_content`), matched corner to corner.

    The evidence is one-sided, as for re-encoding: an upscale is its source resampled, so the source comes
    back close to it, while downsampling the upscale loses what the filter blurred of the source; a
    downscale loses the detail above its resolution, so upsampling it cannot bring its source back, while
    downsampling the source remakes it."""
    from PIL import Image

    # the window, in units of the content: central, its sides at most RESAMPLE_WINDOW pixels of the smaller
    # picture, clear of a margin of RESAMPLE_MARGIN of them
    rel = []
    for n in (min(source.width, copy.width), min(source.height, copy.height)):
        half = min(RESAMPLE_WINDOW / n, 1.0 - 2 * RESAMPLE_MARGIN / n) / 2
        rel.append((0.5 - half, 0.5 + half))
    x0, x1 = (round(u * copy.width) for u in rel[0])
    y0, y1 = (round(v * copy.height) for v in rel[1])
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    box = (x0 / copy.width * source.width, y0 / copy.height * source.height,
           x1 / copy.width * source.width, y1 / copy.height * source.height)
    target = np.asarray(copy.crop((x0, y0, x1, y1)), np.float32)
    return min(float(np.sqrt(np.mean((np.asarray(source.resize((x1 - x0, y1 - y0), Image.Resampling[name], box=box),
                                                 np.float32) - target) ** 2)))
               for name in RESAMPLE_FILTERS)


#: Low-pass (``central``): the Gaussian radii a blurred copy is matched with (0: as it is), in pixels of the
#: picture as its look decodes it.
LOWPASS_RADII = (0.0, 0.5, 0.8, 1.2, 1.8, 2.7, 4.0)


def _same_window(source: Image.Image, copy: Image.Image, margin: int = 0) -> tuple[int, int, int, int] | None:
    """The central window of at most :data:`RESAMPLE_WINDOW` pixels a side that two pictures of one size are
    compared over, ``margin`` pixels clear of their edges; None for pictures of different sizes or too small."""
    if source.size != copy.size:
        return None
    w, h = (min(RESAMPLE_WINDOW, n - 2 * margin - 2 * RESAMPLE_MARGIN) for n in copy.size)
    if w < 16 or h < 16:
        return None
    x0, y0 = (copy.width - w) // 2, (copy.height - h) // 2
    return x0, y0, x0 + w, y0 + h


def lowpass_residual(source: Image.Image, copy: Image.Image) -> float | None:
    """How far ``copy`` is from ``source`` blurred: the RMS grey-level difference over their central window
    with the Gaussian radius (:data:`LOWPASS_RADII`) that comes closest; None for pictures of different sizes.

    One-sided, as re-encoding and resampling are: a blurred copy is its source blurred, while no blur of the
    copy brings back the detail it lost."""
    from PIL import ImageFilter

    pad = 3 * int(max(LOWPASS_RADII)) + 1  # beyond the blur's reach, so the window is blurred as in the whole
    window = _same_window(source, copy, pad)
    if window is None:
        return None
    x0, y0, x1, y1 = window
    around = source.crop((x0 - pad, y0 - pad, x1 + pad, y1 + pad))
    target = np.asarray(copy.crop(window), np.float32)
    best = np.inf
    for radius in LOWPASS_RADII:
        blurred = around.filter(ImageFilter.GaussianBlur(radius)) if radius else around
        got = np.asarray(blurred, np.float32)[pad:-pad, pad:-pad]
        best = min(best, float(np.sqrt(np.mean((got - target) ** 2))))
    return best


#: Added noise (``central``): the most a difference's kurtosis may be for it to count as Gaussian noise (3 for a
#: Gaussian), and the share of the difference's noise variance the copy's own must have grown by.
NOISE_KURTOSIS = 3.6
NOISE_ADDITIVE = 0.8


def added_noise(source: Image.Image, copy: Image.Image) -> float | None:
    """The noise ``copy`` has that ``source`` has not, in grey levels: the noise level of their difference over
    the central window (:func:`finder.views.detail.noise_level`) where that difference looks like Gaussian
    noise added to the copy -- kurtosis at most :data:`NOISE_KURTOSIS`, and the copy's own noise variance grown
    by at least :data:`NOISE_ADDITIVE` of the difference's --, else 0; None for pictures of different sizes.

    Independent noise adds its variance to the copy's; an edit that follows the picture (a blur, a tone curve,
    a caption) leaves a difference that is heavy-tailed, or does not add up."""
    window = _same_window(source, copy)
    if window is None:
        return None
    a = np.asarray(source.crop(window), np.float32)
    b = np.asarray(copy.crop(window), np.float32)
    grown = noise_level(b) ** 2 - noise_level(a) ** 2
    if grown <= 0:  # the copy is no noisier: nothing was added (and half of all pairs end here)
        return 0.0
    difference = b - a
    level = noise_level(difference)
    centred = difference - difference.mean()
    spread = float(np.mean(centred ** 2))
    if spread <= 0:
        return 0.0
    kurtosis = float(np.mean(centred ** 4)) / spread ** 2
    return level if kurtosis <= NOISE_KURTOSIS and grown >= NOISE_ADDITIVE * level ** 2 else 0.0


#: Re-encoding (``coding``): the window re-encoded, at most this many pixels a side (blocks are coded
#: independently, so a window aligned to the 16-pixel coding units is coded as in the whole picture), and the
#: margin left out of the comparison (where a decoder's chroma upsampling reads the neighbouring units).
RECODE_WINDOW = 256
RECODE_MARGIN = 16


def recode_window(width: int, height: int) -> tuple[int, int, int, int]:
    """The central window of a ``width`` x ``height`` picture that :func:`reencoding_residual` re-encodes:
    (x0, y0, x1, y1), aligned to 16-pixel coding units (the whole picture when it is smaller than one)."""
    w, h = min(RECODE_WINDOW, width // 16 * 16), min(RECODE_WINDOW, height // 16 * 16)
    if w < 16 or h < 16:
        return 0, 0, width, height
    x0, y0 = (width - w) // 32 * 16, (height - h) // 32 * 16
    return x0, y0, x0 + w, y0 + h


@dataclass(frozen=True)
class Coded:
    """The central window (:func:`recode_window`) of a decoded JPEG, with how the file was coded: what
    :func:`reencoding_residual` compares."""

    size: tuple[int, int]  # the whole picture's
    window: Any  # PIL.Image.Image of the window, in the file's mode (L or RGB)
    luma: np.ndarray  # float32, the window's luma
    tables: dict
    sampling: int
    mirrored: Any  # the same window of the picture mirrored left to right (a mirrored copy's source there)


def read_coded(path: str, max_pixels: int | None = None) -> Coded | None:
    """A JPEG file in L or RGB, decoded at full size, with its quantisation tables and chroma subsampling;
    None for anything else, a file that cannot be decoded, or one of more than ``max_pixels`` pixels (checked
    on the header before decoding: the file may have changed since its facts were read)."""
    from PIL import Image, JpegImagePlugin

    try:
        with open_header(path) as image:
            tables = getattr(image, "quantization", None)
            if image.format != "JPEG" or image.mode not in ("L", "RGB") or not tables:
                return None
            if max_pixels is not None and image.width * image.height > max_pixels:
                return None
            sampling = JpegImagePlugin.get_sampling(image)
            x0, y0, x1, y1 = recode_window(*image.size)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                window = image.crop((x0, y0, x1, y1))
                mirrored = image.crop((image.width - x1, y0, image.width - x0, y1)).transpose(
                    Image.Transpose.FLIP_LEFT_RIGHT)
            return Coded(image.size, window, np.asarray(window.convert("L"), np.float32), dict(tables),
                         max(sampling, 0), mirrored)
    except Exception:  # Pillow plugins raise OSError, ValueError, SyntaxError, struct.error ...
        return None


def reencoding_residual(source: Coded, copy: Coded, mirrored: bool = False) -> float | None:
    """How far ``copy`` is from ``source`` re-encoded as ``copy`` is encoded: the RMS luma difference (grey
    levels) between ``copy`` and ``source`` saved as JPEG with ``copy``'s quantisation tables and chroma
    subsampling, decoded again -- over their central window less a :data:`RECODE_MARGIN`.  0 when ``copy``
    is that re-encode (JPEG's quantisation is deterministic); None for pictures of different sizes.
    ``mirrored``: ``source`` mirrored left to right first (is ``copy`` its mirrored re-encode?).

    The evidence is one-sided: re-encoding a source reproduces its re-encode, while re-encoding the re-encode
    cannot bring back what the coarser coding removed."""
    import io

    from PIL import Image

    if source.size != copy.size:
        return None
    buffer = io.BytesIO()
    try:
        picture = source.mirrored if mirrored else source.window
        picture.convert(copy.window.mode).save(buffer, "JPEG", qtables=copy.tables, subsampling=copy.sampling)
        buffer.seek(0)
        with Image.open(buffer) as again:
            got = np.asarray(again.convert("L"), dtype=np.float32)
    except Exception:  # tables Pillow will not write
        return None
    h, w = got.shape
    margin = RECODE_MARGIN if min(h, w) > 4 * RECODE_MARGIN else 0
    inner = (slice(margin, h - margin), slice(margin, w - margin))
    return float(np.sqrt(np.mean((got[inner] - copy.luma[inner]) ** 2)))


def read_facts(path: str, size: int, mtime_ns: int, look: bool = False) -> FileFacts:
    """Facts of one file from its header, and with ``look`` its :class:`Look` (one reduced decode); a
    FileFacts with ``problem`` set when it cannot be read (a file whose header reads but whose pixels do
    not keeps its header facts, without a look)."""
    try:
        with open_header(path) as image:
            facts = header_facts(image, path, size, mtime_ns)
            if look:
                try:
                    facts = replace(facts, look=look_at(image))
                except Exception:  # damaged pixels: the header's facts still count
                    pass
            return facts
    except Exception as exc:  # Pillow plugins raise OSError, ValueError, SyntaxError, struct.error ...
        return FileFacts(path, size, mtime_ns, problem=describe(exc))


def facts_chunk(chunk: list[tuple[str, int, int]]) -> list[FileFacts]:
    """Worker entry point: facts of a chunk of (path, size, mtime_ns).  Module-level and picklable."""
    return [read_facts(path, size, mtime_ns) for path, size, mtime_ns in chunk]


def looks_chunk(chunk: list[tuple[str, int, int]]) -> list[FileFacts]:
    """Worker entry point: facts and looks of a chunk of (path, size, mtime_ns)."""
    return [read_facts(path, size, mtime_ns, look=True) for path, size, mtime_ns in chunk]


def run_chunks(fn: Callable[[list[T]], list[R]], items: Sequence[T], jobs: int | None = None,
               progress: Callable[[int], None] | None = None, chunk: int = 16,
               pool_min: int = POOL_MIN_FILES) -> Iterator[R]:
    """Yield ``fn`` over ``items`` in chunks, in this process or the local pool, as they finish (unordered).

    The same executor as hashing (:func:`finder.engine.local_executor`);
    small jobs run in-process, where starting a pool would cost more.
    """
    from finder.engine import local_executor

    chunks = [list(items[k:k + chunk]) for k in range(0, len(items), chunk)]
    workers = 1 if len(items) < pool_min else jobs
    with local_executor(workers) as executor:
        for results in executor.map(fn, chunks):
            if progress is not None:
                progress(len(results))
            yield from results


def gather(files: Iterable[tuple[str, int, int]], jobs: int | None = None,
           progress: Callable[[int], None] | None = None, look: bool = False,
           cache: LookCache | None = None) -> dict[str, FileFacts]:
    """Facts of every (path, recorded size, recorded mtime_ns), read in parallel; keyed by path.  With
    ``look``, each picture's :class:`Look` too (one reduced decode per file), taken from ``cache`` where it
    holds one for the file as it is now, and added to it otherwise."""
    items = list({path: (path, size, mtime_ns) for path, size, mtime_ns in files}.values())
    if not look:
        return {f.path: f for f in run_chunks(facts_chunk, items, jobs, progress)}
    now = {path: _stat(path) for path, _, _ in items} if cache is not None else {}
    found: dict[str, FileFacts] = {}
    missing = []
    for path, size, mtime_ns in items:
        known = cache.fresh(path, now[path], size, mtime_ns) if cache is not None else None
        if known is None:
            missing.append((path, size, mtime_ns))
        else:
            found[path] = known
    if progress is not None and found:
        progress(len(found))
    if not missing:  # every look cached: no executor, nothing opened
        return found
    for f in run_chunks(looks_chunk, missing, jobs, progress, 4, LOOK_POOL_MIN_FILES):
        found[f.path] = f
        stat = now.get(f.path)
        if cache is not None and f.look is not None and f.problem is None and stat is not None:
            cache.put(f, stat)
    return found


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)


LOOKS_FORMAT = "finder.looks"  # the cache format's marker: never change it
LOOKS_VERSION = 5  # 2: with the header facts; 3: with the noise level; 4: with pairs' re-encoding residuals;
# 5: with pairs' resampling, low-pass and added-noise residuals
#: What a pair residual kept in the look cache measures (the third part of its key): :func:`reencoding_residual`
#: (0), the same with the source mirrored (1; a bool key reads as these two), :func:`resampling_residual` (2),
#: :func:`lowpass_residual` (3), :func:`added_noise` (4).
RECODED, RECODED_MIRRORED, RESAMPLED, LOWPASSED, NOISED = 0, 1, 2, 3, 4
PAIR_KINDS = (RECODED, RECODED_MIRRORED, RESAMPLED, LOWPASSED, NOISED)  # 0 to 4, every one


class LookCache:
    """Looks and header facts by path, each with the size and mtime of the file they were read from:
    ``NAME.looks.npz`` beside the hash file (:mod:`finder.store.sidecar`), so a second ``cluster`` of the
    same files opens none of them.  Looks depend on their settings (:meth:`settings`); a cache made with
    others is recomputed.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.entries: dict[str, tuple[int, int, tuple, Look]] = {}  # size, mtime_ns, header facts, look
        # (source, copy, kind) -> (source's size and mtime, copy's, the residual of that kind or None)
        self.pairs: dict[tuple[str, str, int], tuple[int, int, int, int, float | None]] = {}
        self._copies: dict[str, list[tuple[str, int]]] = {}  # source -> its (copy, kind) keys in pairs
        self.changed = False

    @staticmethod
    def settings() -> dict:
        from finder.views.detail import DETAIL_SHARE, NOISE_ROWS, SAMPLED_LINES

        return {"look_side": LOOK_SIDE, "thumb_side": THUMB_SIDE, "detail_share": DETAIL_SHARE,
                "sampled_lines": SAMPLED_LINES, "noise_rows": NOISE_ROWS, "colour_levels": COLOUR_LEVELS,
                "version": LOOKS_VERSION}

    @classmethod
    def load(cls, path: str | None) -> LookCache:
        """The cache at ``path`` (None: in memory only; missing: empty); KeepRuleError for a foreign file."""
        from finder.errors import KeepRuleError
        from finder.store import sidecar

        cache = cls(path)
        if path is not None:
            cache.changed = sidecar.load(path, LOOKS_FORMAT, cls.settings(), cache._read, KeepRuleError,
                                         "look cache")
            if cache.changed:
                cache.entries.clear()
                cache.pairs.clear()
                cache._copies.clear()
        return cache

    def _read(self, npz: Any) -> None:
        import json

        from finder.store.sidecar import read_keys

        paths, size, mtime = read_keys(npz)
        n = len(paths)
        sizes = npz.read("sizes", "i", (n, 4))
        detail = npz.read("detail", "f", (n, 2))
        colour = npz.read("colour", "b", (n,))
        share = npz.read("share", "f", (n,))
        noise = npz.read("noise", "f", (n,))
        thumbs = npz.read("thumbs", "u", (n, THUMB_SIDE, THUMB_SIDE, 3))
        headers = json.loads(npz.read("headers", "u", (None,)).tobytes().decode())
        if ((sizes < 0).any() or not np.isfinite(detail).all() or not np.isfinite(share).all()
                or not np.isfinite(noise).all() or (noise < 0).any()):
            raise ValueError("a look out of range")
        if not isinstance(headers, list) or len(headers) != n or not all(_header_ok(h) for h in headers):
            raise ValueError("header facts out of shape")
        for k in range(n):
            look = Look((int(sizes[k, 0]), int(sizes[k, 1])), (float(detail[k, 0]), float(detail[k, 1])),
                        bool(colour[k]), thumbs[k].astype(np.uint8), float(share[k]),
                        (int(sizes[k, 2]), int(sizes[k, 3])), float(noise[k]))
            self.entries[paths[k]] = (int(size[k]), int(mtime[k]), tuple(headers[k]), look)
        pairs = npz.read("pair_files", "i", (None, 2))
        kinds = npz.read("pair_kind", "i", (len(pairs),))
        stats = npz.read("pair_stats", "i", (len(pairs), 4))
        residuals = npz.read("pair_residual", "f", (len(pairs),))
        if len(pairs) and (pairs.min() < 0 or pairs.max() >= n or (residuals < 0).any() or np.isinf(residuals).any()
                           or (kinds < 0).any() or (kinds > max(PAIR_KINDS)).any()):
            raise ValueError("a pair out of range")
        for (a, b), kind, stat, residual in zip(pairs, kinds, stats, residuals):
            value = None if np.isnan(residual) else float(residual)
            self._pair((paths[a], paths[b], int(kind)), (int(stat[0]), int(stat[1]), int(stat[2]), int(stat[3]), value))

    def _pair(self, key: tuple[str, str, int], entry: tuple[int, int, int, int, float | None]) -> None:
        if key not in self.pairs:
            self._copies.setdefault(key[0], []).append((key[1], key[2]))
        self.pairs[key] = entry

    def pairs_among(self, paths: Iterable[str]) -> dict[tuple[str, str, int], float | None]:
        """The residuals kept for pairs of ``paths`` (keys (source, copy, kind)) whose files are both as they
        were read then (their looks' sizes and mtimes, which :func:`gather` has just checked)."""
        wanted = set(paths)
        out: dict[tuple[str, str, int], float | None] = {}
        for a in wanted:
            for b, kind in self._copies.get(a, ()):
                size_a, mtime_a, size_b, mtime_b, residual = self.pairs[a, b, kind]
                if b in wanted and self._stat(a) == (size_a, mtime_a) and self._stat(b) == (size_b, mtime_b):
                    out[a, b, kind] = residual
        return out

    def keep_pairs(self, found: Mapping[Any, Any]) -> None:
        """Keep the pair residuals in ``found`` (keys (source, copy, kind); other keys are ignored) for files
        with looks."""
        for key, residual in found.items():
            if not (isinstance(key, tuple) and len(key) == 3 and key[2] in PAIR_KINDS):
                continue
            a, b, kind = key
            stat_a, stat_b = self._stat(a), self._stat(b)
            if stat_a is None or stat_b is None:
                continue
            entry = (*stat_a, *stat_b, residual)
            if self.pairs.get(key) != entry:
                self._pair((a, b, int(kind)), entry)
                self.changed = True

    def _stat(self, path: str) -> tuple[int, int] | None:
        entry = self.entries.get(path)
        return None if entry is None else (entry[0], entry[1])

    def fresh(self, path: str, stat: tuple[int, int] | None, size: int, mtime_ns: int) -> FileFacts | None:
        """``path``'s facts (with the recorded ``size`` and ``mtime_ns``) and look, if they were read from the
        file as it is now (``stat``: its size and mtime)."""
        entry = self.entries.get(path)
        if entry is None or stat is None or entry[:2] != stat:
            return None
        width, height, fmt, taken, taken_ns, camera = entry[2]
        return FileFacts(path, size, mtime_ns, width, height, fmt, taken, taken_ns, camera, None, entry[3])

    def put(self, facts: FileFacts, stat: tuple[int, int]) -> None:
        """Keep ``facts`` (a readable file's, with its look) for the file whose size and mtime are ``stat``."""
        assert facts.look is not None
        header = (facts.width, facts.height, facts.format, facts.taken, facts.taken_ns, facts.camera)
        self.entries[facts.path] = (*stat, header, facts.look)
        self.changed = True

    def save(self) -> None:
        """Write the cache atomically when it has a path and something changed."""
        if self.path is None or not self.changed:
            return
        import json

        from finder.errors import KeepRuleError
        from finder.store import sidecar

        values, keys = sidecar.entry_arrays({p: (size, mtime, (header, look)) for p, (size, mtime, header, look)
                                             in self.entries.items()})
        looks = [look for _, look in values]
        index = {path: k for k, path in enumerate(sorted(self.entries))}  # entry_arrays' order
        pairs = [(key, value) for key, value in sorted(self.pairs.items()) if key[0] in index and key[1] in index]
        arrays = {
            **keys,
            "sizes": np.array([(*k.content, *k.canvas) for k in looks], np.int64).reshape(-1, 4),
            "detail": np.array([k.detail for k in looks], np.float64).reshape(-1, 2),
            "colour": np.array([k.colour for k in looks], bool),
            "share": np.array([k.picture_share for k in looks], np.float64),
            "noise": np.array([k.noise for k in looks], np.float64),
            "thumbs": (np.stack([k.thumb for k in looks]) if looks
                       else np.zeros((0, THUMB_SIDE, THUMB_SIDE, 3), np.uint8)).astype(np.uint8),
            "headers": np.frombuffer(json.dumps([list(h) for h, _ in values]).encode(), np.uint8),
            "pair_files": np.array([(index[a], index[b]) for (a, b, _), _ in pairs], np.int64).reshape(-1, 2),
            "pair_kind": np.array([kind for (_, _, kind), _ in pairs], np.int64),
            "pair_stats": np.array([value[:4] for _, value in pairs], np.int64).reshape(-1, 4),
            "pair_residual": np.array([np.nan if value[4] is None else value[4] for _, value in pairs], np.float64),
        }
        sidecar.save(self.path, LOOKS_FORMAT, self.settings(), arrays, KeepRuleError, "look cache")
        self.changed = False


def _header_ok(h: Any) -> bool:
    """A cached header: [width, height, format, taken, taken_ns, camera] with the types FileFacts holds."""
    def maybe(value: Any, kind: type) -> bool:
        return value is None or (isinstance(value, kind) and not isinstance(value, bool))

    return (isinstance(h, list) and len(h) == 6 and maybe(h[0], int) and maybe(h[1], int) and maybe(h[2], str)
            and maybe(h[3], str) and maybe(h[4], int) and maybe(h[5], str))
