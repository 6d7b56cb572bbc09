"""Decoding edge cases: a JPEG without its end marker, truncated JPEGs, and wHash on a large image.

Every file is made here by Pillow.  A JPEG that lacks only its 2-byte end
marker (EOI) is decoded, with a warning that ``finder hash`` reports once and
counts; a JPEG cut anywhere else is rejected, even where appending an EOI
would let Pillow decode it (it then fills the missing part with grey, or
decodes only the earlier progressive scans).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from finder import algorithms
from finder.algorithms import classic
from finder.algorithms.bits import to_hex
from finder.cli.app import cli
from finder.io.decode import EOI_MISSING, FileError, decode_warnings, read_image
from finder.store.hashset import load

EOI = b"\xff\xd9"
KINDS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "baseline-optimized": {"optimize": True},
    "baseline-restarts": {"restart_marker_blocks": 3},
    "progressive": {"progressive": True},
    "progressive-restarts": {"progressive": True, "restart_marker_rows": 1},
}
HASHES = ("find", "ahash", "dhash", "phash", "whash")


def photo(width: int = 240, height: int = 176, seed: int = 0) -> Image.Image:
    """Smooth gradients with fine noise: structure for the hashes, detail in every block for the coder."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(seed)
    rgb = np.stack([128 + 100 * np.sin(x / 23 + y / 41), 128 + 90 * np.cos(y / 17), 255 * x / width], axis=2)
    return Image.fromarray((rgb + rng.normal(0, 12, rgb.shape)).clip(0, 255).astype(np.uint8))


def jpeg(kind: str, image: Image.Image | None = None) -> bytes:
    out = io.BytesIO()
    (image or photo()).save(out, "JPEG", quality=88, **KINDS[kind])
    data = out.getvalue()
    assert data.endswith(EOI)
    return data


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def pillow_decodes(data: bytes) -> bool:
    """Whether Pillow alone decodes ``data`` without an error."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------- the end marker


@pytest.mark.parametrize("kind", KINDS)
def test_jpeg_missing_only_its_end_marker_decodes_with_a_warning(tmp_path, kind):
    data = jpeg(kind)
    full = read_image(write(tmp_path / "full.jpg", data))
    path = write(tmp_path / "no_eoi.jpg", data[:-2])
    # The defect: Pillow calls such a file truncated (a progressive one always: libjpeg reads every scan up
    # to the EOI before the first line; a baseline one unless libjpeg happened to need no byte past the data).
    rejected_by_pillow = not pillow_decodes(data[:-2])
    assert rejected_by_pillow or not KINDS[kind].get("progressive")
    got = read_image(path)
    assert not isinstance(got, FileError) and not isinstance(full, FileError), got
    (image, st), (reference, _) = got, full
    assert decode_warnings(image) == ((EOI_MISSING,) if rejected_by_pillow else ())
    assert decode_warnings(reference) == ()
    assert st.size == len(data) - 2
    assert np.array_equal(np.asarray(image), np.asarray(reference))
    for name in HASHES:
        assert np.array_equal(algorithms.get(name).hash_image(image), algorithms.get(name).hash_image(reference))
    assert Path(path).read_bytes() == data[:-2]  # decoded from memory, the file untouched


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("kind", KINDS)
def test_truncated_jpeg_is_rejected(tmp_path, kind, fraction):
    data = jpeg(kind)
    cut = data[: int(len(data) * fraction)]
    got = read_image(write(tmp_path / "cut.jpg", cut))
    assert isinstance(got, FileError) and re.fullmatch(r"corrupt or truncated image: .*truncated.*", got.reason), got


def marker_positions(data: bytes, codes: set[int]) -> list[int]:
    """Offsets of every marker FF xx with xx in ``codes``, after the first scan header."""
    start = data.index(b"\xff\xda") + 2
    return [start + m.start() for m in re.finditer(rb"\xff[^\x00\xff]", data[start:])
            if data[start + m.start() + 1] in codes]


def test_progressive_jpeg_cut_between_scans_is_rejected(tmp_path):
    """Cut where a scan ends, the bytes plus an EOI are a valid, blurrier JPEG: still truncated."""
    data = jpeg("progressive")
    cuts = marker_positions(data, {0xC4, 0xDA})  # the DHT or SOS starting each later scan
    assert len(cuts) >= 5
    for cut in cuts:
        assert pillow_decodes(data[:cut] + EOI)  # no pixel check could tell
        got = read_image(write(tmp_path / "cut.jpg", data[:cut]))
        assert isinstance(got, FileError) and "truncated" in got.reason, (cut, got)


@pytest.mark.parametrize("kind", ["baseline-restarts", "progressive-restarts"])
def test_jpeg_cut_before_a_restart_marker_is_rejected(tmp_path, kind):
    """Cut just before an RSTn, the bytes plus an EOI decode with the rest grey: still truncated."""
    data = jpeg(kind)
    last_scan = data.rindex(b"\xff\xda")
    restarts = [p for p in marker_positions(data, set(range(0xD0, 0xD8))) if p > last_scan]
    assert len(restarts) >= 3
    for cut in (restarts[0], restarts[len(restarts) // 2], restarts[-1]):
        assert pillow_decodes(data[:cut] + EOI)
        got = read_image(write(tmp_path / "cut.jpg", data[:cut]))
        assert isinstance(got, FileError) and "truncated" in got.reason, (cut, got)


def test_jpeg_cut_in_its_last_bytes_is_rejected_or_exact(tmp_path):
    """Every cut in the last 40 bytes is rejected, unless the decode is pixel for pixel the full image."""
    data = jpeg("baseline")
    reference = np.asarray(Image.open(io.BytesIO(data)))
    for cut in range(len(data) - 42, len(data) - 2):
        got = read_image(write(tmp_path / "cut.jpg", data[:cut]))
        assert isinstance(got, FileError) or np.array_equal(np.asarray(got[0]), reference), cut


def test_finder_hash_reports_the_warning_once_and_counts_it(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    data = jpeg("progressive")
    write(images / "complete.jpg", data)
    no_eoi = write(images / "no_eoi.jpg", data[:-2])
    write(images / "other.jpg", jpeg("baseline", photo(seed=1).transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    write(images / "cut.jpg", data[: len(data) // 2])
    for jobs in ("1", "2"):
        out = tmp_path / f"h{jobs}.npz"
        result = CliRunner().invoke(cli, ["hash", str(images), "-o", str(out), "-j", jobs, "-a", "find",
                                          "-a", "whash", "--summary", "json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        lines = result.stderr.splitlines()
        warned = [line for line in lines if line.startswith("finder: warning ")]
        assert warned == [f"finder: warning {no_eoi}: {EOI_MISSING}"], result.stderr
        assert sum("skipped" in line and "cut.jpg" in line for line in lines) == 1
        assert re.search(r"hashed 3 \(new 3.*skipped 1 with errors.*; 1 with warnings", result.stderr), result.stderr
        figures = json.loads(lines[-1])
        assert figures["warnings"] == 1 and figures["errors"] == 1 and figures["hashed"] == 3
        store = load(str(out))
        row = {str(p): i for i, p in enumerate(store.paths)}
        for name in ("find", "whash"):
            assert store.hex(name, row[no_eoi]) == store.hex(name, row[str(images / "complete.jpg")])


# --------------------------------------------------------------------------- wHash on a large image


def test_whash_equals_imagehash_up_to_the_cap_and_uses_the_capped_scale_above(monkeypatch):
    monkeypatch.setattr(classic, "WHASH_MAX_SCALE", 256)
    whash = algorithms.get("whash")
    for size in [(300, 511), (511, 700), (256, 256)]:  # natural scale 256: imagehash's own hash
        image = photo(*size)
        assert whash.stages[0].function(image).size == (256, 256)
        assert to_hex(whash.hash_image(image), 64) == str(imagehash.whash(image))
    image = photo(1100, 1030)  # natural scale 1024, capped at 256
    assert whash.stages[0].function(image).size == (256, 256)
    capped = imagehash.hex_to_hash(to_hex(whash.hash_image(image), 64))
    assert capped == imagehash.whash(image, image_scale=256)
    assert capped - imagehash.whash(image) <= 4  # the cap's cost in accuracy: a few bits at most


MEMORY_PROBE = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from PIL import Image
    from finder import algorithms
    from finder.algorithms import classic
    from finder.algorithms.base import run_stages

    def status(key):
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return int(fields[key].split()[0]) / 1024

    whash = algorithms.get("whash")
    run_stages(whash, Image.new("RGB", (64, 64)))  # imports outside the measurement
    small = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((4096, 4096), Image.BICUBIC)
    open("/proc/self/clear_refs", "w").write("5")  # VmHWM := current RSS
    rss = status("VmRSS")
    start = time.perf_counter()
    words, seconds = run_stages(whash, image)
    print(json.dumps({"peak_mib": status("VmHWM") - rss, "seconds": time.perf_counter() - start,
                      "stages": seconds, "cap": classic.WHASH_MAX_SCALE}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc/self/status")
def test_whash_of_a_large_image_stays_within_memory_and_time_bounds():
    """4096 x 4096 (imagehash's natural scale 4096, capped at 2048): the float64 transforms work on
    2048 x 2048 arrays of 32 MiB, about 170 MiB at the peak with the 16 MiB grey copy; uncapped they
    are 128 MiB each and the peak passes 600 MiB (and 6 s where the capped hash takes under 2 s)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("cannot reset VmHWM here")
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, timeout=120,
                           cwd=Path(__file__).resolve().parents[1])
    assert probe.returncode == 0, probe.stderr
    figures = json.loads(probe.stdout)
    assert figures["cap"] == 2048
    assert figures["peak_mib"] < 320, figures
    assert figures["seconds"] < 20, figures  # generous: a loaded CI machine; uncapped is ~4x slower
