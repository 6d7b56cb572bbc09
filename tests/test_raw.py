"""Camera RAW files (the raw extra): decoded by LibRaw, grouped with their camera JPEG, both kept, RAW preferred.

The RAW samples are real DNG files made in the test from a bundled photo with pidng (tests.helpers.write_dng).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner
from PIL import Image

from finder.cli.app import cli
from finder.io.decode import image_extensions, read_image
from finder.io.raw import RAW_EXTENSIONS
from tests.helpers import write_dng

pytest.importorskip("rawpy")
pytest.importorskip("pidng")

PHOTO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "images",
                     "0040_64662649.jpg")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def shoot(tmp_path):
    """A camera's RAW+JPEG pair of one photo, and an upscaled copy of the JPEG elsewhere."""
    folder = tmp_path / "DCIM"
    folder.mkdir()
    write_dng(PHOTO, folder / "IMG_0001.dng")
    shutil.copy(PHOTO, folder / "IMG_0001.JPG")
    with Image.open(PHOTO) as image:
        image.resize((image.width * 3 // 2, image.height * 3 // 2), Image.Resampling.LANCZOS).save(
            tmp_path / "shared.jpg", quality=90)
    return tmp_path, folder


def test_a_dng_decodes_to_its_photo_at_full_and_half_size(shoot):
    import numpy as np

    _, folder = shoot
    assert RAW_EXTENSIONS <= image_extensions()
    full = read_image(str(folder / "IMG_0001.dng"))
    image, st = full
    with Image.open(PHOTO) as photo:
        reference = np.asarray(photo.convert("RGB").crop((0, 0, image.width, image.height)), dtype=np.float64)
    assert image.size == (250, 166) and image.mode == "RGB" and st.size == os.path.getsize(folder / "IMG_0001.dng")
    assert np.abs(np.asarray(image, dtype=np.float64) - reference).mean() < 12  # LibRaw's rendering of it
    half, _ = read_image(str(folder / "IMG_0001.dng"), min_size=(100, 60))
    assert half.size == (125, 83)  # LibRaw's half_size: each 2x2 block of the sensor one pixel


def test_raw_and_camera_jpeg_are_grouped_both_kept_and_the_raw_is_the_keeper(shoot, monkeypatch):
    """Also: a RAW decoded in this process first (LibRaw's OpenMP threads start) must not hang the hashing
    pool after it (a forked child deadlocked in libgomp; the pool now starts by forkserver)."""
    root, folder = shoot
    monkeypatch.chdir(root)
    read_image(str(folder / "IMG_0001.dng"))
    assert run("hash", root, "-q", "-j", "2").exit_code == 0
    result = run("cluster", "-o", "groups.json")
    assert result.exit_code == 0, result.output
    (group,) = json.loads((root / "groups.json").read_text())
    members = {os.path.basename(m["path"]): m for m in group["members"]}
    assert set(members) == {"IMG_0001.dng", "IMG_0001.JPG", "shared.jpg"}
    assert group["keeper"].endswith("IMG_0001.dng") and "formats:" in group["keeper_reason"]
    assert members["IMG_0001.JPG"]["kept_with"] == group["keeper"]
    dry = run("dedupe", "groups.json", "--action", "move", "--to", root / "dupes")
    assert dry.stdout.count("would move") == 1 and "shared.jpg" in dry.stdout
    assert "1 RAW+JPEG companion" in dry.stderr


def test_worker_pools_start_by_forkserver_once_libraw_ran_here(shoot, monkeypatch):
    """A child forked after LibRaw's OpenMP pool started deadlocks in libgomp: once a RAW was decoded in this
    process, the local pool starts by forkserver, and a pool of two workers hashes the RAW."""
    import multiprocessing

    from finder.engine import local_executor
    from finder.engine.local import default_start_method
    from finder.store.update import hash_paths

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform: nothing to guard")
    monkeypatch.delenv("FINDER_START_METHOD", raising=False)
    _, folder = shoot
    read_image(str(folder / "IMG_0001.dng"))
    assert default_start_method() == "forkserver"
    paths = sorted(str(folder / name) for name in os.listdir(folder))
    with local_executor(2) as executor:
        report = hash_paths(paths, jobs=2, executor=executor)
    assert len(report.hashset) == 2 and not report.hashset.errors
