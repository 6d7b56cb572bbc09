"""benchmarks/phone_breakdown.py: its timing wrappers change no hash, its override of FINd's decode minimum
reaches the decoder (in process and through the launcher), and the override is undone afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import finder.algorithms as algorithms
import finder.store.rows as rows
import finder.store.update as update
from finder.io.decode import FileError, read_image
from finder.store import resolution
from finder.store.hashset import load

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import decode_override  # noqa: E402
import phone_breakdown as pb  # noqa: E402

SIZE = (2048, 1536)


@pytest.fixture
def photos(tmp_path) -> Path:
    """Two noisy 2048x1536 JPEGs (the second stored sideways, EXIF orientation 6) framed by a white border,
    so the trimmed view, EXIF transposition and every FINd stage run."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(11)
    for k in range(2):
        pixels = np.full((SIZE[1], SIZE[0], 3), 255, np.uint8)
        pixels[200:-200, 200:-200] = rng.integers(0, 256, (SIZE[1] - 400, SIZE[0] - 400, 3), dtype=np.uint8)
        exif = Image.Exif()
        if k == 1:
            exif[0x0112] = 6
        Image.fromarray(pixels).save(folder / f"{k}.jpg", quality=90, exif=exif.tobytes())
    return folder


def paths_of(folder: Path) -> list[str]:
    return sorted(str(p.resolve()) for p in folder.glob("*.jpg"))


def plain_hashes(paths: list[str]) -> np.ndarray:
    report = update.hash_paths(paths, ["find"], jobs=1, views="default", on_warning=None)
    return report.hashset.hashes["find"]


def test_instrumented_pass_hashes_the_same_and_times_every_part(photos):
    paths = paths_of(photos)
    expected = plain_hashes(paths)
    spec, run = algorithms.ALGORITHMS["find"], rows._run
    parts, hashset = pb.breakdown_pass(paths, None)
    np.testing.assert_array_equal(hashset.hashes["find"], expected)  # every row: plain, mirror, trimmed
    assert len(hashset.hashes["find"]) == 3 * len(paths)  # the border makes a trimmed row for each
    for part in ("decode (draft + load)", "EXIF transpose", "FINd thumbnail", "FINd luma", "FINd blur_decimate",
                 "FINd dct", "mirror (flip, DCT, median)", "trimmed: content box", "trimmed: crop + FINd stages",
                 "quality scores"):
        assert parts[part] > 0, part
    assert parts["other (glue)"] >= 0  # nested timers are not counted twice
    assert parts["total per image"] == pytest.approx(sum(v for k, v in parts.items() if k != "total per image"))
    assert algorithms.ALGORITHMS["find"] is spec and rows._run is run  # the wrappers are gone


def test_min_long_override_reaches_the_decoder_and_is_undone(photos):
    path = paths_of(photos)[0]
    saved = dict(algorithms.ALGORITHMS)
    views = ("plain", "mirror", "trimmed")
    # Today: a longer side >= 512 -> 1/4 scale.  128 with the trimmed view's shorter side >= 256: 1/4 (1/8 would
    # leave 192); with the plain view only (shorter side >= 128): 1/8.  1024 (the 2x policy's minimum): 1/2.
    for side, chosen, size in ((None, views, (512, 384)), ("1024", views, (1024, 768)), ("128", views, (512, 384)),
                               ("128", ("plain",), (256, 192))):
        with decode_override.override(side):
            decoded = read_image(path, min_size=resolution.min_decode_size(["find"], resolution.DECODE_REDUCED,
                                                                           chosen))
        assert not isinstance(decoded, FileError) and decoded[0].size == size
    with decode_override.override("128"):
        assert pb.decode_scales([path]) == {"1/4": 1}
        assert pb.decode_scales([path], views_="plain") == {"1/8": 1}
    assert algorithms.ALGORITHMS == saved


def test_launcher_applies_the_environment_override(photos, tmp_path):
    paths = paths_of(photos)
    with decode_override.override("1024"):  # 1/2 scale, where finder's own minimum decodes at 1/4
        larger = plain_hashes(paths)
    assert not np.array_equal(larger, plain_hashes(paths))  # otherwise this test could not fail
    out = tmp_path / "h.npz"
    subprocess.run([sys.executable, "-c", pb.LAUNCHER, "hash", str(photos), "-j", "1", "-q", "-o", str(out)],
                   check=True, env={**os.environ, decode_override.ENV: "1024"})
    np.testing.assert_array_equal(load(out).hashes["find"], larger)


def test_upsampled_setting_gives_findings_stages_the_reference_thumbnail_size(photos, tmp_path):
    """``128+up``: decoded at 1/8 (256x192; 192x256 once turned by EXIF), then resized up to the size FINd's
    thumbnail of the full image has (512x384 / 384x512) -- the decoded size alone, under plain ``128``."""
    spec, thumbnail_sizes = algorithms.ALGORITHMS["find"], {}
    for setting in ("128", "128+up"):
        with decode_override.override(setting):
            for path in paths_of(photos):
                image, _ = read_image(path, min_size=resolution.min_decode_size(["find"], resolution.DECODE_REDUCED,
                                                                                ("plain",)))
                stage = algorithms.get("find").stages[0]
                small = stage.function(image)  # a Pillow image or an (H, W, 3) array
                thumbnail_sizes[setting, Path(path).name] = (small.size if isinstance(small, Image.Image)
                                                             else (small.shape[1], small.shape[0]))
    assert thumbnail_sizes == {("128", "0.jpg"): (256, 192), ("128", "1.jpg"): (192, 256),
                               ("128+up", "0.jpg"): (512, 384), ("128+up", "1.jpg"): (384, 512)}
    assert algorithms.ALGORITHMS["find"] is spec
    assert decode_override.thumbnail_size((4000, 3000)) == (512, 384)
    assert decode_override.thumbnail_size((3000, 4000)) == (384, 512)
    assert decode_override.thumbnail_size((300, 200)) == (300, 200)
    with pytest.raises(ValueError):
        decode_override.parse("128+down")


def test_bit_differences_counts_set_bits_of_the_xor():
    a = np.array([[0, 0], [2**64 - 1, 5]], dtype=np.uint64)
    b = np.array([[1, 2**63], [0, 6]], dtype=np.uint64)
    assert pb.bit_differences(a, b).tolist() == [2, 64 + 2]
