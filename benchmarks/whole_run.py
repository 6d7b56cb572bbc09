"""Whole-run wall time of the ``finder`` CLI on a folder of images, next to the loop users write today.

What it measures: the wall-clock time of complete command-line runs, each in a
fresh subprocess, exactly as a user types them -- interpreter start, imports,
numba's cache load, walking the folder, decoding every image at full size,
hashing, writing the output:

* ``finder hash PATH -a ALGO -j J -o NEW.npz -q`` for every algorithm (find,
  ahash, dhash, phash, whash) and J = 1 and J = all cores; each run writes a
  new hash file, so nothing is reused;
* ``finder cluster FIND.npz -o NEW.json`` and ``finder compare FIND.npz -o
  NEW.csv`` on that round's FINd hash file;
* the plain loop (``Image.open(p)``, ``.load()``, ``imagehash.dhash(image)``
  for every file) in one fresh ``python -c`` subprocess over the same files.

Why: the project reports whole-run figures (all images, wall time, decode
included).  A per-image median (``finder bench``, ``hash_speed.py``) hides the
large files that dominate real folders, and the fixed costs (start-up, process
pool, numba cache) that a user pays on every run.

The configurations are run round-robin (A B C ... A B C ..., ``--repeat``
rounds), so a slow spell on a shared machine hits every configuration alike;
each is reported as the median of its rounds.  Ratios are taken within a round
(each run's time divided by the same round's reference run) and the median of
those is reported, so they are side-by-side figures.  Before the first round
one untimed pass reads every file (page cache) and hashes one image with every
algorithm (numba cache), so round 1 does not pay for a cold start.  Every table
is captioned with the CPU model, core count and SIMD level it was measured on.

    python benchmarks/whole_run.py [PATH] [--repeat 3] [--jobs N] [--json] [--save-json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import finder_command

import finder
from finder.evaluate.machine import cpu_model, simd_level
from finder.io.files import find_images
from finder.store import hashset

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "images"
ALGORITHMS = ("find", "ahash", "dhash", "phash", "whash")
#: Reference configurations for the two ratio columns.
REF_HASH = "hash dhash -j1"
REF_LOOP = "plain loop (imagehash.dhash)"

#: The loop users write today: full decode, then imagehash.  Run as ``python -c PLAIN_LOOP LISTFILE``.
PLAIN_LOOP = """
import sys
from PIL import Image
import imagehash
with open(sys.argv[1], encoding="utf-8") as f:
    files = f.read().splitlines()
failed = 0
for p in files:
    try:
        with Image.open(p) as image:
            image.load()
            imagehash.dhash(image)
    except Exception:
        failed += 1
print(failed)
"""


@dataclass(frozen=True)
class Config:
    """One measured command line; ``kind`` is "hash", "cluster", "compare" or "loop"."""

    name: str
    kind: str
    algorithm: str = ""
    jobs: int = 0


def git_state() -> str:
    """``<commit>`` plus ``+dirty`` when the working tree has changes; "" outside git."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+dirty" if dirty else "")


def configs(jobs_all: int) -> list[Config]:
    """Every configuration in round order: the hash runs (FINd first, its file feeds cluster/compare), then the rest."""
    job_counts = sorted({1, jobs_all})
    out = [Config(f"hash {a} -j{j}", "hash", a, j) for a in ALGORITHMS for j in job_counts]
    out += [Config("cluster find", "cluster"), Config("compare find", "compare"), Config(REF_LOOP, "loop")]
    return out


def run_timed(argv: list[str]) -> tuple[float, str]:
    """Wall seconds of one subprocess run to completion, and its stdout; a failing run stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(argv)}\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def warm_up(files: list[str], workdir: Path, cli: list[str]) -> None:
    """Untimed: read every file once (page cache) and hash one image with every algorithm (numba cache)."""
    for path in files:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    algorithms = [arg for a in ALGORITHMS for arg in ("-a", a)]
    run_timed([*cli, "hash", files[0], *algorithms, "-j", "1", "-o", str(workdir / "warmup.npz"), "-q"])


def check_hash_file(path: Path, algorithm: str, expected: int) -> int:
    """How many files the run hashed with ``algorithm``; warns when it is not every image found."""
    hashes = hashset.load(path)
    count = len(hashes.paths)
    rows = len(hashes.hashes[algorithm])
    if count != expected or rows != expected or hashes.errors:
        print(f"warning: {path.name}: {count} files, {rows} {algorithm} hashes, {len(hashes.errors)} skipped; "
              f"{expected} images found", file=sys.stderr)
    return count


def measure(files: list[str], image_dir: str, repeat: int, jobs_all: int, quiet: bool) -> dict[str, Any]:
    """Run every configuration ``repeat`` times round-robin; per-run seconds and within-round ratios."""
    cli = finder_command()
    plan = configs(jobs_all)
    seconds: dict[str, list[float]] = {c.name: [] for c in plan}
    hashed: dict[str, int] = {}
    loop_failed = 0
    with tempfile.TemporaryDirectory(prefix="whole_run_") as tmp:
        workdir = Path(tmp)
        listing = workdir / "files.txt"
        listing.write_text("\n".join(files) + "\n", encoding="utf-8")
        if not quiet:
            print(f"warm-up: reading {len(files)} files, loading numba caches", file=sys.stderr)
        warm_up(files, workdir, cli)
        for round_no in range(repeat):
            find_npz = workdir / f"r{round_no}_find_j1.npz"
            for k, config in enumerate(plan):
                stem = workdir / f"r{round_no}_{k:02d}"
                if config.kind == "hash":
                    out = workdir / f"r{round_no}_{config.algorithm}_j{config.jobs}.npz"
                    argv = [*cli, "hash", image_dir, "-a", config.algorithm, "-j", str(config.jobs),
                            "-o", str(out), "-q"]
                elif config.kind == "cluster":
                    argv = [*cli, "cluster", str(find_npz), "-o", str(stem.with_suffix(".json"))]
                elif config.kind == "compare":
                    argv = [*cli, "compare", str(find_npz), "-o", str(stem.with_suffix(".csv"))]
                else:
                    argv = [sys.executable, "-c", PLAIN_LOOP, str(listing)]
                took, stdout = run_timed(argv)
                seconds[config.name].append(took)
                if config.kind == "hash":
                    hashed[config.name] = check_hash_file(out, config.algorithm, len(files))
                elif config.kind == "loop":
                    loop_failed = int(stdout.strip() or 0)
                if not quiet:
                    print(f"round {round_no + 1}/{repeat}  {config.name:<30} {took:8.2f} s", file=sys.stderr)
    return {"plan": plan, "seconds": seconds, "hashed": hashed, "loop_failed": loop_failed, "cli": cli}


def records(measured: dict[str, Any], n_images: int, n_bytes: int) -> list[dict[str, Any]]:
    """One record per configuration: median seconds, images/s, MB/s and the two within-round ratios."""
    seconds = measured["seconds"]
    out = []
    for config in measured["plan"]:
        runs = seconds[config.name]
        median = statistics.median(runs)
        reads_images = config.kind in ("hash", "loop")
        out.append({
            "config": config.name,
            "kind": config.kind,
            "algorithm": config.algorithm or ("dhash" if config.kind == "loop" else "find"),
            "jobs": config.jobs or 1,
            "runs_s": runs,
            "seconds": median,
            "images": n_images,
            "hashed": measured["hashed"].get(config.name),
            "images_per_s": n_images / median,
            # cluster/compare read a hash file, not the images: MB/s of image bytes would mean nothing.
            "mb_per_s": n_bytes / 1e6 / median if reads_images else None,
            "vs_dhash_j1": statistics.median(t / r for t, r in zip(runs, seconds[REF_HASH])),
            "vs_plain_loop": statistics.median(t / r for t, r in zip(runs, seconds[REF_LOOP])),
        })
    return out


def caption(meta: dict[str, Any]) -> str:
    """The machine and software the figures belong to."""
    return (f"{meta['cpu_model']}, {meta['cores']} cores, SIMD {meta['simd']}; finder {meta['finder']} "
            f"({meta['git'] or 'no git'}), Python {meta['python']}\n"
            f"{meta['images']} images, {meta['bytes'] / 1e6:.1f} MB in {meta['path']}; "
            f"median of {meta['repeat']} round-robin rounds, fresh subprocess per run, wall time incl. start-up")


def render(meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Print the table (rich) with the machine caption."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Whole runs: wall time of complete CLI runs", caption=caption(meta))
    for k, column in enumerate(("configuration", "s (median)", "min-max s", "images/s", "MB/s",
                                "t / t(dhash -j1)", "t / t(plain loop)")):
        table.add_column(column, justify="left" if k == 0 else "right")
    for row in rows:
        runs = row["runs_s"]
        table.add_row(
            row["config"],
            f"{row['seconds']:.2f}",
            f"{min(runs):.2f}-{max(runs):.2f}",
            f"{row['images_per_s']:,.0f}",
            "-" if row["mb_per_s"] is None else f"{row['mb_per_s']:.1f}",
            f"{row['vs_dhash_j1']:.2f}",
            f"{row['vs_plain_loop']:.2f}",
        )
    Console(width=160).print(table)
    print("t / t(ref): median over rounds of this run's time / the same round's reference time; < 1 is faster.\n"
          "cluster/compare read the FINd hash file of their round: images/s counts hashes, MB/s does not apply.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=str(CORPUS), metavar="PATH",
                        help=f"folder of images (default: {CORPUS})")
    parser.add_argument("--repeat", type=int, default=3, help="round-robin rounds; the median is reported")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="the 'all cores' worker count (default: os.cpu_count(), as finder hash uses)")
    parser.add_argument("--json", action="store_true", help="print the records as JSON instead of the table")
    parser.add_argument("--save-json", metavar="FILE", help="also write the JSON records to FILE (with the table)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-run progress on stderr")
    args = parser.parse_args()
    if args.repeat < 1 or args.jobs < 1:
        parser.error("--repeat and --jobs must be at least 1")

    found, errors = find_images([args.path])
    files = sorted(found)
    if not files:
        parser.error(f"no images under {args.path}")
    n_bytes = sum(os.path.getsize(p) for p in files)
    meta = {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "simd": simd_level(),
        "finder": finder.__version__,
        "git": git_state(),
        "python": platform.python_version(),
        "path": str(Path(args.path).resolve()),
        "images": len(files),
        "walk_errors": len(errors),
        "bytes": n_bytes,
        "repeat": args.repeat,
        "jobs_all": args.jobs,
    }
    measured = measure(files, args.path, args.repeat, args.jobs, args.quiet)
    meta["cli"] = measured["cli"]
    meta["plain_loop_failed"] = measured["loop_failed"]
    rows = records(measured, len(files), n_bytes)
    result = json.dumps({"meta": meta, "records": rows}, indent=1)
    if args.save_json:
        Path(args.save_json).write_text(result + "\n", encoding="utf-8")
    if args.json:
        print(result)
    else:
        render(meta, rows)


if __name__ == "__main__":
    main()
