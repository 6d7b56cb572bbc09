"""The exact path: whole runs of ``finder hash -a find --exact`` next to ``finder hash -a dhash --exact``.

What it measures, on a folder of images (default: the shared corpus):

* **Whole runs**, each a fresh subprocess exactly as a user types it --
  ``finder hash PATH -a ALGO --exact --views VIEWS -j J -o NEW.npz -q`` -- for
  ALGO = find and dhash, VIEWS = default and plain, J = 1 and all cores: wall
  seconds (start-up, walk, full decode, hashing, writing), the CPU seconds of
  the run and its workers, images/s and ms per image, and the FINd / dHash
  ratio of wall time (and of CPU time) taken within each round, then the
  median over rounds.  Each configuration also runs on the folder's smallest
  file alone: that run's CPU is the fixed cost (interpreter, imports, numba's
  first use in each process), and (CPU - that) / (images - 1) the CPU each
  further image costs.  The configurations run round-robin (``--repeat``
  rounds), so a busy spell on a shared machine hits all of them alike; CPU
  time is printed because wall time on a loaded machine swings with the
  load.  Before the first round one untimed pass reads every file (page
  cache) and hashes one image with both algorithms (numba cache).
* **Where the time goes**, in this process: on the images FINd thumbnails,
  the mean thread CPU time per image of the decode, of each FINd stage as
  hashing runs it (``finder.algorithms.base.run_stages``), and of the whole rows of
  one image (``finder.store.rows.hash_views``) for FINd and dHash, plain and
  default views.
* **The thumbnail**, in this process, per image: for every image that FINd
  thumbnails (a side over 512 px), Pillow's ``copy().thumbnail((512, 512))``
  plus ``numpy.asarray`` (what finder did before) against
  ``finder.algorithms.resample.thumbnail_array`` (what it does now), thread
  CPU time, best of ``--inner`` calls each; and whether the pixels are equal
  (they must be: any difference is reported and the exit status is 1).
  ``--large N`` does the same on N of them upscaled to 4000 x 3000, a phone
  photo's size, where Pillow reduces 3x before the bicubic pass.

Why: issue 11 asks for FINd's exact path at no more than dHash's whole-run
time; FINd's time went into Pillow's bicubic thumbnail.  Every table is
captioned with the CPU model, core count and SIMD level.

    python benchmarks/exact_find.py [PATH] [--repeat 3] [--jobs N] [--inner 3] [--large N] [--json] [--skip-runs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import finder_command, timed_run
from PIL import Image

import finder
from finder.algorithms import resample
from finder.algorithms.base import run_stages
from finder.evaluate.machine import cpu_model, simd_level
from finder.io.decode import DECODE_FULL, read_image
from finder.io.files import find_images

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "images"
ALGORITHMS = ("find", "dhash")
VIEWS = ("default", "plain")


def whole_runs(path: str, files: list[str], repeat: int, jobs_all: int, quiet: bool) -> list[dict[str, Any]]:
    """Every (algorithm, views, jobs) run ``repeat`` times round-robin, on PATH and on its smallest file alone
    (what a run costs before its first image); one record per configuration."""
    cli = finder_command()
    plan = [(a, v, j) for v in VIEWS for j in sorted({1, jobs_all}) for a in ALGORITHMS]
    one = min(files, key=os.path.getsize)
    wall: dict[tuple, list[float]] = {(c, t): [] for c in plan for t in ("all", "one")}
    cpu: dict[tuple, list[float]] = {(c, t): [] for c in plan for t in ("all", "one")}
    with tempfile.TemporaryDirectory(prefix="exact_find_") as tmp:
        for name in files:  # page cache
            with open(name, "rb") as f:
                while f.read(1 << 20):
                    pass
        timed_run([*cli, "hash", files[0], "-a", "find", "-a", "dhash", "--exact", "-j", "1",
                   "-o", str(Path(tmp) / "warm.npz"), "-q"])
        for round_no in range(repeat):
            for k, config in enumerate(plan):
                algorithm, views, jobs = config
                for target, source in (("all", path), ("one", one)):
                    out = Path(tmp) / f"r{round_no}_{k}_{target}.npz"
                    w, c, _ = timed_run([*cli, "hash", source, "-a", algorithm, "--exact", "--views", views,
                                      "-j", str(jobs), "-o", str(out), "-q"])
                    wall[(config, target)].append(w)
                    cpu[(config, target)].append(c)
                    if not quiet:
                        print(f"round {round_no + 1}/{repeat}  {algorithm:5} views={views:7} -j{jobs} {target:3}  "
                              f"{w:7.2f} s wall  {c:7.2f} s CPU", file=sys.stderr)
    n = len(files)

    def marginal(config: tuple) -> list[float]:
        """CPU ms per image beyond the one-file run, round by round."""
        return [1000 * (a - b) / max(1, n - 1) for a, b in zip(cpu[(config, "all")], cpu[(config, "one")])]

    records = []
    for config in plan:
        algorithm, views, jobs = config
        reference = ("dhash", views, jobs)
        runs, cpus = wall[(config, "all")], cpu[(config, "all")]
        median = statistics.median(runs)
        records.append({
            "algorithm": algorithm, "views": views, "jobs": jobs, "runs_s": runs, "cpu_runs_s": cpus,
            "seconds": median, "cpu_seconds": statistics.median(cpus),
            "images_per_s": n / median, "ms_per_image": 1000 * median / n,
            "one_file_s": statistics.median(wall[(config, "one")]),
            "one_file_cpu_s": statistics.median(cpu[(config, "one")]),
            "marginal_cpu_ms": statistics.median(marginal(config)),
            "vs_dhash": statistics.median(a / b for a, b in zip(runs, wall[(reference, "all")])),
            "cpu_vs_dhash": statistics.median(a / b for a, b in zip(cpus, cpu[(reference, "all")])),
            "marginal_vs_dhash": statistics.median(a / b for a, b in zip(marginal(config), marginal(reference))),
        })
    return records


def thumbnails(files: list[str], inner: int, large: int = 0) -> dict[str, Any]:
    """Pillow's thumbnail (+ asarray) against :func:`resample.thumbnail_array` on every image FINd thumbnails,
    or, with ``large``, on that many of them upscaled to 4000 x 3000 (a phone photo's size, reduced 3x first)."""

    def best(function: Any, image: Image.Image) -> tuple[float, Any]:
        seconds, value = float("inf"), None
        for _ in range(inner):
            start = time.thread_time()
            value = function(image)
            seconds = min(seconds, time.thread_time() - start)
        return seconds, value

    def pillow(image: Image.Image) -> np.ndarray:
        small = image.copy()
        small.thumbnail((512, 512))
        return np.asarray(small)

    rows: list[tuple[str, str, float, float]] = []
    unequal: list[str] = []
    for name in files:
        if large and len(rows) >= large:
            break
        decoded = read_image(name, True, None)
        if not isinstance(decoded, tuple):
            continue
        image = decoded[0]
        if max(image.size) <= 512 or not resample.supports(image):
            continue
        if large:
            image = image.resize((4000, 3000), Image.Resampling.BICUBIC)
        resample.thumbnail_array(image)  # compiled / cache loaded before timing
        old, reference = best(pillow, image)
        new, ours = best(resample.thumbnail_array, image)
        if not np.array_equal(ours, reference.reshape(ours.shape)):
            unequal.append(name)
        rows.append((name, f"{image.width}x{image.height} {image.mode}", old, new))
    old_s = [r[2] for r in rows]
    new_s = [r[3] for r in rows]
    return {
        "images": len(rows),
        "unequal": unequal,
        "pillow_ms_median": 1000 * statistics.median(old_s) if rows else None,
        "resample_ms_median": 1000 * statistics.median(new_s) if rows else None,
        "pillow_s_total": sum(old_s),
        "resample_s_total": sum(new_s),
        "speedup_median": statistics.median(a / b for a, b in zip(old_s, new_s)) if rows else None,
        "largest": max(rows, key=lambda r: r[2])[:4] if rows else None,
    }


def stages(files: list[str]) -> dict[str, Any]:
    """Where FINd's time goes on the images it thumbnails: each stage as hashing runs it (``run_stages``), and
    the whole rows of one image (``hash_views``: all stages, quality, views) for FINd and dHash; mean thread CPU
    ms per image, decode included as ``read_image`` does it (``--exact``)."""
    from finder import algorithms
    from finder.store.rows import hash_views

    find = algorithms.get("find")
    totals: dict[str, float] = {}
    count = 0

    def add(name: str, seconds: float) -> None:
        totals[name] = totals.get(name, 0.0) + seconds

    hash_views(Image.new("RGB", (600, 400)), ["find", "dhash"], ("plain", "mirror", "trimmed"))  # caches loaded
    for name in files:
        start = time.thread_time()
        decoded = read_image(name, True, None)
        seconds = time.thread_time() - start
        if not isinstance(decoded, tuple) or max(decoded[0].size) <= 512:
            continue
        image = decoded[0]
        count += 1
        add("decode", seconds)
        for stage, took in run_stages(find, image, clock=time.thread_time)[1].items():
            add(stage, took)
        for algorithm in ALGORITHMS:
            for views, chosen in (("plain", ("plain",)), ("default", ("plain", "mirror", "trimmed"))):
                start = time.thread_time()
                hash_views(image, [algorithm], chosen)
                add(f"{algorithm} rows, {views} views", time.thread_time() - start)
    return {"images": count, "ms_per_image": {k: 1000 * v / max(1, count) for k, v in totals.items()}}


def caption(meta: dict[str, Any]) -> str:
    """The machine and software the figures belong to."""
    return (f"{meta['cpu_model']}, {meta['cores']} cores, SIMD {meta['simd']}, load average {meta['load']}; "
            f"finder {meta['finder']}, Pillow {meta['pillow']}, Python {meta['python']}\n"
            f"{meta['images']} images, {meta['bytes'] / 1e6:.1f} MB in {meta['path']}; "
            f"median of {meta['repeat']} round-robin rounds, fresh subprocess per run, --exact (full decode)")


def render(meta: dict[str, Any], runs: list[dict[str, Any]], thumbs: dict[str, Any] | None,
           large: dict[str, Any] | None = None, profile: dict[str, Any] | None = None) -> None:
    """Print the tables (rich) with the machine caption."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    if runs:
        table = Table(title="Whole runs: finder hash --exact, FINd next to dHash", caption=caption(meta))
        for k, column in enumerate(("algorithm", "views", "jobs", "wall s", "min-max s", "images/s", "ms/image",
                                    "CPU s", "1-file CPU s", "CPU ms/image beyond", "FINd/dHash wall",
                                    "FINd/dHash CPU", "FINd/dHash beyond")):
            table.add_column(column, justify="left" if k < 2 else "right")
        for r in runs:
            ratio = r["algorithm"] == "find"
            table.add_row(r["algorithm"], r["views"], str(r["jobs"]), f"{r['seconds']:.2f}",
                          f"{min(r['runs_s']):.2f}-{max(r['runs_s']):.2f}", f"{r['images_per_s']:.0f}",
                          f"{r['ms_per_image']:.2f}", f"{r['cpu_seconds']:.2f}", f"{r['one_file_cpu_s']:.2f}",
                          f"{r['marginal_cpu_ms']:.2f}",
                          f"{r['vs_dhash']:.2f}" if ratio else "", f"{r['cpu_vs_dhash']:.2f}" if ratio else "",
                          f"{r['marginal_vs_dhash']:.2f}" if ratio else "")
        console.print(table)
        print("Medians over rounds. Ratios: FINd's time / the same round's dHash time (same views and jobs);\n"
              "< 1: FINd is faster. 1-file: the same command on the folder's smallest file (start-up: interpreter,\n"
              "imports, numba's first use; and the workers' with -j > 1). 'beyond': CPU per image beyond that,\n"
              "(CPU - 1-file CPU) / (images - 1).")
    if profile and profile["images"]:
        table = Table(title=f"Where the time goes: mean thread CPU ms per image over the {profile['images']} images "
                            "with a side over 512 px",
                      caption=f"{meta['cpu_model']}, {meta['cores']} cores, SIMD {meta['simd']}; one process, "
                              "FINd's stages as hashing runs them; rows: hash_views of one algorithm")
        for name in profile["ms_per_image"]:
            table.add_column(name, justify="right")
        table.add_row(*(f"{v:.2f}" for v in profile["ms_per_image"].values()))
        console.print(table)
    for part, title in ((thumbs, "images with a side over 512 px"),
                        (large, "corpus images upscaled to 4000 x 3000")):
        if not part or not part["images"]:
            continue
        table = Table(title=f"The 512 px thumbnail, per image ({title})",
                      caption=f"{meta['cpu_model']}, {meta['cores']} cores, SIMD {meta['simd']}; "
                              "thread CPU time, best of --inner calls")
        for k, column in enumerate(("path", "images", "median ms/image", "total s", "speed-up (median)",
                                    "pixels equal")):
            table.add_column(column, justify="left" if k == 0 else "right")
        equal = f"{part['images'] - len(part['unequal'])} of {part['images']}"
        table.add_row("Pillow copy().thumbnail() + asarray", str(part["images"]),
                      f"{part['pillow_ms_median']:.2f}", f"{part['pillow_s_total']:.2f}", "1.00", "")
        table.add_row("resample.thumbnail_array", str(part["images"]), f"{part['resample_ms_median']:.2f}",
                      f"{part['resample_s_total']:.2f}", f"{part['speedup_median']:.2f}", equal)
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(CORPUS), metavar="PATH",
                        help=f"folder of images (default: {CORPUS})")
    parser.add_argument("--repeat", type=int, default=3, help="round-robin rounds of whole runs; medians reported")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="the 'all cores' worker count (default: os.cpu_count(), as finder hash uses)")
    parser.add_argument("--inner", type=int, default=3, help="calls per image in the thumbnail comparison (best)")
    parser.add_argument("--skip-runs", action="store_true", help="only the in-process thumbnail comparison")
    parser.add_argument("--large", type=int, default=0, metavar="N",
                        help="also compare the thumbnail on N images upscaled to 4000 x 3000 (default 0: not)")
    parser.add_argument("--json", action="store_true", help="print the records as JSON instead of the tables")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-run progress on stderr")
    args = parser.parse_args()
    if args.repeat < 1 or args.jobs < 1 or args.inner < 1:
        parser.error("--repeat, --jobs and --inner must be at least 1")
    found, _ = find_images([args.path])
    files = sorted(found)
    if not files:
        parser.error(f"no images under {args.path}")
    import PIL

    meta = {
        "cpu_model": cpu_model(), "cores": os.cpu_count(), "simd": simd_level(),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "finder": finder.__version__, "pillow": PIL.__version__, "python": platform.python_version(),
        "path": str(Path(args.path).resolve()), "images": len(files),
        "bytes": sum(os.path.getsize(p) for p in files), "repeat": args.repeat, "jobs_all": args.jobs,
        "decode": DECODE_FULL,
    }
    runs = [] if args.skip_runs else whole_runs(args.path, files, args.repeat, args.jobs, args.quiet)
    profile = stages(files)
    thumbs = thumbnails(files, args.inner)
    large = thumbnails(files, args.inner, args.large) if args.large else None
    if args.json:
        print(json.dumps({"meta": meta, "whole_runs": runs, "stages": profile, "thumbnail": thumbs,
                          "thumbnail_4000x3000": large}, indent=1))
    else:
        render(meta, runs, thumbs, large, profile)
    unequal = thumbs["unequal"] + (large["unequal"] if large else [])
    if unequal:
        print(f"pixels differ from Pillow's thumbnail on {len(unequal)} images, e.g. {unequal[0]}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
