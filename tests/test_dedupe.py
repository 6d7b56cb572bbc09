"""finder dedupe: dry run, what is never touched, every action and its undo, kill -9 mid-apply, the full run."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from finder.cli.app import cli
from finder.dedupe import fileops as dedupe_fileops
from finder.dedupe import journal as dedupe_journal
from finder.dedupe import plan as dedupe_plan
from finder.dedupe import run as dedupe_run
from finder.dedupe.hashed import Hashed
from finder.groups import file as groups_file
from finder.store import hashset, update

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"


def with_store(args) -> list[str]:
    """``args`` as strings; a dedupe of a groups file is given the store write_groups left beside it."""
    args = [os.fsdecode(a) if isinstance(a, (Path, bytes)) else str(a) for a in args]
    if args[:1] == ["dedupe"] and len(args) > 1 and not args[1].startswith("-") and "--hashes" not in args:
        args += ["--hashes", str(Path(args[1]).parent / "hashes.npz") if os.path.isabs(args[1]) else "hashes.npz"]
    return args


def run(*args, env=None):
    return CliRunner(env=env).invoke(cli, with_store(args), catch_exceptions=False)


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every regular file under ``root``: content digest and mtime (what a restore must bring back exactly)."""
    found = {}
    for folder, _, names in os.walk(os.fsencode(root)):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                found[os.fsdecode(path)] = ("link", 0)
                continue
            with open(path, "rb") as handle:
                found[os.fsdecode(path)] = (hashlib.sha256(handle.read()).hexdigest(), os.stat(path).st_mtime_ns)
    return found


def record(path: Path | str, **extra):
    st = os.stat(path)
    return {"path": os.fsdecode(path), "distance": 0, "same_file_as": None, "reference": False, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, **extra}


def write_groups(target: Path, groups: list[tuple[Path, list[Path]]], references=()) -> Path:
    """A groups file as finder cluster writes it: (keeper, members) per group, sizes and mtimes from disk; and
    its members hashed into ``hashes.npz`` beside it (added to what is there), the store dedupe checks."""
    data = [{"group": k, "size": len(members), "representative": os.fsdecode(members[0]), "keeper": os.fsdecode(keeper),
             "members": [record(m, reference=m in references) for m in members]}
            for k, (keeper, members) in enumerate(groups)]
    target.write_text(json.dumps(data))
    store = target.parent / "hashes.npz"
    previous = hashset.load(store) if store.exists() else None
    paths = sorted({os.fsdecode(m) for _, members in groups for m in members if os.path.isfile(m)})
    update.hash_paths(paths, jobs=1, previous=previous, on_warning=None).hashset.save(store)
    return target


def hashed(folder: Path) -> Hashed:
    return Hashed.load(str(folder / "hashes.npz"))


def image_bytes(k: int, size: int) -> bytes:
    """A PNG of its own picture (``k`` decides it) padded after its end to exactly ``size`` bytes."""
    rng = np.random.default_rng(k)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((24, 24), Image.NEAREST).save(buffer, "PNG")
    data = buffer.getvalue()
    assert len(data) <= size, len(data)
    return data + bytes(size - len(data))


def files(root: Path, *names: str, size: int = 1000) -> list[Path]:
    """Images named ``names`` under ``root``, each its own picture, of ``size``, ``size + 1``, ... bytes."""
    made = []
    for k, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes(k, size + k))
        made.append(path)
    return made


@pytest.fixture
def tree(tmp_path):
    """Two groups in nested folders: keepers a/1.jpg and c/1.jpg."""
    photos = tmp_path / "photos"
    g1 = files(photos, "a/1.jpg", "a/2.jpg", "b/2.jpg")
    g2 = files(photos, "c/1.jpg", "c/d/2.jpg")
    groups = write_groups(tmp_path / "groups.json", [(g1[0], g1), (g2[0], g2)])
    return tmp_path, photos, groups


def test_dry_run_prints_the_plan_and_changes_nothing(tree, monkeypatch):
    root, photos, groups = tree
    monkeypatch.chdir(root)
    before = snapshot(root)
    result = run("dedupe", groups, "--action", "move", "--to", root / "dupes")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines == [f"would move {photos}/a/2.jpg -> {root}/dupes/a/2.jpg (1001 B)",
                     f"would move {photos}/b/2.jpg -> {root}/dupes/b/2.jpg (1002 B)",
                     f"would move {photos}/c/d/2.jpg -> {root}/dupes/c/d/2.jpg (1001 B)"]
    assert "2.9 KiB moved out" in result.stderr and "nothing was changed" in result.stderr
    assert snapshot(root) == before and not list(root.glob("finder-dedupe-*"))


def test_move_keeps_structure_never_overwrites_and_undo_restores(tree, monkeypatch):
    root, photos, groups = tree
    monkeypatch.chdir(root)
    before = snapshot(photos)
    (root / "dupes" / "b").mkdir(parents=True)
    (root / "dupes" / "b" / "2.jpg").write_bytes(b"someone else's file")
    result = run("dedupe", groups, "--action", "move", "--to", root / "dupes", "--apply")
    assert result.exit_code == 0, result.output
    assert "refused" in result.stderr and "destination" in result.stderr and "exists" in result.stderr
    assert (root / "dupes" / "b" / "2.jpg").read_bytes() == b"someone else's file"
    assert (root / "dupes" / "a" / "2.jpg").exists() and (root / "dupes" / "c" / "d" / "2.jpg").exists()
    assert not (photos / "a" / "2.jpg").exists() and (photos / "b" / "2.jpg").exists()
    (journal,) = root.glob("finder-dedupe-*.jsonl")
    assert f"journal: {journal.name}" in result.stderr
    kinds = [json.loads(line)["type"] for line in journal.read_text().splitlines()]
    assert kinds == ["start", "intent", "done", "intent", "done", "end"]
    undone = run("dedupe", "--undo", journal)
    assert undone.exit_code == 0, undone.output
    assert snapshot(photos) == before  # same bytes and mtimes at the same paths
    assert (root / "dupes" / "b" / "2.jpg").read_bytes() == b"someone else's file"


def test_never_the_keeper_a_reference_a_hard_link_of_the_keeper_or_a_changed_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keeper, ref, changed, gone, dup = files(tmp_path / "p", "keep.jpg", "ref/r.jpg", "changed.jpg", "gone.jpg",
                                            "dup.jpg")
    link = tmp_path / "p" / "link.jpg"
    os.link(keeper, link)
    lonely, lonely_dup = files(tmp_path / "q", "keeper-gone.jpg", "dup.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, ref, changed, gone, dup, link]),
                                                (lonely, [lonely, lonely_dup])], references={ref})
    changed.write_bytes(changed.read_bytes() + b"edited")
    gone.unlink()
    lonely.unlink()  # a group whose keeper has gone is left alone entirely
    result = run("dedupe", groups, "--action", "delete", "--apply", "--yes-delete")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"deleted {dup} (1004 B)"]
    assert keeper.exists() and ref.exists() and changed.exists() and link.exists() and lonely_dup.exists()
    assert "changed since it was hashed" in result.stderr and f"its keeper {lonely} is missing" in result.stderr
    assert "1 hard link of a kept file" in result.stderr and "1 reference" in result.stderr


def test_delete_needs_confirmation_and_cannot_be_undone(tree, monkeypatch):
    root, photos, groups = tree
    monkeypatch.chdir(root)
    result = run("dedupe", groups, "--action", "delete", "--apply")
    assert result.exit_code == 2 and "irreversible" in result.output and "--yes-delete" in result.output
    assert (photos / "a" / "2.jpg").exists()
    assert run("dedupe", groups, "--action", "delete", "--apply", "--yes-delete", "--journal", "j.jsonl",
               "-q").exit_code == 0
    assert not (photos / "a" / "2.jpg").exists()
    result = run("dedupe", "--undo", "j.jsonl")
    assert result.exit_code == 1 and "deleted (delete is irreversible)" in result.stderr


def test_hardlink_and_symlink_point_to_the_keeper_and_undo_restores(tree, monkeypatch):
    root, photos, groups = tree
    monkeypatch.chdir(root)
    before = snapshot(photos)
    result = run("dedupe", groups, "--action", "hardlink", "--to", "stash", "--apply", "--journal", "h.jsonl")
    assert result.exit_code == 0, result.output
    assert os.path.samefile(photos / "a" / "2.jpg", photos / "a" / "1.jpg")
    assert os.path.samefile(photos / "c" / "d" / "2.jpg", photos / "c" / "1.jpg")
    assert (root / "stash" / "b" / "2.jpg").stat().st_size == 1002  # the duplicate itself is kept for undo
    again = run("dedupe", groups, "--action", "hardlink", "--to", "stash2")
    assert "would hard-link" not in again.stdout and "3 already links to their keeper" in again.stderr
    assert run("dedupe", "--undo", "h.jsonl").exit_code == 0
    assert snapshot(photos) == before and not os.path.samefile(photos / "a" / "2.jpg", photos / "a" / "1.jpg")
    assert run("dedupe", groups, "--action", "symlink", "--to", "stash3", "--apply", "--journal", "s.jsonl",
               "-q").exit_code == 0
    assert os.readlink(photos / "b" / "2.jpg") == str(photos / "a" / "1.jpg")
    assert run("dedupe", "--undo", "s.jsonl", "-q").exit_code == 0
    assert snapshot(photos) == before


def cli_env(tmp_path, **extra):
    """The environment of a finder subprocess with its own home (and so its own trash) under tmp_path."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_DATA_HOME",)}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"), **extra)
    return env


def finder(*args, env, cwd, check=True):
    result = subprocess.run([sys.executable, "-m", "finder", *with_store(args)], env=env, cwd=cwd,
                            capture_output=True, timeout=120, check=False)
    if check:
        assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result


def test_trash_and_undo_bring_the_files_back(tree):
    pytest.importorskip("send2trash")
    root, photos, groups = tree
    env = cli_env(root)
    before = snapshot(photos)
    finder("dedupe", groups, "--action", "trash", "--apply", "--journal", "t.jsonl", env=env, cwd=root)
    trash = root / "home" / ".local" / "share" / "Trash"
    assert sorted(p.name for p in (trash / "files").iterdir()) == ["2 1.jpg", "2 2.jpg", "2.jpg"]
    assert not (photos / "a" / "2.jpg").exists()
    done = [json.loads(line) for line in (root / "t.jsonl").read_text().splitlines()]
    assert all(r["trash"]["file"].startswith(str(trash)) for r in done if r["type"] == "done")
    finder("dedupe", "--undo", "t.jsonl", env=env, cwd=root)
    assert snapshot(photos) == before
    assert not list((trash / "files").iterdir()) and not list((trash / "info").iterdir())


def test_symlink_to_the_trash_and_names_that_are_not_utf8(tmp_path):
    pytest.importorskip("send2trash")
    photos = tmp_path / os.fsdecode(b"caf\xe9")
    keeper, dup = files(photos, "keep.jpg", os.fsdecode(b"\xff copy.jpg"))
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, dup])])
    env = cli_env(tmp_path)
    before = snapshot(photos)
    out = finder("dedupe", groups, "--action", "symlink", "--apply", "--journal", "j.jsonl", env=env, cwd=tmp_path)
    assert os.fsencode(dup) in out.stdout  # the name's own bytes, like find prints them
    assert os.path.islink(dup) and os.path.samefile(dup, keeper)
    finder("dedupe", "--undo", "j.jsonl", env=env, cwd=tmp_path)
    assert snapshot(photos) == before


def many(tmp_path, n=12):
    keeper, *dups = files(tmp_path / "photos", *[f"d{k // 4}/img{k:02d}.jpg" for k in range(n)])
    return write_groups(tmp_path / "g.json", [(keeper, [keeper, *dups])])


def start_and_kill(tmp_path, env, after_done=3):
    """Start dedupe --apply slowed down, kill -9 it once the journal shows ``after_done`` done steps."""
    process = subprocess.Popen([sys.executable, "-m", "finder", "dedupe", "g.json", "--action", "move", "--to",
                                "dupes", "--apply", "--journal", "j.jsonl"], env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "j.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if journal.exists() and journal.read_text().count('"type": "done"') >= after_done:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the run never got going")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    records = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    done = sum(r["type"] == "done" for r in records)
    assert after_done <= done < 11 and records[-1]["type"] != "end"  # killed mid-way
    return done


def test_kill_9_mid_apply_then_rerun_continues_from_the_journal(tmp_path):
    many(tmp_path)
    before = snapshot(tmp_path / "photos")
    env = cli_env(tmp_path, FINDER_DEDUPE_STEP_DELAY="0.25")
    done = start_and_kill(tmp_path, env)
    moved = sorted(p.name for p in (tmp_path / "dupes").rglob("*.jpg"))
    assert len(moved) in (done, done + 1)
    env.pop("FINDER_DEDUPE_STEP_DELAY")
    rerun = finder("dedupe", "g.json", "--action", "move", "--to", "dupes", "--apply", "--journal", "j.jsonl",
                   env=env, cwd=tmp_path)
    assert b"continuing j.jsonl" in rerun.stderr
    assert sorted(p.name for p in (tmp_path / "dupes").rglob("*.jpg")) == [f"img{k:02d}.jpg" for k in range(1, 12)]
    records = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    intents = {r["op"]: r["path"] for r in records if r["type"] == "intent"}
    done_paths = [intents[r["op"]] for r in records if r["type"] == "done"]
    assert len(done_paths) == len(set(done_paths)) == 11  # every duplicate done exactly once
    finder("dedupe", "--undo", "j.jsonl", env=env, cwd=tmp_path)
    assert snapshot(tmp_path / "photos") == before


def test_kill_9_mid_apply_then_undo_restores_everything_done(tmp_path):
    many(tmp_path)
    before = snapshot(tmp_path / "photos")
    env = cli_env(tmp_path, FINDER_DEDUPE_STEP_DELAY="0.25")
    start_and_kill(tmp_path, env, after_done=2)
    assert snapshot(tmp_path / "photos") != before
    env.pop("FINDER_DEDUPE_STEP_DELAY")
    finder("dedupe", "--undo", "j.jsonl", env=env, cwd=tmp_path)
    assert snapshot(tmp_path / "photos") == before
    assert not list((tmp_path / "dupes").rglob("*.jpg"))
    again = finder("dedupe", "g.json", "--action", "move", "--to", "dupes", "--apply", "--journal", "j.jsonl",
                   env=env, cwd=tmp_path, check=False)
    assert again.returncode == 2 and b"has been undone" in again.stderr


def intent(step: dedupe_plan.Step, op: int = 0) -> dict:
    return {"type": "intent", "op": op, **dataclasses.asdict(step)}


def test_steps_caught_half_way_are_finished_on_resume_or_reversed_by_undo(tmp_path):
    """A kill between the two halves of a step: a move linked but not unlinked, a link's original put away
    but the link not made.  Resume finishes them; undo puts them back."""
    keeper, a, b = files(tmp_path / "p", "keep.jpg", "a.jpg", "b.jpg")
    groups = groups_file.read_groups(str(write_groups(tmp_path / "g.json", [(keeper, [keeper, a, b])])))
    before = snapshot(tmp_path / "p")
    move = dedupe_plan.plan(groups, "move", str(tmp_path / "dupes"), hashed=hashed(tmp_path)).steps[0]
    link = dedupe_plan.plan(groups, "symlink", str(tmp_path / "stash"), hashed=hashed(tmp_path)).steps[1]
    journal_path = str(tmp_path / "j.jsonl")
    with dedupe_journal.Journal(journal_path) as journal:
        # one journal for both steps (a test shortcut): its --to holds both destinations
        journal.write(dedupe_journal.journal_header(str(tmp_path / "g.json"), "move", str(tmp_path)))
        journal.write(intent(move, 0))
        journal.write(intent(link, 1))
    os.makedirs(tmp_path / "dupes")
    os.link(move.path, move.dest)  # the move's first half
    os.makedirs(tmp_path / "stash")
    os.rename(link.path, link.dest)  # the link's first half
    history = dedupe_journal.replay(dedupe_journal.read_journal(journal_path))
    assert [dedupe_fileops.state(r) for r in history.pending()] == ["half", "half"]
    with dedupe_journal.Journal(journal_path) as journal:
        assert dedupe_run.resume(history, journal) == 2
    assert not a.exists() and (tmp_path / "dupes" / "a.jpg").exists()
    assert os.readlink(b) == str(keeper)
    result = dedupe_run.undo(journal_path)
    assert len(result.restored) == 2 and not result.refused
    assert snapshot(tmp_path / "p") == before


def test_a_file_changed_after_the_plan_is_refused_at_the_last_moment(tmp_path):
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = groups_file.read_groups(str(write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])))
    the_plan = dedupe_plan.plan(groups, "delete", hashed=hashed(tmp_path))
    assert len(the_plan.steps) == 1 and the_plan.freed == 1001
    a.write_bytes(b"new content")
    with dedupe_journal.Journal(str(tmp_path / "j.jsonl")) as journal:
        outcome = dedupe_run.apply(the_plan, journal, hashed=hashed(tmp_path))
    assert not outcome.done and outcome.refused and a.read_bytes() == b"new content"


def test_bad_groups_files_and_journals_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "old.json").write_text(json.dumps([{"group": 0, "members": [{"path": "/x", "distance": 0}]}]))
    (tmp_path / "notes.jsonl").write_text('{"hello": 1}\n')
    for args, message in [(["bad.json", "--action", "trash"], "not a finder groups file"),
                          (["old.json", "--action", "trash"], "run finder cluster again"),
                          (["--undo", "notes.jsonl"], "not a finder dedupe journal"),
                          (["old.json"], "--action"),
                          (["old.json", "--action", "move"], "--to")]:
        result = CliRunner().invoke(cli, ["dedupe", *args])
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output and result.output.strip().splitlines()[-1].startswith("Error: ")


def test_full_run_on_a_copy_of_the_examples(tmp_path, monkeypatch):
    """hash -> cluster -> report -> dedupe dry run -> apply -> undo, on the bundled example images."""
    photos = tmp_path / "images"
    shutil.copytree(EXAMPLES, photos)
    monkeypatch.chdir(tmp_path)
    before = snapshot(photos)
    assert run("hash", photos, "-j", "1", "-q").exit_code == 0
    assert run("cluster", "-o", "groups.json").exit_code == 0
    groups = json.loads((tmp_path / "groups.json").read_text())
    members = sum(g["size"] for g in groups)
    assert run("report", "-o", "report.html", "-q").exit_code == 0
    assert (tmp_path / "report.html").read_text().count('class="group"') == len(groups)
    dry = run("dedupe", "groups.json", "--action", "move", "--to", "dupes")
    assert len(dry.stdout.splitlines()) == members - len(groups) and snapshot(photos) == before
    applied = run("dedupe", "groups.json", "--action", "move", "--to", "dupes", "--apply", "--journal", "j.jsonl")
    moved = [p for p in (tmp_path / "dupes").iterdir() if p.name != ".finder-dedupe-destination"]
    assert applied.exit_code == 0 and len(moved) == members - len(groups)
    assert {g["keeper"] for g in groups} <= {str(p) for p in photos.iterdir()}
    assert run("dedupe", "--undo", "j.jsonl").exit_code == 0
    assert snapshot(photos) == before


# --------------------------------------------------------------------------- journals that fail or are torn


def test_a_journal_record_that_cannot_be_written_whole_stops_before_its_step(tmp_path, monkeypatch):
    """A full disk: the second intent is written short.  The record is taken back, the run stops with one
    line before that step, and undo (once there is room) restores the step that was done."""
    keeper, a, b = files(tmp_path / "p", "keep.jpg", "a.jpg", "b.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a, b])])
    before = snapshot(tmp_path / "p")
    real_write, intents, full = os.write, [], []

    def disk_fills_at_the_second_intent(fd, data):
        if full:
            raise OSError(errno.ENOSPC, "No space left on device")
        if b'"intent"' in data:
            intents.append(data)
            if len(intents) == 2:
                full.append(True)
                return real_write(fd, data[: len(data) // 2])
        return real_write(fd, data)

    monkeypatch.setattr(dedupe_journal.os, "write", disk_fills_at_the_second_intent)
    result = run("dedupe", groups, "--action", "move", "--to", tmp_path / "dupes", "--apply",
                 "--journal", tmp_path / "j.jsonl")
    monkeypatch.undo()
    assert result.exit_code == 2 and "cannot write journal" in result.stderr, result.output
    assert not a.exists() and b.exists()  # the first step done, the second never begun
    lines = (tmp_path / "j.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])  # no half record left
    undone = run("dedupe", "--undo", tmp_path / "j.jsonl")
    assert undone.exit_code == 0, undone.output
    assert snapshot(tmp_path / "p") == before


def test_a_torn_last_record_is_dropped_and_the_run_continues_and_undoes(tmp_path):
    """A run killed while writing a record leaves a torn last line.  Continuing drops it (and settles that
    step from the file system); undo then reads the whole journal and restores everything."""
    keeper, a, b, c = files(tmp_path / "p", "keep.jpg", "a.jpg", "b.jpg", "c.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a, b, c])])
    before = snapshot(tmp_path / "p")
    args = ["dedupe", groups, "--action", "move", "--to", tmp_path / "dupes", "--journal", tmp_path / "j.jsonl"]
    journal = tmp_path / "j.jsonl"
    assert run(*args, "--apply").exit_code == 0
    undo_all = run("dedupe", "--undo", journal)
    assert undo_all.exit_code == 0 and snapshot(tmp_path / "p") == before
    # A second journal, killed while writing the intent of its second step: the file is still in place.
    journal.unlink()
    first = dedupe_plan.plan(groups_file.read_groups(str(groups)), "move", str(tmp_path / "dupes"),
                             hashed=hashed(tmp_path)).steps[0]
    with dedupe_journal.Journal(str(journal)) as writer:
        writer.write(dedupe_journal.journal_header(str(groups), "move", str(tmp_path / "dupes")))
        writer.write(intent(first, 0))
    os.makedirs(tmp_path / "dupes", exist_ok=True)
    os.link(first.path, first.dest)
    os.unlink(first.path)  # the first step done, its done record never written
    with open(journal, "ab") as handle:
        handle.write(b'{"action": "move", "op": 1, "pa')  # torn
    continued = run(*args, "--apply")
    assert continued.exit_code == 0, continued.output
    assert not any(p.exists() for p in (a, b, c)) and keeper.exists()
    undone = run("dedupe", "--undo", journal)
    assert undone.exit_code == 0 and "restored 3 files" in undone.stderr, undone.output
    assert snapshot(tmp_path / "p") == before


# --------------------------------------------------------------------------- groups files and journals are input


def _hostile_groups(keeper: str, dup: str) -> dict[str, str]:
    member = {"path": dup, "distance": 3, "same_file_as": None, "reference": False, "size": 5, "mtime_ns": 7}
    keep = dict(member, path=keeper)

    def group(**changes):
        return json.dumps([{"group": 0, "size": 2, "representative": keeper, "keeper": keeper,
                            "members": [keep, member], **changes}])

    def with_member(**changes):
        return group(members=[keep, dict(member, **changes)])

    return {
        "deep": "[" * 100_000 + "]" * 100_000,
        "distance far": with_member(distance="far"),
        "distance 1e400": with_member(distance=1e400).replace("Infinity", "1e400"),
        "distance NaN": with_member(distance=float("nan")),
        "group abc": group(group="abc"),
        "group [1]": group(group=[1]),
        "NUL in a path": with_member(path=dup + "\0x"),
        "empty path": with_member(path=""),
        "relative path": with_member(path="dupes/a.jpg"),
        "a path with ..": with_member(path=os.path.dirname(dup) + "/../outside/dup.jpg"),
        "a keeper with ..": group(keeper=os.path.dirname(keeper) + "/../" + os.path.basename(keeper)),
        "size -1": with_member(size=-1),
        "size true": with_member(size=True),
        "reference yes": with_member(reference="yes"),
        "listed twice": group(members=[keep, member, member]),
        "an object": json.dumps({"group": 0}),
    }


@pytest.mark.parametrize("case", list(_hostile_groups("/k", "/d")))
def test_hostile_groups_files_are_one_line_errors_and_change_nothing(tmp_path, case):
    keeper, dup = files(tmp_path / "p", "keep.jpg", "dup.jpg")
    before = snapshot(tmp_path / "p")
    (tmp_path / "g.json").write_text(_hostile_groups(str(keeper), str(dup))[case])
    for action in (["--action", "move", "--to", str(tmp_path / "dupes")], ["--action", "delete", "--yes-delete"]):
        result = CliRunner().invoke(cli, ["dedupe", str(tmp_path / "g.json"), *action, "--apply",
                                          "--journal", str(tmp_path / "j.jsonl")])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
        assert len(result.stderr.strip().splitlines()) == 1 and "g.json" in result.stderr
    assert snapshot(tmp_path / "p") == before and not (tmp_path / "j.jsonl").exists()
    assert not (tmp_path / "dupes").exists()


@pytest.mark.parametrize("line", [
    '{"type": "intent", "op": 0}',
    '{"type": "intent", "op": 0, "action": "move", "path": "rel.jpg", "keeper": "/k", "group": 0, "size": 1, '
    '"mtime_ns": 1, "dest": "/d", "device": 0, "inode": 0, "nlink": 1}',
    '{"type": "intent", "op": 0, "action": "shred", "path": "/p", "keeper": "/k", "group": 0, "size": 1, '
    '"mtime_ns": 1, "dest": null, "device": 0, "inode": 0, "nlink": 1}',
    '{"type": "intent", "op": 0, "action": "move", "path": "/p\\u0000", "keeper": "/k", "group": 0, "size": 1, '
    '"mtime_ns": 1, "dest": "/d", "device": 0, "inode": 0, "nlink": 1}',
    '{"type": "done", "op": "0"}',
    '{"type": "done", "op": 0, "trash": {"file": 1}}',
    '{"type": "done", "op": NaN}',
    '{"type": "surprise"}',
    '{"type": "done", "op": 0, "deep": ' + "[" * 100_000 + "]" * 100_000 + '}',
])
def test_hostile_journal_records_are_one_line_errors(tmp_path, line):
    header = dedupe_journal.journal_header(str(tmp_path / "g.json"), "move", str(tmp_path / "dupes"))
    (tmp_path / "j.jsonl").write_text(json.dumps(header) + "\n" + line + "\n" + '{"type": "undo"}\n')
    result = CliRunner().invoke(cli, ["dedupe", "--undo", str(tmp_path / "j.jsonl")])
    assert result.exit_code == 2, result.output
    assert "not a finder dedupe journal" in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- requests that mean nothing, messages


@pytest.mark.parametrize("args, message", [
    (["--action", "trash", "--to", "dupes"], "--action trash puts nothing in --to"),
    (["--action", "delete", "--yes-delete", "--to", "dupes"], "--action delete puts nothing in --to"),
    (["--action", "move", "--to", "p"], "is the folder the duplicates are in"),
])
def test_requests_that_mean_nothing_are_refused_once_before_a_journal(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    keeper, a, b = files(tmp_path / "p", "keep.jpg", "a.jpg", "b.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a, b])])
    before = snapshot(tmp_path / "p")
    for apply in ([], ["--apply"]):
        result = CliRunner().invoke(cli, ["dedupe", str(groups), *args, *apply, "--journal", "j.jsonl"])
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(tmp_path / "p") == before and not (tmp_path / "j.jsonl").exists()


@pytest.mark.parametrize("args", [["--action", "trash"], ["--action", "symlink"], ["--action", "hardlink"]])
def test_the_trash_without_send2trash_is_refused_up_front(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "send2trash", None)  # import send2trash -> ImportError
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])
    for apply in ([], ["--apply"]):
        result = CliRunner().invoke(cli, ["dedupe", str(groups), *args, *apply, "--journal", "j.jsonl"])
        assert result.exit_code == 2 and "send2trash" in result.stderr, result.output
    assert a.exists() and not (tmp_path / "j.jsonl").exists()


def test_quiet_keeps_the_summary_and_the_journal_and_failures_say_so_once(tmp_path, monkeypatch):
    """-q drops per-file lines only; a step that fails is "failed" (not "failed: failed:", not "refused"),
    and the summary counts the bytes of the steps taken, not of the plan."""
    keeper, a, b = files(tmp_path / "p", "keep.jpg", "a.jpg", "b.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a, b])])
    real_link = dedupe_fileops.os.link

    def no_room_for_b(src, dst, **kwargs):
        if src.endswith("b.jpg"):
            raise OSError(errno.EDQUOT, "Disk quota exceeded", src)
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(dedupe_fileops.os, "link", no_room_for_b)
    result = run("dedupe", groups, "--action", "move", "--to", tmp_path / "dupes", "--apply", "-q",
                 "--journal", tmp_path / "j.jsonl")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # no per-file lines
    assert f"journal: {tmp_path / 'j.jsonl'}" in result.stderr
    assert f"failed {b}: Disk quota exceeded" in result.stderr and "failed: failed" not in result.stderr
    assert "moved 1 files, 1001 B moved out" in result.stderr and "1 failed (above)" in result.stderr
    assert "refused at the last moment" not in result.stderr


def test_an_undo_refusal_names_the_path_in_the_way_and_a_held_journal_offers_no_wait(tmp_path):
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])
    journal = tmp_path / "j.jsonl"
    assert run("dedupe", groups, "--action", "move", "--to", tmp_path / "dupes", "--apply",
               "--journal", journal).exit_code == 0
    a.write_bytes(b"a new file where the duplicate was")
    refused = run("dedupe", "--undo", journal)
    assert refused.exit_code == 1 and f"a file is at {a} again" in refused.stderr, refused.output
    from finder.io.lock import store_lock

    with store_lock(str(journal)):
        held = CliRunner().invoke(cli, ["dedupe", "--undo", str(journal)])
    assert held.exit_code == 2 and "--wait" not in held.stderr and "run again once it has finished" in held.stderr


@pytest.mark.parametrize("action", ["hardlink", "symlink"])
@pytest.mark.parametrize("then", ["continue", "undo"])
def test_a_link_step_killed_with_both_names_is_settled_without_debris(tmp_path, action, then):
    """Putting a duplicate away to --to is link-then-unlink: a kill between the two leaves the original at its
    path and at --to.  Continuing finishes the step (the link to the keeper made); undo restores the path and
    leaves nothing at --to (the rerun used to refuse, "destination exists", and undo to leave the copy)."""
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])
    before = snapshot(tmp_path / "p")
    stash = tmp_path / "stash"
    step = dedupe_plan.plan(groups_file.read_groups(str(groups)), action, str(stash), hashed=hashed(tmp_path)).steps[0]
    journal = tmp_path / "j.jsonl"
    with dedupe_journal.Journal(str(journal)) as writer:
        writer.write(dedupe_journal.journal_header(str(groups), action, str(stash)))
        writer.write(intent(step, 0))
    os.makedirs(stash)
    os.link(step.path, step.dest)  # the first half of putting the original away; killed before the unlink
    if then == "continue":
        result = run("dedupe", groups, "--action", action, "--to", stash, "--apply", "--journal", journal)
        assert result.exit_code == 0 and "1 finished now" in result.stderr, result.output
        assert os.path.samefile(a, keeper) and (stash / "a.jpg").exists()
        assert not result.stderr.count("refused")
    undone = run("dedupe", "--undo", journal)
    assert undone.exit_code == 0 and "restored 1 files" in undone.stderr, undone.output
    assert snapshot(tmp_path / "p") == before and not (stash / "a.jpg").exists()
    assert not os.path.samefile(a, keeper) and not os.path.islink(a)


def _other_filesystem(path: Path) -> Path | None:
    """A writable folder on another filesystem than ``path`` (tmpfs /dev/shm where there is one)."""
    for candidate in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK) and os.stat(candidate).st_dev != \
                os.stat(path).st_dev:
            return Path(tempfile.mkdtemp(prefix="finder-xfs-", dir=candidate))
    return None


def test_hard_links_stay_hard_links_when_moved_across_filesystems_and_back(tmp_path):
    """Four names of one file (hard links), all duplicates, moved to --to on another filesystem: the four
    names there are links of one copy, and after undo the four original names are links of one file again
    (they used to come back as four copies)."""
    other = _other_filesystem(tmp_path)
    if other is None:
        pytest.fail("no second filesystem to move to (CI has tmpfs at /dev/shm)")
    try:
        keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
        names = [a, *(tmp_path / "p" / f"{k}.jpg" for k in "bcd")]
        for name in names[1:]:
            os.link(a, name)
        groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, *names])])
        before = snapshot(tmp_path / "p")
        journal = tmp_path / "j.jsonl"
        moved = run("dedupe", groups, "--action", "move", "--to", other / "dupes", "--apply", "--journal", journal)
        assert moved.exit_code == 0 and "moved 4 files" in moved.stderr, moved.output
        there = [other / "dupes" / n.name for n in names]
        assert len({os.stat(p).st_ino for p in there}) == 1 and os.stat(there[0]).st_nlink == 4
        undone = run("dedupe", "--undo", journal)
        assert undone.exit_code == 0 and "restored 4 files" in undone.stderr, undone.output
        assert snapshot(tmp_path / "p") == before
        assert len({os.stat(n).st_ino for n in names}) == 1 and os.stat(a).st_nlink == 4
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_duplicates_put_away_inside_the_hashed_folder_are_not_found_again(tmp_path, monkeypatch):
    """--to inside the photos: the folder is marked, and the next hash walks past it (item 13)."""
    from finder.store.hashset import load

    monkeypatch.chdir(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("0040_26607906.jpg", "0040_27356067.jpg", "0040_61249077.jpg"):
        shutil.copy(EXAMPLES / name, photos / name)
    assert run("hash", photos, "-o", "h.npz", "-j", "1", "-q").exit_code == 0
    assert run("cluster", "h.npz", "-o", "g.json").exit_code == 0
    moved = run("dedupe", "g.json", "--action", "move", "--to", photos / "dupes", "--apply", "--journal", "j.jsonl",
                "--hashes", "h.npz")
    assert moved.exit_code == 0 and "moved 2 files" in moved.stderr, moved.output
    assert (photos / "dupes" / ".finder-dedupe-destination").exists()
    assert run("hash", photos, "-o", "h.npz", "-j", "1", "-q").exit_code == 0
    assert [Path(p).parent for p in load("h.npz").paths] == [photos]  # only the keeper, not the two put away
    assert run("hash", photos, "-o", "all.npz", "-j", "1", "-q", "--no-default-excludes").exit_code == 0
    assert len(load("all.npz")) == 3


# --------------------------------------------------------------------------- only its own journals


def _moved_away(tmp_path) -> tuple[Path, Path, Path]:
    """A real run: a.jpg moved to dupes/ with a journal; returns (journal, a, its place in dupes)."""
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])
    journal = tmp_path / "j.jsonl"
    assert run("dedupe", groups, "--action", "move", "--to", tmp_path / "dupes", "--apply",
               "--journal", journal).exit_code == 0
    return journal, a, tmp_path / "dupes" / "a.jpg"


def test_undo_refuses_a_journal_written_by_hand(tmp_path):
    """A crafted journal that 'undoes' a move of a file it never moved: nothing is touched (item 7)."""
    victim = files(tmp_path / "private", "secret.txt")[0]
    header = dedupe_journal.journal_header(str(tmp_path / "g.json"), "move", str(tmp_path / "private"))
    step = {"type": "intent", "op": 0, "action": "move", "path": str(tmp_path / "elsewhere" / "secret.txt"),
            "keeper": str(victim), "group": 0, "size": victim.stat().st_size, "mtime_ns": victim.stat().st_mtime_ns,
            "dest": str(victim), "device": 0, "inode": 0, "nlink": 1}
    crafted = tmp_path / "crafted.jsonl"
    crafted.write_text("".join(json.dumps(r) + "\n" for r in (header, step, {"type": "done", "op": 0})))
    result = CliRunner().invoke(cli, ["dedupe", "--undo", str(crafted)])
    assert result.exit_code == 2 and "not a journal finder wrote for this user" in result.stderr, result.output
    assert victim.exists() and not (tmp_path / "elsewhere").exists()


def test_undo_refuses_a_journal_changed_since_or_signed_by_someone_else(tmp_path, monkeypatch):
    journal, a, moved = _moved_away(tmp_path)
    lines = journal.read_text().splitlines()
    record = json.loads(lines[1])
    assert record["type"] == "intent"
    elsewhere = tmp_path / "dupes" / "other.jpg"
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join([lines[0], json.dumps({**record, "path": str(elsewhere)}), *lines[2:]]) + "\n")
    result = CliRunner().invoke(cli, ["dedupe", "--undo", str(changed)])
    assert result.exit_code == 2 and "changed since" in result.stderr and moved.exists() and not elsewhere.exists()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "another-user"))  # another key
    result = CliRunner().invoke(cli, ["dedupe", "--undo", str(journal)])
    assert result.exit_code == 2 and "for this user" in result.stderr and moved.exists() and not a.exists()
    monkeypatch.undo()
    assert run("dedupe", "--undo", journal).exit_code == 0 and a.exists()  # its own user: undone


def test_a_destination_outside_the_runs_to_is_refused_even_when_signed(tmp_path):
    """Defence in depth: a step whose destination is outside the journal's --to is refused on reading."""
    journal = tmp_path / "j.jsonl"
    header = dedupe_journal.journal_header(str(tmp_path / "g.json"), "move", str(tmp_path / "dupes"))
    with dedupe_journal.Journal(str(journal)) as writer:
        writer.write(header)
        writer.write({"type": "intent", "op": 0, "action": "move", "path": str(tmp_path / "p" / "a.jpg"),
                      "keeper": str(tmp_path / "p" / "k.jpg"), "group": 0, "size": 1, "mtime_ns": 1,
                      "dest": "/etc/a.jpg", "device": 0, "inode": 0, "nlink": 1})
    result = CliRunner().invoke(cli, ["dedupe", "--undo", str(journal)])
    assert result.exit_code == 2 and "outside the run's --to" in result.stderr, result.output


# --------------------------------------------------------------------------- kill -9 at random moments


def _inodes(paths: list[Path]) -> set[int]:
    return {os.stat(p).st_ino for p in paths}


@pytest.mark.parametrize("action", ["move", "hardlink", "symlink", "trash"])
def test_kill_9_at_random_moments_never_loses_a_file(tmp_path, action):
    """kill -9 at a random moment (before the journal, mid-record, mid-step), then continue and undo, or
    undo at once: no file is lost, and undo brings back every byte, mtime and hard link."""
    if action == "trash":
        pytest.importorskip("send2trash")
    rng = random.Random(action)  # the moments differ between machines anyway: what is checked holds for any
    to = [] if action == "trash" else ["--to", "dupes"]
    for round_ in range(4):
        root = tmp_path / f"round{round_}"
        keeper, *dups = files(root / "photos", *[f"d{k % 2}/img{k:02d}.jpg" for k in range(7)])
        twin = root / "photos" / "d1" / "twin.jpg"
        os.link(dups[0], twin)  # two names of one duplicate
        groups = write_groups(root / "g.json", [(keeper, [keeper, *dups, twin])])
        before = snapshot(root / "photos")
        env = cli_env(root, FINDER_DEDUPE_STEP_DELAY="0.1")  # eight steps: about 0.8 s of run to land in
        command = [sys.executable, "-m", "finder", "dedupe", str(groups), "--action", action, *to, "--apply",
                   "--journal", "j.jsonl"]
        process = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round_:  # mid-run: a random moment after the journal appears (mid-record, mid-step, between steps)
            deadline = time.monotonic() + 60
            while not (root / "j.jsonl").exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.7))
        else:  # during start-up, or while the journal's first records are written
            time.sleep(rng.uniform(0.0, 0.3))
        assert round_ == 0 or process.poll() is None, "the run ended before it was killed"
        process.kill()
        process.wait(timeout=30)
        env.pop("FINDER_DEDUPE_STEP_DELAY")
        if not (root / "j.jsonl").exists():
            assert snapshot(root / "photos") == before
            continue
        if round_ % 2 == 1:  # continue to the end, then undo
            rerun = subprocess.run(command, env=env, cwd=root, capture_output=True, timeout=120)
            assert rerun.returncode == 0, rerun.stderr.decode(errors="replace")
            for dup in [*dups, twin]:
                if action == "move":
                    assert not dup.exists() and (root / "dupes" / dup.relative_to(root / "photos")).exists()
                elif action == "trash":
                    assert not dup.exists()
                else:
                    assert os.path.samefile(dup, keeper)
        undone = subprocess.run([sys.executable, "-m", "finder", "dedupe", "--undo", "j.jsonl"], env=env, cwd=root,
                                capture_output=True, timeout=120)
        assert undone.returncode == 0, undone.stderr.decode(errors="replace")
        assert snapshot(root / "photos") == before
        assert len(_inodes([dups[0], twin])) == 1  # still one file with two names
        info = root / "home" / ".local" / "share" / "Trash" / "info"
        assert not info.exists() or not list(info.iterdir())  # no trash record left, whole or torn


def test_a_destination_outside_to_is_refused_even_for_a_group_built_in_code(tmp_path):
    """The groups file reader refuses '..' paths; plan() itself also never sends a file outside --to."""
    from finder.groups.linkage import Group, Member

    keeper, = files(tmp_path / "p", "keep.jpg")
    outside, = files(tmp_path / "elsewhere", "x.jpg")
    sneaky = str(tmp_path / "p" / ".." / "elsewhere" / "x.jpg")
    members = [Member(str(keeper), 0, size=keeper.stat().st_size, mtime_ns=keeper.stat().st_mtime_ns),
               Member(sneaky, 0, size=outside.stat().st_size, mtime_ns=outside.stat().st_mtime_ns)]
    store = update.hash_paths([str(keeper), sneaky], jobs=1).hashset  # a store that holds the '..' path as named
    the_plan = dedupe_plan.plan([Group(0, str(keeper), members, str(keeper))], "move", str(tmp_path / "p" / "to"),
                                hashed=Hashed(store))
    assert not the_plan.steps and "outside --to" in the_plan.refused[0][1]


@pytest.mark.parametrize("content", [b'{"a": 1}', b'{"settings": "mine"', b"notes"])
def test_a_journal_option_naming_another_file_leaves_it_alone(tmp_path, content):
    """--journal naming a file that is not a journal (one line, no newline): refused, never truncated."""
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])
    other = tmp_path / "config.json"
    other.write_bytes(content)
    result = run("dedupe", groups, "--action", "move", "--to", tmp_path / "dupes", "--apply", "--journal", other)
    assert result.exit_code == 2 and "not a finder dedupe journal" in result.stderr, result.output
    assert other.read_bytes() == content and a.exists()


def test_a_journal_killed_while_writing_its_header_is_started_again(tmp_path):
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])
    journal = tmp_path / "j.jsonl"
    journal.write_bytes(b'{"action": "move", "crea')  # killed mid-header: nothing was done
    assert run("dedupe", "--undo", journal).exit_code == 0
    result = run("dedupe", groups, "--action", "move", "--to", tmp_path / "dupes", "--apply", "--journal", journal)
    assert result.exit_code == 0 and not a.exists(), result.output
    assert run("dedupe", "--undo", journal).exit_code == 0 and a.exists()


# --------------------------------------------------------------------------- only files in the store, still the image


def replace_in_place(path: Path, k: int) -> None:
    """Another picture written into ``path``'s own inode, padded to its size, its mtime set back (touch -r)."""
    st = path.stat()
    with open(path, "r+b") as handle:
        handle.write(image_bytes(k, st.st_size))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)


@pytest.mark.parametrize("replaced", ["keeper", "duplicate"])
def test_a_file_replaced_with_the_same_size_and_mtime_is_not_acted_on(tmp_path, replaced):
    """Issue 20, item 5: identity was size + mtime only, so a keeper replaced by another picture padded to its
    size with its mtime reset let --action delete delete the remaining copies.  The pixels are checked too."""
    keeper, a, b = files(tmp_path / "p", "keep.jpg", "a.jpg", "b.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a, b])])
    replace_in_place(keeper if replaced == "keeper" else a, 99)
    result = run("dedupe", groups, "--action", "delete", "--apply", "--yes-delete", "--journal", tmp_path / "j.jsonl")
    assert "not the image that was hashed" in result.stderr, result.output
    if replaced == "keeper":
        assert a.exists() and b.exists() and "deleted 0 files" in result.stderr
    else:
        assert a.exists() and not b.exists() and "deleted 1 files" in result.stderr


def test_files_not_in_the_store_or_recorded_otherwise_are_refused(tmp_path):
    """Issue 20, item 6 (the store half): a groups file naming a file that was never hashed, a keeper that was
    never hashed, or a size the store does not record moves nothing of theirs."""
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])  # the store: keep.jpg and a.jpg
    victim, stranger, other_dup = files(tmp_path / "private", "secret.jpg", "stranger.jpg", "dup.jpg")
    stale = files(tmp_path / "p", "stale.jpg")[0]
    data = json.loads((tmp_path / "g.json").read_text())
    data[0]["members"] += [record(victim), record(stale)]
    data.append({"group": 1, "size": 2, "representative": str(stranger), "keeper": str(stranger),
                 "members": [record(stranger), record(other_dup)]})
    (tmp_path / "hand.json").write_text(json.dumps(data))
    store = hashset.load(tmp_path / "hashes.npz")  # stale.jpg hashed, then the store says another size
    update.hash_paths([str(keeper), str(a), str(stale)], jobs=1, previous=store).hashset.save(tmp_path / "hashes.npz")
    stale_record = record(stale)
    stale.write_bytes(stale.read_bytes() + b"\0")  # groups file and disk agree, the store does not
    data[0]["members"][-1] = {**stale_record, "size": stale_record["size"] + 1, "mtime_ns": stale.stat().st_mtime_ns}
    (tmp_path / "hand.json").write_text(json.dumps(data))
    before = snapshot(tmp_path)
    dry = run("dedupe", tmp_path / "hand.json", "--action", "move", "--to", tmp_path / "dupes")
    assert dry.stdout.count("would move") == 1 and str(a) in dry.stdout, dry.output
    assert f"refused {victim}: not in" in dry.stderr and f"refused {other_dup}: its keeper {stranger} is not in" \
        in dry.stderr and f"refused {stale}: the groups file records another size" in dry.stderr
    applied = run("dedupe", tmp_path / "hand.json", "--action", "delete", "--apply", "--yes-delete",
                  "--journal", tmp_path / "j.jsonl")
    assert applied.exit_code == 0 and "deleted 1 files" in applied.stderr, applied.output
    assert victim.exists() and other_dup.exists() and stale.exists() and not a.exists()
    del before[str(a)]
    assert {k: v for k, v in snapshot(tmp_path).items() if k in before} == before


def test_a_missing_hash_file_is_one_line_and_changes_nothing(tmp_path):
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])
    before = snapshot(tmp_path)
    result = run("dedupe", groups, "--action", "delete", "--apply", "--yes-delete", "--hashes", tmp_path / "no.npz")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "no.npz not found" in result.stderr
    assert snapshot(tmp_path) == before


def test_still_the_image_decodes_a_keeper_once_per_state(tmp_path, monkeypatch):
    """The pixel check is remembered per stat (ctime included), so a keeper of many duplicates is decoded
    once; a write to the file (which changes its ctime) is checked again."""
    from finder.dedupe import hashed as hashed_module

    keeper, = files(tmp_path / "p", "keep.jpg")
    write_groups(tmp_path / "g.json", [(keeper, [keeper])])
    evidence = hashed(tmp_path)
    decodes = []
    real = hashed_module.plain_rows
    monkeypatch.setattr(hashed_module, "plain_rows", lambda *a: decodes.append(a[0]) or real(*a))
    assert evidence.still_the_image(str(keeper)) is None and evidence.still_the_image(str(keeper)) is None
    assert len(decodes) == 1
    time.sleep(0.01)
    replace_in_place(keeper, 7)
    assert "not the image that was hashed" in evidence.still_the_image(str(keeper)) and len(decodes) == 2
    assert "not in" in evidence.still_the_image(str(tmp_path / "elsewhere.jpg"))


@pytest.mark.parametrize("then", ["continue", "undo"])
def test_a_kill_inside_send2trash_leaves_no_trash_record_behind(tmp_path, then):
    """send2trash writes info/NAME.trashinfo, then renames the file into files/: a kill in between leaves an
    info record (empty if the kill came before its write) and no file.  Settling or undoing the step removes
    such records of that file, and nothing else in the trash (issue 20, item 14: empty .trashinfo files)."""
    pytest.importorskip("send2trash")
    keeper, a = files(tmp_path / "p", "keep.jpg", "a.jpg")
    groups = write_groups(tmp_path / "g.json", [(keeper, [keeper, a])])
    step = dedupe_plan.plan(groups_file.read_groups(str(groups)), "trash", hashed=hashed(tmp_path)).steps[0]
    trash = Path(os.environ["XDG_DATA_HOME"]) / "Trash"
    (trash / "files").mkdir(parents=True, exist_ok=True)
    (trash / "info").mkdir(exist_ok=True)
    torn = [trash / "info" / "a.jpg.trashinfo", trash / "info" / "a 1.jpg.trashinfo"]
    torn[0].write_text("")  # killed before the record was written
    torn[1].write_text(f"[Trash Info]\nPath={a}\nDeletionDate=2026-12-03T10:00:00\n")  # before the rename
    others = [trash / "info" / "other.jpg.trashinfo", trash / "info" / "b.jpg.trashinfo"]
    others[0].write_text("")  # someone else's
    others[1].write_text(f"[Trash Info]\nPath={tmp_path / 'b.jpg'}\n")
    (trash / "files" / "a 2.jpg").write_bytes(b"x")  # a whole entry of the same name stays
    kept_whole = trash / "info" / "a 2.jpg.trashinfo"
    kept_whole.write_text(f"[Trash Info]\nPath={a}\n")
    journal_path = str(tmp_path / "j.jsonl")
    with dedupe_journal.Journal(journal_path) as journal:
        journal.write(dedupe_journal.journal_header(str(groups), "trash", None))
        journal.write(intent(step))
    if then == "continue":
        history = dedupe_journal.replay(dedupe_journal.read_journal(journal_path))
        with dedupe_journal.Journal(journal_path) as journal:
            assert dedupe_run.resume(history, journal) == 0
    else:
        assert not dedupe_run.undo(journal_path).restored
    assert not any(p.exists() for p in torn) and all(p.exists() for p in [*others, kept_whole]) and a.exists()
