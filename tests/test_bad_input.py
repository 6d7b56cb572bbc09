"""Bad input for ``finder hash``: every broken file is reported once and skipped,
every good file in the same run is still hashed and written.

"Reported" means: one ``finder: skipped PATH: REASON`` line on stderr, one entry
in the hash file's error list (``finder.store.hashset.load(out).errors``) and one row
of ``finder show out --errors``.  "Hashed" means: present in the hash file with
the same hash as when the file is hashed on its own.

Runs that are cheap are made with ``-j 1`` (in-process) and ``-j 2`` (a pool of
forked worker processes).  In-process CLI runs use click's CliRunner; Ctrl-C,
symbolic-link loops and the unprivileged-user case use real subprocesses.
"""

from __future__ import annotations

import csv
import errno
import glob
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from finder.cli.app import cli
from finder.store.hashset import HashSet, load
from finder.store.update import hash_paths

JOBS = pytest.mark.parametrize("jobs", [1, 2], ids=["j1", "j2"])
ALL_ALGORITHMS = ("find", "ahash", "dhash", "phash", "whash")
SUBPROCESS_TIMEOUT = 60


# --------------------------------------------------------------------------- helpers


def noise(width: int, height: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def make_image(path: Path | str, width: int = 40, height: int = 30, seed: int = 0, **save) -> str:
    """A small RGB noise image; the format follows the extension."""
    Image.fromarray(noise(width, height, seed)).save(path, **save)
    return str(path)


def make_bomb(path: Path | str, width: int = 20000, height: int = 20000) -> str:
    """A real 8x8 PNG whose IHDR claims ``width`` x ``height`` (CRC recomputed): a few dozen bytes."""
    buf = io.BytesIO()
    Image.fromarray(noise(8, 8, 99)[:, :, 0]).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    Path(path).write_bytes(bytes(data))
    return str(path)


def invoke(*args: str, input: bytes | None = None) -> Result:
    """Run the CLI in-process; unexpected exceptions propagate (with their traceback)."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def hash_cli(*args: str, input: bytes | None = None) -> Result:
    return invoke("hash", *args, input=input)


def show_bytes(out: str, *args: str) -> bytes:
    result = invoke("show", out, *args)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def show_csv(out: str, *args: str) -> list[list[str]]:
    """``finder show --format csv`` rows (header dropped), bytes restored with surrogateescape."""
    text = show_bytes(out, "--format", "csv", *args).decode("utf-8", "surrogateescape")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] in (["path", "algorithm", "hex"], ["path", "reason"])
    return rows[1:]


def show_json(out: str, *args: str) -> list[dict]:
    return json.loads(show_bytes(out, "--format", "json", *args))


def hashes(out: str) -> dict[str, dict[str, str]]:
    """path -> algorithm -> hex, from the hash file itself."""
    hs = load(out)
    return {str(p): {a: hs.hex(a, i) for a in hs.algorithms} for i, p in enumerate(hs.paths)}


def hash_alone(path: str, algorithms=("find",)) -> dict[str, str]:
    """The hashes of ``path`` hashed on its own, in this process."""
    report = hash_paths([path], algorithms, jobs=1)
    assert not report.errors, report.errors
    hs = report.hashset
    return {a: hs.hex(a, 0) for a in hs.algorithms}


def skip_reasons(stderr: str, path: str) -> list[str]:
    """Reasons reported on stderr for ``path`` (one per ``finder: skipped`` line)."""
    prefix = f"finder: skipped {path}: "
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


def skip_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("finder: skipped ")]


def temp_leftovers(directory: str | Path, out_name: str) -> list[str]:
    return glob.glob(os.path.join(glob.escape(str(directory)), f".{out_name}.*.tmp"))


def assert_reported_once(result: Result, out: str, path: str, reason: str) -> None:
    """``path`` was reported exactly once with a reason matching regex ``reason`` everywhere."""
    on_stderr = skip_reasons(result.stderr, path)
    assert len(on_stderr) == 1 and re.fullmatch(reason, on_stderr[0]), (path, on_stderr, result.stderr)
    in_file = [e.reason for e in load(out).errors if e.path == path]
    assert in_file == on_stderr, (path, in_file)
    in_show = [r for p, r in show_csv(out, "--errors") if p == path]
    assert in_show == on_stderr
    assert path not in hashes(out)


# --------------------------------------------------------------------------- one mixed run

# name -> regex for the reason; every one of these sits in the same directory as the good files.
BAD = {
    "empty.jpg": r"empty file \(0 bytes\)",
    "truncated.jpg": r"corrupt or truncated image: .*truncated.*",
    "text.jpg": r"not an image \(unrecognised format\)",
    "broken.jpg": r"broken symbolic link",
    "loop_a.jpg": r"symbolic link loop",
    "loop_b.jpg": r"symbolic link loop",
    "bomb.png": r"decompression bomb: .*",
}
GOOD = ["photo.jpg", "graphic.png", "sub/nested.webp", "x.jpg/inner.png", "x.jpg/deeper/inner2.jpg"]


def build_mixed_tree(root: Path) -> None:
    (root / "sub").mkdir()
    (root / "x.jpg" / "deeper").mkdir(parents=True)  # a directory named like an image
    make_image(root / "photo.jpg", 48, 32, seed=1)
    make_image(root / "graphic.png", 33, 21, seed=2)
    make_image(root / "sub/nested.webp", 25, 40, seed=3)
    make_image(root / "x.jpg/inner.png", 20, 20, seed=4)
    make_image(root / "x.jpg/deeper/inner2.jpg", 30, 30, seed=5)

    (root / "empty.jpg").write_bytes(b"")
    full = io.BytesIO()
    Image.fromarray(noise(64, 64, 6)).save(full, "JPEG")
    (root / "truncated.jpg").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    (root / "text.jpg").write_text("this is not a JPEG\n")
    os.symlink("nowhere.jpg", root / "broken.jpg")
    os.symlink("loop_b.jpg", root / "loop_a.jpg")
    os.symlink("loop_a.jpg", root / "loop_b.jpg")
    make_bomb(root / "bomb.png")
    (root / "notes.txt").write_text("not a candidate: ignored silently\n")


@pytest.fixture(scope="module")
def mixed_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixed") / "tree"
    root.mkdir()
    build_mixed_tree(root)
    return root


@pytest.fixture(scope="module", params=[1, 2], ids=["j1", "j2"])
def mixed_run(request, mixed_tree) -> tuple[Result, str, Path]:
    """``finder hash TREE -j N -o out.npz`` over the mixed tree."""
    out = str(mixed_tree.parent / f"out-j{request.param}.npz")
    result = hash_cli(str(mixed_tree), "-j", str(request.param), "-o", out)
    return result, out, mixed_tree


def test_test_assets_are_what_they_claim(mixed_tree):
    """The crafted bad files fail for the intended reason (so the matrix tests what it says)."""
    with pytest.raises(Image.DecompressionBombError):
        Image.open(mixed_tree / "bomb.png")
    assert (mixed_tree / "bomb.png").stat().st_size < 500
    with Image.open(mixed_tree / "truncated.jpg") as image:  # the header is intact...
        assert image.size == (64, 64)
        with pytest.raises(OSError, match="truncated"):  # ...the data is not
            image.load()


def test_mixed_run_completes_with_status_0(mixed_run):
    result, out, _ = mixed_run
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert re.search(rf"skipped {len(BAD)} with errors", result.stderr), result.stderr
    assert os.path.exists(out)


@pytest.mark.parametrize("name", list(BAD))
def test_bad_file_reported_once_and_skipped(mixed_run, name):
    result, out, root = mixed_run
    assert_reported_once(result, out, str(root / name), BAD[name])


def test_errors_are_the_same_on_stderr_in_file_and_in_show(mixed_run):
    result, out, root = mixed_run
    expected = {str(root / name) for name in BAD}
    from_stderr = {line[len("finder: skipped "):] for line in skip_lines(result.stderr)}
    from_file = [(e.path, e.reason) for e in load(out).errors]
    assert len(skip_lines(result.stderr)) == len(BAD)
    assert from_stderr == {f"{p}: {r}" for p, r in from_file}
    assert {p for p, _ in from_file} == expected
    assert [tuple(row) for row in show_csv(out, "--errors")] == from_file
    assert [(d["path"], d["reason"]) for d in show_json(out, "--errors")] == from_file


def test_good_files_in_same_run_are_hashed(mixed_run):
    result, out, root = mixed_run
    got = hashes(out)
    assert sorted(got) == sorted(str(root / name) for name in GOOD)
    for name in GOOD:
        path = str(root / name)
        assert got[path] == hash_alone(path), name
    assert [(p, h) for p, _, h in show_csv(out)] == [(p, got[p]["find"]) for p in sorted(got)]


def test_directory_named_like_image_is_walked_not_reported(mixed_run):
    result, out, root = mixed_run
    directory = str(root / "x.jpg")
    assert skip_reasons(result.stderr, directory) == []
    assert directory not in {e.path for e in load(out).errors}
    assert {str(root / "x.jpg/inner.png"), str(root / "x.jpg/deeper/inner2.jpg")} <= set(hashes(out))


def test_bad_file_reached_twice_is_reported_once(mixed_tree, tmp_path):
    out = str(tmp_path / "out.npz")
    empty = str(mixed_tree / "empty.jpg")
    result = hash_cli(str(mixed_tree), empty, "-j", "1", "-o", out)
    assert result.exit_code == 0
    assert_reported_once(result, out, empty, BAD["empty.jpg"])


# --------------------------------------------------------------------------- '-': a list on stdin


@JOBS
def test_listed_directory_named_like_image_is_reported(tmp_path, jobs):
    make_image(tmp_path / "good.jpg", seed=10)
    (tmp_path / "x.jpg").mkdir()
    make_image(tmp_path / "x.jpg/inner.png", seed=11)  # a list is files, not trees: not hashed
    (tmp_path / "readme.txt").write_text("not an image name: passed over\n")
    listing = [tmp_path / "good.jpg", tmp_path / "x.jpg", tmp_path / "readme.txt", tmp_path / "missing.jpg",
               tmp_path / "x.jpg"]  # listed twice, still reported once
    out = str(tmp_path / "out.npz")
    result = hash_cli("-", "-j", str(jobs), "-o", out, input=b"".join(os.fsencode(p) + b"\n" for p in listing))
    assert result.exit_code == 0, result.output
    assert_reported_once(result, out, str(tmp_path / "x.jpg"), "is a directory")
    assert_reported_once(result, out, str(tmp_path / "missing.jpg"), "no such file")
    assert len(load(out).errors) == 2
    good = str(tmp_path / "good.jpg")
    assert hashes(out) == {good: hash_alone(good)}


# --------------------------------------------------------------------------- unreadable files


def unreadable_tree(root: Path) -> tuple[str, str, str]:
    """good.jpg, locked.jpg (mode 000) and locked_dir/ (mode 000, holding an image)."""
    good = make_image(root / "good.jpg", seed=20)
    locked = make_image(root / "locked.jpg", seed=21)
    (root / "locked_dir").mkdir()
    make_image(root / "locked_dir/hidden_from_us.png", seed=22)
    os.chmod(locked, 0)
    os.chmod(root / "locked_dir", 0)
    return good, locked, str(root / "locked_dir")


@JOBS
def test_unreadable_file_chmod(tmp_path, jobs):
    """Mode-000 files are reported and skipped. Root reads files whatever their mode, so as root the CLI runs
    as an unprivileged user instead (and, in the test below, as root without its override)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        unreadable_as_unprivileged_user(jobs)
        return
    tree = tmp_path / "tree"
    tree.mkdir()
    good, locked, locked_dir = unreadable_tree(tree)
    out = str(tmp_path / "out.npz")
    try:
        result = hash_cli(str(tree), "-j", str(jobs), "-o", out)
    finally:
        os.chmod(locked, 0o644)
        os.chmod(locked_dir, 0o755)
    assert result.exit_code == 0, result.output
    assert_reported_once(result, out, locked, "permission denied")
    assert_reported_once(result, out, locked_dir, "cannot read directory: permission denied")
    assert hashes(out) == {good: hash_alone(good)}


def assert_unreadable_reported(proc: subprocess.CompletedProcess, out: str, good: str, locked: str,
                               locked_dir: str) -> None:
    stderr = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert skip_reasons(stderr, locked) == ["permission denied"]
    assert skip_reasons(stderr, locked_dir) == ["cannot read directory: permission denied"]
    assert [(e.path, e.reason) for e in load(out).errors] == sorted(
        [(locked, "permission denied"), (locked_dir, "cannot read directory: permission denied")])
    assert hashes(out) == {good: hash_alone(good)}


def restore_modes(tree: Path) -> None:
    for path in (tree / "locked.jpg", tree / "locked_dir"):
        if path.exists():
            os.chmod(path, 0o755)


def run_as_nobody(args: list[str], cwd: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, user=65534, group=65534, extra_groups=[],
                          capture_output=True, timeout=SUBPROCESS_TIMEOUT)


def unreadable_as_unprivileged_user(jobs: int) -> None:
    """The CLI as uid 65534 against root-owned mode-000 files (called as root; .ci/run lets uid 65534 reach
    the interpreter)."""
    base = tempfile.mkdtemp(prefix="finder-perm-")  # not under pytest's 0700 tmp dir
    tree = Path(base) / "tree"
    try:
        os.chmod(base, 0o777)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": base,
               "NUMBA_CACHE_DIR": os.path.join(base, "numba")}
        try:
            probe = run_as_nobody([sys.executable, "-c", "import finder.cli"], base, env)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.fail(f"cannot run a process as uid 65534: {exc}")
        if probe.returncode != 0:
            last = (probe.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            pytest.fail(f"uid 65534 cannot run this interpreter/package ({last}): let it reach the interpreter "
                        "(.ci/run does, for an interpreter under /root)")
        tree.mkdir()
        good, locked, locked_dir = unreadable_tree(tree)
        out = os.path.join(base, "out.npz")
        proc = run_as_nobody([sys.executable, "-m", "finder", "hash", str(tree), "-j", str(jobs), "-o", out], base, env)
        assert_unreadable_reported(proc, out, good, locked, locked_dir)
    finally:
        restore_modes(tree)
        shutil.rmtree(base, ignore_errors=True)


NO_DAC = "--drop=cap_dac_override,cap_dac_read_search"


@JOBS
def test_unreadable_file_as_root_without_dac_override(tmp_path, jobs):
    """Root-safe permission test: root without CAP_DAC_OVERRIDE/READ_SEARCH obeys mode 000 (needs capsh)."""
    capsh = shutil.which("capsh")
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or capsh is None:
        pytest.skip("needs root and capsh (test_unreadable_file_chmod covers non-root runs)")
    tree = tmp_path / "tree"
    tree.mkdir()
    good, locked, locked_dir = unreadable_tree(tree)

    def without_dac(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([capsh, NO_DAC, "--", "-c", 'exec "$0" "$@"', sys.executable, *args],
                              capture_output=True, timeout=SUBPROCESS_TIMEOUT)

    try:
        probe = without_dac("-c", f"import finder.cli; open({locked!r}, 'rb')")
        if b"PermissionError" not in probe.stderr:
            pytest.skip(f"cannot drop root's file-permission override here: {probe.stderr[-300:]!r}")
        out = str(tmp_path / "out.npz")
        proc = without_dac("-m", "finder", "hash", str(tree), "-j", str(jobs), "-o", out)
        assert_unreadable_reported(proc, out, good, locked, locked_dir)
    finally:
        restore_modes(tree)


@JOBS
def test_unreadable_file_permission_error(tmp_path, monkeypatch, jobs):
    """Runs anywhere (also as root): opening one file raises EACCES, as mode 000 would."""
    good = make_image(tmp_path / "good.jpg", seed=30)
    locked = make_image(tmp_path / "locked.jpg", seed=31)
    real_open = os.open

    def guarded_open(path, *args, **kwargs):
        if os.fspath(path) == locked:
            raise PermissionError(errno.EACCES, "Permission denied", locked)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)  # workers are forked, so they inherit it
    out = str(tmp_path / "out.npz")
    result = hash_cli(good, locked, "-j", str(jobs), "-o", out)
    assert result.exit_code == 0, result.output
    assert_reported_once(result, out, locked, "permission denied")
    monkeypatch.undo()
    assert hashes(out) == {good: hash_alone(good)}


# --------------------------------------------------------------------------- symbolic-link loops


def symlink_tree(root: Path, outside: Path) -> list[str]:
    """Directory links back to ancestors, and a link named like an image to a directory outside."""
    (root / "sub/deeper").mkdir(parents=True)
    outside.mkdir()
    files = [make_image(root / "a.png", seed=40), make_image(root / "sub/b.png", seed=41),
             make_image(root / "sub/deeper/c.png", seed=42)]
    make_image(outside / "e.png", seed=43)
    os.symlink(".", root / "self")
    os.symlink("..", root / "sub/up")
    os.symlink("../..", root / "sub/deeper/back")
    os.symlink(str(outside), root / "pics.jpg")
    return files


@JOBS
@pytest.mark.parametrize("follow", [True, False], ids=["follow", "nofollow"])
def test_directory_symlink_loop_terminates(tmp_path, jobs, follow):
    root = tmp_path / "tree"
    files = symlink_tree(root, tmp_path / "outside")
    if follow:  # the link named like an image is walked into, never reported; files keep their real path
        files.append(str(tmp_path / "outside" / "e.png"))
    out = str(tmp_path / "out.npz")
    args = [sys.executable, "-m", "finder", "hash", str(root), "-j", str(jobs), "-o", out]
    proc = subprocess.run(args + ["--follow-symlinks"] * follow, capture_output=True, timeout=SUBPROCESS_TIMEOUT)
    stderr = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == 0, stderr
    assert skip_lines(stderr) == []
    assert load(out).errors == []
    got = hashes(out)
    assert sorted(got) == sorted(files)
    assert all(got[f] == hash_alone(f) for f in files)


# --------------------------------------------------------------------------- unusual but valid images


def unusual_images(root: Path) -> dict[str, str]:
    """Valid images in modes and shapes that decoders and hashes tend to trip over."""
    root.mkdir(exist_ok=True)
    paths = {
        "1x1": make_image(root / "one.png", 1, 1, seed=50),
        "3x2000": make_image(root / "tall.png", 3, 2000, seed=51),
        "2000x3": make_image(root / "wide.jpg", 2000, 3, seed=52),
    }
    Image.fromarray(noise(64, 48, 53)).convert("CMYK").save(root / "cmyk.jpg")
    paths["cmyk"] = str(root / "cmyk.jpg")
    grey16 = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 7) % 400
    Image.fromarray(grey16).save(root / "grey16.png")
    paths["16-bit"] = str(root / "grey16.png")
    palette = Image.fromarray(noise(40, 40, 54)).quantize(16)
    palette.save(root / "palette.png", transparency=3)
    paths["palette+transparency"] = str(root / "palette.png")
    paths["animated gif"] = make_animated_gif(root / "anim.gif")
    return paths


def make_animated_gif(path: Path) -> str:
    frames = [Image.fromarray(noise(48, 40, seed)) for seed in (60, 61, 62)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return str(path)


def test_unusual_image_assets_have_the_intended_modes(tmp_path):
    paths = unusual_images(tmp_path)
    expected = {"1x1": ("RGB", (1, 1)), "3x2000": ("RGB", (3, 2000)), "2000x3": ("RGB", (2000, 3)),
                "cmyk": ("CMYK", None), "16-bit": ("I;16", None), "palette+transparency": ("P", None)}
    for kind, (mode, size) in expected.items():
        with Image.open(paths[kind]) as image:
            assert image.mode == mode, kind
            assert size is None or image.size == size
    with Image.open(paths["palette+transparency"]) as image:
        assert "transparency" in image.info
    with Image.open(paths["animated gif"]) as image:
        assert image.n_frames == 3


@JOBS
def test_unusual_images_are_hashed_with_every_algorithm(tmp_path, jobs):
    paths = unusual_images(tmp_path / "images")
    out = str(tmp_path / "out.npz")
    args = [arg for a in ALL_ALGORITHMS for arg in ("-a", a)]
    result = hash_cli(str(tmp_path / "images"), *args, "-j", str(jobs), "-o", out, "--strict")
    assert result.exit_code == 0, result.output
    assert skip_lines(result.stderr) == []
    assert load(out).errors == []
    got = hashes(out)
    assert sorted(got) == sorted(paths.values())
    for kind, path in paths.items():
        assert got[path] == hash_alone(path, ALL_ALGORITHMS), kind


@JOBS
def test_animated_gif_hashes_its_first_frame(tmp_path, jobs):
    gif = make_animated_gif(tmp_path / "anim.gif")
    frame_files = []
    with Image.open(gif) as image:  # the decoded frames (GIF quantises, so not the source arrays)
        for k in range(image.n_frames):
            image.seek(k)
            frame_files.append(str(tmp_path / f"frame{k}.png"))
            image.convert("RGB").save(frame_files[-1])
    out = str(tmp_path / "out.npz")
    result = hash_cli(gif, "-a", "find", "-a", "phash", "-j", str(jobs), "-o", out)
    assert result.exit_code == 0, result.output
    got = hashes(out)[gif]
    frames = [hash_alone(f, ("find", "phash")) for f in frame_files]
    assert got == frames[0]
    assert frames[1] != frames[0] and frames[2] != frames[0]  # so the check above can tell frames apart


# --------------------------------------------------------------------------- awkward file names

AWKWARD = ["with space.jpg", "com,ma.png", "quo\"te's.png", "new\nline.png", os.fsdecode(b"bad\xff name.jpg"),
           "\u00fcnic\u00f8de.png", " leading and trailing .png"]
AWKWARD_BAD = os.fsdecode(b'empty\xfe, "x"\n.jpg')


def awkward_tree(root: Path) -> tuple[list[str], str]:
    root.mkdir()
    good = [make_image(root / name, seed=70 + k) for k, name in enumerate(AWKWARD)]
    bad = str(root / AWKWARD_BAD)
    Path(bad).write_bytes(b"")
    return good, bad


def assert_awkward_round_trip(result: Result, out: str, good: list[str], bad: str) -> None:
    assert result.exit_code == 0, result.output
    assert len(skip_lines(result.stderr)) == 1 and "empty file (0 bytes)" in result.stderr
    got = hashes(out)
    assert sorted(got) == sorted(good)
    for path in good:
        assert got[path] == hash_alone(path), path
    assert sorted((p, h) for p, _, h in show_csv(out)) == sorted((p, got[p]["find"]) for p in good)
    assert sorted((d["path"], d["hex"]) for d in show_json(out)) == sorted((p, got[p]["find"]) for p in good)
    lines = show_bytes(out, "--format", "jsonl").splitlines()
    assert sorted(json.loads(line)["path"] for line in lines) == sorted(good)
    assert [(e.path, e.reason) for e in load(out).errors] == [(bad, "empty file (0 bytes)")]
    assert show_csv(out, "--errors") == [[bad, "empty file (0 bytes)"]]
    assert show_json(out, "--errors") == [{"path": bad, "reason": "empty file (0 bytes)"}]
    # the CSV carries the file's real bytes: they name the same file
    assert all(os.path.exists(os.fsencode(p)) for p, _, _ in show_csv(out))


@JOBS
def test_awkward_names_walked_round_trip(tmp_path, jobs):
    good, bad = awkward_tree(tmp_path / "tree")
    out = str(tmp_path / "out.npz")
    result = hash_cli(str(tmp_path / "tree"), "-j", str(jobs), "-o", out)
    assert_awkward_round_trip(result, out, good, bad)


@JOBS
def test_awkward_names_listed_nul_separated_round_trip(tmp_path, jobs):
    good, bad = awkward_tree(tmp_path / "tree")
    out = str(tmp_path / "out.npz")
    listing = b"\0".join(os.fsencode(p) for p in good + [bad]) + b"\0"
    result = hash_cli("-", "-0", "-j", str(jobs), "-o", out, input=listing)
    assert_awkward_round_trip(result, out, good, bad)


# --------------------------------------------------------------------------- exit status


@pytest.fixture
def small_tree(tmp_path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    make_image(root / "good.jpg", seed=80)
    make_image(root / "good2.png", seed=81)
    return root


@JOBS
def test_strict_exits_1_when_a_file_was_skipped_and_still_writes(small_tree, tmp_path, jobs):
    (small_tree / "empty.jpg").write_bytes(b"")
    out = str(tmp_path / "out.npz")
    result = hash_cli(str(small_tree), "--strict", "-j", str(jobs), "-o", out)
    assert result.exit_code == 1, result.output
    assert skip_reasons(result.stderr, str(small_tree / "empty.jpg")) == ["empty file (0 bytes)"]
    assert sorted(hashes(out)) == [str(small_tree / "good.jpg"), str(small_tree / "good2.png")]


@JOBS
def test_strict_exits_0_when_nothing_was_skipped(small_tree, tmp_path, jobs):
    out = str(tmp_path / "out.npz")
    result = hash_cli(str(small_tree), "--strict", "-j", str(jobs), "-o", out)
    assert result.exit_code == 0, result.output
    assert len(hashes(out)) == 2


@pytest.mark.parametrize("args", [
    ["{tree}/does-not-exist.jpg"],
    ["{tree}", "does-not-exist-dir"],
    ["{tree}", "-a", "nosuchhash"],
    ["{tree}", "-j", "0"],
    ["{tree}", "-j", "-1"],
    ["{tree}", "-j", "two"],
    ["{tree}", "--no-such-option"],
], ids=["missing-file", "missing-dir", "unknown-algorithm", "jobs-0", "jobs-negative", "jobs-not-a-number",
        "unknown-option"])
def test_usage_errors_exit_2(small_tree, tmp_path, args):
    out = str(tmp_path / "out.npz")
    result = CliRunner().invoke(cli, ["hash", *(a.format(tree=small_tree) for a in args), "-o", out])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not os.path.exists(out)


def test_output_that_is_a_directory_exits_2(small_tree, tmp_path):
    out = tmp_path / "out.npz"
    out.mkdir()
    result = CliRunner().invoke(cli, ["hash", str(small_tree), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert out.is_dir() and list(out.iterdir()) == []


def foreign_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, data=np.arange(3))
    return buf.getvalue()


@pytest.mark.parametrize("content", [b"my thesis, do not overwrite\n", b"", b"PK\x03\x04 not really a zip",
                                     foreign_npz()],
                         ids=["text", "empty", "bad-zip", "other-npz"])
def test_existing_non_finder_output_is_refused_and_untouched(small_tree, tmp_path, content):
    out = tmp_path / "precious.npz"
    out.write_bytes(content)
    result = CliRunner().invoke(cli, ["hash", str(small_tree), "-j", "1", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "refusing to overwrite" in result.stderr
    assert "Traceback" not in result.output
    assert out.read_bytes() == content
    assert temp_leftovers(tmp_path, out.name) == []


# --------------------------------------------------------------------------- Ctrl-C and atomic saves


@pytest.fixture
def many_images(tmp_path) -> tuple[Path, str, bytes]:
    """~200 images (copies of one 800x800 JPEG), an empty file, and out.npz from an earlier run."""
    root = tmp_path / "many"
    root.mkdir()
    first = make_image(root / "0000.jpg", 800, 800, seed=90, quality=90)
    out = str(tmp_path / "out.npz")
    assert hash_cli(first, "-j", "1", "-o", out, "-q").exit_code == 0
    data = Path(first).read_bytes()
    for k in range(1, 200):  # copies, not hard links: one inode would be hashed only once
        (root / f"{k:04d}.jpg").write_bytes(data)
    (root / "empty.jpg").write_bytes(b"")  # its 'skipped' line on stderr shows hashing has started
    return root, out, Path(out).read_bytes()


def worker_pids(pid: int) -> list[int]:
    """Child processes of ``pid`` (Linux /proc; empty where that is unavailable)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def default_signals() -> None:
    """Run in the child before exec: default Ctrl-C and SIGTERM handling, whatever the test runner set."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize("to_group", [False, True], ids=["kill-parent", "ctrl-c-process-group"])
def test_ctrl_c_exits_130_and_keeps_a_checkpoint(many_images, tmp_path, to_group):
    root, out, before = many_images
    command = [sys.executable, "-m", "finder", "hash", str(root), "-j", "2", "-o", out, "--checkpoint", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0,
                            start_new_session=True, preexec_fn=default_signals)
    try:
        first_line = proc.stderr.readline()
        assert first_line.startswith(b"finder: skipped"), first_line
        deadline = time.monotonic() + 20  # wait for the workers and a first checkpoint, then interrupt
        while time.monotonic() < deadline and proc.poll() is None and (
                len(worker_pids(proc.pid)) < 2 or Path(out).read_bytes() == before):
            time.sleep(0.01)
        assert proc.poll() is None, "finished before it could be interrupted: make the images bigger"
        if to_group:  # what a terminal does: every process of the job gets SIGINT
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    stderr = (first_line + rest).decode("utf-8", "backslashreplace")
    assert "Traceback" not in stderr
    assert proc.returncode == 130, stderr
    assert f"finder: interrupted; progress so far is saved in {out}" in stderr
    saved = load(out)  # a valid store: the earlier entry kept, plus what was hashed before Ctrl-C
    assert saved.settings["complete"] is False and str(root / "0000.jpg") in saved.paths
    assert temp_leftovers(tmp_path, "out.npz") == []
    done = len(saved) - 1
    rerun = subprocess.run(command, capture_output=True, timeout=SUBPROCESS_TIMEOUT)
    assert rerun.returncode == 0 and f"resumed: {len(saved)} already hashed" in rerun.stderr.decode()
    assert f"hashed {200 - 1 - done} (new {200 - 1 - done}," in rerun.stderr.decode()
    assert len(load(out)) == 200 and load(out).settings["complete"] is True
    deadline = time.monotonic() + 5  # no worker outlives the run
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("worker processes still running after the interrupted run")


INTERRUPT_WHILE_FORKING = """
import os, signal, sys
fired = []
def interrupt_once():
    if not fired:
        fired.append(True)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arriving while the worker pool forks
        sum(range(1000))  # let the handler run here, inside the at-fork hook
os.register_at_fork(after_in_parent=interrupt_once)
from finder.cli import main
sys.argv = ["finder", *sys.argv[1:]]
main()
"""


def test_ctrl_c_while_pool_forks_is_not_lost(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    first = make_image(root / "a.png", seed=97)
    for k in range(1, 6):
        make_image(root / f"{chr(97 + k)}.png", seed=97 + k)
    out = str(tmp_path / "out.npz")
    assert hash_cli(first, "-j", "1", "-o", out).exit_code == 0
    before = Path(out).read_bytes()
    proc = subprocess.run([sys.executable, "-c", INTERRUPT_WHILE_FORKING, "hash", str(root), "-j", "2", "-o", out],
                          capture_output=True, timeout=SUBPROCESS_TIMEOUT, preexec_fn=default_signals)
    stderr = proc.stderr.decode("utf-8", "backslashreplace")
    assert (proc.returncode, "Traceback" in stderr) == (130, False), stderr
    assert Path(out).read_bytes() == before
    assert temp_leftovers(tmp_path, "out.npz") == []


def partial_then(exc: BaseException):
    """A stand-in for np.savez_compressed that writes half a zip and then fails."""

    def savez_compressed(file, **arrays):
        file.write(b"PK\x03\x04" + b"\0" * 100)
        raise exc

    return savez_compressed


@pytest.fixture
def previous_output(tmp_path) -> tuple[Path, str, bytes]:
    root = tmp_path / "tree"
    root.mkdir()
    make_image(root / "old.jpg", seed=95)
    out = str(tmp_path / "out.npz")
    assert hash_cli(str(root), "-j", "1", "-o", out).exit_code == 0
    make_image(root / "new.png", seed=96)  # so the next run has something new to write
    return root, out, Path(out).read_bytes()


@JOBS
def test_crash_during_save_leaves_previous_output(previous_output, tmp_path, monkeypatch, jobs):
    root, out, before = previous_output
    monkeypatch.setattr(np, "savez_compressed", partial_then(OSError(errno.ENOSPC, "No space left on device")))
    result = CliRunner().invoke(cli, ["hash", str(root), "-j", str(jobs), "-o", out])
    monkeypatch.undo()
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(f"cannot write {out}: No space left on device")
    assert Path(out).read_bytes() == before
    assert temp_leftovers(tmp_path, "out.npz") == []
    assert sorted(hashes(out)) == [str(root / "old.jpg")]


def test_ctrl_c_during_save_exits_130_and_leaves_previous_output(previous_output, tmp_path, monkeypatch):
    root, out, before = previous_output
    monkeypatch.setattr(np, "savez_compressed", partial_then(KeyboardInterrupt()))
    result = CliRunner().invoke(cli, ["hash", str(root), "-j", "1", "-o", out])
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    assert "interrupted; no output was changed" in result.stderr
    assert Path(out).read_bytes() == before
    assert temp_leftovers(tmp_path, "out.npz") == []


def test_hashset_save_failure_leaves_previous_file(tmp_path, monkeypatch):
    out = str(tmp_path / "set.npz")
    hs = HashSet(paths=["a.jpg"], hashes={"ahash": np.array([[7]], dtype=np.uint64)}, bits={"ahash": 64},
                 size=np.array([1]), mtime_ns=np.array([2]))
    hs.save(out)
    before = Path(out).read_bytes()
    monkeypatch.setattr(np, "savez_compressed", partial_then(RuntimeError("crash midway")))
    with pytest.raises(RuntimeError, match="crash midway"):
        hs.save(out)
    monkeypatch.undo()
    assert Path(out).read_bytes() == before
    assert temp_leftovers(tmp_path, "set.npz") == []
    assert [str(p) for p in load(out).paths] == ["a.jpg"]


# --------------------------------------------------------------------------- a full disk, an unwritable home


def test_a_lock_file_that_cannot_be_written_is_one_line_and_left_nowhere(tmp_path, monkeypatch):
    import finder.io.lock as lock

    image = make_image(tmp_path / "a.png")
    out = tmp_path / "out.npz"

    def disk_full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lock.os, "pwrite", disk_full)
    result = hash_cli(image, "-o", str(out), "-j", "1")
    assert result.exit_code == 2, result.output
    assert "cannot write lock file" in result.stderr and "No space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob("*.lock"))


def test_kernels_compile_where_numba_cannot_cache_them(tmp_path):
    """A read-only install run by a user whose home is not writable: numba has nowhere to cache kernels and
    refused to import them; finder compiles them into a temporary folder for the run, with one warning.
    As root the run is made as uid 65534 (HOME unwritable, the install root's); otherwise numba's two cache
    folders are made to look unwritable."""
    base = tempfile.mkdtemp(prefix="finder-nocache-")
    try:
        os.chmod(base, 0o777)
        image = make_image(Path(base) / "a.png")
        out = os.path.join(base, "out.npz")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            proc = subprocess.run([sys.executable, "-m", "finder", "hash", image, "-o", out, "-j", "1"], cwd=base,
                                  env=env, user=65534, group=65534, extra_groups=[], capture_output=True,
                                  timeout=SUBPROCESS_TIMEOUT)
        else:
            code = ("import sys, finder.config as c\nc._writable_folder = lambda path: False\n"
                    "from finder.cli import main\n"
                    "sys.argv = ['finder', 'hash', sys.argv[1], '-o', sys.argv[2], '-j', '1']\nmain()\n")
            proc = subprocess.run([sys.executable, "-c", code, image, out], cwd=base, env=env, capture_output=True,
                                  timeout=SUBPROCESS_TIMEOUT)
        stderr = proc.stderr.decode(errors="replace")
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr and stderr.count("numba cannot cache compiled kernels") == 1
        assert len(load(out)) == 1
        assert not [p for p in os.listdir(tempfile.gettempdir()) if p.startswith("finder-numba-cache-")
                    and os.stat(os.path.join(tempfile.gettempdir(), p)).st_uid == (65534 if os.geteuid() == 0
                                                                                   else os.geteuid())]
    finally:
        shutil.rmtree(base, ignore_errors=True)
