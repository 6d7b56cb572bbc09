"""How fast is FINd, against imagehash's hashes and against the decode floor?

Per image (medians over the corpus, one process, decode included unless said):

* decode          Image.open + full load: the floor every hash pays
* ahash/dhash/...  decode + imagehash's function
* find            decode + finder's FINd (thumbnail to 512, RGB, kernel)
* find after decode  thumbnail + RGB + kernel, on an already decoded image
* find kernel 512   the numba kernel alone on a 512x512 RGB array

plus the numba first-call compile time (fresh cache) and cache-load time
(what every later process pays), and hashing throughput with 1 and 2 (or
``--jobs``) worker processes through ``finder.hash_paths``.

    python benchmarks/hash_speed.py [IMAGES_DIR] [--repeat 3] [--jobs 1,2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from finder.algorithms import find
from finder.files import find_images
from finder.hashing import hash_paths

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "images"


def decode(path: str) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def per_image_medians(paths: list[str], repeat: int) -> dict[str, float]:
    """Median over files of each file's median time (ms), methods interleaved per file."""
    methods = {
        "decode": decode,
        "ahash": lambda p: imagehash.average_hash(decode(p)),
        "dhash": lambda p: imagehash.dhash(decode(p)),
        "phash": lambda p: imagehash.phash(decode(p)),
        "whash": lambda p: imagehash.whash(decode(p)),
        "find": lambda p: find.find_hash(decode(p)),
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    times["find after decode"] = []
    for path in paths:
        samples: dict[str, list[float]] = {name: [] for name in times}
        for _ in range(repeat):
            for name, method in methods.items():
                start = time.perf_counter()
                method(path)
                samples[name].append(time.perf_counter() - start)
            image = decode(path)
            start = time.perf_counter()
            find.find_hash(image)
            samples["find after decode"].append(time.perf_counter() - start)
        for name, values in samples.items():
            times[name].append(statistics.median(values))
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def kernel_512(repeat: int = 500) -> float:
    rgb = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    find.find_from_rgb(rgb, find.DCT)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        find.find_from_rgb(rgb, find.DCT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from finder.algorithms import find
t1 = time.perf_counter()
find.find_from_rgb(np.zeros((8, 8, 3), np.uint8), find.DCT)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def first_call_seconds() -> dict[str, float]:
    """Import time and first-call time of the FINd kernel: with an empty cache, then from cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = [subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True)
                for _ in range(2)]
    (imp0, compile_s), (imp1, cached_s) = (map(float, r.stdout.split()) for r in runs)
    return {"import_s": imp1, "first_call_compile_s": compile_s, "first_call_cached_s": cached_s}


def throughput(paths: list[str], jobs: list[int], repeat: int) -> dict[int, float]:
    """Images per second through hash_paths (FINd), median of ``repeat`` runs per job count."""
    hash_paths(paths[:4], ["find"], jobs=1)  # load kernels once
    result = {}
    for j in jobs:
        seconds = []
        for _ in range(repeat):
            start = time.perf_counter()
            report = hash_paths(paths, ["find"], jobs=j)
            seconds.append(time.perf_counter() - start)
        assert len(report.hashset) == len(paths), report.errors[:3]
        result[j] = len(paths) / statistics.median(seconds)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", default=str(CORPUS if CORPUS.is_dir() else ROOT / "examples" / "images"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", default="1,2", help="comma-separated worker counts for the throughput test")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N images (0 = all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    paths, _ = find_images([args.images])
    if args.limit:
        paths = paths[: args.limit]
    first = first_call_seconds()
    find.find_hash(Image.new("RGB", (8, 8)))
    medians = per_image_medians(paths, args.repeat)
    medians["find kernel 512x512"] = kernel_512()
    jobs = [int(j) for j in args.jobs.split(",")]
    rates = throughput(paths, jobs, args.repeat)
    results = {
        "images": len(paths),
        "source": args.images,
        "repeat": args.repeat,
        "per_image_median_ms": medians,
        "find_over_dhash": medians["find"] / medians["dhash"],
        "find_over_decode": medians["find"] / medians["decode"],
        **first,
        "throughput_images_per_s": rates,
        "scaling": {j: rates[j] / rates[jobs[0]] for j in jobs},
    }
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"{len(paths)} images from {args.images}, median of per-file medians over {args.repeat} repeats\n")
    print(f"{'per image':<24}{'median ms':>10}{'x decode':>10}")
    for name, ms in medians.items():
        print(f"{name:<24}{ms:>10.3f}{ms / medians['decode']:>10.2f}")
    print(f"\nFINd / dHash per image: {results['find_over_dhash']:.2f}x")
    print(f"numba: import {first['import_s']:.2f} s, first call {first['first_call_compile_s']:.2f} s with an empty "
          f"cache, {first['first_call_cached_s'] * 1e3:.0f} ms from cache")
    print(f"\n{'jobs':<6}{'images/s':>10}{'scaling':>9}")
    for j in jobs:
        print(f"{j:<6}{rates[j]:>10.1f}{results['scaling'][j]:>8.2f}x")


if __name__ == "__main__":
    main()
