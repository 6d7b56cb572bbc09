"""Review decisions (NAME.decisions.json): kept safely, read as hostile input, honoured by cluster, report and
dedupe, and keyed by file identity so a rename keeps them."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from finder.cli.app import cli
from finder.groups.decisions import Decisions, DecisionsError, FileKeys, decisions_path, drop_distinct, honour
from finder.pairs import Pairs
from finder.store.hashset import load
from tests.review_data import GROUPS, make_collection


@pytest.fixture
def collection(tmp_path):
    made = make_collection(tmp_path)
    return tmp_path, made


def run(*args: str) -> object:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def cluster(root: Path, *extra: str) -> list[dict]:
    result = run("cluster", str(root / "hashes.npz"), *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def named(groups: list[dict], made: dict[str, Path]) -> list[set[str]]:
    by_path = {str(p): name for name, p in made.items()}
    return sorted(({by_path[m["path"]] for m in g["members"]} for g in groups), key=sorted)


def decide(root: Path, kind: str, files: list[Path], keeper: Path | None = None) -> None:
    hs = load(root / "hashes.npz")
    keys = FileKeys(hs)
    decisions = Decisions.load(decisions_path(root / "hashes.npz"))
    decisions.add(kind, [keys.of_path(str(f)) for f in files], keeper=keys.of_path(str(keeper)) if keeper else None,
                  paths=[str(f) for f in files])


def test_the_collection_groups_as_it_was_made(collection):
    root, made = collection
    assert named(cluster(root), made) == sorted(GROUPS.values(), key=sorted)


def test_not_a_duplicate_splits_the_pair_in_cluster_and_report(collection):
    root, made = collection
    decide(root, "distinct", [made["tree"], made["tree-mirror"]])
    assert {"tree", "tree-mirror"} not in named(cluster(root), made)
    assert {"tree", "tree-mirror"} in named(cluster(root, "--ignore-decisions"), made)
    report = run("report", str(root / "hashes.npz"), "-o", str(root / "r.html"), "-q")
    assert report.exit_code == 0
    assert "tree-mirror.jpg" not in (root / "r.html").read_text()


def test_keep_all_hides_the_group_until_a_new_file_joins(collection):
    root, made = collection
    decide(root, "keep_all", [made["city"], made["city-q60"]])
    result = run("cluster", str(root / "hashes.npz"), "--summary", "json")
    groups = json.loads(result.stdout)
    assert {"city", "city-q60"} not in named(groups, made)
    assert "1 groups kept whole in review" in result.stderr
    # A new copy joins the group: it is offered again, with all three.
    shutil.copy(made["city"], made["city"].parent.parent / "b" / "city-copy.jpg")
    assert run("hash", str(root / "photos"), "-o", str(root / "hashes.npz"), "-q", "-j", "1").exit_code == 0
    groups = cluster(root)
    sizes = {len(g["members"]) for g in groups if any("city" in m["path"] for m in g["members"])}
    assert sizes == {3}


def test_a_chosen_keeper_is_kept_and_survives_a_rename(collection):
    root, made = collection
    assert next(g for g in cluster(root) if g["keeper"] == str(made["beach"]))
    decide(root, "keeper", [made["beach"], made["beach-small"], made["beach-png"]], keeper=made["beach-png"])
    group = next(g for g in cluster(root) if len(g["members"]) == 3)
    assert group["keeper"] == str(made["beach-png"])
    assert group["keeper_reason"].startswith("chosen in review")
    moved = made["beach-png"].parent.parent / "c" / "renamed.png"
    os.rename(made["beach-png"], moved)
    assert run("hash", str(root / "photos"), "-o", str(root / "hashes.npz"), "-q", "-j", "1").exit_code == 0
    group = next(g for g in cluster(root) if len(g["members"]) == 3)
    assert group["keeper"] == str(moved)


def test_dedupe_honours_decisions_made_after_the_groups_file(collection):
    root, made = collection
    groups_file = root / "groups.json"
    groups_file.write_text(json.dumps(cluster(root)))
    decide(root, "keep_all", [made["city"], made["city-q60"]])
    decide(root, "distinct", [made["beach"], made["beach-small"]])
    result = run("dedupe", str(groups_file), "--hashes", str(root / "hashes.npz"), "--action", "move",
                 "--to", str(root / "dupes"))
    assert result.exit_code == 0, result.output
    planned = result.stdout
    assert str(made["city-q60"]) not in planned  # kept whole
    assert str(made["beach-small"]) not in planned  # not a duplicate of its keeper
    assert str(made["beach-png"]) in planned and str(made["tree-mirror"]) in planned


def test_decisions_list_undo_clear(collection):
    root, made = collection
    decide(root, "reviewed", [made["city"], made["city-q60"]])
    decide(root, "distinct", [made["tree"], made["tree-mirror"]])
    decide(root, "keeper", [made["beach"], made["beach-small"], made["beach-png"]], keeper=made["beach-small"])
    listed = run("decisions", "list", str(root / "hashes.npz"), "--format", "json")
    rows = json.loads(listed.stdout)
    assert [r["kind"] for r in rows] == ["reviewed", "not a duplicate", "keeper"]
    assert str(made["tree-mirror"]) in rows[1]["paths"]
    assert rows[2]["keeper"] == str(made["beach-small"])
    assert run("decisions", "undo", str(root / "hashes.npz")).exit_code == 0
    assert run("decisions", "undo", str(root / "hashes.npz")).exit_code == 0
    assert {"tree", "tree-mirror"} in named(cluster(root), made)
    assert run("decisions", "clear", str(root / "hashes.npz")).exit_code != 0  # says what to clear
    assert run("decisions", "clear", str(root / "hashes.npz"), "--all").exit_code == 0
    assert Decisions.load(decisions_path(root / "hashes.npz")).records == []


GOOD_KEY = "find:" + "ab" * 32 + ":100"
OTHER_KEY = "find:" + "cd" * 32 + ":200"


@pytest.mark.parametrize("content, says", [
    (b"\x00\xff garbage", "not a decisions file"),
    (b'{"format": "finder-decisions", "version": 1, "decisions": [', "not a decisions file"),  # torn
    (b'{"format": "other", "version": 1, "decisions": []}', "not a finder-decisions file"),
    (b'{"format": "finder-decisions", "version": 9, "decisions": []}', "version 9"),
    (b'{"format": "finder-decisions", "version": 1, "decisions": [{"id": 1, "kind": "delete_all", '
     b'"files": [], "at": "x"}]}', "kind 'delete_all'"),
    (json.dumps({"format": "finder-decisions", "version": 1, "decisions": [
        {"id": 1, "kind": "distinct", "files": [GOOD_KEY, "../../etc/passwd"], "at": "x"}]}).encode(),
     "not a file identity"),
    (json.dumps({"format": "finder-decisions", "version": 1, "decisions": [
        {"id": 1, "kind": "keeper", "files": [GOOD_KEY, OTHER_KEY], "keeper": "find:00:1", "at": "x"}]}).encode(),
     "'keeper' must be one of its 'files'"),
    (b'{"format": "finder-decisions", "version": 1, "decisions": [{"id": NaN}]}', "not a decisions file"),
])
def test_a_damaged_or_crafted_decisions_file_is_an_error_and_is_not_overwritten(tmp_path, content, says):
    path = tmp_path / "hashes.decisions.json"
    path.write_bytes(content)
    with pytest.raises(DecisionsError, match="hashes.decisions.json") as caught:
        Decisions.load(str(path))
    assert says in str(caught.value)
    assert path.read_bytes() == content


def test_cluster_refuses_to_run_over_a_damaged_decisions_file(collection):
    root, _ = collection
    Path(decisions_path(root / "hashes.npz")).write_text("{torn")
    result = run("cluster", str(root / "hashes.npz"))
    assert result.exit_code != 0
    assert "hashes.decisions.json" in result.stderr


def test_saving_is_atomic_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = str(tmp_path / "hashes.decisions.json")
    decisions = Decisions(path)
    decisions.add("distinct", [GOOD_KEY, OTHER_KEY])
    before = Path(path).read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(json, "dump", fail)
    with pytest.raises(DecisionsError, match="No space left"):
        decisions.add("reviewed", [GOOD_KEY])
    assert Path(path).read_bytes() == before
    assert os.listdir(tmp_path) == ["hashes.decisions.json"]


def test_drop_distinct_removes_exactly_the_marked_pairs():
    from tests.helpers import synthetic_hashset

    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**63, (6, 4), dtype=np.uint64)
    hs = synthetic_hashset([f"/p/{k}.jpg" for k in range(6)], {"find": words})
    keys = FileKeys(hs)
    pairs = Pairs(np.array([0, 0, 1, 2, 3]), np.array([1, 2, 2, 3, 5]), np.arange(5, dtype=np.int32))
    decisions = Decisions("unused")
    decisions.add("distinct", [keys(0), keys(2)], save=False)
    decisions.add("distinct", [keys(3), keys(5)], save=False)
    kept = drop_distinct(pairs, keys, decisions)
    expected = [(a, b) for a, b in zip(pairs.i, pairs.j) if {a, b} not in ({0, 2}, {3, 5})]
    assert list(zip(kept.i.tolist(), kept.j.tolist())) == expected
    assert honour([], keys, decisions).groups == []


def test_a_pair_marked_distinct_is_not_linked_even_away_from_the_keeper():
    """A chain A - B - C (C within the radius of B only): marking B, C "not a duplicate" leaves C alone; the
    other pairs are untouched."""
    from finder.groups.build import find_groups
    from finder.match.search import Rule
    from tests.helpers import synthetic_hashset

    rng = np.random.default_rng(5)
    a = rng.integers(0, 2**63, 4, dtype=np.uint64)
    bits = np.unpackbits(a.view(np.uint8))
    b_bits, c_bits = bits.copy(), bits.copy()
    b_bits[:20] ^= 1
    c_bits[:20] ^= 1
    c_bits[100:120] ^= 1
    rows = np.stack([np.packbits(x).view(np.uint64) for x in (bits, b_bits, c_bits)])
    hs = synthetic_hashset(["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"], {"find": rows})
    rule = Rule("find", 256, 25)
    whole = find_groups(hs, [rule])
    assert [{m.path for m in g.members} for g in whole] == [{"/p/a.jpg", "/p/b.jpg", "/p/c.jpg"}]
    keys = FileKeys(hs)
    decisions = Decisions("unused")
    decisions.add("distinct", [keys(1), keys(2)], save=False)
    split = find_groups(hs, [rule], decisions=decisions)
    assert [{m.path for m in g.members} for g in split] == [{"/p/a.jpg", "/p/b.jpg"}]
