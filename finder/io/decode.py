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

from finder.io import raw as _raw

ORIENTATION_TAG = 0x0112
BASE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
HEIF_EXTENSIONS = frozenset({".heic", ".heif"})
READ_ATTEMPTS = 3
#: Decode policies: ``reduced-1x`` (the default of ``finder hash``) lets a format that can decode at a
#: smaller scale (JPEG's DCT scaling through Pillow's ``Image.draft``) do so, keeping at least the size each
#: hash works at; ``reduced`` (the default before 2026-12, kept for the stores that record it) keeps twice
#: that; ``full`` decodes every pixel (``--exact``: hashes bit-exact with the reference's).
DECODE_REDUCED = "reduced-1x"
DECODE_REDUCED_2X = "reduced"
DECODE_FULL = "full"
DECODE_POLICIES = (DECODE_REDUCED, DECODE_REDUCED_2X, DECODE_FULL)
#: The smallest decoded size a reduced decode must keep: (longer side, shorter side) in pixels.
MinSize = tuple[int, int]


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
    """Extensions finder treats as images here: the base set, plus AVIF, HEIC/HEIF and camera RAW formats
    when available (pillow-heif; rawpy, the ``raw`` extra)."""
    return BASE_EXTENSIONS | register_codecs() | (_raw.RAW_EXTENSIONS if _raw.available() else frozenset())


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


#: ``image.info`` key under which a decoded image carries the defects it was decoded despite (a tuple of str).
WARNINGS_KEY = "finder.warnings"
EOI_MISSING = "JPEG end marker missing; decoded anyway"
JPEG_EOI = b"\xff\xd9"
# Two byte patterns that differ in every bit and hold no 0x00 or 0xFF byte (no stuffing, no marker): entropy
# data for a probe decode (see _decode_without_end_marker).  4096 bits each.
_FILLER = bytes((i * 73 + 41) % 254 + 1 for i in range(512))
_FILLERS = (_FILLER, bytes(255 - b for b in _FILLER))


def decode_warnings(image: Image.Image) -> tuple[str, ...]:
    """The defects ``image`` was decoded despite (e.g. :data:`EOI_MISSING`); empty for a clean decode."""
    return tuple(image.info.get(WARNINGS_KEY, ()))


def draft_scale(size: tuple[int, int], min_size: MinSize) -> int:
    """The largest JPEG DCT scale denominator (8, 4, 2 or 1) that keeps an image of ``size`` at least
    ``min_size`` = (longer side, shorter side) once reduced (sides rounded up, as libjpeg does)."""
    long_side, short_side = max(size), min(size)
    for scale in (8, 4, 2):
        if (short_side >= scale and -(-long_side // scale) >= min_size[0]
                and -(-short_side // scale) >= min_size[1]):
            return scale
    return 1


def _draft(opened: Image.Image, min_size: MinSize | None) -> None:
    """Ask ``opened`` (not yet loaded) to decode at the smallest scale :func:`draft_scale` allows.

    Only formats whose decoder can scale do anything (JPEG; Pillow's base ``draft`` is a no-op).  The
    request is made on the stored orientation: ``min_size`` names the longer and shorter side, which an
    EXIF rotation applied afterwards swaps but does not change.
    """
    if min_size is None:
        return
    scale = draft_scale(opened.size, min_size)
    if scale > 1:  # each side // scale >= 1, so Pillow's own choice, min(side // request), is this scale
        opened.draft(None, (opened.size[0] // scale, opened.size[1] // scale))


def open_file(source, path: str | os.PathLike | None = None) -> Image.Image:
    """``Image.open(source)``, except that a camera RAW file (by ``path``'s extension, with the ``raw`` extra)
    opens as a :class:`finder.io.raw.RawImage`."""
    if path is not None and _raw.is_raw(path):
        return _raw.open_raw(source, path)
    return Image.open(source)


def _load(source, exif_transpose: bool, min_size: MinSize | None = None, path: str | None = None) -> Image.Image:
    """Open and fully load ``source`` (a file object), EXIF orientation applied; Pillow's exceptions pass.

    With ``min_size`` the image may be decoded at a reduced scale that keeps at least that size (:func:`_draft`).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_file(source, path) as opened:
            _draft(opened, min_size)
            opened.load()
        image: Image.Image = opened
        if exif_transpose and image.getexif().get(ORIENTATION_TAG, 1) in range(2, 9):
            image = ImageOps.exif_transpose(image)
    return image


def _jpeg_scan_end(data: bytes, start: int) -> tuple[int | None, int]:
    """Where the entropy-coded data from ``start`` ends (the next marker other than RSTn; None: at the end
    of ``data``), and how many RSTn markers it holds."""
    restarts = 0
    i = data.find(b"\xff", start)
    while i != -1 and i + 1 < len(data):
        follower = data[i + 1]
        if follower in (0x00, 0xFF):  # a stuffed 0xFF data byte, or fill before a marker
            i = data.find(b"\xff", i + 1)
        elif 0xD0 <= follower <= 0xD7:
            restarts += 1
            i = data.find(b"\xff", i + 2)
        else:
            return i, restarts
    return None, restarts


def _jpeg_ends_in_final_scan(data: bytes) -> bool:
    """Whether ``data``, a JPEG without an end marker, ends inside the entropy-coded data of a scan that
    completes the image.

    The marker segments are walked (a cut inside one is a truncation).  The scan the data ends in must
    leave every coefficient of every component coded to full precision (a progressive file cut between two
    scans decodes cleanly, at lower quality, and is truncated all the same), and hold every restart
    marker its MCU count calls for (a file cut just before an RSTn decodes the rest as grey).  Whether the
    last restart interval is itself complete is for the probe decodes to tell.  Baseline, extended and
    progressive Huffman JPEGs only: anything else is left rejected.
    """
    if len(data) < 4 or data[:2] != b"\xff\xd8" or data[-1] == 0xFF:
        return False
    components: dict[int, tuple[int, int]] = {}
    width = height = restart = 0
    progressive = False
    precision: dict[int, list[int | None]] = {}  # per component, each coefficient's successive-approximation bit
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if marker in (0x01, 0xD8, 0xD9) or 0xD0 <= marker <= 0xD7 or length < 2 or end > len(data):
            return False
        body = data[pos + 4:end]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
            count = body[5] if len(body) > 5 else 0
            if marker not in (0xC0, 0xC1, 0xC2) or components or count == 0 or len(body) < 6 + 3 * count:
                return False
            height, width = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")
            components = {body[6 + 3 * k]: (body[7 + 3 * k] >> 4, body[7 + 3 * k] & 15) for k in range(count)}
            if not width or not height or min(min(hv) for hv in components.values()) == 0:
                return False
            progressive = marker == 0xC2
            precision = {c: [None] * 64 for c in components}
        elif marker == 0xDD and len(body) >= 2:  # DRI
            restart = int.from_bytes(body[:2], "big")
        elif marker == 0xDA:  # SOS, then the scan's entropy-coded data
            count = body[0] if body else 0
            ids = [body[1 + 2 * k] for k in range(count)] if len(body) >= 4 + 2 * count else []
            if not ids or any(c not in components for c in ids):
                return False
            first, last, low = body[1 + 2 * count], body[2 + 2 * count], body[3 + 2 * count] & 15
            for c in ids:
                coded = range(first, min(last, 63) + 1) if progressive else range(64)
                for k in coded:
                    precision[c][k] = low if progressive else 0
            scan_end, restarts = _jpeg_scan_end(data, end)
            if scan_end is not None:
                pos = scan_end
                continue
            if end == len(data) or any(bit != 0 for bits in precision.values() for bit in bits):
                return False
            hmax = max(h for h, _ in components.values())
            vmax = max(v for _, v in components.values())
            if count == 1:
                h, v = components[ids[0]]
                mcus = -(-width * h // (hmax * 8)) * -(-height * v // (vmax * 8))
            else:
                mcus = -(-width // (hmax * 8)) * -(-height // (vmax * 8))
            return restart == 0 or restarts >= (mcus - 1) // restart
        pos = end
    return False


def _decode_without_end_marker(handle, exif_transpose: bool, min_size: MinSize | None = None) -> Image.Image | None:
    """The image of a JPEG that lacks only its end marker (EOI), or None if it lacks more.

    The file's bytes are decoded from memory with the marker appended (the file is never modified), once
    as they are and twice more with 512 bytes of two complementary bit patterns between them and the
    marker.  If the last scan's data was complete, libjpeg skips those bytes as extraneous and all three
    decodes agree; if it was cut, libjpeg fills the rest of the scan with grey when it meets the marker but
    decodes the patterns as image data, so they disagree.  :func:`_jpeg_ends_in_final_scan` first rules
    out the cuts that no pixel comparison can see (between scans, just before a restart marker).
    """
    import io

    from PIL import ImageChops

    try:
        handle.seek(0)
        data = handle.read()
    except (OSError, ValueError):
        return None
    if not _jpeg_ends_in_final_scan(data):
        return None
    image = None
    try:
        image = _load(io.BytesIO(data + JPEG_EOI), exif_transpose=False, min_size=min_size)
        for filler in _FILLERS:
            with _load(io.BytesIO(data + filler + JPEG_EOI), exif_transpose=False, min_size=min_size) as probe:
                if probe.mode != image.mode or probe.size != image.size or \
                        ImageChops.difference(image, probe).getbbox() is not None:
                    image.close()
                    return None
        if exif_transpose and image.getexif().get(ORIENTATION_TAG, 1) in range(2, 9):
            transposed = ImageOps.exif_transpose(image)
            image.close()
            image = transposed
    except Exception:  # any failure of the repaired bytes: the file stays rejected for its first reason
        if image is not None:
            image.close()
        return None
    image.info[WARNINGS_KEY] = (*decode_warnings(image), EOI_MISSING)
    return image


def _decode(handle, path: str, exif_transpose: bool, min_size: MinSize | None = None) -> Image.Image | FileError:
    """Decode the open file ``handle``; a JPEG that lacks only its end marker is decoded with a warning
    in ``image.info`` (see :func:`decode_warnings`)."""
    try:
        return _load(handle, exif_transpose, min_size, path)
    except Image.DecompressionBombError as exc:
        return FileError(path, f"decompression bomb: {exc}")
    except UnidentifiedImageError:
        return FileError(path, "not an image (unrecognised format)")
    except OSError as exc:
        if exc.errno is not None:
            return FileError(path, describe_os_error(path, exc))
        if "truncated" in str(exc):
            repaired = _decode_without_end_marker(handle, exif_transpose, min_size)
            if repaired is not None:
                return repaired
        return FileError(path, f"corrupt or truncated image: {exc}")
    except Exception as exc:  # Pillow plugins raise ValueError, SyntaxError, struct.error...
        return FileError(path, f"cannot decode: {type(exc).__name__}: {exc}")


def read_image(path: str, exif_transpose: bool = True, min_size: MinSize | None = None
               ) -> tuple[Image.Image, FileStat] | FileError:
    """Decode ``path`` (first frame of an animation), with the stat of the bytes decoded.

    With ``exif_transpose`` the EXIF orientation tag is applied, so a photo
    stored sideways is hashed the way it is shown.  ``min_size`` None (the
    ``full`` policy) decodes every pixel: FINd's golden hashes need the
    full-size decode.  ``min_size`` = (longer side, shorter side) is the
    ``reduced`` policy: a JPEG is decoded at the smallest DCT scale (1/2, 1/4,
    1/8) whose result keeps at least that size (see
    ``finder.store.resolution.min_decode_size``), which makes a 12-megapixel photo
    several times cheaper to decode; other formats decode fully.
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
            image = _decode(handle, path, exif_transpose, min_size)
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
