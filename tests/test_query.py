"""`finder query`: new images against a stored archive; exit status 0 / 1 / 2; the k nearest."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from finder.cli.app import cli
from finder.query import match
from finder.store.hashset import HashSet
from tests.conftest import GOLDEN_DIR, golden_rows
from tests.helpers import brute_distances, planted, synthetic_hashset


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def rows_of(result) -> list[dict]:
    return list(csv.DictReader(io.StringIO(result.stdout, newline="")))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The golden images but the last ten, hashed with the default views; the ten kept aside as new images."""
    folder = tmp_path_factory.mktemp("archive")
    new = tmp_path_factory.mktemp("new")
    files = [row["file"] for row in golden_rows()]
    for k, name in enumerate(files):
        shutil.copy(GOLDEN_DIR / name, (new if k >= len(files) - 10 else folder) / name)
    path = folder / "archive.npz"
    assert run("hash", folder, "-o", path, "-q").exit_code == 0
    return path, folder, new


def test_query_reports_what_compare_reports(archive, tmp_path):
    path, folder, new = archive
    queries = [*sorted(new.iterdir()), *sorted(folder.glob("*.jpg"))[:3]]
    result = run("query", *queries, "--against", path, "-t", "0.4")
    assert result.exit_code == 0, result.output
    got = {(r["query"], r["path"], int(r["distance"])) for r in rows_of(result)}
    assert all(r["match"] == "True" for r in rows_of(result))
    # the same images hashed into a store of their own, then compared with the archive: the same pairs
    store = tmp_path / "q.npz"
    assert run("hash", *queries, "-o", store, "-q").exit_code == 0
    compared = rows_of(run("compare", store, path, "-t", "0.4"))
    assert got == {(r["path_a"], r["path_b"], int(r["distance"])) for r in compared}
    # an archive image finds itself, as the same file, at distance 0, first
    first = [r for r in rows_of(result) if r["query"] == str(queries[-1])][0]
    assert (first["path"], first["distance"], first["same_file"]) == (str(queries[-1]), "0", "True")
    # each query's rows are nearest first
    for q in {r["query"] for r in rows_of(result)}:
        distances = [int(r["distance"]) for r in rows_of(result) if r["query"] == q]
        assert distances == sorted(distances)


def test_exit_status_says_whether_anything_matched(archive, tmp_path):
    path, folder, new = archive
    inside = sorted(folder.glob("*.jpg"))[0]
    assert run("query", inside, "--against", path, "-d", "0", "-o", tmp_path / "out.csv").exit_code == 0
    lonely = sorted(new.iterdir())[0]
    alone = run("query", lonely, "--against", path, "-d", "0")
    assert alone.exit_code == 1
    assert alone.stdout == "query,path,distance,similarity,match,same_file,view,blocked\n"
    # errors: exit 2 with one line (usage errors: click's usage lines, then the error)
    for args in ([inside, "--against", tmp_path / "missing.npz"], [inside, "--against", path, "-a", "dhash"]):
        result = run("query", *args)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    result = run("query", inside, "--against", path, "-t", "0.1", "-d", "3")
    assert result.exit_code == 2 and "Error: give --threshold or --max-distance, not both" in result.stderr


def test_unreadable_query_images_are_reported_and_the_rest_matched(archive, tmp_path):
    path, folder, _ = archive
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    good = sorted(folder.glob("*.jpg"))[0]
    result = run("query", broken, good, "--against", path)
    assert result.exit_code == 0
    assert f"skipped {broken}" in result.stderr
    assert {r["query"] for r in rows_of(result)} == {str(good)}
    nothing = run("query", broken, "--against", path)
    assert nothing.exit_code == 2
    assert nothing.stderr.splitlines()[-1].startswith("Error: nothing to query: 0 images hashed")


def test_json_lists_every_query_and_stdin_lists_work(archive):
    path, folder, new = archive
    lonely = sorted(new.iterdir())[0]
    inside = sorted(folder.glob("*.jpg"))[0]
    listed = f"{lonely}\n{inside}\n"
    as_json = json.loads(run("query", "-", "--against", path, "-d", "0", "--format", "json", input=listed).stdout)
    assert [q["query"] for q in as_json] == sorted([str(lonely), str(inside)])
    by_query = {q["query"]: q["matches"] for q in as_json}
    assert by_query[str(lonely)] == []
    assert by_query[str(inside)][0] == {"path": str(inside), "distance": 0, "similarity": 1.0, "match": True,
                                        "same_file": True, "view": "plain", "blocked": ""}
    lines = run("query", "-", "--against", path, "-d", "0", "--format", "jsonl", input=listed).stdout.splitlines()
    assert [json.loads(line) for line in lines] == as_json


def test_k_nearest_with_and_without_a_match(archive):
    path, folder, new = archive
    lonely = sorted(new.iterdir())[0]
    result = run("query", lonely, "--against", path, "-k", "4", "-d", "0")
    assert result.exit_code == 1  # four neighbours, none within distance 0
    rows = rows_of(result)
    assert len(rows) == 4 and {r["match"] for r in rows} == {"False"}
    assert [int(r["distance"]) for r in rows] == sorted(int(r["distance"]) for r in rows)


def test_settings_this_finder_cannot_reproduce_are_refused(archive, tmp_path):
    path, folder, _ = archive
    odd = tmp_path / "odd.npz"
    words = planted(3, 4, seed=1)
    hs = synthetic_hashset(["a.jpg", "b.jpg", "c.jpg"], {"find": words})
    hs.settings["decode"] = "draft-1/8"
    hs.save(odd)
    result = run("query", sorted(folder.glob("*.jpg"))[0], "--against", odd)
    assert result.exit_code == 2
    assert "decode policy 'draft-1/8'" in result.stderr and result.stderr.count("\n") == 1


# --------------------------------------------------------------------------
# match(..., k=K): the k nearest files, checked by brute force
# --------------------------------------------------------------------------


def _with_views(words: np.ndarray, extra: dict[int, list[np.ndarray]], prefix: str) -> HashSet:
    """A set of plain rows plus extra 'mirror' rows for some files (owner/view columns)."""
    n = len(words)
    rows, owner, view = [], [], []
    for f in range(n):
        rows.append(words[f])
        owner.append(f)
        view.append(0)
        for row in extra.get(f, []):
            rows.append(row)
            owner.append(f)
            view.append(1)
    return HashSet(paths=[f"{prefix}{k:04d}.jpg" for k in range(n)], hashes={"find": np.array(rows, np.uint64)},
                   bits={"find": 256}, size=np.ones(n, np.int64), mtime_ns=np.ones(n, np.int64),
                   owner={"find": np.array(owner)}, view={"find": np.array(view, np.uint8)})


def test_k_nearest_files_match_brute_force_over_views():
    rng = np.random.default_rng(5)
    base = planted(300, 4, seed=3, copies=3, flips=20)
    a_extra = {int(f): [rng.integers(0, 2**64, 4, dtype=np.uint64)] for f in rng.choice(300, 40, replace=False)}
    q_words = np.concatenate([base[:20], planted(10, 4, seed=9)])
    q_extra = {int(f): [base[int(rng.integers(0, 300))]] for f in rng.choice(30, 6, replace=False)}
    archive, queries = _with_views(base, a_extra, "a"), _with_views(q_words, q_extra, "q")
    # brute force: file distance = min(plain-plain, query extra-archive plain, query plain-archive extra)
    plain = brute_distances(q_words, base)
    for f, rows in q_extra.items():
        plain[f] = np.minimum(plain[f], brute_distances(np.array(rows), base).min(axis=0))
    for g, rows in a_extra.items():
        plain[:, g] = np.minimum(plain[:, g], brute_distances(q_words, np.array(rows)).min(axis=1))
    for k in (1, 3, 10):
        found = match(queries, archive, "find", max_distance=0, k=k)
        for q in range(30):
            want = sorted(range(300), key=lambda g, q=q: (plain[q, g], g))[:k]
            mine = found.j[found.i == q].tolist()
            assert found.distance[found.i == q].tolist() == [plain[q, g] for g in want]
            # ties may be broken differently only where matching's own distance differs: none here at radius 0
            assert mine == want
