"""The decode policy: reduced-size JPEG decoding by default, ``--exact`` (full decode) for reference hashes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from finder import algorithms, views
from finder.algorithms import classic, find
from finder.algorithms.bits import to_hex
from finder.cli.app import cli
from finder.errors import SettingsError
from finder.io.decode import EOI_MISSING, FileError, decode_warnings, draft_scale, read_image
from finder.store import resolution
from finder.store.hashset import load
from finder.store.update import hash_paths
from tests.conftest import GOLDEN_DIR, golden_rows

ORIENTATION = 0x0112


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth structure with fine noise, so every hash has something to see."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(seed)
    rgb = np.stack([128 + 100 * np.sin(x / (width / 9) + y / (height / 5)), 128 + 90 * np.cos(y / (height / 7)),
                    255 * x / width], axis=2)
    return Image.fromarray((rgb + rng.normal(0, 10, rgb.shape)).clip(0, 255).astype(np.uint8))


def save_jpeg(path: Path, image: Image.Image, orientation: int = 1) -> str:
    exif = Image.Exif()
    if orientation != 1:
        exif[ORIENTATION] = orientation
    image.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return str(path)


def full_pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        return np.asarray(image, dtype=np.float64)


@pytest.mark.parametrize(("size", "min_size", "expected"), [
    ((4000, 3000), (1024, 0), 2),     # 2000 >= 1024, but 1000 < 1024
    ((3000, 4000), (1024, 0), 2),     # the same photo shown upright
    ((4000, 3000), (1024, 128), 2),
    ((4000, 3000), (0, 128), 8),      # 375 >= 128
    ((4000, 3000), (0, 4096), 1),     # wHash: never reduced below 4096 on the short side
    ((16384, 9000), (0, 4096), 2),
    ((8000, 6000), (1024, 128), 4),   # 2000 >= 1024, 1000 < 1024
    ((1024, 768), (1024, 128), 1),
    ((7, 5), (0, 0), 4),              # never a scale larger than the short side (Pillow divides by side // scale)
    ((1, 1), (0, 0), 1),
])
def test_draft_scale_is_the_largest_that_keeps_the_minimum(size, min_size, expected):
    assert draft_scale(size, min_size) == expected


def test_min_decode_size_per_algorithm_and_views():
    """The 2x policy (``reduced``, stores made before 2026-12) keeps twice each working size."""
    two = "reduced"
    assert resolution.min_decode_size(["find"], "full") is None
    assert resolution.min_decode_size(["find"], two) == (1024, 128)
    assert resolution.min_decode_size(["dhash"], two) == (0, 128)  # the quality grid, not dHash's 9x8
    assert resolution.min_decode_size(["dhash"], two, views=("plain", "trimmed")) == (0, 256)
    assert resolution.min_decode_size(["find", "phash"], two, views=("plain", "mirror", "trimmed")) == (1024, 256)
    assert resolution.min_decode_size(["whash", "find"], two) == (1024, 4096)
    assert resolution.min_decode_size(["unknown"], two) is None  # unknown working size: decode in full
    with pytest.raises(ValueError, match="decode policy"):
        resolution.min_decode_size(["find"], "fast")


def test_the_default_policy_keeps_each_working_size_once_and_the_views_twice():
    """``reduced-1x``: FINd's 512 px thumbnail from at least 512 px; the views' grids keep their 2x."""
    assert resolution.DECODE_REDUCED == "reduced-1x"
    assert resolution.min_decode_size(["find"]) == (512, 128)  # 128: the 64x64 quality grid, twice
    assert resolution.min_decode_size(["phash"]) == (0, 128)  # pHash's 32 px is below the quality grid's
    assert resolution.min_decode_size(["find", "phash"], views=("plain", "mirror", "trimmed")) == (512, 256)
    assert resolution.min_decode_size(["whash", "find"]) == (512, 2048)  # wHash's scale (and definition) kept
    # A 12-megapixel photo: 1/4 scale (1000 x 750) under the default, 1/2 under the 2x policy.
    assert draft_scale((4000, 3000), resolution.min_decode_size(["find"], views=("plain", "mirror", "trimmed"))) == 4
    assert draft_scale((4000, 3000), resolution.min_decode_size(["find"], "reduced")) == 2


def test_the_cli_spells_out_the_decode_policies():
    from finder.cli.hash import DECODE_CHOICES

    assert set(DECODE_CHOICES) == set(resolution.DECODE_POLICIES) and len(DECODE_CHOICES) == 3


def test_working_sizes_follow_the_algorithms_and_views():
    """The working sizes written in the algorithm records (to keep them free of numba) are the stages' own."""
    assert (algorithms.get("find").working_size[0],) * 2 == find.THUMBNAIL
    assert algorithms.get("whash").working_size == (0, classic.WHASH_MAX_SCALE)
    tiny = Image.new("RGB", (640, 480))
    for name, size in (("ahash", classic.ahash_size), ("dhash", classic.dhash_size), ("phash", classic.phash_size)):
        assert algorithms.get(name).working_size == (0, max(size(tiny)))
    assert views.BOX_SIDE == 128


def test_reduced_decode_keeps_the_minimum_and_the_picture(tmp_path):
    path = save_jpeg(tmp_path / "big.jpg", photo(2400, 1600))
    full = read_image(path, True, None)
    reduced = read_image(path, True, (1024, 128))
    assert not isinstance(full, FileError) and not isinstance(reduced, FileError)
    assert full[0].size == (2400, 1600) and reduced[0].size == (1200, 800)
    assert full[1] == reduced[1]  # the same bytes' stat
    assert np.array_equal(np.asarray(full[0], dtype=np.float64), full_pixels(path))
    # The half-scale decode is the picture: within a few grey levels of 2x2 means of the full decode.
    pixels = full_pixels(path)
    means = pixels.reshape(800, 2, 1200, 2, 3).mean(axis=(1, 3))
    assert np.abs(np.asarray(reduced[0], dtype=np.float64) - means).mean() < 3.0
    smaller = read_image(path, True, (512, 128))
    assert not isinstance(smaller, FileError) and smaller[0].size == (600, 400)


def test_reduced_decode_applies_exif_orientation_after_the_draft(tmp_path):
    stored = photo(2400, 1600, seed=3)
    path = save_jpeg(tmp_path / "sideways.jpg", stored, orientation=6)  # shown rotated 90 degrees clockwise
    got = read_image(path, True, (1024, 128))
    assert not isinstance(got, FileError)
    image = got[0]
    assert image.size == (800, 1200)
    shown = np.rot90(full_pixels(path), k=-1)  # orientation 6: rotate the stored pixels clockwise
    means = shown.reshape(1200, 2, 800, 2, 3).mean(axis=(1, 3))
    assert np.abs(np.asarray(image, dtype=np.float64) - means).mean() < 3.0
    raw = read_image(path, False, (1024, 128))
    assert not isinstance(raw, FileError) and raw[0].size == (1200, 800)


def test_formats_without_dct_scaling_decode_in_full(tmp_path):
    path = tmp_path / "big.png"
    photo(2400, 1600).save(path)
    got = read_image(str(path), True, (0, 128))
    assert not isinstance(got, FileError) and got[0].size == (2400, 1600)


def test_reduced_decode_of_a_jpeg_missing_its_end_marker(tmp_path):
    out = io.BytesIO()
    photo(2400, 1600, seed=5).save(out, "JPEG", quality=88, progressive=True)
    data = out.getvalue()
    path = tmp_path / "no_eoi.jpg"
    path.write_bytes(data[:-2])
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(data)
    got, reference = read_image(str(path), True, (1024, 128)), read_image(str(whole), True, (1024, 128))
    assert not isinstance(got, FileError) and not isinstance(reference, FileError)
    assert decode_warnings(got[0]) == (EOI_MISSING,)
    assert got[0].size == (1200, 800)
    assert np.array_equal(np.asarray(got[0]), np.asarray(reference[0]))


@pytest.mark.parametrize("policy", ["reduced-1x", "reduced"])
def test_exact_and_reduced_hashes(tmp_path, policy):
    """``full`` is the hash of the fully decoded image; each reduced policy stays within a few bits of it."""
    with Image.open(GOLDEN_DIR / "0008_94874058.jpg") as source:
        big = source.convert("RGB").resize((2400, 1800), Image.Resampling.LANCZOS)
    path = save_jpeg(tmp_path / "big.jpg", big)
    names = ["find", "dhash", "phash"]
    exact = hash_paths([path], names, jobs=1, views="plain", decode="full").hashset
    reduced = hash_paths([path], names, jobs=1, views="plain", decode=policy).hashset
    assert exact.settings["decode"] == "full" and reduced.settings["decode"] == policy
    with Image.open(path) as image:
        image.load()
        for name in names:
            assert np.array_equal(exact.plain(name)[0], algorithms.get(name).hash_image(image)), name
    for name, most in (("find", 16), ("dhash", 4), ("phash", 4)):
        a, b = exact.plain(name)[0], reduced.plain(name)[0]
        assert np.unpackbits((a ^ b).view(np.uint8)).sum() <= most, name


def test_exact_path_is_bit_exact_with_the_golden_file(golden_images):
    rows = golden_rows()
    paths = sorted({str(golden_images / r["file"]) for r in rows})
    hs = hash_paths(paths, ["find"], jobs=1, exif_transpose=False, views="plain", decode="full").hashset
    got = {Path(p).name: hs.hex("find", k) for k, p in enumerate(hs.paths)}
    assert all(got[r["file"]] == r["find_hex"] for r in rows)


def test_a_store_is_not_reused_under_the_other_policy(tmp_path):
    path = save_jpeg(tmp_path / "big.jpg", photo(2400, 1600))
    exact = hash_paths([path], ["dhash"], jobs=1, decode="full").hashset
    with pytest.raises(SettingsError, match="decode full"):
        hash_paths([path], ["dhash"], jobs=1, previous=exact)
    again = hash_paths([path], ["dhash"], jobs=1, previous=exact, rehash=True)
    assert again.hashset.settings["decode"] == "reduced-1x" and again.rehashed + again.new == 1
    assert any("other settings" in note for note in again.notes)
    assert hash_paths([path], ["dhash"], jobs=1, previous=exact, decode="full").reused == 1


@pytest.fixture
def one_photo(tmp_path):
    """A folder with one 2400x1600 JPEG, the output path, and ``run(*flags)``: ``finder hash`` of it (dHash)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    save_jpeg(folder / "a.jpg", photo(2400, 1600))
    out = str(tmp_path / "h.npz")
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["hash", str(folder), "-o", out, "-j", "1", "-q", "-a", "dhash", *args])

    return folder, out, run


def test_cli_policy_defaults_to_the_outputs(tmp_path, one_photo):
    folder, out, run = one_photo
    runner = CliRunner()
    assert run("--exact").exit_code == 0
    assert load(out).settings["decode"] == "full"
    assert run().exit_code == 0  # no flag: the output's policy
    assert load(out).settings["decode"] == "full"
    refused = run("--reduced")
    assert refused.exit_code == 2 and "decode full" in refused.output
    assert run("--reduced", "--rehash").exit_code == 0
    assert load(out).settings["decode"] == "reduced-1x"
    info = json.loads(runner.invoke(cli, ["show", out, "--info"]).output)
    assert info["decode"] == "reduced-1x"
    fresh = str(tmp_path / "new.npz")
    assert runner.invoke(cli, ["hash", str(folder), "-o", fresh, "-j", "1", "-q"]).exit_code == 0
    assert load(fresh).settings["decode"] == "reduced-1x"
    assert to_hex(load(fresh).plain("find")[0], 256) != ""


def test_a_store_made_under_the_2x_policy_keeps_it(one_photo):
    """A store from before the 1x default records ``reduced``: a re-run, with or without ``--reduced``, keeps
    its policy (its entries stay reusable, no hashes of two margins mixed); ``--decode`` moves it on purpose."""
    folder, out, run = one_photo
    assert run("--decode", "reduced").exit_code == 0
    assert load(out).settings["decode"] == "reduced"
    save_jpeg(folder / "b.jpg", photo(2400, 1600, seed=2))
    for flags in ((), ("--reduced",)):
        assert run(*flags).exit_code == 0
        assert load(out).settings["decode"] == "reduced"
    refused = run("--decode", "reduced-1x")
    assert refused.exit_code == 2 and "decode reduced" in refused.output
    assert run("--decode", "reduced-1x", "--rehash").exit_code == 0
    assert load(out).settings["decode"] == "reduced-1x"
    both = run("--exact", "--decode", "full")
    assert both.exit_code == 2 and "not both" in both.output
