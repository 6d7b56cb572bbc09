"""Where the time of ``finder hash -j 1`` goes on 12-megapixel JPEGs, and what FINd's decode minimum costs.

Issue 11's target is a whole run of ``finder hash -j 1`` with its defaults on
a folder of 12 MP JPEGs in at most 0.25x the time of the plain Pillow +
imagehash dHash loop.  This script measures what stands between the two, on
the folder of ``benchmarks/phone_photos.py`` (built there, or reused from its
``--cache``), for several minima of the longer side that a reduced decode
must keep for FINd (``--min-long``; today 512 = the default policy's margin (1, ``finder.store.resolution.MARGINS``)
x FINd's 512 px thumbnail; 1024 the 2x policy ``reduced``; 128 = 2x its 64x64 sample grid; ``N+up`` also
resizes an image decoded below 512 px up to the reference thumbnail's size,
see ``decode_override.py``).  Nothing in ``finder/`` is changed: the setting
is applied in this process by patching module attributes
(:func:`decode_override.override`), and in the timed subprocesses by a
launcher that applies :data:`decode_override.ENV` before it runs the
``finder`` command line (every finder run goes through it, so they start alike).

Four tables:

``per image``
    In this process, ``finder.hash_paths(..., jobs=1)`` with the CLI's
    defaults (FINd, default views, reduced decode) over the folder, with
    timing wrappers around the very functions hashing calls (nothing is
    re-implemented): opening and stat-ing, the decode at the chosen DCT
    scale, EXIF transposition, each FINd stage of the plain row, the mirror
    row, the trimmed row (content box, crop, stages), the quality scores, and
    the remainder.  Mean milliseconds per image (whole runs are sums), the
    median over ``--repeat`` passes.  Beside them the plain loop's two parts
    (``Image.open`` + ``load``; ``imagehash.dhash``).
``fixed``
    What a run costs whatever its size, wall and CPU seconds, each the
    median of ``--repeat`` fresh subprocesses (alternated) or in-process
    calls: the interpreter, importing the CLI, importing the hashing modules
    (numpy, numba, Pillow, FINd's kernels), numba's first calls (cached
    kernels loaded, and whatever numba imports then), the interpreter's
    shutdown after numba has run (each measured as the increment over the
    step before, see :data:`START_UP`), walking the folder, writing the
    store; the plain loop's interpreter and imports.
``whole run``
    Fresh subprocesses, round-robin for ``--repeat`` rounds (a slow spell on a
    shared machine hits every configuration alike): the plain loop, then
    ``finder hash FOLDER -j 1 -q --summary json`` at each minimum (and
    ``--exact``).  Median wall and CPU seconds, the start-up (imports and
    numba's first call, which the launcher makes before the command so that
    the summary's seconds are the loop's alone), the loop, the fixed rest
    (wall - loop), and the median ratios to the same round's plain loop: of
    wall time, of CPU time and of the loops alone (what the whole-run ratio
    tends to as the folder grows); with them, how many images a folder needs
    before 0.25x is reached, if ever.
``accuracy``
    For each folder (the 12 MP folder and ``--corpus``), hashed in this
    process with the default views at each minimum and with the ``full``
    policy: how many files decode at each DCT scale, and the bits by which
    the plain rows differ from ``--exact`` (files differing, max, median,
    99th percentile, computed with numpy alone).  With ``--truth``, the pair
    precision, recall and F1 of the plain and views modes from ``finder
    evaluate --truth CSV -t find=0.375 --format json`` on each store.

    python benchmarks/phone_breakdown.py [--cache DIR] [--count 40] [--repeat 3] [--min-long 1024,512,128,128+up]
        [--corpus DIR] [--truth CSV] [--views default] [--skip per-image|fixed|whole|accuracy]... [--json]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import PIL.ImageOps
from _harness import timed_run
from decode_override import ENV, override, parse
from phone_photos import build_folder, simd_level
from PIL import Image

import finder.algorithms as algorithms
import finder.io.decode as decode
import finder.store.rows as rows
import finder.store.update as update
import finder.views as views
import finder.views.content as content
import finder.views.geometry as geometry
import finder.views.quality as quality
from finder.evaluate.machine import cpu_model
from finder.io.files import find_images
from finder.store import resolution

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "images"
HERE = Path(__file__).resolve().parent
#: Runs the ``finder`` command line after applying the setting in :data:`decode_override.ENV`, if any.
LAUNCHER = ("import json, os, sys, time\n"
            "began = time.perf_counter()\n"
            f"setting = os.environ.get({ENV!r})\n"
            "if setting:\n"
            f"    sys.path.insert(0, {str(HERE)!r})\n"
            "    import decode_override\n"
            "    decode_override.apply(setting)\n"
            "from finder.store.rows import warm_up\n"
            "warm_up(['find'])\n"  # here rather than inside hash_paths, so its summary's seconds are the loop's
            "print(json.dumps({'start_up': time.perf_counter() - began}), file=sys.stderr)\n"
            "sys.argv[0] = 'finder'\n"
            "from finder.cli import main\n"
            "main()\n")
#: The plain loop of ``phone_photos.py``, which also prints the seconds of its loop alone on stderr.
PLAIN_LOOP = ("import sys, time, imagehash\nfrom PIL import Image\n"
              "began = time.perf_counter()\n"
              "for p in sys.argv[1:]:\n"
              "    with Image.open(p) as im:\n"
              "        im.load()\n"
              "        imagehash.dhash(im)\n"
              "print(time.perf_counter() - began, file=sys.stderr)\n")
TODAY = str(resolution.MARGINS[resolution.DECODE_REDUCED] * algorithms.get("find").working_size[0])
THRESHOLD = 0.375
TARGET = 0.25
#: FINd's stages (finder.algorithms.find.STAGES), timed per row: plain, mirror, trimmed.
STAGES = ("thumbnail", "rgb", "luma", "blur_decimate", "dct", "median_bits")


def decode_scales(paths: Sequence[str], names: Sequence[str] = ("find",), views_: str = "default") -> dict[str, int]:
    """How many of ``paths`` a reduced decode reads at each DCT scale ("1/1" .. "1/8"), under the current minima."""
    minimum = resolution.min_decode_size(names, resolution.DECODE_REDUCED, views.resolve_views(views_))
    counts: collections.Counter[str] = collections.Counter()
    for path in paths:
        with Image.open(path) as image:
            scale = decode.draft_scale(image.size, minimum) if minimum and image.format == "JPEG" else 1
        counts[f"1/{scale}"] += 1
    return dict(sorted(counts.items(), key=lambda kv: int(kv[0][2:])))


class Timers:
    """Seconds per named part, summed over the images of one pass; only counted inside ``hash_image``."""

    def __init__(self) -> None:
        self.seconds: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.phase = "plain"
        self.active = False

    def wrap(self, key: str | Callable[[], str], function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``, timed into ``key`` (or into ``key()`` named at call time) while a pass is active."""
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if self.active:
                    self.seconds[key() if callable(key) else key] += time.perf_counter() - began
        return timed


@contextlib.contextmanager
def instrumented(timers: Timers) -> Iterator[None]:
    """Timing wrappers around the functions ``finder.store.rows`` calls for one image; restored on exit."""
    spec = algorithms.ALGORITHMS["find"]
    stages = tuple(dataclasses.replace(s, function=timers.wrap(lambda n=s.name: f"{timers.phase}: {n}", s.function))
                   for s in spec.stages)
    original_run, original_apply, original_hash = rows._run, rows.apply_stages, rows.hash_image

    def run(spec_: Any, value: Any, after: str = "") -> Any:
        timers.phase = "trimmed" if after else "plain"
        return original_run(spec_, value, after)

    def apply(stages_: Any, value: Any) -> Any:
        timers.phase = "mirror"
        return original_apply(stages_, value)

    def hash_image(*args: Any, **kwargs: Any) -> Any:
        timers.active = True
        try:
            return timed_hash(*args, **kwargs)
        finally:
            timers.active = False

    timed_hash = timers.wrap("total", original_hash)
    patches = [
        (algorithms.ALGORITHMS, "find", spec.with_stages(stages)),
        (rows, "hash_image", hash_image),
        (rows, "_run", run),
        (rows, "apply_stages", apply),
        (rows, "read_image", timers.wrap("read_image", rows.read_image)),
        (decode, "_load", timers.wrap("load", decode._load)),
        (PIL.ImageOps, "exif_transpose", timers.wrap("exif", PIL.ImageOps.exif_transpose)),
        (content, "content_box", timers.wrap("trimmed: content box", content.content_box)),
        (geometry, "crop_scaled", timers.wrap("trimmed: crop", geometry.crop_scaled)),
        (geometry, "transform", timers.wrap("mirror: flip", geometry.transform)),
        (quality, "quality", timers.wrap("quality", quality.quality)),
    ]
    saved = []
    for target, name, value in patches:
        if isinstance(target, dict):
            saved.append((target, name, target[name]))
            target[name] = value
        else:
            saved.append((target, name, getattr(target, name)))
            setattr(target, name, value)
    try:
        yield
    finally:
        for target, name, value in reversed(saved):
            if isinstance(target, dict):
                target[name] = value
            else:
                setattr(target, name, value)


def part_rows(seconds: dict[str, float]) -> dict[str, float]:
    """The per-image parts, exclusive of each other, from one pass's nested timers (seconds summed)."""
    s = collections.defaultdict(float, seconds)
    rows = {
        "open + stat": s["read_image"] - s["load"],
        "decode (draft + load)": s["load"] - s["exif"],
        "EXIF transpose": s["exif"],
    }
    rows.update({f"FINd {n}": s[f"plain: {n}"] for n in STAGES})
    rows["mirror (flip, DCT, median)"] = s["mirror: flip"] + sum(s[f"mirror: {n}"] for n in STAGES)
    rows["trimmed: content box"] = s["trimmed: content box"]
    rows["trimmed: crop + FINd stages"] = s["trimmed: crop"] + sum(s[f"trimmed: {n}"] for n in STAGES)
    rows["quality scores"] = s["quality"]
    rows["other (glue)"] = s["total"] - sum(rows.values())
    rows["total per image"] = s["total"]
    return rows


def breakdown_pass(paths: list[str], side: str | None) -> tuple[dict[str, float], Any]:
    """One instrumented ``hash_paths`` pass with the CLI's defaults; mean seconds per image of each part."""
    timers = Timers()
    with override(side), instrumented(timers):
        report = update.hash_paths(paths, ["find"], jobs=1, views="default", decode=resolution.DECODE_REDUCED,
                                   on_warning=None)
    assert not report.errors, report.errors
    return {k: v / len(paths) for k, v in part_rows(timers.seconds).items()}, report.hashset


def plain_pass(paths: list[str]) -> dict[str, float]:
    """The plain loop in this process, its two parts timed; mean seconds per image."""
    import imagehash

    opened = hashed = 0.0
    for path in paths:
        began = time.perf_counter()
        with Image.open(path) as image:
            image.load()
            middle = time.perf_counter()
            imagehash.dhash(image)
        opened, hashed = opened + middle - began, hashed + time.perf_counter() - middle
    return {"decode (open + load, full size)": opened / len(paths), "imagehash.dhash": hashed / len(paths),
            "total per image": (opened + hashed) / len(paths)}


def per_image(paths: list[str], sides: Sequence[str], repeat: int) -> dict[str, Any]:
    """Medians over ``repeat`` passes (alternated) of the per-image parts at each minimum, and of the plain loop."""
    rows.warm_up(["find"])
    plain_pass(paths[:1])
    runs: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
    for _ in range(repeat):
        runs["plain loop"].append(plain_pass(paths))
        for side in sides:
            runs[str(side)].append(breakdown_pass(paths, side)[0])
    return {name: {k: statistics.median(p[k] for p in passes) for k in passes[0]} for name, passes in runs.items()}


#: Start-up steps, each a fresh interpreter doing one thing more than the last and leaving through ``os._exit``
#: (no shutdown), then the last one leaving normally: the increments are the costs of each step.
START_UP = {
    "interpreter": "pass",
    "CLI imports (finder.cli.app)": "import os, finder.cli.app; os._exit(0)",
    "hashing imports (numpy, numba, Pillow)": "import os, finder.cli.app, finder.store.update; os._exit(0)",
    "numba's first calls (warm_up)": ("import os, finder.cli.app, finder.store.rows as h; "
                                      "h.warm_up(['find']); os._exit(0)"),
    "interpreter shutdown after numba": "import finder.cli.app, finder.store.rows as h; h.warm_up(['find'])",
}


def fixed_costs(folder: Path, hashset: Any, repeat: int) -> dict[str, dict[str, float]]:
    """Costs a run pays whatever its size: wall and CPU seconds (medians of ``repeat``, alternated), each
    start-up step as an increment over the last (:data:`START_UP`); walking the folder and writing the store
    in this process; the plain loop's interpreter and imports."""
    commands = {name: [sys.executable, "-c", code] for name, code in START_UP.items()}
    commands["plain loop: interpreter + imports"] = [sys.executable, "-c", "import imagehash\nfrom PIL import Image"]
    runs: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(timed_run(command)[:2])
    median = {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
              for name, r in runs.items()}
    out: dict[str, dict[str, float]] = {}
    previous = (0.0, 0.0)
    for name in START_UP:
        out[name] = {"wall": median[name][0] - previous[0], "cpu": median[name][1] - previous[1]}
        previous = median[name]
    walk, save = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            began, cpu = time.perf_counter(), time.process_time()
            find_images([str(folder)])
            walk.append((time.perf_counter() - began, time.process_time() - cpu))
            began, cpu = time.perf_counter(), time.process_time()
            hashset.save(Path(tmp) / "h.npz")
            save.append((time.perf_counter() - began, time.process_time() - cpu))
    for name, got in (("walk the folder", walk), ("write the store", save)):
        out[name] = {"wall": statistics.median(w for w, _ in got), "cpu": statistics.median(c for _, c in got)}
    out["finder total"] = {k: sum(v[k] for v in out.values()) for k in ("wall", "cpu")}
    plain = median["plain loop: interpreter + imports"]
    out["plain loop: interpreter + imports"] = {"wall": plain[0], "cpu": plain[1]}
    return out


def whole_runs(folder: Path, sides: Sequence[str], repeat: int) -> dict[str, Any]:
    """Fresh subprocesses, round-robin: the plain loop, finder at each minimum, ``--exact``.

    Per run: wall seconds, CPU seconds (user + system, from ``getrusage``: less sensitive than wall time
    to other work on a shared machine, and the same thing for a single-threaded run on an idle one), and
    the seconds of the loop over the images alone (finder: its summary's, after the launcher loaded the
    kernels; the plain loop: its own clock).
    """
    files = sorted(str(p) for p in folder.glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "h.npz")
        finder = [sys.executable, "-c", LAUNCHER, "hash", str(folder), "-j", "1", "-q", "--summary", "json",
                  "-o", out]
        runs: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "plain loop": ([sys.executable, "-c", PLAIN_LOOP, *files], None)}
        for side in sides:
            runs[f"finder, FINd min {side}"] = (finder, {**os.environ, ENV: str(side)})
        runs["finder --exact"] = ([*finder, "--exact"], None)

        def run(command: list[str], env: dict[str, str] | None) -> dict[str, float]:
            Path(out).unlink(missing_ok=True)
            wall, cpu, stderr = timed_run(command, env)
            lines = stderr.strip().splitlines()
            figures = {"wall": wall, "cpu": cpu}
            if lines[-1].startswith("{"):
                figures.update(start_up=json.loads(lines[0])["start_up"], loop=json.loads(lines[-1])["seconds"])
            else:
                figures.update(start_up=0.0, loop=float(lines[-1]))
            return figures

        for command, env in runs.values():  # untimed: page cache, numba cache
            run(command, env)
        got: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
        for _ in range(repeat):
            this_round = {name: run(*spec) for name, spec in runs.items()}
            plain = this_round["plain loop"]
            for name, figures in this_round.items():
                got[name].append({**figures, "x_wall": figures["wall"] / plain["wall"],
                                  "x_cpu": figures["cpu"] / plain["cpu"], "x_loop": figures["loop"] / plain["loop"]})
    n = len(files)
    median = {name: {k: statistics.median(r[k] for r in rounds) for k in rounds[0]} for name, rounds in got.items()}
    plain = median["plain loop"]
    plain_fixed, plain_each = plain["wall"] - plain["loop"], plain["loop"] / n
    rows = []
    for name, m in median.items():
        fixed, each = m["wall"] - m["loop"], m["loop"] / n
        # Folder size from which fixed + n * each <= TARGET * (plain_fixed + n * plain_each), if any.
        margin = TARGET * plain_each - each
        needed = max(0.0, (fixed - TARGET * plain_fixed) / margin) if margin > 0 else None
        rows.append({"run": name, "seconds": round(m["wall"], 3), "cpu_seconds": round(m["cpu"], 3),
                     "start_up_seconds": round(m["start_up"], 3), "loop_seconds": round(m["loop"], 3),
                     "fixed_seconds": round(fixed, 3), "ms_per_image": round(1000 * each, 1),
                     "vs_plain_loop": round(m["x_wall"], 3), "cpu_vs_plain_loop": round(m["x_cpu"], 3),
                     "loop_vs_plain_loop": round(m["x_loop"], 3),
                     "images_for_target": None if needed is None else int(np.ceil(needed)),
                     "all_seconds": [round(r["wall"], 3) for r in got[name]]})
    return {"images": n, "repeat": repeat, "rows": rows}


def bit_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between the rows of two ``uint64[n, words]`` arrays, with numpy alone."""
    return np.unpackbits((np.ascontiguousarray(a) ^ np.ascontiguousarray(b)).view(np.uint8), axis=1).sum(axis=1)


def pair_scores(store: Path, truth: str) -> dict[str, float]:
    """Plain and views precision / recall / F1 from ``finder evaluate --truth TRUTH -t find=0.375 --format json``."""
    done = subprocess.run([sys.executable, "-m", "finder", "evaluate", str(store), "--truth", truth,
                           "-t", f"find={THRESHOLD}", "--format", "json"], check=True, capture_output=True)
    scores = json.loads(done.stdout)
    # Without extra views there are no modes: the plain scores are the algorithm's own.
    modes = scores["modes"]["find"]["modes"] if "modes" in scores else {"plain": scores["algorithms"]["find"]}
    return {f"{mode}_{k}": round(float(modes[mode][k]), 4) for mode in ("plain", "views") if mode in modes
            for k in ("precision", "recall", "f1")}


def accuracy(folder: str, sides: Sequence[str], truth: str | None, views_: str = "default") -> list[dict[str, Any]]:
    """Each minimum against the ``full`` policy on ``folder``: decode scales, bit differences, pair scores.

    ``views_`` is hashing's ``views`` (the CLI's default: ``"default"``); ``"plain"`` lets FINd alone decide
    the scale (the trimmed view's content box otherwise keeps a shorter side of 256).
    """
    paths, _ = find_images([folder])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for name, side, policy in [("exact", None, "full"), *((str(s), s, resolution.DECODE_REDUCED) for s in sides)]:
            with override(side):
                hs = update.hash_paths(paths, ["find"], jobs=1, views=views_, decode=policy,
                                        on_warning=None).hashset
                scales = decode_scales(paths, views_=views_) if policy != "full" else {"1/1": len(paths)}
            stores[name] = hs
            row: dict[str, Any] = {"folder": folder, "views": views_, "setting": name, "files": len(paths),
                                   "scales": scales}
            if name != "exact":
                d = bit_differences(stores["exact"].plain("find"), hs.plain("find"))
                row.update({"differ": int((d > 0).sum()), "max": int(d.max()), "median": float(np.median(d)),
                            "p99": float(np.percentile(d, 99))})
            if truth:
                store = Path(tmp) / f"{name}.npz"
                hs.save(store)
                row.update(pair_scores(store, truth))
            rows.append(row)
    return rows


def tree_state() -> str:
    """The commit measured and the files of ``finder/`` changed since (others may be editing the tree)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.rstrip() if done.returncode == 0 else ""  # porcelain lines start with a space
    changed = [line[3:] for line in git("status", "--porcelain", "--", "finder").splitlines()]
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (f" + changes to {', '.join(changed)}" if changed else "")


def render(result: dict[str, Any]) -> str:
    lines = [f"{result['images']} JPEGs of 4000x3000 ({result['folder']}); {result['cpu']}, {result['cores']} cores, "
             f"SIMD {result['simd']}; medians of {result['repeat']}; tree {result['tree']}"]
    per = result.get("per_image")
    if per:
        names = list(per)
        lines += ["", "Per image, mean ms (finder hash -j 1 defaults, FINd's min decoded longer side per column)",
                  f"{'part':<34}" + "".join(f"{n:>12}" for n in names)]
        keys = list(dict.fromkeys(k for n in names for k in per[n]))
        for key in keys:
            lines.append(f"{key:<34}" + "".join(
                f"{1000 * per[n][key]:>12.1f}" if key in per[n] else f"{'':>12}" for n in names))
        lines.append(f"{'decode scale (files)':<34}" + "".join(
            f"{' '.join(f'{k}:{v}' for k, v in result['scales'].get(n, {}).items()):>12}" for n in names))
    fixed = result.get("fixed")
    if fixed:
        lines += ["", f"Fixed per run{'':<38} {'wall s':>7} {'CPU s':>7}"]
        lines += [f"{k:<51} {v['wall']:>7.3f} {v['cpu']:>7.3f}" for k, v in fixed.items()]
    whole = result.get("whole")
    if whole:
        lines += ["", f"Whole runs, fresh processes, alternated ({whole['repeat']} rounds); x plain: median of "
                      "each round's ratio",
                  f"{'run':<24} {'wall s':>7} {'CPU s':>6} {'start-up':>9} {'loop s':>7} {'fixed s':>8} "
                  f"{'ms/img':>7} {'x plain':>8} {'CPU x':>6} {'loop x':>7} {'images for 0.25x':>17}"]
        for row in whole["rows"]:
            need = "never" if row["images_for_target"] is None else f"{row['images_for_target']:,}"
            lines.append(f"{row['run']:<24} {row['seconds']:>7.2f} {row['cpu_seconds']:>6.2f} "
                         f"{row['start_up_seconds']:>9.2f} {row['loop_seconds']:>7.2f} {row['fixed_seconds']:>8.2f} "
                         f"{row['ms_per_image']:>7.1f} {row['vs_plain_loop']:>8.3f} {row['cpu_vs_plain_loop']:>6.3f} "
                         f"{row['loop_vs_plain_loop']:>7.3f} {need:>17}")
    for row in result.get("accuracy", []):
        if row["setting"] == "exact":
            lines += ["", f"Accuracy, {row['folder']} ({row['files']} files, views {row['views']}), "
                          f"FINd plain rows vs --exact"]
        text = f"{row['setting']:>6}: scales {row['scales']}"
        if "max" in row:
            text += (f"; {row['differ']} differ, max {row['max']}, median {row['median']:g}, "
                     f"p99 {row['p99']:g} of 256")
        if "plain_f1" in row:
            text += "; " + "; ".join(f"{m} P/R/F1 {row[m + '_precision']:.3f}/{row[m + '_recall']:.3f}/"
                                     f"{row[m + '_f1']:.3f}" for m in ("plain", "views") if m + "_f1" in row)
        lines.append(text)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "finder" / "phone-photos",
                        help="phone_photos.py's cache: packages, unpacked tree, built folder")
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--min-long", default=f"1024,{TODAY},128,128+up",
                        help="settings (N or N+up, see decode_override.py), comma-separated; the first is today's")
    parser.add_argument("--corpus", default=str(CORPUS), help="a second folder for the accuracy table")
    parser.add_argument("--truth", default=str(CORPUS / "ground_truth.csv"),
                        help="ground truth (path,group) of --corpus for finder evaluate")
    parser.add_argument("--views", default="default", help="views hashed for the accuracy table (default: the CLI's)")
    parser.add_argument("--skip", action="append", default=[], choices=["per-image", "fixed", "whole", "accuracy"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sides = args.min_long.split(",")
    for side in sides:
        try:
            parse(side)
        except ValueError as exc:
            parser.error(str(exc))
    folder = build_folder(args.cache, args.count)
    paths, _ = find_images([str(folder)])
    result: dict[str, Any] = {"cpu": cpu_model(), "cores": os.cpu_count(), "simd": simd_level(), "folder": str(folder),
                              "images": len(paths), "repeat": args.repeat, "min_long": sides, "tree": tree_state()}
    if "per-image" not in args.skip:
        result["per_image"] = per_image(paths, sides, args.repeat)
        result["scales"] = {}
        for side in sides:
            with override(side):
                result["scales"][str(side)] = decode_scales(paths)
    if "fixed" not in args.skip:
        _, hashset = breakdown_pass(paths, None)
        result["fixed"] = fixed_costs(folder, hashset, args.repeat)
    if "whole" not in args.skip:
        result["whole"] = whole_runs(folder, sides, args.repeat)
    if "accuracy" not in args.skip:
        result["accuracy"] = accuracy(str(folder), sides, None, args.views)
        if args.corpus and Path(args.corpus).is_dir():
            truth = args.truth if args.truth and Path(args.truth).is_file() else None
            result["accuracy"] += accuracy(args.corpus, sides, truth, args.views)
    print(json.dumps(result, indent=1) if args.json else render(result))


if __name__ == "__main__":
    main()
