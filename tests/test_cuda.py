"""The GPU code (numba-cuda), checked without a GPU in Numba's CUDA simulator: the cuda pairs backend and
FINd's stages on the GPU.

The simulator must be switched on (``NUMBA_ENABLE_CUDASIM=1``) before numba is imported, so the checks run
in a child process: :func:`simulator_contract` is the finder.pairs contract on small inputs (tiles of 128
rows: 129 rows cross a tile), against brute force; the same ``compare`` output with ``--device cuda``;
:func:`simulator_find` the golden FINd hashes of a square and a portrait image and of FINd's full 512 px
thumbnail.  Without a GPU and without the simulator, ``--device cuda`` is a one-line error before any work.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from tests.helpers import brute_distances, planted, synthetic_hashset

pytest.importorskip("numba.cuda")


def _expected(dist: np.ndarray, radius: int, within: bool) -> list[tuple[int, int, int]]:
    rows, cols = np.nonzero(dist <= radius)
    return [(i, j, int(dist[i, j])) for i, j in zip(rows.tolist(), cols.tolist()) if not within or i < j]


def _as_list(p) -> list[tuple[int, int, int]]:
    assert p.i.dtype == np.int64 and p.j.dtype == np.int64 and p.distance.dtype == np.int32
    return list(zip(p.i.tolist(), p.j.tolist(), p.distance.tolist()))


def simulator_contract() -> int:
    """The contract checks, run in the simulator; returns how many searches were checked."""
    from finder.pairs import Index, distance_histogram, knn, pairs_across, pairs_within

    checked = 0
    for bits in (64, 256):
        for n in (0, 1, 2, 129):
            x = planted(n, bits // 64, seed=n + bits, copies=3, flips=bits // 8) if n else np.zeros((0, bits // 64),
                                                                                                    np.uint64)
            dist = brute_distances(x, x)
            for radius in (0, bits // 4, bits // 2, bits):
                assert _as_list(pairs_within(x, radius, backend="cuda")) == _expected(dist, radius, True)
                checked += 1
        a, b = planted(70, bits // 64, seed=1, copies=2, flips=bits // 8), planted(131, bits // 64, seed=2)
        b[:20] = a[:20]
        cross = brute_distances(a, b)
        index = Index(b)
        for radius in (0, bits // 3, bits):
            expected = _expected(cross, radius, False)
            assert _as_list(pairs_across(a, b, radius, backend="cuda")) == expected
            assert _as_list(index.range_search(a, radius, backend="cuda")) == expected  # prepared once, searched
            checked += 2
    x = planted(10, 4, seed=3)
    for call in (lambda: knn(x, x, 1, backend="cuda"),
                 lambda: distance_histogram(x, np.zeros(10, np.int64), 256, backend="cuda")):
        with pytest.raises(NotImplementedError):
            call()
    return checked


def simulator_compare(folder: str) -> None:
    """``finder compare --device cuda`` writes what the cpu writes."""
    from finder.cli.app import cli

    words = planted(200, 4, seed=5, copies=3, flips=30)
    path = os.path.join(folder, "h.npz")
    synthetic_hashset([f"/p/{k:03d}.jpg" for k in range(200)], {"find": words}, {"find": 256}).save(path)
    on_cpu = CliRunner().invoke(cli, ["compare", path], catch_exceptions=False)
    on_gpu = CliRunner().invoke(cli, ["compare", path, "--device", "cuda"], catch_exceptions=False)
    assert on_cpu.exit_code == on_gpu.exit_code == 0 and on_gpu.stdout == on_cpu.stdout
    assert on_cpu.stdout.count("\n") > 50


GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "golden")


def simulator_find() -> int:
    """FINd on the GPU gives the golden hashes (from the reference, ../shared/corpus/find_golden.csv)."""
    import csv

    from PIL import Image

    from finder.algorithms.bits import to_hex
    from finder.algorithms.find import prepare
    from finder.algorithms.find_cuda import find_batch

    golden = {}
    for table in sorted(f for f in os.listdir(GOLDEN) if f.endswith(".csv")):
        with open(os.path.join(GOLDEN, table), newline="") as handle:
            golden.update({row["file"]: row["find_hex"] for row in csv.DictReader(handle)})
    names = ["0001_57373259.png", "0008_94874058.jpg", "0010_85913278.webp"]  # 359 square, 168x210, 512x512
    with Image.open(os.path.join(GOLDEN, names[0])) as first:
        assert first.size == (359, 359)
    words = find_batch([prepare(Image.open(os.path.join(GOLDEN, name))) for name in names])
    assert [to_hex(w, 256) for w in words] == [golden[name] for name in names]
    assert find_batch([]).shape == (0, 4)
    return len(names)


def simulator_hash(folder: str) -> int:
    """``hash_paths(device="cuda")`` makes the store the CPU makes, default views and their quality included:
    a square, a portrait, a 512 px image and a framed one (a content box row)."""
    import shutil

    from PIL import Image

    from finder.store.update import hash_paths

    names = ["0001_57373259.png", "0008_94874058.jpg", "0010_85913278.webp"]
    paths = [shutil.copy(os.path.join(GOLDEN, name), os.path.join(folder, name)) for name in names]
    framed = Image.new("RGB", (300, 240), (255, 255, 255))
    framed.paste(Image.open(paths[0]).convert("RGB").resize((240, 180)), (30, 30))
    framed.save(os.path.join(folder, "framed.jpg"), quality=90)
    paths = sorted([*paths, os.path.join(folder, "framed.jpg")])
    on_cpu = hash_paths(paths, jobs=1, views="default").hashset
    on_gpu = hash_paths(paths, jobs=1, views="default", device="cuda").hashset
    assert 1 in on_cpu.view["find"].tolist() and any(v in (2, 8) for v in on_cpu.view["find"].tolist())
    for field in ("hashes", "owner", "view", "quality"):
        np.testing.assert_array_equal(getattr(on_gpu, field)["find"], getattr(on_cpu, field)["find"])
    return len(paths)


def simulator_dask() -> int:
    """With --device cuda and a Dask cluster, each worker takes its tiles on its GPU: the pairs of the CPU."""
    from finder import config
    from finder.engine.dask import DaskExecutor
    from finder.match.dask_search import DaskSearch
    from finder.match.search import find_pairs

    hs = synthetic_hashset([f"/p/{k:03d}.jpg" for k in range(300)], {"find": planted(300, 4, seed=9, copies=3,
                                                                                     flips=20)}, {"find": 256})
    want = find_pairs(hs, "find", max_distance=60)
    config.choose_pairs_backend("cuda")
    with DaskExecutor("local:2") as executor:
        search = DaskSearch(executor, tile_files=100)
        got = find_pairs(hs, "find", max_distance=60, search=search)
        on_gpu = executor.client.run(lambda: "finder.pairs.cuda" in __import__("sys").modules)
    assert search.backend == "cuda" and all(on_gpu.values()) and search.tiles == 6
    assert _as_list(got) == _as_list(want) and len(want) > 100
    return search.tiles


def test_cuda_code_passes_its_checks_in_the_simulator(tmp_path):
    code = ("from tests.test_cuda import simulator_contract, simulator_compare, simulator_dask, simulator_find, "
            "simulator_hash\n"
            f"print('checked', simulator_contract())\nsimulator_compare({str(tmp_path)!r})\n"
            f"print('find', simulator_find())\nprint('hashed', simulator_hash({str(tmp_path)!r}))\n"
            "print('tiles', simulator_dask())\n")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    env.pop("FINDER_PAIRS_BACKEND", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split("checked")[1].split()[0]) == 44 and "find 3" in result.stdout
    assert "hashed 4" in result.stdout and "tiles 6" in result.stdout


def test_device_cuda_without_a_gpu_is_one_line_before_any_work(tmp_path):
    from finder.cli.app import cli
    from finder.engine import gpu

    if gpu.available():
        pytest.skip("a CUDA GPU is here: the error does not apply")  # never on CI (no GPU); see the test above
    path = tmp_path / "h.npz"
    synthetic_hashset(["/p/a.jpg", "/p/b.jpg"], {"find": planted(2, 4, seed=1)}, {"find": 256}).save(path)
    (tmp_path / "a.png").write_bytes(b"")
    for command in (["compare", str(path)], ["cluster", str(path)], ["hash", str(tmp_path / "a.png"), "-o",
                                                                       str(tmp_path / "new.npz")]):
        result = CliRunner().invoke(cli, [*command, "--device", "cuda"])
        assert result.exit_code == 2 and "no CUDA GPU here" in result.output
        assert result.output.count("\n") == 1
