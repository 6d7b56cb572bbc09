"""`finder hash` and `finder show` through click's CliRunner, and the library driver."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import imagehash
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from finder.cli.app import cli
from finder.io.files import find_images
from finder.store.hashset import load
from finder.store.update import hash_paths
from tests.conftest import golden_rows


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def show_rows(out):
    result = run("show", out)
    assert result.exit_code == 0
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_hash_then_show_gives_golden_find_and_imagehash_dhash(golden_images, tmp_path):
    out = tmp_path / "h.npz"
    result = run("hash", golden_images, "-a", "find", "-a", "dhash", "-o", out, "-j", "2")
    assert result.exit_code == 0, result.output
    assert "hashed 49 (new 49" in result.stderr and result.stdout == ""
    rows = show_rows(out)
    golden = {r["file"]: r["find_hex"] for r in golden_rows()}
    find_rows = {os.path.basename(r["path"]): r["hex"] for r in rows if r["algorithm"] == "find"}
    assert find_rows == golden
    for r in rows:
        if r["algorithm"] == "dhash":
            with Image.open(r["path"]) as image:
                assert r["hex"] == str(imagehash.dhash(image))


def test_parallel_and_in_process_results_are_identical(golden_images):
    paths, _ = find_images([str(golden_images)])
    one = hash_paths(paths, ["find", "ahash"], jobs=1).hashset
    two = hash_paths(paths, ["find", "ahash"], jobs=2).hashset
    assert list(one.paths) == list(two.paths) == paths
    for name in ("find", "ahash"):
        assert np.array_equal(one.hashes[name], two.hashes[name])


def test_incremental_rerun_reuses_changes_and_drops(golden_images, tmp_path):
    out = tmp_path / "h.npz"
    assert run("hash", golden_images, "-o", out, "-j", "1").exit_code == 0
    first = load(str(out))

    again = run("hash", golden_images, "-o", out, "-j", "1")
    assert "hashed 0 (new 0, changed 0, rehashed 0), reused 49, kept 0 outside this run, dropped 0 gone" \
        in again.stderr

    files = sorted(golden_images.iterdir())
    changed, removed = files[0], files[1]
    os.utime(changed, ns=(1, 1))
    removed.unlink()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(golden_images / "new.png")
    third = run("hash", golden_images, "-o", out, "-j", "1")
    assert "hashed 2 (new 1, changed 1, rehashed 0), reused 47, kept 0 outside this run, dropped 1 gone" \
        in third.stderr
    updated = load(str(out))
    assert str(removed) not in updated.paths and str(golden_images / "new.png") in updated.paths
    index = {str(p): i for i, p in enumerate(first.paths)}
    for i, p in enumerate(updated.paths):
        if p in index:
            assert np.array_equal(updated.plain("find")[i], first.plain("find")[index[p]])

    forced = run("hash", golden_images, "-o", out, "--rehash", "-j", "1")
    assert "hashed 49 (new 0, changed 0, rehashed 49), reused 0" in forced.stderr

    other = run("hash", golden_images, "-o", out, "-a", "dhash", "-j", "1")
    assert other.exit_code == 2 and "made with other settings" in other.stderr and "--rehash" in other.stderr
    assert load(str(out)).algorithms == ["find"]
    replaced = run("hash", golden_images, "-o", out, "-a", "dhash", "--rehash", "-j", "1")
    assert replaced.exit_code == 0 and "replaced a store made with other settings" in replaced.stderr
    assert load(str(out)).algorithms == ["dhash"]
    # without -a, a run uses the store's own algorithms
    assert "reused 49" in run("hash", golden_images, "-o", out, "-j", "1").stderr


def test_paths_from_stdin(golden_images, tmp_path):
    files = sorted(str(p) for p in golden_images.iterdir())[:3]
    listing = "\n".join(files + [str(golden_images), str(tmp_path / "notes.txt")]) + "\n"
    out = tmp_path / "h.npz"
    result = run("hash", "-", "-o", out, "-j", "1", input=listing)
    assert result.exit_code == 0, result.output
    assert list(load(str(out)).paths) == files


def test_paths_from_stdin_nul_separated(golden_images, tmp_path):
    files = sorted(str(p) for p in golden_images.iterdir())[:2]
    out = tmp_path / "h.npz"
    assert run("hash", "-0", "-", "-o", out, "-j", "1", input="\0".join(files) + "\0").exit_code == 0
    assert list(load(str(out)).paths) == files


def test_extensions_hidden_files_and_case(tmp_path):
    image = Image.new("RGB", (20, 20), (1, 2, 3))
    (tmp_path / "sub" / ".hidden_dir").mkdir(parents=True)
    for name in ("a.JPG", "b.Jpeg", "c.png", "sub/d.webp", "sub/.e.png", "sub/.hidden_dir/f.png"):
        image.save(tmp_path / name, format="PNG")
    (tmp_path / "notes.txt").write_text("not an image")
    found, _ = find_images([str(tmp_path)])
    assert [os.path.relpath(p, tmp_path) for p in found] == ["a.JPG", "b.Jpeg", "c.png", "sub/d.webp"]
    found, _ = find_images([str(tmp_path)], hidden=True)
    assert len(found) == 6


def test_exif_orientation_applied_by_default(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (60, 90, 3), dtype=np.uint8)
    stored = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise
    stored.save(tmp_path / "tagged.png", exif=exif)
    stored.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "upright.png")
    stored.save(tmp_path / "plain.png")
    default = hash_paths([str(tmp_path / n) for n in ("tagged.png", "upright.png", "plain.png")], ["find"], jobs=1)
    raw = hash_paths([str(tmp_path / n) for n in ("tagged.png", "upright.png", "plain.png")], ["find"], jobs=1,
                     exif_transpose=False)
    # the store is sorted by path: plain, tagged, upright
    assert [os.path.basename(p) for p in default.hashset.paths] == ["plain.png", "tagged.png", "upright.png"]
    (hp, ht, hu), (rp, rt, ru) = default.hashset.hashes["find"], raw.hashset.hashes["find"]
    assert np.array_equal(ht, hu) and not np.array_equal(ht, hp)
    assert np.array_equal(rt, rp) and not np.array_equal(rt, ru)


def test_quiet_prints_nothing_and_show_formats(golden_images, tmp_path):
    out = tmp_path / "h.npz"
    result = run("hash", golden_images, "-o", out, "-q", "-j", "1")
    assert result.exit_code == 0 and result.stderr == "" and result.stdout == ""
    as_json = json.loads(run("show", out, "--format", "json").stdout)
    lines = [json.loads(line) for line in run("show", out, "--format", "jsonl").stdout.splitlines()]
    assert as_json == lines and len(lines) == 49
    assert set(lines[0]) == {"path", "algorithm", "hex"} and len(lines[0]["hex"]) == 64


def test_show_unknown_algorithm_is_a_usage_error(golden_images, tmp_path):
    out = tmp_path / "h.npz"
    run("hash", golden_images, "-o", out, "-q", "-j", "1")
    result = run("show", out, "-a", "phash")
    assert result.exit_code == 2 and "has no phash hashes (it has find)" in result.stderr


def test_default_output_is_hashes_npz_in_cwd(golden_images, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("hash", golden_images, "-q", "-j", "1").exit_code == 0
    assert len(load("hashes.npz")) == 49
    assert len(show_rows("hashes.npz")) == 49


def test_python_dash_m_and_version():
    result = subprocess.run([sys.executable, "-m", "finder", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("finder, version ")


@pytest.mark.parametrize("args", [["hash"], ["hash", "nope/"], ["hash", ".", "-a", "md5"], ["hash", ".", "-j", "0"],
                                  ["show", "--format", "xml"], ["frobnicate"]])
def test_usage_errors_exit_2(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(*args).exit_code == 2


def test_heic_files_are_found_and_hashed_with_the_heif_extra(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    pixels = np.random.default_rng(3).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.HEIC", format="HEIF", quality=90)
    found, _ = find_images([str(tmp_path)])
    assert found == [str(tmp_path / "photo.HEIC")]
    report = hash_paths(found, ["find", "dhash"], jobs=1)
    assert report.errors == []
    with Image.open(tmp_path / "photo.HEIC") as image:
        image.load()
        assert str(imagehash.dhash(image)) == report.hashset.hex("dhash", 0)
