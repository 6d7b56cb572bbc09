"""Hostile and careless use, each case built here: outputs that cannot be written, closed streams,
output aimed at a hash file, symlinked outputs, names that break CSV, signals before start-up.

Every case must end with one line on stderr and a documented exit code, never a traceback,
and must never damage a hash file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from finder.store.hashset import load
from tests.helpers import synthetic_hashset

TIMEOUT = 120


def finder(*args: str, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "finder", *map(str, args)], capture_output=True, cwd=cwd,
                          timeout=TIMEOUT, **kwargs)


def one_error_line(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    stderr = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def store(tmp_path) -> Path:
    words = np.zeros((6, 4), np.uint64)
    words[3:] = 1
    path = tmp_path / "hashes.npz"
    synthetic_hashset([f"/p/{k}.jpg" for k in range(6)], {"find": words}).save(path)
    return path


@pytest.mark.parametrize("command", [["compare"], ["cluster"], ["evaluate", "--group-pattern", "(\\d)"]])
def test_output_over_the_hash_file_is_refused_and_the_file_kept(store, command):
    before = store.read_bytes()
    line = one_error_line(finder(*command, store, "-o", store))
    assert "refusing to write over" in line and "finder hash file" in line
    assert store.read_bytes() == before


@pytest.mark.parametrize("command", [["compare", "-d", "0"], ["cluster", "-d", "0"],
                                     ["evaluate", "--group-pattern", "(\\d)"]])
def test_output_in_a_missing_folder_is_one_line(store, tmp_path, command):
    line = one_error_line(finder(*command, store, "-o", tmp_path / "missing" / "out.txt"))
    assert "folder" in line and "does not exist" in line


def test_plot_in_a_missing_folder_is_found_before_evaluating(store, tmp_path):
    line = one_error_line(finder("evaluate", store, "--group-pattern", "(\\d)", "--plot", tmp_path / "no" / "p.png"))
    assert "does not exist" in line


def test_output_in_a_read_only_folder_is_one_line(tmp_path):
    """Root writes into read-only folders, so as root finder runs as uid 65534 (in a folder it may enter)."""
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="finder-ro-")) if as_root else tmp_path
    try:
        os.chmod(base, 0o777)
        path = base / "hashes.npz"
        synthetic_hashset([f"/p/{k}.jpg" for k in range(6)], {"find": np.zeros((6, 4), np.uint64)}).save(path)
        os.chmod(path, 0o644)
        folder = base / "ro"
        folder.mkdir(mode=0o555)
        nobody = dict(user=65534, group=65534, extra_groups=[],
                      env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base),
                           "NUMBA_CACHE_DIR": str(base / "numba")}) if as_root else {}
        proc = finder("cluster", path, "-d", "0", "-o", folder / "x.json", cwd=base, **nobody)
        assert "not writable" in one_error_line(proc)
        assert not (folder / "x.json").exists()
    finally:
        if as_root:
            shutil.rmtree(base, ignore_errors=True)


def test_output_to_a_full_device_is_one_line(store):
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "finder", "cluster", str(store), "-d", "0"], stdout=full,
                              stderr=subprocess.PIPE, timeout=TIMEOUT)
    assert "No space left on device" in one_error_line(proc)


@pytest.mark.parametrize("command", [["show"], ["cluster", "-d", "0"], ["compare", "-d", "0"]])
def test_closed_stdout_is_one_line(store, command):
    proc = subprocess.run([sys.executable, "-m", "finder", *command, str(store)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=TIMEOUT, preexec_fn=lambda: os.close(1))
    assert "standard output is closed" in one_error_line(proc)


def test_hash_without_stderr_still_hashes(tmp_path):
    Image.new("RGB", (20, 20), (1, 2, 3)).save(tmp_path / "a.png")
    proc = subprocess.run([sys.executable, "-m", "finder", "hash", str(tmp_path / "a.png"), "-o",
                           str(tmp_path / "h.npz"), "-j", "1"], stdout=subprocess.PIPE, timeout=TIMEOUT,
                          preexec_fn=lambda: os.close(2))
    assert proc.returncode == 0
    assert len(load(tmp_path / "h.npz")) == 1


def test_evaluate_into_a_closed_pipe_ends_quietly_with_0(store):
    proc = subprocess.run(f"{sys.executable} -m finder evaluate {store} --group-pattern '(\\d)' | head -c 10",
                          shell=True, capture_output=True, timeout=TIMEOUT)
    assert proc.stderr == b""
    assert subprocess.run(f"set -o pipefail; {sys.executable} -m finder evaluate {store} --group-pattern '(\\d)'"
                          " | head -c 10 >/dev/null", shell=True, executable="/bin/bash",
                          timeout=TIMEOUT).returncode == 0


def test_output_through_a_symlink_replaces_its_target_and_keeps_the_link(store, tmp_path):
    os.symlink("real.csv", tmp_path / "link.csv")
    proc = finder("compare", store, "-d", "0", "-o", tmp_path / "link.csv")
    assert proc.returncode == 0, proc.stderr
    assert os.path.islink(tmp_path / "link.csv")
    assert (tmp_path / "real.csv").read_text().startswith("path_a,path_b")


NAMES = ["cr\rname.jpg", "lf\nname.jpg", "comma,name.jpg", 'quote"name.jpg', "bytes\udcff\udcfe.jpg", "plain.jpg"]


@pytest.mark.parametrize("command", ["compare", "cluster", "show"])
def test_every_csv_writer_round_trips_hostile_names(tmp_path, command):
    paths = [f"/photos/{name}" for name in NAMES]
    synthetic_hashset(paths, {"dhash": np.zeros((len(paths), 1), np.uint64)}).save(tmp_path / "h.npz")
    args = {"compare": ["compare", "-d", "0"], "cluster": ["cluster", "-d", "0", "--format", "csv"],
            "show": ["show"]}[command]
    proc = finder(*args, tmp_path / "h.npz")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout.decode("utf-8", "surrogateescape"), newline="")))
    width = len(rows[0])
    assert all(len(r) == width for r in rows), rows
    seen = {cell for row in rows[1:] for cell in row[:2]}
    assert set(paths) <= seen


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("delay", [0.15, 0.3, 0.5])
def test_a_signal_during_start_up_is_quiet(signum, code, delay, store):
    """Ctrl-C or SIGTERM while finder imports numpy and numba (the first half second)."""
    proc = subprocess.Popen([sys.executable, "-m", "finder", "evaluate", str(store), "--group-pattern", "(\\d)"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL),
                                                signal.signal(signal.SIGTERM, signal.SIG_DFL)))
    import time

    time.sleep(delay)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    text = stderr.decode()
    assert "Traceback" not in text
    # death by the signal itself is what a shell reports as 128 + signal, the same status
    assert proc.returncode in (code, -int(signum), 0), text


def test_show_info_is_valid_json(store):
    proc = finder("show", "--info", store)
    assert json.loads(proc.stdout)["format_version"] == 2


# --------------------------------------------------------------------------- sharp edges a new user hit


def test_nothing_to_hash_says_why_and_exits_3(tmp_path):
    (tmp_path / "photos").mkdir()
    for k in range(3):
        (tmp_path / "photos" / f"IMG_{k}.heic").write_bytes(b"not really")
    (tmp_path / "photos" / "notes").write_text("x")
    proc = finder("hash", tmp_path / "photos", "-o", tmp_path / "h.npz", "-j", "1")
    stderr = proc.stderr.decode()
    assert proc.returncode == 3, stderr
    # the test extra installs pillow-heif: the .heic files are tried and reported as unreadable
    assert "0 images hashed from" in stderr and "1 (none) file skipped" in stderr
    assert "3 could not be read" in stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = finder("hash", empty, "-o", tmp_path / "e.npz", "-j", "1")
    assert nothing.returncode == 3 and "no files there" in nothing.stderr.decode()


def test_the_heic_hint_names_the_extra(monkeypatch):
    from collections import Counter

    import finder.io.decode
    from finder.cli.options import nothing_found

    monkeypatch.setattr(finder.io.decode, "image_extensions", lambda: frozenset({".jpg"}))
    message = nothing_found(["photos"], Counter({".heic": 12}), [])
    assert message == "0 images hashed from photos: 12 .heic files skipped (install finder[heif] to read HEIC/HEIF)"


def test_nul_separated_list_without_dash_0_is_explained(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "b.png")
    listing = f"{tmp_path / 'a.png'}\0{tmp_path / 'b.png'}\0".encode()
    proc = finder("hash", "-", "-o", tmp_path / "h.npz", "-j", "1", input=listing)
    assert proc.returncode == 3 and "add -0" in proc.stderr.decode()
    ok = finder("hash", "-", "-0", "-o", tmp_path / "h.npz", "-j", "1", input=listing)
    assert ok.returncode == 0 and len(load(tmp_path / "h.npz")) == 2


def test_default_excludes_and_exclude_globs(tmp_path):
    root = tmp_path / "nas"
    for folder in ("photos", "photos/@eaDir/x.jpg", "#recycle", "photos/raw"):
        (root / folder).mkdir(parents=True)
    for name in ("photos/a.png", "photos/@eaDir/x.jpg/SYNOPHOTO_THUMB_S.jpg", "#recycle/old.png", "photos/raw/b.png",
                 "photos/c.tmp.png"):
        Image.new("RGB", (8, 8), (len(name), 0, 0)).save(root / name, format="PNG")
    out = tmp_path / "h.npz"
    assert finder("hash", root, "-o", out, "-j", "1").returncode == 0
    assert sorted(os.path.relpath(p, root) for p in load(out).paths) == ["photos/a.png", "photos/c.tmp.png",
                                                                         "photos/raw/b.png"]
    finder("hash", root, "-o", out, "-j", "1", "--exclude", "raw", "--exclude", "*.tmp.png")
    assert sorted(os.path.relpath(p, root) for p in load(out).paths) == ["photos/a.png"]
    finder("hash", root, "-o", out, "-j", "1", "--no-default-excludes")
    assert len(load(out)) == 5


@pytest.mark.parametrize("command", ["compare", "cluster", "evaluate"])
def test_vote_is_one_rule_in_every_command(store, command):
    extra = ["--group-pattern", "(\\d)"] if command == "evaluate" else []
    for args in (["-a", "find", "--vote", "2"], ["-a", "find", "--vote", "0"]):
        proc = finder(command, store, *args, *extra)
        stderr = proc.stderr.decode()
        assert proc.returncode == 2 and ("--vote must be between 1 and the number of algorithms (1)" in stderr
                                         or "'--vote'" in stderr), stderr


def test_exit_code_and_json_summary_for_cron(store, tmp_path):
    found = finder("cluster", store, "-d", "0", "--exit-code", "--summary", "json")
    assert found.returncode == 1
    figures = json.loads(found.stderr.decode().strip().splitlines()[-1])
    assert figures["groups"] == 2 and figures["files"] == 6
    none = synthetic_hashset(["/x/1.jpg", "/x/2.jpg"], {"find": np.array([[0] * 4, [2**64 - 1] * 4], np.uint64)})
    none.save(tmp_path / "none.npz")
    assert finder("compare", tmp_path / "none.npz", "-d", "3", "--exit-code").returncode == 0
    assert finder("compare", store, "-d", "0", "--exit-code").returncode == 1
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    hashed = finder("hash", tmp_path / "a.png", "-o", tmp_path / "h.npz", "-q", "--summary", "json", "-j", "1")
    figures = json.loads(hashed.stderr.decode())
    assert figures["hashed"] == 1 and figures["errors"] == 0 and "seconds" in figures


def test_a_loose_threshold_is_called_out(tmp_path):
    rng = np.random.default_rng(0)
    synthetic_hashset([f"/p/{k}.jpg" for k in range(2000)], {"dhash": rng.integers(0, 2**63, (2000, 1), np.uint64)},
                      ).save(tmp_path / "h.npz")
    proc = finder("compare", tmp_path / "h.npz", "-t", "0.6", "-o", tmp_path / "pairs.csv")
    assert proc.returncode == 0 and "did you mean the default, 0.22?" in proc.stderr.decode()
    quiet = finder("compare", tmp_path / "h.npz", "-o", tmp_path / "pairs.csv")
    assert quiet.stderr == b""
