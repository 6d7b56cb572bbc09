"""finder synth: a labelled near-duplicate set from photos (deterministic, readable by evaluate --truth)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from finder.cli.app import cli
from finder.evaluate.metrics import truth_from_csv
from finder.evaluate.synth import TRANSFORMS, TRUTH_HEADER, resolve_transforms, synthesise

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"
ORIGINALS = [EXAMPLES / "0040_64662649.jpg", EXAMPLES / "0053_02747386.jpg"]  # a wide RGB and a tall RGB photo


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "ground_truth.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def every_transform(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_all")
    synthesise([str(p) for p in ORIGINALS], str(out), per_image=len(TRANSFORMS), seed=7, jobs=2)
    return out


def test_same_seed_gives_byte_identical_files_whatever_the_workers(every_transform, tmp_path):
    again = tmp_path / "again"
    again.mkdir()
    synthesise([str(p) for p in ORIGINALS], str(again), per_image=len(TRANSFORMS), seed=7, jobs=1)
    assert _files(again) == _files(every_transform)


def test_another_seed_gives_other_files(every_transform, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    synthesise([str(p) for p in ORIGINALS], str(other), per_image=3, seed=8, jobs=1)
    assert set(_files(other)).isdisjoint(set(_files(every_transform)) - {"ground_truth.csv"})


def test_truth_lists_every_file_with_its_transform_and_real_size(every_transform):
    rows = _rows(every_transform)
    assert tuple(rows[0]) == TRUTH_HEADER
    assert sorted(r["path"] for r in rows) == sorted(p.name for p in every_transform.iterdir() if p.suffix != ".csv")
    for group in ("0001", "0002"):
        members = [r for r in rows if r["group"] == group]
        assert sorted(r["transform"] for r in members) == sorted(["original", *TRANSFORMS])
    for row in rows:
        assert re.fullmatch(rf"{row['group']}_\d{{8}}\.(jpg|png|webp)", row["path"])
        params = json.loads(row["params"])
        with Image.open(every_transform / row["path"]) as image:
            assert list(image.size) == params["out_wh"]
        if row["transform"] == "original":
            assert params["source"] in {p.name for p in ORIGINALS}


def _pixels(folder: Path, row: dict[str, str]) -> np.ndarray:
    with Image.open(folder / row["path"]) as image:
        return np.asarray(image.convert("L"), dtype=np.float64)


def test_geometric_edits_do_what_their_params_say(every_transform):
    """Golden values from numpy on the original's pixels, not from the edit functions."""
    rows = _rows(every_transform)
    for group in ("0001", "0002"):
        by = {r["transform"]: r for r in rows if r["group"] == group}
        original = _pixels(every_transform, by["original"])
        h, w = original.shape

        def close(edit: str, expected: np.ndarray, tolerance: float = 4.0, by=by) -> None:
            got = _pixels(every_transform, by[edit])
            assert got.shape == expected.shape, edit
            assert np.abs(got - expected).mean() < tolerance, edit

        close("hflip", original[:, ::-1])
        close("vflip", original[::-1, :])
        close("rot180", original[::-1, ::-1])
        angle = json.loads(by["rot90"]["params"])["angle"]
        close("rot90", np.rot90(original, 1 if angle == 90 else 3))
        x0, y0, x1, y1 = json.loads(by["crop"]["params"])["box"]
        close("crop", original[y0:y1, x0:x1])
        crop = json.loads(by["crop"]["params"])
        assert 0.05 <= crop["frac"] <= 0.20
        factor = json.loads(by["downscale"]["params"])["factor"]
        assert 0.3 <= factor <= 0.8
        assert json.loads(by["downscale"]["params"])["out_wh"] == [round(w * factor), round(h * factor)]
        box = json.loads(by["screenshot"]["params"])["box"]
        shot = _pixels(every_transform, by["screenshot"])  # the frame differs; the pasted box must not
        assert np.abs(shot[box[1]:box[3], box[0]:box[2]] - original).mean() < 4.0
        close("jpeg", original, 6.0)


def test_resolve_transforms():
    assert resolve_transforms(None) == tuple(TRANSFORMS)
    assert resolve_transforms("rotate, crop") == ("crop", "rotate")  # canonical order
    with pytest.raises(ValueError, match="unknown transform.*nope"):
        resolve_transforms("crop,nope")


def test_evaluate_reads_the_truth(every_transform):
    paths = [str(every_transform / r["path"]) for r in _rows(every_transform)]
    truth = truth_from_csv(paths, str(every_transform / "ground_truth.csv"))
    assert (truth.labels >= 0).all() and len(truth.names) == 2
    assert set(truth.columns["transform"]) == {"original", *TRANSFORMS}


def test_cli_writes_a_set_and_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "set"
    runner = CliRunner()
    result = runner.invoke(cli, ["synth", str(ORIGINALS[0]), "-o", str(out), "--per-image", "2", "--seed", "3",
                                 "--transforms", "crop,rotate,hflip", "-j", "1", "--summary", "json"])
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert len(rows) == 3 and {r["transform"] for r in rows} <= {"original", "crop", "rotate", "hflip"}
    assert json.loads(result.stderr.strip().splitlines()[-1])["images"] == 3
    again = runner.invoke(cli, ["synth", str(ORIGINALS[0]), "-o", str(out)])
    assert again.exit_code == 2 and "not empty" in again.stderr and "Traceback" not in again.output


@pytest.mark.parametrize("args, message", [
    (["--transforms", "crop,bogus"], "unknown transform"),
    (["--per-image", "5", "--transforms", "crop,rotate"], "more than the 2 transforms"),
])
def test_cli_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["synth", str(ORIGINALS[0]), "-o", str(tmp_path / "x"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "x").exists()


def test_cli_skips_unreadable_photos_and_fails_without_any(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    result = CliRunner().invoke(cli, ["synth", str(bad), str(ORIGINALS[1]), "-o", str(tmp_path / "ok"),
                                      "--per-image", "1", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.stderr and len(_rows(tmp_path / "ok")) == 2
    none = CliRunner().invoke(cli, ["synth", str(bad), "-o", str(tmp_path / "none"), "-j", "1"])
    assert none.exit_code == 2 and "could be read" in none.stderr
