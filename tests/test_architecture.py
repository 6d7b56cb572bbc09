"""The package's shape, where it is a promise: light imports, one record per algorithm, one place for switches."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from finder import algorithms, config

PACKAGE = Path(__file__).resolve().parents[1] / "finder"
HEAVY = ("PIL", "numba", "llvmlite", "cv2", "scipy", "dask", "distributed", "imagehash", "rich", "tqdm")


def modules_after(statement: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running ``statement``."""
    code = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {name.split(".")[0] for name in proc.stdout.split()}


@pytest.mark.parametrize("statement", [
    "import finder.store",
    "from finder.store.hashset import load",  # reading a hash file: numpy only
    "import finder.views",                     # view names and radii
    "import finder.algorithms; finder.algorithms.get('find').working_size",  # the records, not the kernels
    "import finder.config",
    "import finder.cli",                       # the entry point installs signal handlers before anything else
])
def test_light_modules_load_neither_pillow_nor_numba(statement):
    heavy = sorted(modules_after(statement) & set(HEAVY))
    assert heavy == [], f"{statement!r} loaded {heavy}"


def test_reading_a_hash_file_loads_neither_pillow_nor_numba(tmp_path):
    import numpy as np

    from tests.helpers import synthetic_hashset

    path = tmp_path / "h.npz"
    synthetic_hashset(["a.jpg", "b.jpg"], {"find": np.arange(8, dtype=np.uint64).reshape(2, 4)}).save(path)
    heavy = modules_after(f"from finder.store.hashset import load\nassert len(load({str(path)!r})) == 2")
    assert not heavy & set(HEAVY)


@pytest.mark.parametrize("record", list(algorithms.ALGORITHMS.values()), ids=list(algorithms.ALGORITHMS))
def test_every_algorithm_record_names_its_own_stages(record):
    names = record.stage_names  # imports the stages
    assert len(names) == len(set(names)) >= 2
    for stage in (record.view_stage, record.crop_stage, record.quality_stage):
        assert stage == "" or stage in names
    assert record.stages_after("") == record.stages
    if record.view_stage:
        assert record.stages_after(record.view_stage) == record.stages[names.index(record.view_stage) + 1:]
    if record.layout_side:  # a layout hash's bits are a square DCT block with room for the layout corner
        block = math.isqrt(record.bits)
        assert block * block == record.bits and record.layout_side < block
    assert 0 < record.default_threshold < 0.5 and record.words * 64 >= record.bits
    assert algorithms.get(record.name.upper()) is record


def test_unknown_algorithm_lists_the_known_ones():
    with pytest.raises(ValueError, match="choose from find, ahash"):
        algorithms.get("md5")


def _sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text()) for p in sorted(PACKAGE.rglob("*.py"))]


def test_only_the_algorithm_records_test_an_algorithm_name():
    name = "|".join(algorithms.NAMES)
    test = re.compile(rf"""[=!]=\s*["']({name})["']|["']({name})["']\s*[=!]="""
                      r"|\b(spec|algorithm|record|entry|rule)\.name\s*[=!]=")
    offenders = [f"{p.relative_to(PACKAGE)}:{k + 1}" for p, text in _sources() if "algorithms" not in p.parts
                 for k, line in enumerate(text.splitlines()) if test.search(line)]
    assert offenders == []


def test_finder_switches_are_read_in_config_only():
    """Outside config.py, the environment is read only for other programs' variables, named literally."""
    offenders = []
    for path, text in _sources():
        if path.name == "config.py":
            continue
        for k, line in enumerate(text.splitlines()):
            if re.search(r"os\.environ|getenv\(", line):
                names = re.findall(r"""["']([A-Z_][A-Z0-9_]*)["']""", line)
                if not names or any(n.startswith("FINDER_") for n in names):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{k + 1}")
    assert offenders == []
    documented = (PACKAGE / "config.py").read_text().split('"""')[1]
    assert all(f"``{switch}``" in documented for switch in config.SWITCHES)


def test_bad_switch_values_are_one_line_errors(monkeypatch):
    from finder.errors import FinderError

    monkeypatch.setenv(config.DASK_TILE_FILES, "many")
    with pytest.raises(FinderError, match="FINDER_DASK_TILE_FILES must be a number"):
        config.dask_tile_files()
    monkeypatch.setenv(config.DEDUPE_STEP_DELAY, "-1")
    with pytest.raises(FinderError, match="FINDER_DEDUPE_STEP_DELAY"):
        config.dedupe_step_delay()
    monkeypatch.setenv(config.DEDUPE_STEP_DELAY, "0.5")
    assert config.dedupe_step_delay() == 0.5
    monkeypatch.delenv(config.DASK_TILE_FILES)
    assert config.dask_tile_files() is None


def test_the_local_executor_sizes_its_chunks_itself():
    """The hashing driver asks every executor for its chunk size (no probing for attributes)."""
    from finder.engine.local import LocalExecutor

    executor = LocalExecutor(2)
    assert executor.jobs == 2
    assert executor.chunk_files(10) == 1          # fewer files than 8 chunks per worker: one file a chunk
    assert executor.chunk_files(160) == 10        # 16 chunks: 8 per worker
    assert executor.chunk_files(10**6) == 32      # capped, so results stream back


def test_every_name_the_package_exports_resolves():
    """``finder.NAME`` is imported on first use from the module the table in finder/__init__.py names."""
    import finder

    for name in finder.__all__:
        assert getattr(finder, name).__name__ == name
