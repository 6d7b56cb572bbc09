"""Shared fixtures: bundled test data, and ../shared when it is present."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
GOLDEN_DIR = DATA / "golden"


def shared_dir() -> Path | None:
    """The read-only ../shared material beside the repository, if this machine has it."""
    candidate = Path(os.environ.get("FINDER_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    return candidate if (candidate / "corpus" / "find_golden.csv").is_file() else None


def golden_rows() -> list[dict[str, str]]:
    with open(GOLDEN_DIR / "find_golden.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def golden_images(tmp_path) -> Path:
    """A private copy of the bundled golden images (tests may add or touch files)."""
    out = tmp_path / "images"
    out.mkdir()
    for row in golden_rows():
        (out / row["file"]).write_bytes((GOLDEN_DIR / row["file"]).read_bytes())
    return out


@pytest.fixture(autouse=True, scope="session")
def private_data_home(tmp_path_factory):
    """Tests keep their journal key and trash out of the real home: $XDG_DATA_HOME in a temporary folder."""
    saved = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data-home"))
    yield
    if saved is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = saved
