"""How fast is each hash per image, and where does FINd's time go? A thin caller of ``finder bench``.

The per-image measurement is :func:`finder.evaluate.bench.per_image_bench`: each image is
decoded once per run, then every algorithm's registered stages are timed as
hashing runs them (decode / prepare / hash per algorithm, FINd stage by stage);
nothing is re-implemented here.  This script adds numba's first-call compile
time (empty cache) and cache-load time.  Worker throughput, memory and growth
with collection size: ``finder bench``.

    python benchmarks/hash_speed.py [IMAGES_DIR] [--repeat 3] [--limit N] [-a ALGO]... [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from finder.evaluate.bench import per_image_bench
from finder.evaluate.bench_tables import render_tables

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "images"

FIRST_CALL = """
import time
from PIL import Image
t0 = time.perf_counter()
from finder.algorithms import find
t1 = time.perf_counter()
find.find_hash(Image.new("RGB", (8, 8)))
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def first_call_seconds() -> dict[str, float]:
    """Import time and first-call time of FINd's kernels: with an empty numba cache, then from that cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = [subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True)
                for _ in range(2)]
    (_, compile_s), (import_s, cached_s) = (map(float, r.stdout.split()) for r in runs)
    return {"import_s": import_s, "first_call_compile_s": compile_s, "first_call_cached_s": cached_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", default=str(CORPUS if CORPUS.is_dir() else ROOT / "examples" / "images"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per image (the median is kept)")
    parser.add_argument("--limit", type=int, default=0, help="use N images, evenly spaced (0 = all)")
    parser.add_argument("-a", "--algorithm", action="append", default=[], help="algorithm (repeatable; default all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()

    result = per_image_bench([args.images], args.algorithm, repeat=args.repeat, sample=args.limit or sys.maxsize)
    result["numba"] = first_call_seconds()
    if args.json:
        print(json.dumps(result, indent=1))
        return
    from rich.console import Console

    console = Console()
    for table in render_tables(result):
        console.print(table)
    per = result["per_image"]
    if "find" in per and "dhash" in per:
        print(f"FINd / dHash per image (totals): {per['find']['total'] / per['dhash']['total']:.2f}x")
    first = result["numba"]
    print(f"numba: import {first['import_s']:.2f} s, first call {first['first_call_compile_s']:.2f} s with an empty "
          f"cache, {first['first_call_cached_s'] * 1e3:.0f} ms from cache")


if __name__ == "__main__":
    main()
