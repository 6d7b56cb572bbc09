"""`finder compare` and `finder cluster` end to end: schemas, quoting, pipes, errors."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from finder.cli.app import cli
from tests.helpers import brute_components, brute_distances, planted, synthetic_hashset

PATHS = [f"img {k:02d}, \"q\"\n{k}.jpg" for k in range(30)]  # spaces, commas, quotes, newlines


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture
def hashfile(tmp_path):
    words = planted(30, 4, seed=7)
    path = tmp_path / "h.npz"
    synthetic_hashset(PATHS, {"find": words, "dhash": words[:, :1]}, {"find": 256, "dhash": 64}).save(path)
    return path, words


def expected_pairs(words, d, paths_a, paths_b=None, other=None):
    dist = brute_distances(words, words if other is None else other)
    if other is None:
        return [(paths_a[a], paths_a[b], dist[a, b]) for a in range(len(words)) for b in range(a + 1, len(words))
                if dist[a, b] <= d]
    return [(paths_a[a], paths_b[b], dist[a, b]) for a in range(len(words)) for b in range(len(other))
            if dist[a, b] <= d]


def test_compare_csv_equals_brute_force_and_quotes_names(hashfile):
    path, words = hashfile
    result = run("compare", path, "-a", "find", "--threshold", "0.1")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert rows[0] == ["path_a", "path_b", "distance", "similarity", "same_file"]
    got = [(a, b, int(d)) for a, b, d, _, _ in rows[1:]]
    assert got == expected_pairs(words, 25, PATHS)  # floor(0.1 * 256) = 25
    assert all(float(s) == pytest.approx(1 - int(d) / 256, abs=1e-6) for _, _, d, s, _ in rows[1:])
    assert {same for *_, same in rows[1:]} == {"False"}  # synthetic sets know no inodes


def test_compare_json_and_jsonl_agree(hashfile, tmp_path):
    path, words = hashfile
    as_json = json.loads(run("compare", path, "-a", "dhash", "-d", "20", "--format", "json").stdout)
    lines = run("compare", path, "-a", "dhash", "-d", "20", "--format", "jsonl").stdout.splitlines()
    assert as_json == [json.loads(line) for line in lines]
    assert [(r["path_a"], r["path_b"], r["distance"]) for r in as_json] == expected_pairs(words[:, :1], 20, PATHS)


def test_compare_two_files(hashfile, tmp_path):
    path, words = hashfile
    other_paths = [f"archive/{k}.png" for k in range(12)]
    other = np.concatenate([words[5:11], planted(6, 4, seed=99)])
    synthetic_hashset(other_paths, {"find": other}).save(tmp_path / "b.npz")
    result = run("compare", path, tmp_path / "b.npz", "-a", "find", "-d", "30", "--format", "jsonl")
    got = [(r["path_a"], r["path_b"], r["distance"]) for r in map(json.loads, result.stdout.splitlines())]
    assert got == expected_pairs(words, 30, PATHS, other_paths, other)
    assert len(got) >= 6


def test_compare_to_file_is_atomic_and_stdout_empty(hashfile, tmp_path):
    path, _ = hashfile
    out = tmp_path / "pairs.csv"
    result = run("compare", path, "-a", "find", "-d", "30", "-o", out)
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text().startswith("path_a,path_b,distance,similarity,same_file\n")
    assert sorted(os.listdir(tmp_path)) == ["h.npz", "pairs.csv"]


def test_cluster_json_schema_and_default_file(hashfile, tmp_path, monkeypatch):
    path, words = hashfile
    monkeypatch.chdir(tmp_path)
    os.rename(path, tmp_path / "hashes.npz")
    groups = json.loads(run("cluster", "-a", "find", "--threshold", "0.1").stdout)
    assert [g["size"] for g in groups] == [3] * 10  # planted triples
    for g in groups:
        assert set(g) == {"group", "size", "representative", "keeper", "keeper_reason", "members"}
        assert g["keeper"] in {m["path"] for m in g["members"]} and g["keeper_reason"]
        assert g["members"][0] == {"path": g["representative"], "distance": 0, "view": None, "same_file_as": None,
                                   "reference": False, "kept_with": None, "size": 1, "mtime_ns": 1}
        assert all(m["view"] == "plain" for m in g["members"][1:])  # plain hashes: plain against plain
        assert len(g["members"]) == g["size"]
    assert [g["group"] for g in groups] == list(range(10))
    firsts = [min(m["path"] for m in g["members"]) for g in groups]
    assert firsts == sorted(firsts)


def test_cluster_csv_min_size_and_linkage(hashfile):
    path, _ = hashfile
    rows = list(csv.DictReader(io.StringIO(run("cluster", path, "-a", "find", "-d", "25", "--format", "csv",
                                               "--min-size", "1", "--linkage", "star").stdout, newline="")))
    assert list(rows[0]) == ["group", "path", "distance_to_representative", "representative", "same_file_as",
                             "keeper", "reference", "keeper_reason", "view", "kept_with"]
    assert sum(r["keeper"] == "True" for r in rows) == len({r["group"] for r in rows})
    assert all(bool(r["keeper_reason"]) == (r["keeper"] == "True") for r in rows)
    assert sum(r["representative"] == "True" for r in rows) == len({r["group"] for r in rows})
    assert sorted(r["path"] for r in rows) == sorted(PATHS)
    none = json.loads(run("cluster", path, "-a", "find", "-d", "0").stdout)
    assert none == []


def test_closed_pipe_ends_quietly(tmp_path):
    words = planted(400, 1, seed=3, copies=400, flips=1)  # ~80k matching pairs
    synthetic_hashset([f"{k}.jpg" for k in range(400)], {"dhash": words}).save(tmp_path / "hashes.npz")
    proc = subprocess.run(f"{sys.executable} -m finder compare -d 64 | head -n 2", shell=True, cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.stdout.splitlines()[0] == "path_a,path_b,distance,similarity,same_file"
    assert proc.stderr == ""


@pytest.mark.parametrize("content", [None, b"", b"junk", "pickle", "truncated", "foreign"])
def test_bad_hash_files_give_one_line_and_exit_2(tmp_path, hashfile, content):
    bad = tmp_path / "bad.npz"
    if content == "pickle":
        bad.write_bytes(pickle.dumps({"paths": ["x"]}))
    elif content == "truncated":
        bad.write_bytes(hashfile[0].read_bytes()[:300])
    elif content == "foreign":
        np.savez(bad, x=np.arange(4))
    elif content is not None:
        bad.write_bytes(content)
    for command in (["compare", bad, "-d", 3], ["cluster", bad, "-d", 3], ["compare", hashfile[0], bad, "-a", "find"],
                    ["show", bad]):
        result = run(*command)  # catch_exceptions=False: a traceback would fail the test
        assert result.exit_code == 2, result.output
        assert "bad.npz" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_hash_file_in_a_real_process_has_no_traceback(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"junk")
    proc = subprocess.run([sys.executable, "-m", "finder", "cluster", str(tmp_path / "bad.npz")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"Error: {tmp_path / 'bad.npz'}: not a finder hash file (not an .npz archive)"


@pytest.mark.parametrize("args,message", [
    (["-t", "1.5", "-a", "find"], "not in [0, 1]"),
    (["-t", "-0.1", "-a", "find"], "not in [0, 1]"),
    (["-d", "257", "-a", "find"], "must be in [0, 256]"),
    (["-d", "65", "-a", "dhash"], "must be in [0, 64]"),
    (["-d", "5"], "several algorithms (find, dhash)"),
    (["-d", "5", "-a", "phash"], "has no phash hashes"),
])
def test_argument_errors_exit_2(hashfile, args, message):
    for command in ("compare", "cluster"):
        result = run(command, hashfile[0], *args)
        assert result.exit_code == 2 and message in result.stderr


def test_mismatched_sets_are_refused(hashfile, tmp_path):
    synthetic_hashset(["x.jpg"], {"dhash": np.zeros((1, 4))}, {"dhash": 256}).save(tmp_path / "wide.npz")
    result = run("compare", hashfile[0], tmp_path / "wide.npz", "-a", "dhash", "-d", "3")
    assert result.exit_code == 2 and "dhash hashes are 64 bits, the file says 256" in result.stderr
    synthetic_hashset(["x.jpg"], {"ahash": np.zeros((1, 1))}).save(tmp_path / "other.npz")
    result = run("compare", hashfile[0], tmp_path / "other.npz", "-a", "find", "-d", "3")
    assert result.exit_code == 2 and "second hash file has no find hashes (it has ahash)" in result.stderr


def test_compare_vote_equals_brute_force(hashfile):
    path, words = hashfile
    d_find, d_dhash = brute_distances(words, words), brute_distances(words[:, :1], words[:, :1])
    for vote, need in (("1", 1), ("2", 2), (None, 2)):  # default: majority of 2 = 2
        args = ["compare", path, "-t", "find=0.12", "-d", "dhash=12", "--format", "jsonl"]
        args += ["--vote", vote] if vote else []
        rows = [json.loads(line) for line in run(*args).stdout.splitlines()]
        expected = []
        for a in range(30):
            for b in range(a + 1, 30):
                votes = int(d_find[a, b] <= 30) + int(d_dhash[a, b] <= 12)
                if votes >= need:
                    expected.append({"path_a": PATHS[a], "path_b": PATHS[b], "votes": votes,
                                     "distance_find": int(d_find[a, b]), "distance_dhash": int(d_dhash[a, b]),
                                     "similarity": round(1 - (d_find[a, b] / 256 + d_dhash[a, b] / 64) / 2, 6),
                                     "same_file": False})
        assert rows == expected


def test_cluster_with_vote_groups_the_voted_graph(hashfile):
    path, words = hashfile
    d_find, d_dhash = brute_distances(words, words), brute_distances(words[:, :1], words[:, :1])
    for vote in (1, 2):
        groups = json.loads(run("cluster", path, "-a", "find", "-a", "dhash", "-t", "0.12", "--vote", vote).stdout)
        votes = (d_find <= 30).astype(int) + (d_dhash <= 7)
        edges = [(a, b) for a in range(30) for b in range(a + 1, 30) if votes[a, b] >= vote]
        expected = sorted(sorted(PATHS[k] for k in c) for c in brute_components(30, edges) if len(c) > 1)
        assert sorted(sorted(m["path"] for m in g["members"]) for g in groups) == expected


@pytest.mark.parametrize("args,message", [
    (["-t", "find=abc"], "is not a number or ALGO=VALUE"),
    (["-t", "md5=0.3"], "unknown algorithm 'md5'"),
    (["-d", "dhash=-1"], "is negative"),
    (["-a", "find", "-a", "dhash", "--vote", "3"], "--vote must be between 1 and the number of algorithms (2)"),
])
def test_vote_argument_errors(hashfile, args, message):
    result = run("compare", hashfile[0], *args)
    assert result.exit_code == 2 and message in result.stderr


def test_cluster_warns_of_a_loose_threshold_and_a_giant_group_in_its_summary(tmp_path):
    """60 random hashes: at -t 0.6 every one joins one group; the warnings go to stderr and --summary json."""
    path = tmp_path / "h.npz"
    words = planted(60, 4, seed=3)
    synthetic_hashset([f"/p/{k:02d}.jpg" for k in range(60)], {"find": words}, {"find": 256}).save(path)
    result = run("cluster", path, "-a", "find", "-t", "0.6", "--summary", "json", "--keep", "size")
    assert result.exit_code == 0
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert len(summary["warnings"]) == 2 and "holds 60 of 60 images" in summary["warnings"][1]
    assert result.stderr.count("finder: warning: ") == 2
    calm = run("cluster", path, "-a", "find", "--summary", "json", "--keep", "size")
    assert json.loads(calm.stderr.strip().splitlines()[-1])["warnings"] == []


def test_the_fast_csv_pair_writer_writes_what_the_generic_writer_writes():
    """CsvPairWriter (paths encoded per chunk) against write_rows over pair_rows, on names CSV must quote."""
    import io

    import numpy as np

    from finder.output import CsvPairWriter, pair_rows, write_rows
    from finder.store.hashset import PathColumn

    names = ['/p/a,b.jpg', '/p/"q".jpg', "/p/line\nbreak.jpg", os.fsdecode(b"/p/\xff.jpg"), "/p/plain.jpg"]
    paths = PathColumn.of(names)
    chunks = [(np.array([0, 0, 3]), np.array([1, 4, 4]), np.array([3, 0, 17], np.int32), np.array([0, 1, 0], bool)),
              (np.array([], np.int64), np.array([], np.int64), np.array([], np.int32), np.array([], bool)),
              (np.array([2, 4]), np.array([2, 1]), np.array([256, 5], np.int32), np.array([1, 0], bool))]
    fast = io.BytesIO()
    writer = CsvPairWriter(fast, paths, paths, 256)
    for i, j, d, same in chunks:
        writer.write(i, j, d, same)
    generic = io.BytesIO()
    rows = [row for i, j, d, same in chunks for row in pair_rows(i, j, d, paths, paths, 256, same)]
    from finder.output import PAIR_HEADER

    write_rows(generic, PAIR_HEADER, rows, "csv")
    assert fast.getvalue() == generic.getvalue()
