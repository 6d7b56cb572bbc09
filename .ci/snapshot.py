#!/usr/bin/env python3
"""Golden-output snapshot of every finder command, for behaviour-preserving refactors.

A dev tool (stdlib only; not part of the package or the test suite).  ``record`` runs a
fixed script of ~330 finder command lines (hash, show, compare, cluster, evaluate, query,
report, dedupe, synth, --scheduler on a local Dask cluster, the --help / --version texts
and error cases) on fixed inputs and writes every stdout, stderr, exit status and output
file into OUTDIR, one file per artefact; ``compare`` then says whether two such folders
are byte-identical.  ``bench`` is not run (its output is timings).

    # before the change (old code checked out somewhere, e.g. a git worktree):
    python .ci/snapshot.py record /tmp/snap-old --python .venv/bin/python --pythonpath /tmp/oldmain
    # after the change:
    python .ci/snapshot.py record /tmp/snap-new --python .venv/bin/python --pythonpath "$PWD"
    python .ci/snapshot.py compare /tmp/snap-old /tmp/snap-new     # exit 0: identical

record OUTDIR [--python PY] [--pythonpath DIR] [--corpus DIR] [--examples DIR] [--work DIR]
    PY (default: this interpreter) runs ``PY -m finder ...``; DIR is put first on
    PYTHONPATH so that the finder package under DIR is the one run, whatever is
    installed (the package actually imported is printed, and recorded in
    OUTDIR/_meta.json, which compare ignores).  The inputs (examples/images and the shared
    corpus, default /work/shared/corpus/images) are copied into a FIXED work folder
    (default /tmp/finder-snapshot-work; removed and recreated on every run) so that the
    absolute paths in the outputs are the same for both runs, and every copied file
    gets a fixed, per-name mtime (so cluster's mtime_ns and the keep rules
    oldest/newest are reproducible).  OUTDIR is replaced.  Takes about 3 minutes on 2 cores.

compare DIR_A DIR_B
    Exit 0 and print "N files identical", or exit 1 and list the files that differ or
    exist on one side only, with the first lines of a unified diff for text files.

What is recorded, per step NAME (under OUTDIR/<command>/):
    NAME.cmd     the command line (paths are the fixed work folder's)
    NAME.out     stdout;  NAME.err  stderr;  NAME.rc  exit status
    NAME.<file>  output files the step writes (CSV, JSON, HTML, journal, tree listings)
    X.npz.txt    every hash / features .npz the step writes, as its ARRAYS (the zip bytes
                 differ run to run because of member timestamps): per member the dtype,
                 shape, sha256 of the data, and the values when not huge; ``settings`` as
                 JSON.  ``inode`` / ``device`` are not compared as values (they differ
                 with every copy); the dump records instead whether each one equals
                 os.stat() of its path.  Hash files also get ``finder show`` (CSV),
                 ``show --info`` and ``show --errors`` steps.

Normalised (replaced in every text artefact; nothing else is touched): run-time figures
that legitimately differ from run to run, namely
    * elapsed times: "in 1.2 s" -> "in <T> s", "0.3 s, thumbnails" (report page),
      '"seconds": 1.234' -> '"seconds": <T>' (--summary json);
    * wall-clock timestamps with a UTC offset, 2026-01-02T03:04:05+00:00 ->
      <TIMESTAMP> (the "created" stamp of hash files and journals, the report's
      generation time, dedupe journal's "time");
    * '"inode": 123' -> '"inode": <INODE>' (dedupe journals record each file's inode,
      which differs with every fresh copy of the inputs; journal files are therefore
      listed, not hashed, in the tree listings).
The environment of every finder run is pinned: TZ=UTC, LC_ALL/LANG=C.UTF-8,
COLUMNS=100, PYTHONHASHSEED=0, TERM=dumb, NO_COLOR=1, and every FINDER_* / NUMBA_CPU_*
variable of the caller removed.  Default -j (all cores) is used in many steps, so
compare snapshots recorded on machines with the same core count;
steps in which files are skipped use -j 1, because with several workers finder prints the
"skipped" lines in completion order (not normalised: avoided).  Files that synth writes get
fixed mtimes before they are hashed.
Never --apply outside the work folder: dedupe only acts (--apply / --undo) on a copy
inside it.  Two records cannot run at the same time (they share the work folder), which is
left in place after a run for inspection.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = "/tmp/finder-snapshot-work"
DEFAULT_CORPUS = "/work/shared/corpus/images"
DEFAULT_EXAMPLES = str(REPO / "examples" / "images")
BASE_MTIME = 1_600_000_000  # 2020-09-13; each file gets BASE + a per-name offset (< ~1 year)
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
RENDER_LIMIT = 60_000  # npz members with more elements get only dtype, shape and sha256
META = "_meta.json"    # ignored by compare

NORMALISE = [
    (re.compile(r"\bin \d+(?:\.\d+)? s\b"), "in <T> s"),
    (re.compile(r"\b\d+(?:\.\d+)? s, thumbnails"), "<T> s, thumbnails"),
    (re.compile(r'"seconds": ?-?\d+(?:\.\d+)?(?:e-?\d+)?'), '"seconds": <T>'),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:?\d\d|Z)"), "<TIMESTAMP>"),
    (re.compile(r'"inode": ?\d+'), '"inode": <INODE>'),
]


def normalise(text: str) -> str:
    for pattern, replacement in NORMALISE:
        text = pattern.sub(replacement, text)
    return text


# --------------------------------------------------------------------------------------------
# .npz dump (stdlib .npy reader)

def _npy(data: bytes) -> tuple[str, tuple[int, ...], bytes]:
    if data[:6] != b"\x93NUMPY":
        raise ValueError("not a .npy member")
    major = data[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", data[8:10]), 10
    else:
        (hlen,), start = struct.unpack("<I", data[8:12]), 12
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    if header.get("fortran_order"):
        raise ValueError("fortran order")
    return header["descr"], tuple(header["shape"]), data[start + hlen:]


def _values(descr: str, raw: bytes) -> list:
    order, kind, size = descr[0], descr[1], int(descr[2:])
    end = ">" if order == ">" else "<"
    if kind == "U":
        chars = [raw[i:i + 4 * size].decode("utf-32-le" if end == "<" else "utf-32-be").rstrip("\0")
                 for i in range(0, len(raw), 4 * size)]
        return chars
    if kind == "S":
        return [raw[i:i + size].rstrip(b"\0") for i in range(0, len(raw), size)]
    code = {("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q",
            ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q",
            ("f", 4): "f", ("f", 8): "d", ("b", 1): "?"}[(kind, size)]
    n = len(raw) // size
    return list(struct.unpack(f"{end}{n}{code}", raw))


def _split(blob: bytes, offsets: list[int]) -> list[str]:
    return [blob[offsets[k]:offsets[k + 1]].decode("utf-8", "surrogateescape") for k in range(len(offsets) - 1)]


def dump_npz(path: Path) -> str:
    """The arrays of an .npz as text (see the module docstring)."""
    members: dict[str, tuple[str, tuple[int, ...], bytes]] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            members[name[:-4] if name.endswith(".npy") else name] = _npy(archive.read(name))
    lines = [f"# arrays of {path.name}"]
    paths: list[str] | None = None
    if "paths" in members and "path_offsets" in members and members["paths"][0].endswith("u1"):
        paths = _split(members["paths"][2], _values(*members["path_offsets"][::2]))
    for name in sorted(members):
        descr, shape, raw = members[name]
        count = 1
        for d in shape:
            count *= d
        # settings: printed as normalised JSON below (its "created" stamp differs run to run)
        lines.append(f"== {name} {descr} {list(shape)} sha256={hashlib.sha256(raw).hexdigest()}"
                     if name not in ("inode", "device", "settings") else f"== {name} {descr} {list(shape)}")
        if name in ("inode", "device"):
            values = _values(descr, raw)
            if paths is None:
                lines.append("  (values differ per copy; not compared)")
                continue
            field = "st_ino" if name == "inode" else "st_dev"
            status = _values(*members["status"][::2]) if "status" in members else [0] * len(values)
            checked = agree = 0
            for p, v, s in zip(paths, values, status, strict=False):
                if s != 0:
                    continue
                try:
                    actual = getattr(os.stat(p), field)
                except OSError:
                    continue
                checked += 1
                agree += actual == v
            zeros = sum(1 for v, s in zip(values, status, strict=False) if s != 0 and v == 0)
            lines.append(f"  {name} equals {field} of its path for {agree} of {checked} existing hashed files; "
                         f"zero for {zeros} skipped files")
            continue
        if name in ("settings",) and descr.endswith("u1"):
            try:
                settings = json.loads(raw.decode("utf-8"))
                lines.append(normalise(json.dumps(settings, indent=1, sort_keys=True)))
                continue
            except ValueError:
                pass
        if name in ("paths", "reasons") and descr.endswith("u1"):
            offsets_name = "path_offsets" if name == "paths" else "reason_offsets"
            if offsets_name in members:
                for k, item in enumerate(_split(raw, _values(*members[offsets_name][::2]))):
                    lines.append(f"  {k}: {item}")
                continue
        if count > RENDER_LIMIT:
            lines.append("  (too large to print; sha256 above)")
            continue
        values = _values(descr, raw)
        if not shape:
            lines.append(f"  {values[0]!r}")
            continue
        width = 1
        for d in shape[1:]:
            width *= d
        if descr[1] in "u" and descr.endswith("8") and len(shape) == 2 and name.startswith("hash_"):
            for r in range(shape[0]):
                lines.append(f"  {r}: " + "".join(f"{w:016x}" for w in values[r * width:(r + 1) * width]))
        else:
            for r in range(0, len(values), max(width, 1) if len(shape) > 1 else 16):
                step = width if len(shape) > 1 else 16
                lines.append("  " + " ".join(repr(v) for v in values[r:r + step]))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# recording

class Recorder:
    def __init__(self, out: Path, work: Path, python: str, pythonpath: str | None):
        self.out, self.work, self.python = out, work, python
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FINDER_", "NUMBA_CPU_")) and k not in ("PYTHONPATH", "COLUMNS", "LINES")}
        env.update(TZ="UTC", LC_ALL="C.UTF-8", LANG="C.UTF-8", COLUMNS="100", PYTHONHASHSEED="0",
                   TERM="dumb", NO_COLOR="1")
        env.pop("FORCE_COLOR", None)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        self.env = env
        self.steps = 0
        self.seen: set[str] = set()

    def _target(self, name: str, suffix: str) -> Path:
        path = self.out / f"{name}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, name: str, suffix: str, data: bytes | str) -> None:
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                self._target(name, suffix).write_bytes(data)
                return
        self._target(name, suffix).write_text(normalise(data), encoding="utf-8")

    def finder(self, name: str, *args: str, stdin: str | None = None, timeout: float = 300) -> int:
        """Run ``finder ARGS`` in the work folder; record .cmd, .out, .err, .rc under NAME."""
        if name in self.seen:
            raise SystemExit(f"snapshot: step name {name!r} used twice")
        self.seen.add(name)
        self.steps += 1
        argv = [self.python, "-m", "finder", *args]
        shown = "finder " + " ".join(_quote(a) for a in args) + (f"  <<< {stdin!r}" if stdin is not None else "")
        began = time.monotonic()
        try:
            done = subprocess.run(argv, cwd=self.work, env=self.env, input=(stdin or "").encode(),
                                  capture_output=True, timeout=timeout)
            out, err, rc = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired as exc:
            out, err, rc = exc.stdout or b"", (exc.stderr or b"") + b"\n<snapshot: TIMEOUT>\n", "timeout"
        self.write(name, ".cmd", shown + "\n")
        self.write(name, ".out", out)
        self.write(name, ".err", err)
        self.write(name, ".rc", f"{rc}\n")
        print(f"  {time.monotonic() - began:6.1f} s  rc={rc!s:<3} {name}", flush=True)
        return rc if isinstance(rc, int) else -1

    def file(self, name: str, path: Path | str, suffix: str | None = None) -> None:
        """Record an output file (text normalised; binary kept as bytes)."""
        path = self.work / path
        suffix = suffix or "." + path.name
        if not path.exists():
            self.write(name, suffix + ".missing", f"{path} does not exist\n")
            return
        self.write(name, suffix, path.read_bytes())

    def npz(self, name: str, path: Path | str, show: bool = True) -> None:
        """Dump an .npz's arrays; for a hash file also record show (csv), show --info, show --errors."""
        full = self.work / path
        if not full.exists():
            self.write(name, "." + full.name + ".missing", f"{full} does not exist\n")
            return
        try:
            self.write(name, "." + full.name + ".txt", dump_npz(full))
        except (zipfile.BadZipFile, ValueError, KeyError, struct.error) as exc:
            self.write(name, "." + full.name + ".txt", f"unreadable as npz: {type(exc).__name__}: {exc}\n")
        if show:
            self.finder(f"{name}.show", "show", str(full))
            self.finder(f"{name}.show-info", "show", "--info", str(full))
            self.finder(f"{name}.show-errors", "show", "--errors", str(full))

    def tree(self, name: str, folder: Path | str, suffix: str = ".tree") -> None:
        """A listing of FOLDER: relative path, type, size, link count, sha256 (or link target)."""
        root = self.work / folder
        lines = []
        if not root.exists():
            lines.append("(missing)")
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for entry in sorted(dirnames + filenames):
                full = Path(dirpath) / entry
                rel = full.relative_to(root)
                st = os.lstat(full)
                if full.suffix == ".jsonl" and not os.path.islink(full):
                    lines.append(f"{rel}\tjournal (its content is recorded, normalised, as a separate file)")
                elif os.path.islink(full):
                    lines.append(f"{rel}\tsymlink -> {os.readlink(full)}")
                elif full.is_dir():
                    lines.append(f"{rel}/\tdir")
                else:
                    digest = hashlib.sha256(full.read_bytes()).hexdigest()
                    lines.append(f"{rel}\tfile {st.st_size} bytes nlink={st.st_nlink} sha256={digest}")
        self.write(name, suffix, "\n".join(lines) + "\n")


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def _mtime(name: str) -> int:
    """A fixed, per-name mtime in ns (distinct for different names, within about a year)."""
    crc = zlib.crc32(name.encode())
    return (BASE_MTIME + crc % 31_000_000) * 1_000_000_000 + (crc * 7919) % 1_000_000_000


def copy_images(source: Path, target: Path, select=lambda name: True) -> list[str]:
    target.mkdir(parents=True, exist_ok=True)
    names = sorted(n for n in os.listdir(source) if (source / n).is_file() and select(n))
    for n in names:
        shutil.copyfile(source / n, target / n)
        t = _mtime(n)
        os.utime(target / n, ns=(t, t))
    return names


def touch(path: Path, data: bytes, name: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    t = _mtime(name or path.name)
    os.utime(path, ns=(t, t))


def tiny_png(width: int, height: int, pixel) -> bytes:
    """An RGB PNG made with zlib (pixel(x, y) -> (r, g, b))."""
    rows = b"".join(b"\0" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def record(args: argparse.Namespace) -> int:
    out, work = Path(args.outdir).resolve(), Path(args.work)
    corpus, examples = Path(args.corpus), Path(args.examples)
    if work.resolve() in (out, *out.parents) or out in work.resolve().parents:
        raise SystemExit("snapshot: OUTDIR and the work folder must not contain each other")
    for folder in (out, work):
        if folder.exists():
            shutil.rmtree(folder)
    out.mkdir(parents=True)
    work.mkdir(parents=True)
    began = time.monotonic()
    r = Recorder(out, work, args.python, args.pythonpath)

    probe = subprocess.run([args.python, "-c", "import finder, sys; print(finder.__file__); print(sys.version)"],
                           env=r.env, capture_output=True, text=True, cwd=work)
    print(f"snapshot: finder from {probe.stdout.strip() or probe.stderr.strip()}", flush=True)
    meta = {"python": args.python, "pythonpath": args.pythonpath, "finder": probe.stdout.strip(),
            "work": str(work), "corpus": str(corpus), "examples": str(examples), "cpu_count": os.cpu_count()}

    # ---- inputs ------------------------------------------------------------------------------
    print("snapshot: copying inputs", flush=True)
    W = work
    copy_images(examples, W / "examples")
    copy_images(corpus, W / "corpus", lambda n: Path(n).suffix.lower() in IMAGE_EXT)
    truth_src = corpus / "ground_truth.csv"
    shutil.copyfile(truth_src, W / "corpus" / "ground_truth.csv")
    truth = str(W / "corpus" / "ground_truth.csv")
    # corpus split by image id parity: a and b share every group
    for half, parity in (("a", 0), ("b", 1)):
        copy_images(corpus, W / "split" / half,
                    lambda n, p=parity: Path(n).suffix.lower() in IMAGE_EXT and int(Path(n).stem[-1]) % 2 == p)
    ex_names = sorted(os.listdir(W / "examples"))
    # a folder with unreadable files beside good ones
    copy_images(examples, W / "broken", lambda n: n.startswith("0053_"))
    good = (W / "broken" / "0053_02747386.jpg").read_bytes()
    touch(W / "broken" / "corrupt.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg " * 20)
    touch(W / "broken" / "truncated.jpg", good[: len(good) // 3])
    touch(W / "broken" / "empty.png", b"")
    touch(W / "broken" / "text.webp", b"hello, I am text\n" * 10)
    touch(W / "broken" / "notes.txt", b"not an image extension; not a candidate\n")
    # images that match nothing
    touch(W / "unrelated" / "gradient.png", tiny_png(64, 48, lambda x, y: (x * 4, y * 5, 128)))
    touch(W / "unrelated" / "checker.png",
          tiny_png(40, 40, lambda x, y: (255, 255, 255) if (x // 5 + y // 5) % 2 else (0, 0, 0)))
    # nested copy of examples for --reference / keep path rules / exclude
    copy_images(examples, W / "nested" / "archive", lambda n: n.startswith(("0033_", "0040_")) and n[-5] in "0123")
    copy_images(examples, W / "nested" / "inbox", lambda n: not (n.startswith(("0033_", "0040_")) and n[-5] in "0123"))
    (W / "nested" / "inbox" / ".hidden").mkdir()
    copy_images(examples, W / "nested" / "inbox" / ".hidden", lambda n: n.startswith("0119_3"))
    (W / "nested" / "@eaDir").mkdir()
    copy_images(examples, W / "nested" / "@eaDir", lambda n: n.startswith("0053_0"))
    # synth sources
    copy_images(examples, W / "synthsrc",
                lambda n: n in ("0033_02511090.jpg", "0040_26607906.jpg", "0119_37560215.jpg"))
    e1, e2, e3 = str(W / "examples" / "0033_02511090.jpg"), str(W / "examples" / "0119_24691748.webp"), \
        str(W / "examples" / "0053_02747386.jpg")
    E, C = str(W / "examples"), str(W / "corpus")

    # ---- CLI texts ---------------------------------------------------------------------------
    print("snapshot: running finder", flush=True)
    r.finder("cli/help", "--help")
    r.finder("cli/help-short", "-h")
    r.finder("cli/noargs")
    r.finder("cli/version", "--version")
    r.finder("cli/unknown-command", "frobnicate")
    for cmd in ("hash", "show", "compare", "cluster", "evaluate", "query", "report", "dedupe", "synth", "bench"):
        r.finder(f"cli/help-{cmd}", cmd, "--help")

    # ---- hash: examples ----------------------------------------------------------------------
    r.finder("hash/ex-default", "hash", E, "-o", "ex.npz")                     # no -q: summary on stderr
    r.npz("hash/ex-default", "ex.npz")
    r.finder("hash/ex-update", "hash", E, "-o", "ex.npz")                      # everything reused
    r.npz("hash/ex-update", "ex.npz", show=False)
    r.finder("hash/ex-rehash", "hash", E, "-o", "ex.npz", "--rehash", "--summary", "json")
    r.npz("hash/ex-rehash", "ex.npz", show=False)
    r.finder("hash/ex-j1", "hash", E, "-o", "ex-j1.npz", "-j", "1")
    r.npz("hash/ex-j1", "ex-j1.npz")
    r.finder("hash/ex-5algo", "hash", E, "-o", "ex5.npz", "-a", "find", "-a", "dhash", "-a", "phash",
             "-a", "ahash", "-a", "whash", "-q")
    r.npz("hash/ex-5algo", "ex5.npz")
    r.finder("hash/ex-5algo-show-json", "show", "ex5.npz", "--format", "json")
    r.finder("hash/ex-5algo-show-jsonl-dhash", "show", "ex5.npz", "--format", "jsonl", "-a", "dhash", "-a", "whash")
    for algo in ("dhash", "phash", "ahash", "whash"):
        r.finder(f"hash/ex-{algo}", "hash", E, "-o", f"ex-{algo}.npz", "-a", algo, "-j", "1", "-q")
        r.npz(f"hash/ex-{algo}", f"ex-{algo}.npz")
    r.finder("hash/ex-exact", "hash", E, "-o", "ex-exact.npz", "--exact", "-q")
    r.npz("hash/ex-exact", "ex-exact.npz")
    r.finder("hash/err-exact-then-reduced", "hash", E, "-o", "ex-exact.npz", "--reduced", "-q")
    r.npz("hash/err-exact-then-reduced", "ex-exact.npz", show=False)
    for views in ("plain", "dihedral", "default", "plain,rot90,flip_v,transverse"):
        tag = views.replace(",", "-")
        r.finder(f"hash/ex-views-{tag}", "hash", E, "-o", f"ex-v-{tag}.npz", "--views", views, "-q")
        r.npz(f"hash/ex-views-{tag}", f"ex-v-{tag}.npz")
    r.finder("hash/ex-views-bad", "hash", E, "-o", "ex-v-bad.npz", "--views", "plain,sideways", "-q")
    r.finder("hash/ex-no-exif", "hash", E, "-o", "ex-noexif.npz", "--no-exif-transpose", "-a", "find",
             "-a", "phash", "-q")
    r.npz("hash/ex-no-exif", "ex-noexif.npz")
    r.finder("hash/ex-stdin", "hash", "-", "-o", "ex-stdin.npz", "-j", "1",
             stdin="\n".join(str(W / "examples" / n) for n in ex_names[::3]) + "\n" + str(W / "examples") + "\n")
    r.npz("hash/ex-stdin", "ex-stdin.npz")
    r.finder("hash/ex-stdin-null", "hash", "-", "-0", "-o", "ex-stdin0.npz", "-j", "1", "-q",
             stdin="\0".join(str(W / "examples" / n) for n in ex_names[1::4]) + "\0")
    r.npz("hash/ex-stdin-null", "ex-stdin0.npz", show=False)
    r.finder("hash/ex-stdin-nul-without-0", "hash", "-", "-o", "ex-stdinx.npz", "-j", "1",
             stdin="\0".join(str(W / "examples" / n) for n in ex_names[:3]) + "\0")
    r.finder("hash/nested-default", "hash", "nested", "-o", "nested.npz", "-j", "1")
    r.npz("hash/nested-default", "nested.npz")
    r.finder("hash/nested-hidden-noexcl", "hash", "nested", "-o", "nested-all.npz", "-j", "1", "--hidden",
             "--no-default-excludes", "-q")
    r.npz("hash/nested-hidden-noexcl", "nested-all.npz", show=False)
    r.finder("hash/nested-exclude", "hash", "nested", "-o", "nested-excl.npz", "-j", "1", "--exclude", "0040_*",
             "--exclude", "nested/archive/0033_0*", "-q")
    r.finder("hash/nested-exclude.show", "show", "nested-excl.npz")
    # the store: add, update a changed file, drop a gone one, prune
    shutil.copytree(W / "nested", W / "store", copy_function=shutil.copy2)
    r.finder("hash/store-1", "hash", "store/archive", "-o", "store.npz", "-j", "1")
    r.finder("hash/store-2-add", "hash", "store/inbox", "-o", "store.npz", "-j", "1")
    os.remove(sorted((W / "store" / "archive").iterdir())[0])
    victim = sorted((W / "store" / "inbox").glob("*.jpg"))[0]
    victim.write_bytes((W / "examples" / "0119_37560215.jpg").read_bytes())
    os.utime(victim, ns=(_mtime("changed"), _mtime("changed")))
    r.finder("hash/store-3-changed-gone", "hash", "store/archive", "store/inbox", "-o", "store.npz", "-j", "1")
    r.npz("hash/store-3-changed-gone", "store.npz")
    shutil.rmtree(W / "store" / "inbox")
    r.finder("hash/store-4-keep-outside", "hash", "store/archive", "-o", "store.npz", "-j", "1")
    r.finder("hash/store-5-prune", "hash", "store/archive", "-o", "store.npz", "-j", "1", "--prune")
    r.npz("hash/store-5-prune", "store.npz")
    r.finder("hash/store-6-err-other-algo", "hash", "store/archive", "-o", "store.npz", "-j", "1", "-a", "dhash")
    r.finder("hash/store-6-err-other-algo.show", "show", "store.npz")

    # ---- hash: corpus ------------------------------------------------------------------------
    r.finder("hash/corpus-default", "hash", C, "-o", "corpus.npz", "--summary", "json")
    r.npz("hash/corpus-default", "corpus.npz")
    r.finder("hash/corpus-5algo", "hash", C, "-o", "corpus5.npz", "-a", "find", "-a", "dhash", "-a", "phash",
             "-a", "ahash", "-a", "whash", "-q")
    r.npz("hash/corpus-5algo", "corpus5.npz")
    r.finder("hash/corpus-exact", "hash", C, "-o", "corpus-exact.npz", "--exact", "-q")
    r.npz("hash/corpus-exact", "corpus-exact.npz")
    r.finder("hash/corpus-dihedral", "hash", C, "-o", "corpus-dihedral.npz", "--views", "dihedral", "-q")
    r.npz("hash/corpus-dihedral", "corpus-dihedral.npz")
    r.finder("hash/corpus-plain-j1", "hash", C, "-o", "corpus-plain.npz", "--views", "plain", "-j", "1",
             "-a", "find", "-a", "phash", "-q")
    r.npz("hash/corpus-plain-j1", "corpus-plain.npz")
    r.finder("hash/split-a", "hash", "split/a", "-o", "split-a.npz")
    r.npz("hash/split-a", "split-a.npz")
    r.finder("hash/split-b", "hash", "split/b", "-o", "split-b.npz", "-q")
    r.npz("hash/split-b", "split-b.npz")
    shutil.copyfile(W / "split-a.npz", W / "split-ab.npz")
    r.finder("hash/split-ab-update", "hash", "split", "-o", "split-ab.npz")   # reuses a, hashes b
    r.npz("hash/split-ab-update", "split-ab.npz")

    # ---- hash: errors ------------------------------------------------------------------------
    r.finder("hash/broken", "hash", "broken", "-o", "broken.npz", "-j", "1")
    r.npz("hash/broken", "broken.npz")
    # (-j 1 wherever files are skipped: with several workers the "skipped" lines come in completion order)
    r.finder("hash/broken-strict", "hash", "broken", "-o", "broken-strict.npz", "--strict", "-q", "-j", "1")
    r.finder("hash/broken-strict.show-errors", "show", "--errors", "broken-strict.npz", "--format", "json")
    r.finder("hash/err-missing-path", "hash", "no/such/folder", "-o", "missing.npz")
    r.finder("hash/err-missing-file", "hash", str(W / "examples" / "nope.jpg"), "-o", "missing2.npz")
    r.finder("hash/err-unknown-algo", "hash", E, "-o", "bad.npz", "-a", "md5")
    r.finder("hash/err-output-dir-missing", "hash", E, "-o", "no/such/dir/x.npz")
    r.finder("hash/err-output-not-npz", "hash", E, "-o", str(W / "corpus" / "ground_truth.csv"))
    r.finder("hash/err-jobs-0", "hash", E, "-o", "bad.npz", "-j", "0")
    r.finder("hash/err-algo-mismatch", "hash", E, "-o", "ex.npz", "-a", "dhash", "--views", "plain")

    # ---- show --------------------------------------------------------------------------------
    r.finder("show/ex-json", "show", "ex.npz", "--format", "json")
    r.finder("show/ex-jsonl", "show", "ex.npz", "--format", "jsonl")
    r.finder("show/ex-errors-json", "show", "ex.npz", "--errors", "--format", "json")
    r.finder("show/broken-errors-jsonl", "show", "broken.npz", "--errors", "--format", "jsonl")
    r.finder("show/corpus5-phash-csv", "show", "corpus5.npz", "-a", "phash")
    r.finder("show/default-file-missing", "show")                               # hashes.npz in cwd: absent
    r.finder("show/err-missing", "show", "nope.npz")
    r.finder("show/err-not-npz", "show", e1)
    r.finder("show/err-algo-not-in-file", "show", "ex.npz", "-a", "dhash")
    touch(W / "fake.npz", b"PK\x03\x04 not a zip at all")
    r.finder("show/err-fake-npz", "show", "fake.npz")

    # ---- compare -----------------------------------------------------------------------------
    r.finder("compare/ex-csv", "compare", "ex.npz")
    r.finder("compare/ex-json", "compare", "ex.npz", "--format", "json")
    r.finder("compare/ex-jsonl", "compare", "ex.npz", "--format", "jsonl")
    r.finder("compare/ex-t0.2", "compare", "ex.npz", "-t", "0.2")
    r.finder("compare/ex-t-find0.45", "compare", "ex.npz", "-t", "find=0.45", "--summary", "json")
    r.finder("compare/ex-d30", "compare", "ex.npz", "-d", "30")
    r.finder("compare/ex-exit-code", "compare", "ex.npz", "--exit-code", "-o", "cmp.csv")
    r.file("compare/ex-exit-code", "cmp.csv")
    r.finder("compare/ex-exit-code-d0", "compare", "ex.npz", "--exit-code", "-d", "0")
    r.finder("compare/ex-verify", "compare", "ex.npz", "--verify")
    r.npz("compare/ex-verify", "ex.features.npz", show=False)
    r.finder("compare/ex-verify-json-again", "compare", "ex.npz", "--verify", "--format", "json")
    r.finder("compare/ex-plain-views", "compare", "ex-v-plain.npz")
    r.finder("compare/ex-dihedral", "compare", "ex-v-dihedral.npz", "--format", "json")
    r.finder("compare/ex5-vote", "compare", "ex5.npz", "-a", "find", "-a", "dhash", "-a", "phash")
    r.finder("compare/ex5-vote1", "compare", "ex5.npz", "-a", "find", "-a", "dhash", "-a", "phash", "--vote", "1",
             "--format", "json")
    r.finder("compare/ex5-thresholds", "compare", "ex5.npz", "-a", "find", "-a", "dhash", "-t", "find=0.4",
             "-t", "dhash=0.2", "--vote", "2")
    r.finder("compare/ex5-d-per-algo", "compare", "ex5.npz", "-a", "ahash", "-a", "whash", "-d", "ahash=10",
             "-d", "whash=12", "--vote", "1")
    r.finder("compare/ex5-whash", "compare", "ex5.npz", "-a", "whash")
    r.finder("compare/ex-vs-corpus", "compare", "ex.npz", "corpus.npz")
    r.finder("compare/ex-vs-corpus-json", "compare", "ex.npz", "corpus.npz", "--format", "json")
    r.finder("compare/corpus-csv", "compare", "corpus.npz", "-o", "corpus-pairs.csv")
    r.file("compare/corpus-csv", "corpus-pairs.csv")
    r.finder("compare/corpus-jsonl", "compare", "corpus.npz", "--format", "jsonl")
    r.finder("compare/corpus-exact", "compare", "corpus-exact.npz", "-t", "0.3")
    r.finder("compare/corpus-dihedral", "compare", "corpus-dihedral.npz")
    r.finder("compare/corpus5-vote", "compare", "corpus5.npz", "-a", "find", "-a", "phash", "-a", "dhash",
             "--format", "csv")
    r.finder("compare/split-a-b", "compare", "split-a.npz", "split-b.npz")
    r.finder("compare/split-a-b-json", "compare", "split-a.npz", "split-b.npz", "--format", "json", "-t", "0.3")
    r.finder("compare/split-b-a", "compare", "split-b.npz", "split-a.npz", "--summary", "json")
    r.finder("compare/split-a-vs-ab", "compare", "split-a.npz", "split-ab.npz", "-d", "0")
    r.finder("compare/err-missing", "compare", "nope.npz")
    r.finder("compare/err-three-files", "compare", "ex.npz", "ex.npz", "ex.npz")
    r.finder("compare/err-vote-too-high", "compare", "ex5.npz", "-a", "find", "-a", "dhash", "--vote", "3")
    r.finder("compare/err-bad-threshold", "compare", "ex.npz", "-t", "find=1.5")
    r.finder("compare/err-threshold-syntax", "compare", "ex.npz", "-t", "find:0.3")
    r.finder("compare/err-algo-mismatch", "compare", "ex.npz", "ex-dhash.npz")
    r.finder("compare/err-several-algos-no-a", "compare", "ex5.npz")
    r.finder("compare/err-verify-several", "compare", "ex5.npz", "-a", "find", "-a", "dhash", "--verify")

    # ---- cluster -----------------------------------------------------------------------------
    r.finder("cluster/ex-json", "cluster", "ex.npz")
    r.finder("cluster/ex-csv", "cluster", "ex.npz", "--format", "csv")
    r.finder("cluster/ex-jsonl", "cluster", "ex.npz", "--format", "jsonl")
    r.finder("cluster/ex-star", "cluster", "ex.npz", "--linkage", "star", "--format", "csv")
    r.finder("cluster/ex-min-size-1", "cluster", "ex.npz", "--min-size", "1", "--format", "csv")
    r.finder("cluster/ex-min-size-7", "cluster", "ex.npz", "--min-size", "7")
    for t in ("0.1", "0.3", "0.45"):
        r.finder(f"cluster/ex-t{t}", "cluster", "ex.npz", "-t", t, "--format", "csv")
    r.finder("cluster/ex-d20-star", "cluster", "ex.npz", "-d", "20", "--linkage", "star")
    r.finder("cluster/ex-verify", "cluster", "ex.npz", "--verify")
    r.finder("cluster/ex-verify-csv-star", "cluster", "ex.npz", "--verify", "--format", "csv", "--linkage", "star")
    for keep in ("pixels,size,oldest", "newest", "oldest", "size", "pixels", "shortest-path", "format:webp",
                 "format:png,pixels", "path:*0040_6*", "newest,path:*_2*"):
        tag = re.sub(r"[^\w.-]+", "_", keep)
        r.finder(f"cluster/ex-keep-{tag}", "cluster", "ex.npz", "--keep", keep, "--format", "csv", "-j", "1")
    r.finder("cluster/ex-exit-code", "cluster", "ex.npz", "--exit-code", "-o", "groups-ex.json", "--summary", "json")
    r.file("cluster/ex-exit-code", "groups-ex.json")
    r.finder("cluster/ex-exit-code-d0", "cluster", "ex.npz", "--exit-code", "-d", "0")
    r.finder("cluster/ex-dihedral", "cluster", "ex-v-dihedral.npz", "--format", "csv")
    r.finder("cluster/ex5-vote", "cluster", "ex5.npz", "-a", "find", "-a", "dhash", "-a", "phash", "--format", "csv")
    r.finder("cluster/ex5-vote-t", "cluster", "ex5.npz", "-a", "phash", "-a", "dhash", "-t", "phash=0.3",
             "-t", "dhash=0.25", "--vote", "1", "--linkage", "star")
    r.finder("cluster/nested-reference", "cluster", "nested.npz", "--reference", str(W / "nested" / "archive"),
             "--format", "csv")
    r.finder("cluster/nested-reference-json", "cluster", "nested.npz", "--reference", "nested/archive",
             "--keep", "newest")
    r.finder("cluster/nested-hidden", "cluster", "nested-all.npz", "--format", "csv", "--keep", "shortest-path")
    r.finder("cluster/corpus-json", "cluster", "corpus.npz", "-o", "groups-corpus.json")
    r.file("cluster/corpus-json", "groups-corpus.json")
    r.finder("cluster/corpus-csv", "cluster", "corpus.npz", "--format", "csv")
    r.finder("cluster/corpus-star-min1", "cluster", "corpus.npz", "--linkage", "star", "--min-size", "1",
             "--format", "csv")
    r.finder("cluster/corpus-t0.3-newest", "cluster", "corpus.npz", "-t", "0.3", "--keep", "newest,size",
             "--format", "csv")
    r.finder("cluster/corpus-verify", "cluster", "corpus.npz", "--verify", "--format", "csv")
    r.npz("cluster/corpus-verify", "corpus.features.npz", show=False)
    r.finder("cluster/corpus-verify-star", "cluster", "corpus.npz", "--verify", "--linkage", "star")
    r.finder("cluster/corpus-dihedral", "cluster", "corpus-dihedral.npz", "--format", "csv")
    r.finder("cluster/corpus-exact", "cluster", "corpus-exact.npz", "--format", "csv")
    r.finder("cluster/corpus5-vote", "cluster", "corpus5.npz", "-a", "find", "-a", "phash", "-a", "whash",
             "--format", "csv")
    r.finder("cluster/split-ab-reference", "cluster", "split-ab.npz", "--reference", "split/a", "--format", "csv",
             "--keep", "format:png")
    r.finder("cluster/broken", "cluster", "broken.npz", "--min-size", "1", "--format", "csv")
    r.finder("cluster/err-bad-keep", "cluster", "ex.npz", "--keep", "biggest")
    r.finder("cluster/err-bad-linkage", "cluster", "ex.npz", "--linkage", "complete")
    r.finder("cluster/err-reference-missing", "cluster", "ex.npz", "--reference", "no/such/dir")
    r.finder("cluster/err-min-size-0", "cluster", "ex.npz", "--min-size", "0")

    # ---- --scheduler (a local Dask cluster) --------------------------------------------------
    r.finder("dask/hash-ex", "hash", E, "-o", "ex-dask.npz", "--scheduler", "local:2")
    r.npz("dask/hash-ex", "ex-dask.npz")
    r.finder("dask/compare-ex", "compare", "ex.npz", "--scheduler", "local:2")
    r.finder("dask/compare-corpus", "compare", "corpus.npz", "--scheduler", "local:2", "--summary", "json")
    r.finder("dask/compare-split", "compare", "split-a.npz", "split-b.npz", "--scheduler", "local:2")
    r.finder("dask/cluster-ex", "cluster", "ex.npz", "--scheduler", "local:2", "--format", "csv")
    r.finder("dask/cluster-corpus", "cluster", "corpus.npz", "--scheduler", "local:2", "--format", "csv")
    r.finder("dask/cluster-corpus5-vote", "cluster", "corpus5.npz", "-a", "find", "-a", "dhash", "-a", "phash",
             "--scheduler", "local:2")
    r.finder("dask/err-bad-address", "cluster", "ex.npz", "--scheduler", "nowhere")
    r.finder("dask/err-local-0", "compare", "ex.npz", "--scheduler", "local:0")
    r.finder("dask/err-jobs-and-scheduler", "hash", E, "-o", "ex-dask2.npz", "-j", "1", "--scheduler", "local:2")

    # ---- evaluate ----------------------------------------------------------------------------
    r.finder("evaluate/ex-table", "evaluate", "ex.npz")
    r.finder("evaluate/ex-csv", "evaluate", "ex.npz", "--format", "csv")
    r.finder("evaluate/ex-json", "evaluate", "ex.npz", "--format", "json")
    r.finder("evaluate/ex-verify-json", "evaluate", "ex.npz", "--format", "json", "--verify")
    r.finder("evaluate/ex-pattern", "evaluate", "ex.npz", "--group-pattern", r"^(\d{3})", "--format", "csv")
    r.finder("evaluate/ex5-json", "evaluate", "ex5.npz", "--format", "json")
    r.finder("evaluate/ex5-vote-table", "evaluate", "ex5.npz", "-a", "find", "-a", "dhash", "-t", "find=0.39",
             "-t", "dhash=0.16", "--vote", "2")
    r.finder("evaluate/ex-dihedral-json", "evaluate", "ex-v-dihedral.npz", "--format", "json")
    r.finder("evaluate/ex-plot", "evaluate", "ex5.npz", "--format", "csv", "--plot", "plot-ex5.png")
    r.file("evaluate/ex-plot", "plot-ex5.png")
    r.finder("evaluate/corpus-table", "evaluate", "corpus.npz", "--truth", truth)
    r.finder("evaluate/corpus-csv", "evaluate", "corpus.npz", "--truth", truth, "--format", "csv")
    r.finder("evaluate/corpus-json", "evaluate", "corpus.npz", "--truth", truth, "--format", "json",
             "-o", "eval-corpus.json")
    r.file("evaluate/corpus-json", "eval-corpus.json")
    r.finder("evaluate/corpus-pattern-json", "evaluate", "corpus.npz", "--format", "json")   # groups from names
    r.finder("evaluate/corpus5-json", "evaluate", "corpus5.npz", "--truth", truth, "--format", "json")
    r.finder("evaluate/corpus5-vote-csv", "evaluate", "corpus5.npz", "--truth", truth, "-a", "find", "-a", "phash",
             "-a", "dhash", "--format", "csv")
    r.finder("evaluate/corpus-dihedral-json", "evaluate", "corpus-dihedral.npz", "--truth", truth, "--format", "json")
    r.finder("evaluate/corpus-exact-csv", "evaluate", "corpus-exact.npz", "--truth", truth, "--format", "csv",
             "-t", "0.4")
    r.finder("evaluate/corpus-verify-json", "evaluate", "corpus.npz", "--truth", truth, "--format", "json", "--verify")
    r.finder("evaluate/split-ab-truth", "evaluate", "split-ab.npz", "--truth", truth, "--format", "csv")
    r.finder("evaluate/err-no-groups", "evaluate", "ex.npz", "--group-pattern", "^(zzz)")
    r.finder("evaluate/err-bad-regex", "evaluate", "ex.npz", "--group-pattern", "([")
    r.finder("evaluate/err-truth-missing", "evaluate", "ex.npz", "--truth", "nope.csv")

    # ---- query -------------------------------------------------------------------------------
    r.finder("query/corpus-two", "query", e1, e2, "--against", "corpus.npz")
    r.finder("query/corpus-k3", "query", e1, e2, e3, "--against", "corpus.npz", "-k", "3")
    r.finder("query/corpus-k5-json", "query", e1, "--against", "corpus.npz", "-k", "5", "--format", "json")
    r.finder("query/corpus-jsonl-t", "query", e2, "--against", "corpus.npz", "--format", "jsonl", "-t", "0.2")
    r.finder("query/corpus-d10-j1", "query", e1, e3, "--against", "corpus.npz", "-d", "10", "-j", "1")
    r.finder("query/corpus-folder", "query", E, "--against", "corpus.npz", "-o", "query-ex.csv")
    r.file("query/corpus-folder", "query-ex.csv")
    r.finder("query/corpus-unrelated", "query", "unrelated", "--against", "corpus.npz", "-q")
    r.finder("query/corpus-unrelated-k2", "query", "unrelated", "--against", "corpus.npz", "-k", "2")
    r.finder("query/corpus-stdin", "query", "-", "--against", "corpus.npz",
             stdin=f"{e1}\n{W / 'unrelated' / 'checker.png'}\n")
    r.finder("query/corpus5-dhash", "query", e1, e3, "--against", "corpus5.npz", "-a", "dhash", "-k", "2")
    r.finder("query/dihedral", "query", e1, "--against", "corpus-dihedral.npz", "-k", "4")
    r.finder("query/exact", "query", e3, "--against", "corpus-exact.npz", "-k", "2")
    r.finder("query/ex-self", "query", "examples", "--against", "ex.npz", "-k", "1", "--format", "csv")
    r.finder("query/broken-files", "query", "broken", "--against", "ex.npz", "-j", "1")
    r.finder("query/err-missing-image", "query", "nope.jpg", "--against", "ex.npz")
    r.finder("query/err-missing-store", "query", e1, "--against", "nope.npz")
    r.finder("query/err-no-against", "query", e1)
    r.finder("query/err-several-algos", "query", e1, "--against", "ex5.npz")

    # ---- report ------------------------------------------------------------------------------
    r.finder("report/ex-default", "report", "ex.npz")                                # -> report.html in cwd
    r.file("report/ex-default", "report.html")
    r.finder("report/ex-options", "report", "ex.npz", "-o", "report-ex.html", "--keep", "newest",
             "--thumb-size", "64", "--page-size", "2", "--title", "Snapshot <test> & co", "--linkage", "star",
             "-j", "1")
    r.file("report/ex-options", "report-ex.html")
    r.finder("report/ex-stdout-q", "report", "ex.npz", "-o", "-", "-q", "-t", "0.2", "--min-size", "3")
    r.finder("report/ex5-vote", "report", "ex5.npz", "-a", "find", "-a", "dhash", "-o", "report-ex5.html", "-q")
    r.file("report/ex5-vote", "report-ex5.html")
    r.finder("report/nested-reference", "report", "nested.npz", "--reference", "nested/archive",
             "-o", "report-nested.html")
    r.file("report/nested-reference", "report-nested.html")
    r.finder("report/corpus", "report", "corpus.npz", "-o", "report-corpus.html", "--thumb-size", "48")
    r.file("report/corpus", "report-corpus.html")
    r.finder("report/err-min-size-1", "report", "ex.npz", "--min-size", "1", "-o", "x.html")
    r.finder("report/err-thumb-size", "report", "ex.npz", "--thumb-size", "8", "-o", "x.html")

    # ---- dedupe ------------------------------------------------------------------------------
    # dry runs on the groups of the examples and the corpus
    for action in ("move", "trash", "hardlink", "symlink", "delete"):
        extra = ["--to", str(W / "dupes")] if action in ("move", "hardlink", "symlink") else []
        r.finder(f"dedupe/dry-ex-{action}", "dedupe", "groups-ex.json", "--action", action, *extra,
                 "--hashes", "ex.npz")
    r.finder("dedupe/dry-ex-move-q", "dedupe", "groups-ex.json", "--action", "move", "--to", "dupes", "-q",
             "--hashes", "ex.npz")
    r.finder("dedupe/dry-corpus-move", "dedupe", "groups-corpus.json", "--action", "move", "--to", "dupes",
             "--hashes", "corpus.npz")
    r.tree("dedupe/dry-untouched-examples", "examples")
    r.tree("dedupe/dry-no-dupes-folder", "dupes")
    # acting, on a copy inside the work folder only
    copy_images(examples, W / "act" / "photos")
    r.finder("dedupe/act-hash", "hash", "act/photos", "-o", "act.npz", "-q")
    r.finder("dedupe/act-cluster", "cluster", "act.npz", "-o", "act-groups.json", "--keep", "pixels,size,oldest")
    r.file("dedupe/act-cluster", "act-groups.json")
    r.finder("dedupe/act-move-apply", "dedupe", "act-groups.json", "--hashes", "act.npz",
             "--action", "move", "--to", "act/dupes",
             "--apply", "--journal", "act/journal-move.jsonl")
    r.tree("dedupe/act-move-apply", "act")
    r.file("dedupe/act-move-apply", "act/journal-move.jsonl")
    r.finder("dedupe/act-move-again", "dedupe", "act-groups.json", "--hashes", "act.npz",
             "--action", "move", "--to", "act/dupes",
             "--apply", "--journal", "act/journal-move2.jsonl")
    r.finder("dedupe/act-move-undo", "dedupe", "--undo", "act/journal-move.jsonl")
    r.tree("dedupe/act-move-undo", "act")
    r.file("dedupe/act-move-undo", "act/journal-move.jsonl")
    r.finder("dedupe/act-symlink-apply", "dedupe", "act-groups.json", "--hashes", "act.npz",
             "--action", "symlink", "--to", "act/linked",
             "--apply", "--journal", "act/journal-symlink.jsonl", "-q")
    r.tree("dedupe/act-symlink-apply", "act")
    r.finder("dedupe/act-symlink-undo", "dedupe", "--undo", "act/journal-symlink.jsonl", "-q")
    r.tree("dedupe/act-symlink-undo", "act")
    r.finder("dedupe/act-hardlink-apply", "dedupe", "act-groups.json", "--hashes", "act.npz",
             "--action", "hardlink", "--to",
             "act/hardlinked", "--apply", "--journal", "act/journal-hardlink.jsonl")
    r.tree("dedupe/act-hardlink-apply", "act")
    r.finder("dedupe/act-hardlink-undo", "dedupe", "--undo", "act/journal-hardlink.jsonl")
    r.tree("dedupe/act-hardlink-undo", "act")
    r.file("dedupe/act-hardlink-undo", "act/journal-hardlink.jsonl")
    # a changed file is refused; deletion needs its confirmation
    changed = W / "act" / "photos" / "0053_31086536.jpg"
    changed.write_bytes(changed.read_bytes() + b"\0")
    r.finder("dedupe/act-changed-refused", "dedupe", "act-groups.json", "--hashes", "act.npz",
             "--action", "move", "--to", "act/dupes2")
    r.finder("dedupe/act-delete-unconfirmed", "dedupe", "act-groups.json", "--hashes", "act.npz",
             "--action", "delete", "--apply",
             "--journal", "act/journal-delete.jsonl")
    r.tree("dedupe/act-final", "act")
    for journal in sorted((W / "act").glob("*.jsonl")):
        r.file("dedupe/journals", journal, "." + journal.name)
    r.finder("dedupe/err-missing-groups", "dedupe", "nope.json", "--action", "move", "--to", "dupes")
    r.finder("dedupe/err-move-without-to", "dedupe", "groups-ex.json", "--action", "move")
    r.finder("dedupe/err-not-groups", "dedupe", truth, "--action", "move", "--to", "dupes")
    r.finder("dedupe/err-undo-missing", "dedupe", "--undo", "nope.jsonl")
    r.tree("dedupe/final-examples-untouched", "examples")

    # ---- synth -------------------------------------------------------------------------------
    r.finder("synth/two-files", "synth", e1, e3, "-o", "synth1", "--per-image", "4", "--seed", "1", "-j", "1")
    r.tree("synth/two-files", "synth1")
    r.file("synth/two-files", "synth1/ground_truth.csv")
    r.finder("synth/folder-transforms", "synth", "synthsrc", "-o", "synth2", "--per-image", "5", "--seed", "7",
             "--transforms", "jpeg,crop,rot90,vflip,perspective,text,screenshot", "--summary", "json")
    r.tree("synth/folder-transforms", "synth2")
    r.file("synth/folder-transforms", "synth2/ground_truth.csv")
    r.finder("synth/all-transforms", "synth", "synthsrc", "-o", "synth3", "--per-image", "8", "--seed", "3", "-q")
    r.tree("synth/all-transforms", "synth3")
    r.file("synth/all-transforms", "synth3/ground_truth.csv")
    r.finder("synth/zero-per-image", "synth", e2, "-o", "synth4", "--per-image", "0", "-j", "1")
    r.tree("synth/zero-per-image", "synth4")
    for made in sorted((W / "synth3").iterdir()):    # synth's files carry the time they were written
        os.utime(made, ns=(_mtime(made.name), _mtime(made.name)))
    r.finder("synth/hash", "hash", "synth3", "-o", "synth3.npz", "-q")
    r.npz("synth/hash", "synth3.npz", show=False)
    r.finder("synth/evaluate", "evaluate", "synth3.npz", "--truth", "synth3/ground_truth.csv", "--format", "json")
    r.finder("synth/err-not-empty", "synth", e1, "-o", "synth1", "--seed", "1")
    r.finder("synth/err-bad-transform", "synth", e1, "-o", "synth5", "--transforms", "jpeg,melt")
    r.finder("synth/err-no-photos", "synth", "unrelated/none", "-o", "synth6")
    r.finder("synth/broken-inputs", "synth", "broken", "-o", "synth7", "--per-image", "1", "-j", "1")
    r.tree("synth/broken-inputs", "synth7")

    # ---- the work folder itself: no stray files (locks, temporaries, journals) -------------
    listing = sorted(str(p.relative_to(W)) for p in W.iterdir())
    r.write("final/work-folder", ".ls", "\n".join(listing) + "\n")

    seconds = time.monotonic() - began
    meta.update(steps=r.steps, seconds=round(seconds, 1))
    (out / META).write_text(json.dumps(meta, indent=1) + "\n")
    files = sum(1 for p in out.rglob("*") if p.is_file() and p.name != META)
    print(f"snapshot: {r.steps} finder runs, {files} files in {out}, {seconds:.0f} s")
    return 0


# --------------------------------------------------------------------------------------------
# compare

def compare(a: Path, b: Path, diff_lines: int = 20, show: int = 30) -> int:
    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != META}
    if not a.is_dir() or not b.is_dir():
        print(f"snapshot: not a folder: {a if not a.is_dir() else b}", file=sys.stderr)
        return 2
    fa, fb = files(a), files(b)
    only_a, only_b = sorted(fa - fb), sorted(fb - fa)
    differ = [n for n in sorted(fa & fb) if (a / n).read_bytes() != (b / n).read_bytes()]
    if not (only_a or only_b or differ):
        print(f"{len(fa)} files identical")
        return 0
    for n in only_a:
        print(f"only in {a}: {n}")
    for n in only_b:
        print(f"only in {b}: {n}")
    for k, n in enumerate(differ):
        print(f"differs: {n}")
        if k >= show:
            continue
        try:
            ta = (a / n).read_text(encoding="utf-8").splitlines()
            tb = (b / n).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            print("    (binary)")
            continue
        diff = list(difflib.unified_diff(ta, tb, str(a / n), str(b / n), n=1, lineterm=""))
        for line in diff[:diff_lines]:
            print("    " + line[:300])
        if len(diff) > diff_lines:
            print(f"    ... ({len(diff) - diff_lines} more diff lines)")
    print(f"{len(differ)} files differ, {len(only_a)} only in {a}, {len(only_b)} only in {b} "
          f"({len(fa & fb) - len(differ)} identical)")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run every finder command on fixed inputs into OUTDIR")
    rec.add_argument("outdir")
    rec.add_argument("--python", default=sys.executable, help="interpreter that runs -m finder [this one]")
    rec.add_argument("--pythonpath", default=None, help="put DIR first on PYTHONPATH (the finder to test)")
    rec.add_argument("--corpus", default=DEFAULT_CORPUS, help=f"corpus images + ground_truth.csv [{DEFAULT_CORPUS}]")
    rec.add_argument("--examples", default=DEFAULT_EXAMPLES, help="example images [examples/images]")
    rec.add_argument("--work", default=DEFAULT_WORK, help=f"fixed work folder, recreated [{DEFAULT_WORK}]")
    cmp = sub.add_parser("compare", help="exit 0 when two snapshots are byte-identical, else list the differences")
    cmp.add_argument("dir_a")
    cmp.add_argument("dir_b")
    cmp.add_argument("--diff-lines", type=int, default=20, help="diff lines shown per file [20]")
    args = parser.parse_args(argv)
    if args.command == "record":
        return record(args)
    return compare(Path(args.dir_a), Path(args.dir_b), args.diff_lines)


if __name__ == "__main__":
    sys.exit(main())
