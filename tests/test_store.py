"""The hash file as a store: add/update/prune, one file is one file, locks, checkpoints and resume,
spawn-safe workers, and the identity of the bytes that were hashed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from finder.cli.app import cli
from finder.engine.local import LocalExecutor
from finder.io.lock import lock_path, store_lock
from finder.store.hashset import load
from finder.store.update import hash_paths
from tests.test_hashset import _format1_file

TIMEOUT = 120


def make_image(path: Path, seed: int, size: tuple[int, int] = (48, 36)) -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def finder_process(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "finder", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=default_signals, **kwargs)


@pytest.fixture
def two_folders(tmp_path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for k in range(4):
        make_image(a / f"{k}.png", seed=k)
        make_image(b / f"{k}.png", seed=10 + k)
    return a, b


def test_hashing_one_file_adds_to_the_store_and_keeps_the_rest(two_folders, tmp_path):
    a, b = two_folders
    out = tmp_path / "h.npz"
    assert run("hash", a, "-o", out, "-j", "1").exit_code == 0
    one = run("hash", b / "0.png", "-o", out, "-j", "1")
    assert "hashed 1 (new 1," in one.stderr and "kept 4 outside this run, dropped 0 gone" in one.stderr
    assert sorted(load(out).paths) == sorted([str(a / f"{k}.png") for k in range(4)] + [str(b / "0.png")])


def test_entries_under_a_walked_folder_are_dropped_others_only_with_prune(two_folders, tmp_path):
    a, b = two_folders
    out = tmp_path / "h.npz"
    run("hash", a, b, "-o", out, "-j", "1")
    (a / "0.png").unlink()
    (b / "0.png").unlink()
    again = run("hash", a, "-o", out, "-j", "1")  # walks a only: b's missing file is not its business
    assert "kept 4 outside this run, dropped 1 gone" in again.stderr
    assert str(b / "0.png") in load(out).paths and str(a / "0.png") not in load(out).paths
    pruned = run("hash", a, "-o", out, "-j", "1", "--prune")
    assert "kept 3 outside this run, dropped 1 gone" in pruned.stderr
    assert str(b / "0.png") not in load(out).paths and len(load(out)) == 6


def test_two_spellings_of_a_folder_are_one_set_of_files(two_folders, tmp_path, monkeypatch):
    a, _ = two_folders
    out = tmp_path / "h.npz"
    os.symlink(a, tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    first = run("hash", "a", "-o", out, "-j", "1")
    assert "hashed 4" in first.stderr
    for spelling in (str(a), "./a/../a", str(tmp_path / "link")):
        again = run("hash", spelling, "-o", out, "-j", "1")
        assert "hashed 0" in again.stderr and "reused 4" in again.stderr, (spelling, again.stderr)
    both = run("hash", "a", str(a), "link", "-o", out, "-j", "1")
    assert "reused 4" in both.stderr and len(load(out)) == 4
    assert all(os.path.isabs(p) for p in load(out).paths)
    groups = json.loads(run("cluster", out, "-d", "0", "--min-size", "2").stdout)
    assert groups == []  # no file is its own duplicate


def test_hard_links_are_hashed_once_and_reported_as_the_same_file(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    original = make_image(folder / "x.png", seed=5)
    os.link(original, folder / "y.png")
    make_image(folder / "z.png", seed=6)
    report = hash_paths([original, str(folder / "y.png"), str(folder / "z.png")], ["find"], jobs=1)
    assert report.hashed == 2 and report.hardlinks == 1 and len(report.hashset) == 3
    out = tmp_path / "h.npz"
    report.hashset.save(out)
    pairs = json.loads(run("compare", out, "-d", "0", "--format", "json").stdout)
    assert pairs == [{"path_a": original, "path_b": str(folder / "y.png"), "distance": 0, "similarity": 1.0,
                      "same_file": True}]
    (group,) = json.loads(run("cluster", out, "-d", "0").stdout)
    assert [m["same_file_as"] for m in group["members"]] == [None, original]


def test_the_stat_recorded_is_that_of_the_bytes_hashed(tmp_path, monkeypatch):
    """A file swapped during a run and swapped back must not keep the other image's hash."""
    path = tmp_path / "photo.png"
    make_image(path, seed=1)
    other = make_image(tmp_path / "other.png", seed=2)
    original = tmp_path / "original.png"
    os.link(path, original)
    truth = hash_paths([str(original)], ["dhash"], jobs=1).hashset.hashes["dhash"][0]
    swapped = hash_paths([other], ["dhash"], jobs=1).hashset.hashes["dhash"][0]
    assert not np.array_equal(truth, swapped)

    import finder.store.update as update

    real_stat = update.stat_file

    def stat_then_swap(p):  # the driver looks at photo.png, then someone swaps in other.png
        st = real_stat(p)
        os.replace(other, path)
        return st

    monkeypatch.setattr(update, "stat_file", stat_then_swap)
    first = hash_paths([str(path)], ["dhash"], jobs=1).hashset
    monkeypatch.undo()
    assert np.array_equal(first.hashes["dhash"][0], swapped)  # it hashed what it read ...
    assert int(first.inode[0]) == os.stat(path).st_ino  # ... and recorded that file's identity
    os.replace(original, path)  # swap the original back
    second = hash_paths([str(path)], ["dhash"], jobs=1, previous=first)
    assert second.changed == 1 and np.array_equal(second.hashset.hashes["dhash"][0], truth)


def test_a_fifo_in_place_of_an_image_is_skipped_not_waited_for(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    make_image(tmp_path / "ok.png", seed=3)
    proc = subprocess.run([sys.executable, "-m", "finder", "hash", str(tmp_path / "pipe.jpg"),
                           str(tmp_path / "ok.png"), "-o", str(tmp_path / "h.npz"), "-j", "1"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and "pipe.jpg: not a regular file" in proc.stderr
    assert len(load(tmp_path / "h.npz")) == 1


def test_a_second_run_on_a_locked_output_exits_2_and_a_waiting_one_waits(two_folders, tmp_path):
    a, b = two_folders
    out = str(tmp_path / "h.npz")
    with store_lock(out):
        busy = run("hash", a, "-o", out, "-j", "1")
        assert busy.exit_code == 2 and f"{out} is being written by pid {os.getpid()}" in busy.stderr
        assert not os.path.exists(out)
        waiting = finder_process("hash", str(a), "-o", out, "-j", "1", "--wait")
        time.sleep(1.0)
        assert waiting.poll() is None  # still waiting for the lock
    _, stderr = waiting.communicate(timeout=TIMEOUT)
    assert waiting.returncode == 0, stderr
    assert len(load(out)) == 4 and not os.path.exists(lock_path(out))


def test_two_concurrent_runs_into_one_output_lose_nothing(two_folders, tmp_path):
    a, b = two_folders
    out = str(tmp_path / "h.npz")
    runs = [finder_process("hash", str(folder), "-o", out, "-j", "1", "--wait") for folder in (a, b)]
    for proc in runs:
        proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0
    assert len(load(out)) == 8


def test_a_stale_lock_from_a_killed_run_is_taken_over(two_folders, tmp_path):
    a, _ = two_folders
    out = str(tmp_path / "h.npz")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from finder.io.lock import store_lock\n"
                               "with store_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)", out],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    assert run("hash", a, "-o", out, "-j", "1").exit_code == 2
    holder.kill()
    holder.wait()
    assert os.path.exists(lock_path(out))  # left behind by the killed run
    taken = run("hash", a, "-o", out, "-j", "1")
    assert taken.exit_code == 0 and "took over a stale lock" in taken.stderr and f"pid {holder.pid}" in taken.stderr


@pytest.fixture
def many(tmp_path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(150):
        make_image(folder / f"{k:03d}.png", seed=100 + k, size=(320, 240))
    return folder


def start_and_wait_for_a_checkpoint(folder: Path, out: str, jobs: str) -> subprocess.Popen:
    """A `finder hash` that checkpoints after every result, once its first checkpoint is on disk."""
    proc = finder_process("hash", str(folder), "-o", out, "-j", jobs, "--checkpoint", "0")
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    return proc


def test_kill_9_mid_run_then_rerun_resumes_and_matches_an_uninterrupted_run(many, tmp_path):
    out = str(tmp_path / "h.npz")
    proc = start_and_wait_for_a_checkpoint(many, out, "1")
    time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be killed"
    proc.kill()  # SIGKILL: no handler runs, only checkpoints already on disk survive
    proc.wait()
    checkpoint = load(out)
    done = len(checkpoint)
    assert 0 < done < 150 and checkpoint.settings["complete"] is False
    rerun = run("hash", many, "-o", out, "-j", "1")
    assert f"resumed: {done} already hashed" in rerun.stderr
    assert f"hashed {150 - done} (new {150 - done}, changed 0, rehashed 0), reused {done}," in rerun.stderr
    resumed = load(out)
    fresh = hash_paths(sorted(str(p) for p in many.iterdir()), ["find"], jobs=2).hashset
    assert list(resumed.paths) == list(fresh.paths) and resumed.settings["complete"] is True
    assert np.array_equal(resumed.plain("find"), fresh.plain("find"))


def test_sigterm_stops_cleanly_with_a_checkpoint_and_exit_143(many, tmp_path):
    out = str(tmp_path / "h.npz")
    proc = start_and_wait_for_a_checkpoint(many, out, "2")
    proc.terminate()
    _, stderr = proc.communicate(timeout=TIMEOUT)
    text = stderr.decode()
    assert proc.returncode == 143, text
    assert "Traceback" not in text and "BrokenPipeError" not in text
    assert "terminated; progress so far is saved" in text and load(out).settings["complete"] is False


def test_spawned_workers_give_the_same_hashes_as_this_process(many):
    paths = sorted(str(p) for p in many.iterdir())[:24]
    here = hash_paths(paths, ["find", "dhash"], jobs=1).hashset
    with LocalExecutor(2, "spawn") as executor:
        spawned = hash_paths(paths, ["find", "dhash"], executor=executor).hashset
    for name in ("find", "dhash"):
        assert np.array_equal(here.hashes[name], spawned.hashes[name])
    assert list(here.paths) == list(spawned.paths)


def test_heic_decodes_from_the_library_in_spawned_workers_without_find_images(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    for k in range(2):
        make_image(tmp_path / f"p{k}.png", seed=k)
        Image.open(tmp_path / f"p{k}.png").save(tmp_path / f"p{k}.heic")
    script = ("import sys\nfrom finder.engine.local import LocalExecutor\nfrom finder.store.update import hash_paths\n"
              "with LocalExecutor(2, 'spawn') as ex:\n"
              "    r = hash_paths(sys.argv[1:], ['dhash'], executor=ex)\n"
              "print(len(r.hashset), len(r.errors))")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "p0.heic"), str(tmp_path / "p1.heic")],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.stdout.split() == ["2", "0"], proc.stderr


def test_format1_store_is_reused_and_upgraded(two_folders, tmp_path, monkeypatch):
    a, _ = two_folders
    monkeypatch.chdir(tmp_path)
    current = hash_paths([str(a / f"{k}.png") for k in range(4)], ["find"], jobs=1).hashset
    relative = [f"a/{k}.png" for k in range(4)]  # format 1 kept the paths as they were given
    _format1_file(tmp_path / "old.npz", relative, {"find": current.hashes["find"]}, {"find": 256})
    with np.load(tmp_path / "old.npz") as npz:  # give the entries the files' real size and mtime
        arrays = dict(npz)
    arrays["size"] = current.size
    arrays["mtime_ns"] = current.mtime_ns
    np.savez_compressed(tmp_path / "old.npz", **arrays)
    result = run("hash", "a", "-o", "old.npz", "-j", "1")
    assert "hashed 0" in result.stderr and "reused 4" in result.stderr
    upgraded = load(tmp_path / "old.npz")
    assert upgraded.settings["format_version"] == 2 and list(upgraded.paths) == list(current.paths)


def test_show_info_prints_the_settings_record(two_folders, tmp_path):
    a, _ = two_folders
    out = tmp_path / "h.npz"
    run("hash", a, "-o", out, "-a", "find", "-a", "dhash", "-j", "1", "--no-exif-transpose", "--views", "plain")
    info = json.loads(run("show", out, "--info").stdout)
    assert info["format_version"] == 2 and info["algorithms"] == ["find", "dhash"]
    assert info["decode"] == "reduced-1x" and info["views"] == ["plain"] and info["exif_transpose"] is False
    assert info["files"] == 4 and info["rows"] == {"find": 4, "dhash": 4} and "finder_version" in info


def test_show_info_reads_what_a_full_load_says_without_the_paths(two_folders, tmp_path):
    """--info reads the settings and status only; its record is the one the whole file gives (errors too)."""
    a, _ = two_folders
    (Path(a) / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "h.npz"
    run("hash", a, "-o", out, "-j", "1")
    from finder.store.hashset import read_info

    whole = load(out)
    expected = dict(whole.settings, files=len(whole), errors=len(whole.errors),
                    rows={k: len(whole.hashes[k]) for k in whole.algorithms})
    assert whole.errors and read_info(out) == expected
    assert json.loads(run("show", out, "--info").stdout) == json.loads(json.dumps(expected))


def test_missing_output_folder_is_found_before_hashing(two_folders, tmp_path):
    a, _ = two_folders
    result = run("hash", a, "-o", tmp_path / "nowhere" / "h.npz", "-j", "1")
    assert result.exit_code == 2 and "does not exist" in result.stderr and "hashed" not in result.stderr


def test_library_progress_true_draws_a_tqdm_bar(two_folders, capsys):
    a, _ = two_folders
    hash_paths([str(a / f"{k}.png") for k in range(4)], ["dhash"], jobs=1, progress=True)
    assert "4/4" in capsys.readouterr().err


def test_help_and_version_do_not_import_numpy_or_numba():
    code = ("import sys\nfrom finder.cli import main\nsys.argv = ['finder', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('numpy', 'numba', 'PIL', 'rich') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.stdout.strip().splitlines()[-1] == "LOADED []"


def test_a_thread_safe_lock_is_released_on_error(tmp_path):
    out = str(tmp_path / "h.npz")
    with pytest.raises(RuntimeError):
        with store_lock(out):
            raise RuntimeError("boom")
    done = threading.Event()

    def take():
        with store_lock(out):
            done.set()

    worker = threading.Thread(target=take)
    worker.start()
    worker.join(5)
    assert done.is_set()


def test_a_run_keeps_the_settings_of_the_store_it_adds_to():
    """Nothing asked: the store's algorithms, views and decode policy (so its entries stay reusable);
    no store: FINd, the default views, reduced decodes; what is asked always wins."""
    from finder.store.update import run_settings
    from tests.helpers import synthetic_hashset

    assert run_settings(None) == (["find"], ("plain", "mirror", "trimmed"), "reduced-1x")
    old = synthetic_hashset(["a.jpg"], {"dhash": np.zeros((1, 1), np.uint64)})  # made before views and policies
    assert run_settings(old) == (["dhash"], ("plain",), "full")
    old.settings.update(views=["plain", "mirror"], decode="reduced")
    assert run_settings(old) == (["dhash"], ("plain", "mirror"), "reduced")
    assert run_settings(old, ["PHash"], "dihedral", exact=True) == (
        ["phash"], ("plain", "mirror", "trimmed", "rot90", "rot180", "rot270", "flip_v", "transpose", "transverse"),
        "full")
    assert run_settings(None, exact=False, views="mirror")[1:] == (("plain", "mirror"), "reduced-1x")
    assert run_settings(old, exact=False)[2] == "reduced"  # --reduced keeps the store's 2x policy
    assert run_settings(old, decode="reduced-1x")[2] == "reduced-1x"  # --decode names one outright
    assert run_settings(old, exact=True)[2] == "full"
    with pytest.raises(ValueError, match="unknown view 'sideways'"):
        run_settings(old, views="sideways")
