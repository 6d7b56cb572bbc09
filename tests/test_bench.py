"""finder.evaluate.bench: the shape of the result (never its timings), the stages of the registry timed, the fit."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from finder import algorithms as _algorithms
from finder.algorithms import find
from finder.algorithms.base import run_stages
from finder.evaluate import bench, bench_tables, machine
from finder.io.decode import open_image

from .conftest import GOLDEN_DIR, golden_rows

NAMES = list(_algorithms.ALGORITHMS)


def make_images(directory) -> list[str]:
    """A handful of small images in the modes and shapes the stages must handle."""
    rng = np.random.default_rng(7)
    directory.mkdir(parents=True, exist_ok=True)
    ramp = np.add.outer(np.arange(48), np.arange(64)).astype(np.uint8) * 2
    specs = [
        ("rgb.png", Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "RGB")),
        ("grey.png", Image.fromarray(ramp, "L")),
        ("rgba.png", Image.fromarray(rng.integers(0, 256, (30, 70, 4), dtype=np.uint8), "RGBA")),
        ("palette.gif", Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), "RGB").convert("P")),
        ("photo.jpg", Image.fromarray(np.dstack([ramp, ramp[::-1], 255 - ramp]), "RGB").resize((600, 520))),
        ("tall.jpg", Image.fromarray(rng.integers(0, 256, (90, 20, 3), dtype=np.uint8), "RGB")),
    ]
    paths = []
    for name, image in specs:
        path = directory / name
        image.save(path)
        paths.append(str(path))
    return sorted(paths)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    return make_images(tmp_path_factory.mktemp("bench") / "images")


@pytest.fixture(scope="module")
def result(images):
    messages: list[str] = []
    out = bench.run_bench([os.path.dirname(images[0])], NAMES, [1, 2], [4, 8], repeat=1, sample=5,
                          progress=messages.append)
    out["_messages"] = messages
    return out


def decoded_images(images):
    golden = [str(GOLDEN_DIR / row["file"]) for row in golden_rows()[:6]]
    for path in images + golden:
        image = open_image(path)
        assert not isinstance(image, bench.FileError), image
        yield path, image


# ---- faithfulness ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_timed_stages_give_the_algorithms_own_hash(name, images):
    algorithm = _algorithms.get(name)
    for path, image in decoded_images(images):
        words, seconds = run_stages(algorithm, image)
        assert words.dtype == np.uint64 and words.shape == (algorithm.words,)
        assert np.array_equal(words, algorithm.hash_image(image)), path
        assert list(seconds) == list(algorithm.stage_names)


def test_find_stages_are_the_registered_ones_and_equal_the_fused_path(images):
    assert bench.FIND_STAGES == ("decode", "thumbnail", "rgb", "luma", "blur_decimate", "dct", "median_bits")
    assert _algorithms.get("find").stages == find.STAGES
    for path, image in decoded_images(images):
        words = find.find_hash(image)
        assert np.array_equal(words, _algorithms.get("find").hash_image(image)), path
        assert np.array_equal(words, find.find_from_rgb(find.prepare(image), find.DCT)), path


def test_bench_copies_no_algorithm():
    for name in ("STAGED", "Staged", "find_hash_staged", "LANCZOS", "HASH_SIZE"):
        assert not hasattr(bench, name)


def test_stages_do_not_modify_the_image(images):
    image = open_image(images[-2])
    before = (image.mode, image.size, image.tobytes())
    for name in NAMES:
        run_stages(_algorithms.get(name), image)
    assert (image.mode, image.size, image.tobytes()) == before


def test_per_image_columns_split_prepare_and_hash_stages(images):
    specs = [_algorithms.get(n) for n in NAMES]
    runs = bench._time_runs(images[0], specs, 1)
    for algorithm in specs:
        split = bench._split_runs(algorithm, runs[algorithm.name])
        assert split["prepare"] == sum(runs[algorithm.name][s.name][0] for s in algorithm.stages if s.prepare)
        assert split["hash"] == sum(runs[algorithm.name][s.name][0] for s in algorithm.stages if not s.prepare)
        assert split["total"] == split["decode"] + split["prepare"] + split["hash"]
    assert bench._time_runs(__file__, specs, 1) is None  # not an image


def test_cpu_model_is_a_name():
    model = machine.cpu_model()
    assert isinstance(model, str) and model and "\n" not in model


# ---- helpers -----------------------------------------------------------------


@pytest.mark.parametrize("power", [1.0, 2.0, 1.5, 0.5])
def test_growth_exponent_of_exact_power_law(power):
    ns = [100, 1000, 10_000, 100_000]
    assert bench.growth_exponent(ns, [3e-7 * n**power for n in ns]) == pytest.approx(power, abs=1e-12)


def test_growth_exponent_skips_missing_points_and_needs_two_sizes():
    assert bench.growth_exponent([10, 20, 40], [None, 4.0, 16.0]) == pytest.approx(2.0)
    assert bench.growth_exponent([10, 20], [None, 4.0]) is None
    assert bench.growth_exponent([10, 10], [1.0, 2.0]) is None
    assert bench.growth_exponent([], []) is None


def test_sample_paths_is_deterministic_and_evenly_spaced():
    paths = [f"{k:03d}.jpg" for k in range(100)][::-1]
    chosen = bench.sample_paths(paths, 10)
    assert chosen == [f"{k:03d}.jpg" for k in range(0, 100, 10)]
    assert bench.sample_paths(paths, 500) == sorted(paths)
    assert len(set(bench.sample_paths(paths, 33))) == 33


# ---- run_bench: shape only ---------------------------------------------------


def positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_meta(result, images):
    meta = result["meta"]
    assert meta["algorithms"] == NAMES
    assert meta["n_images"] == len(images)
    assert meta["sample"] == 5 and meta["measured"] == 5 and meta["skipped"] == 0
    assert meta["cpu_count"] >= 1 and meta["numba_threads"] >= 1
    assert meta["cpu_model"] == machine.cpu_model()
    assert set(meta["versions"]) >= {"finder", "numpy", "pillow", "numba"}
    assert result["_messages"], "progress was never called"


def test_per_image_and_find_stages(result):
    assert list(result["per_image"]) == NAMES
    for row in result["per_image"].values():
        assert list(row) == ["decode", "prepare", "hash", "total"]
        assert all(positive(v) for v in row.values())
    stages = result["find_stages"]
    assert list(stages) == [*bench.FIND_STAGES, "total"]
    assert all(positive(v) for v in stages.values())


def test_memory(result):
    assert list(result["memory"]) == NAMES
    for row in result["memory"].values():
        assert positive(row["peak_mib"]) and positive(row["ru_maxrss_mib"])
        assert row["hashed"] == 5
        if row["source"] == "VmHWM":  # Linux: baseline and high-water marks from /proc/self/status
            assert positive(row["baseline_mib"]) and positive(row["import_peak_mib"])
            assert row["peak_mib"] >= row["import_peak_mib"] >= row["baseline_mib"]
            assert row["delta_mib"] == pytest.approx(row["peak_mib"] - row["baseline_mib"])


def test_jobs(result):
    rows = result["jobs"]
    assert [r["jobs"] for r in rows] == [1, 2]
    for row in rows:
        assert row["images"] == 5 and row["hashed"] == 5
        assert positive(row["seconds"]) and positive(row["images_per_s"]) and positive(row["speedup"])
    assert rows[0]["speedup"] == 1.0


def test_sizes(result):
    sizes = result["sizes"]
    assert sizes["jobs"] == 2
    assert sizes["radius"] == {n: math.floor(_algorithms.get(n).default_threshold * _algorithms.get(n).bits)
                               for n in NAMES}
    assert [r["n"] for r in sizes["rows"]] == [4, 8]
    for row in sizes["rows"]:
        assert positive(row["hash_s"]) and positive(row["hash_images_per_s"])
        assert list(row["compare_s"]) == NAMES
        assert all(positive(v) for v in row["compare_s"].values())
        assert all(isinstance(v, int) and v >= 0 for v in row["pairs"].values())
    # 6 images in the folder, 8 hashes compared: two synthetic ones at n = 8.
    assert sizes["real"] == {n: 6 for n in NAMES}
    assert sizes["rows"][1]["synthetic"] == {n: 2 for n in NAMES}
    assert sizes["rows"][0]["synthetic"] == {n: 0 for n in NAMES}
    assert isinstance(sizes["exponent"]["hash"], float) and math.isfinite(sizes["exponent"]["hash"])
    assert list(sizes["exponent"]["compare"]) == NAMES
    assert all(isinstance(v, float) and math.isfinite(v) for v in sizes["exponent"]["compare"].values())
    last = sizes["exponent_last_two"]
    assert isinstance(last["hash"], float) and list(last["compare"]) == NAMES


def test_result_is_json_serialisable(result):
    clean = {k: v for k, v in result.items() if not k.startswith("_")}
    assert json.loads(json.dumps(clean)) == clean


def test_render_tables_row_counts(result):
    tables = bench_tables.render_tables(result)
    assert [t.row_count for t in tables] == [
        len(NAMES),  # per image
        len(bench.FIND_STAGES) + 1,  # FINd stages + total
        len(NAMES),  # memory
        2,  # jobs 1, 2
        2 + 2,  # sizes 4, 8 + exponent + last-two exponent
    ]
    machine = f"{result['meta']['cpu_model']}, {result['meta']['cpu_count']} CPUs"
    assert all(machine in str(t.caption) for t in tables)


def test_per_image_bench_is_the_first_part_of_run_bench(images):
    out = bench.per_image_bench([os.path.dirname(images[0])], ["find", "dhash"], repeat=1, sample=2)
    assert list(out) == ["meta", "per_image", "find_stages"]
    assert list(out["per_image"]) == ["find", "dhash"] and out["meta"]["measured"] == 2
    assert list(out["find_stages"]) == [*bench.FIND_STAGES, "total"]
    assert [t.row_count for t in bench_tables.render_tables(out)] == [2, len(bench.FIND_STAGES) + 1]


def test_hash_cap_and_no_find(tmp_path):
    paths = make_images(tmp_path / "few")[:3]
    out = bench.run_bench(paths, ["dhash"], [], [2, 3], repeat=1, hash_cap=2)
    assert out["find_stages"] is None and out["jobs"] == []
    assert list(out["per_image"]) == ["dhash"] and list(out["memory"]) == ["dhash"]
    hashed, capped = out["sizes"]["rows"]
    assert positive(hashed["hash_s"]) and capped["hash_s"] is None
    assert out["sizes"]["exponent"]["hash"] is None  # only one hashed size
    assert out["sizes"]["exponent_last_two"]["hash"] is None
    assert positive(capped["compare_s"]["dhash"])
    assert [t.row_count for t in bench_tables.render_tables(out)] == [1, 1, 2 + 2]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"algorithms": ["nope"]},
        {"jobs": [0]},
        {"sizes": [-1]},
        {"repeat": 0},
    ],
)
def test_bad_arguments(kwargs, images):
    args = {"paths": images[:1], "algorithms": ["dhash"], "jobs": [1], "sizes": [2]} | kwargs
    with pytest.raises(ValueError):
        bench.run_bench(**args)


def test_no_images(tmp_path):
    with pytest.raises(ValueError, match="no images"):
        bench.run_bench([str(tmp_path)], ["dhash"], [1], [2])


def test_cli_bench_json_and_table(images):
    from click.testing import CliRunner

    from finder.cli.app import cli

    folder = os.path.dirname(images[0])
    args = ["bench", folder, "-a", "dhash", "--jobs", "1", "--sizes", "4,8", "--repeat", "1", "--sample", "3", "-q"]
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0 and result.stderr == ""
    data = json.loads(result.stdout)
    assert list(data["per_image"]) == ["dhash"] and [r["jobs"] for r in data["jobs"]] == [1]
    assert [r["n"] for r in data["sizes"]["rows"]] == [4, 8]
    table = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert table.exit_code == 0 and "Per image" in table.stdout and "dhash" in table.stdout
    bad = CliRunner().invoke(cli, ["bench", folder, "--jobs", "0"])
    assert bad.exit_code == 2 and "needs positive integers" in bad.stderr
