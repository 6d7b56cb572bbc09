"""Small jobs pay no large fixed cost: numpy paths below the size cut-offs, numba above, identical results.

Grouping (finder.groups.linkage) and pair search (finder.pairs.choose_backend) pick
numpy for small inputs so that ``finder cluster`` / ``finder compare`` on a
few thousand rows never import numba or scipy; the numba kernels take over
for large inputs.  Here both paths run on the same random inputs and must
agree exactly, and real commands are checked in fresh processes for what
they import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from finder import pairs
from finder.groups import linkage as groups
from finder.groups.build import cluster
from finder.groups.linkage import choose_kernel, group_indices, single_linkage, star_linkage
from finder.match.search import file_distances, find_pairs
from finder.store.hashset import HashSet
from finder.views import QUALITY_CUTOFF, view_code
from tests.helpers import brute_components, brute_distances, planted

HEAVY = ("numba", "llvmlite", "scipy")
TIMEOUT = 120
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "images",
                       "0033_77449721.jpg")


def random_graph(n: int, m: int, seed: int, ordered: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = i != j
    i, j = i[keep], j[keep]
    if ordered:  # as matching gives them: i < j
        i, j = np.minimum(i, j), np.maximum(i, j)
    return i, j


GRAPHS = [
    (1, 0, 0), (2, 1, 1), (50, 0, 2), (80, 60, 3), (80, 200, 4), (500, 400, 5), (2000, 1500, 6), (3000, 9000, 7),
]


@pytest.mark.parametrize("n,m,seed", GRAPHS)
@pytest.mark.parametrize("ordered", [True, False])
def test_single_linkage_labels_are_each_components_smallest_index_on_both_kernels(n, m, seed, ordered):
    i, j = random_graph(n, m, seed, ordered)
    expected = np.empty(n, np.int64)
    for component in brute_components(n, zip(i.tolist(), j.tolist())):  # breadth-first search, independent
        expected[list(component)] = min(component)
    for kernel in ("numpy", "numba"):
        np.testing.assert_array_equal(single_linkage(n, i, j, kernel), expected)


def test_single_linkage_on_chains_in_adversarial_order():
    # long paths whose nodes are numbered so that labels travel far: reversed, interleaved, shuffled
    n = 4000
    rng = np.random.default_rng(1)
    for perm in (np.arange(n)[::-1], np.r_[np.arange(0, n, 2), np.arange(1, n, 2)], rng.permutation(n)):
        i, j = perm[:-1], perm[1:]
        for kernel in ("numpy", "numba"):
            assert (single_linkage(n, i, j, kernel) == 0).all()


@pytest.mark.parametrize("n,m,seed", GRAPHS)
@pytest.mark.parametrize("ordered", [True, False])
def test_star_linkage_is_identical_on_both_kernels(n, m, seed, ordered):
    i, j = random_graph(n, m, seed, ordered)
    np.testing.assert_array_equal(star_linkage(n, i, j, "numpy"), star_linkage(n, i, j, "numba"))


def test_star_linkage_by_hand():
    # degrees: 0:1 1:3 2:2 3:2 4:2 5:0 -> centre 1 takes 0, 2, 3; then 4 (degree 2, ungrouped) takes nothing left
    i, j = np.array([0, 1, 1, 2, 3]), np.array([1, 2, 3, 4, 4])
    for kernel in ("numpy", "numba"):
        np.testing.assert_array_equal(star_linkage(6, i, j, kernel), [1, 1, 1, 1, 4, 5])


@pytest.mark.parametrize("linkage", ["single", "star"])
def test_group_indices_identical_on_both_kernels(linkage):
    i, j = random_graph(1000, 1200, 11)
    numpy_groups = group_indices(1000, i, j, linkage, kernel="numpy")
    numba_groups = group_indices(1000, i, j, linkage, kernel="numba")
    assert [g.tolist() for g in numpy_groups] == [g.tolist() for g in numba_groups]


def test_choose_kernel_by_size():
    small = groups.NUMBA_MIN_WORK // 2
    assert choose_kernel(small, small - 1) == "numpy"
    assert choose_kernel(small, groups.NUMBA_MIN_WORK - small) == "numba"
    assert choose_kernel(10, 5, "numba") == "numba" and choose_kernel(10**9, 10**9, "numpy") == "numpy"
    with pytest.raises(ValueError, match="unknown grouping kernel"):
        choose_kernel(10, 5, "cuda")


def test_choose_backend_takes_numpy_for_small_searches(monkeypatch):
    monkeypatch.delenv(pairs.BACKEND_ENV, raising=False)
    monkeypatch.setattr(pairs, "loaded", set())  # a fresh process: kernels not loaded
    side = int(np.sqrt(pairs.REFERENCE_MAX_CELLS))
    assert pairs.choose_backend(96, 256, side, side) == "reference"
    assert pairs.choose_backend(96, 256, side + 1, side) == "cpu"
    pairs.loaded.add("cpu")  # loaded by an earlier, larger search
    assert pairs.choose_backend(96, 256, side, side) == "cpu"
    pairs.loaded.clear()
    assert pairs.choose_backend(4, 256, 10**6, 10**4) == "mih"  # large: the measured mih rule still applies
    monkeypatch.setenv(pairs.BACKEND_ENV, "cpu")  # an explicit choice always wins
    assert pairs.choose_backend(96, 256, 10, 10) == "cpu"


def views_hashset(n: int, seed: int, prefix: str = "/photos/") -> HashSet:
    """``n`` files with default-like views: plain rows in near-copy triples, mirror rows, trimmed rows for some,
    and a few flat (low-quality) files; some mirrors and content boxes are near copies of other files."""
    rng = np.random.default_rng(seed)
    plain = planted(n, 4, seed=seed, copies=3, flips=40)
    mirror = planted(n, 4, seed=seed + 1, copies=1)
    flipped = rng.choice(n, n // 10, replace=False)  # mirrors that are near another file's plain row
    mirror[flipped] = plain[rng.permutation(flipped)] ^ planted(len(flipped), 4, seed=seed + 2, copies=1) & np.uint64(
        0x0101010101010101)
    boxed = np.sort(rng.choice(n, n // 2, replace=False))
    trimmed = planted(len(boxed), 4, seed=seed + 3, copies=1)
    near = rng.random(len(boxed)) < 0.3
    trimmed[near] = plain[rng.integers(0, n, near.sum())]
    words = np.concatenate([plain, mirror, trimmed])
    owner = np.concatenate([np.arange(n), np.arange(n), boxed])
    view = np.concatenate([np.zeros(n), np.full(n, view_code("mirror")), np.full(len(boxed), view_code("trimmed"))])
    quality = np.full(len(words), 100, np.uint8)
    quality[rng.choice(len(words), len(words) // 20, replace=False)] = QUALITY_CUTOFF - 1
    paths = np.array([f"{prefix}{k:05d}.jpg" for k in range(n)], dtype=object)
    return HashSet(paths=paths, hashes={"find": words}, bits={"find": 256},
                   size=np.arange(n, dtype=np.int64) + 1000, mtime_ns=np.ones(n, np.int64), owner={"find": owner},
                   view={"find": view.astype(np.uint8)}, quality={"find": quality},
                   settings={"views": ["plain", "mirror", "trimmed"]})


def _same_pairs(x, y) -> None:
    for a, b in zip(x, y):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(3))
def test_matching_gives_the_same_pairs_and_groups_on_the_numpy_and_numba_paths(seed, monkeypatch):
    hs = views_hashset(900, seed)
    other = views_hashset(400, seed + 10, prefix="/other/")
    other.hashes["find"][:40] = hs.hashes["find"][:40]  # 40 plain rows of the second set copy the first's
    monkeypatch.setenv(pairs.BACKEND_ENV, "reference")  # the numpy searches small jobs get
    small = (find_pairs(hs, "find"), find_pairs(hs, "find", b=other),
             cluster(hs, "find"), cluster(hs, "find", linkage="star", min_size=1))
    monkeypatch.setenv(pairs.BACKEND_ENV, "cpu")
    monkeypatch.setattr(groups, "NUMBA_MIN_WORK", 0)  # the numba kernels for every graph
    large = (find_pairs(hs, "find"), find_pairs(hs, "find", b=other),
             cluster(hs, "find"), cluster(hs, "find", linkage="star", min_size=1))
    assert len(small[0]) > 300 and len(small[1]) > 0  # the inputs do match, through plain rows and views
    _same_pairs(small[0], large[0])
    _same_pairs(small[1], large[1])
    assert small[2] == large[2] and small[3] == large[3]
    assert max(g.size for g in small[2]) >= 3


def test_file_distances_with_views_match_brute_force():
    # the smallest distance of plain-plain, of each extra row of one file against the other's plain row, and of
    # the two files' content boxes
    hs, other = views_hashset(120, 4), views_hashset(50, 6, prefix="/other/")
    rng = np.random.default_rng(0)
    for b in (None, other):
        second = hs if b is None else b
        i, j = rng.integers(0, len(hs), 300), rng.integers(0, len(second), 300)
        got = file_distances(hs, "find", i, j, b)
        dist = brute_distances(hs.hashes["find"], second.hashes["find"])  # every row against every row
        plain_a, plain_b = hs.view["find"] == 0, second.view["find"] == 0
        box_a, box_b = hs.view["find"] == view_code("trimmed"), second.view["find"] == view_code("trimmed")
        for k in range(len(i)):
            rows_a, rows_b = hs.owner["find"] == i[k], second.owner["find"] == j[k]
            expected = min(dist[np.ix_(rows_a, rows_b & plain_b)].min(), dist[np.ix_(rows_a & plain_a, rows_b)].min())
            if (rows_a & box_a).any() and (rows_b & box_b).any():
                expected = min(expected, dist[np.ix_(rows_a & box_a, rows_b & box_b)].min())
            assert got[k] == expected
        plain_only = dist[np.ix_(plain_a, plain_b)][i, j]
        assert (got < plain_only).sum() > 50  # the extra rows do decide many of them


def _run_finder(args: list[str], cwd, env: dict[str, str] | None = None, watch: tuple[str, ...] = HEAVY
                ) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``finder ARGS`` in a fresh interpreter; its result and which of the modules ``watch`` names (top-level
    packages, or dotted modules) it imported."""
    code = ("import sys\nfrom finder.cli import main\n"
            f"sys.argv = ['finder', *{args!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
            "loaded = set(sys.modules) | {m.split('.')[0] for m in sys.modules}\n"
            f"sys.stderr.write('\\nHEAVY ' + repr(sorted(loaded & {set(watch)!r})))\n"
            "sys.exit(code)")
    environment = {k: v for k, v in os.environ.items() if k != pairs.BACKEND_ENV} | (env or {})
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd,
                          env=environment)
    heavy = eval(proc.stderr.rsplit("HEAVY ", 1)[1])  # noqa: S307  (our own repr of a list of names)
    return proc, heavy


def test_cluster_and_compare_on_a_small_hash_file_import_neither_numba_nor_scipy(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    first, second = views_hashset(500, 0), views_hashset(300, 5, prefix="/other/")
    second.hashes["find"][:40] = first.hashes["find"][:40]  # 40 files of the second set are copies of the first's
    first.save(a)
    second.save(b)
    proc, heavy = _run_finder(["cluster", str(a)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) > 10 and heavy == []
    for args in (["compare", str(a)], ["compare", str(a), str(b)], ["cluster", str(a), "--linkage", "star",
                                                                     "--format", "csv"]):
        proc, heavy = _run_finder(args, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("\n") > 10 and heavy == [], (args, heavy)


def test_a_second_cluster_of_real_images_opens_none_and_imports_no_image_library(tmp_path):
    """Once the keep rules' looks are cached beside the store, ``finder cluster`` opens no image: Pillow,
    numpy.ma (which ``np.unique`` imports) and the worker pool stay unimported (issue 21, goal 1's fixed cost)."""
    store = tmp_path / "h.npz"
    examples = Path(__file__).resolve().parents[1] / "examples" / "images"
    proc, _ = _run_finder(["hash", str(examples), "-o", str(store), "-q", "-j", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    watch = ("PIL", "numpy.ma", "multiprocessing.pool")
    first, loaded = _run_finder(["cluster", str(store)], tmp_path, watch=watch)
    assert first.returncode == 0 and "PIL" in loaded  # the first run looks at the pictures: the check can fail
    second, loaded = _run_finder(["cluster", str(store)], tmp_path, watch=watch)
    assert second.returncode == 0 and second.stdout == first.stdout and loaded == []


def test_a_command_imports_its_own_module_only_and_help_lists_them_all(tmp_path):
    """Commands are loaded when asked for (click's lazy-loading pattern): ``finder cluster`` builds no other
    command's options; ``finder --help`` still lists every command."""
    from finder.cli.app import COMMANDS

    views_hashset(50, 2).save(tmp_path / "a.npz")
    modules = tuple(f"finder.cli.{name}" for name, _ in COMMANDS)
    proc, loaded = _run_finder(["cluster", str(tmp_path / "a.npz")], tmp_path, watch=modules)
    assert proc.returncode == 0, proc.stderr
    assert loaded == ["finder.cli.cluster"]
    proc, loaded = _run_finder(["--help"], tmp_path, watch=modules)
    assert proc.returncode == 0 and sorted(loaded) == sorted(modules)
    listed = proc.stdout.split("Commands:", 1)[1].split()
    assert all(name in listed for name, _ in COMMANDS)


def test_the_check_sees_numba_when_a_command_does_import_it(tmp_path):
    # the same kind of command with the numba backend forced: the check above can fail
    a = tmp_path / "a.npz"
    views_hashset(60, 1).save(a)
    proc, heavy = _run_finder(["compare", str(a)], tmp_path, {pairs.BACKEND_ENV: "cpu"})
    assert proc.returncode == 0, proc.stderr
    assert "numba" in heavy


def test_the_command_line_loads_numba_without_scipy_linear_algebra(tmp_path):
    """numba's start-up imports scipy.linalg to find BLAS (~0.1 s a run); finder's kernels use none, so the
    command line keeps it out (finder.cli.NumbaWithoutScipyBlas), while a later import of it still works."""
    import shutil

    image = shutil.copy(EXAMPLE, tmp_path / "one.jpg")
    code = ("import sys\nfrom finder.cli import main\n"
            f"sys.argv = ['finder', 'hash', {str(image)!r}, '-q', '-o', {str(tmp_path / 'h.npz')!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "assert 'numba' in sys.modules and 'scipy.linalg' not in sys.modules\n"
            "import scipy.linalg\nassert scipy.linalg.cython_blas is not None\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
