"""GPU speed: all pairs compared per second (256 bits, radius 31 and 100), and FINd's stages in images/s.

**Pairs.** Random 256-bit hashes (``--n`` rows, a few planted near copies), the triangle of one set searched with
``finder.pairs.pairs_within(..., backend="cuda")``: count, prefix sum, fill (see ``finder/pairs/cuda.py``).
One warm-up search compiles the kernels first; each figure is the median of ``--repeat`` searches, whole
calls (upload, both passes, download of the matches).  Printed with the GPU's model and the CPU's.

**FINd.** ``--images`` random 512 x 384 RGB images (FINd's thumbnail size, already decoded), hashed by
``finder.algorithms.find_cuda.find_batch`` in one batch: upload, the four kernels, download.  The first
``--check`` images are hashed on the CPU as well and must agree bit for bit before anything is timed.

The targets (issue 23) on an H100/H200-class GPU: >= 3e11 pairs/s (the popcount peak is about 4-5e11/s) and
>= 20,000 images/s.  Under ``NUMBA_ENABLE_CUDASIM=1`` it runs, slowly, in the simulator: those figures say
nothing about a GPU.

    python benchmarks/gpu.py [--n 200000] [--images 2000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from finder.algorithms.find import DCT, find_from_rgb
from finder.algorithms.find_cuda import find_batch
from finder.engine import gpu as gpu_engine
from finder.evaluate.machine import cpu_model
from finder.pairs import pairs_within


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="hashes (the triangle has n(n-1)/2 pairs)")
    parser.add_argument("--images", type=int, default=2_000, help="images in the FINd batch (1.2 GB of pixels)")
    parser.add_argument("--check", type=int, default=8, help="images also hashed on the CPU, compared first")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cuda = gpu_engine.require()
    simulated = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    if simulated:
        gpu = "CUDA simulator (not a GPU)"
    else:
        name = cuda.get_current_device().name
        gpu = name.decode() if isinstance(name, bytes) else str(name)
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**64, (args.n, 4), dtype=np.uint64, endpoint=False)
    words[1::1000] = words[0::1000][: len(words[1::1000])]  # some exact copies
    pairs_within(words[:1000], 31, backend="cuda")  # compile the kernels
    rows = []
    for radius in (31, 100):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            found = pairs_within(words, radius, backend="cuda")
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        total = args.n * (args.n - 1) // 2
        rows.append({"bits": 256, "radius": radius, "n": args.n, "pairs_compared": total, "matches": len(found),
                     "seconds": round(seconds, 4), "pairs_per_second": total / seconds})
    images = rng.integers(0, 256, (args.images, 384, 512, 3), dtype=np.uint8)
    sample = list(images[: args.check])
    if not np.array_equal(find_batch(sample), np.stack([find_from_rgb(x, DCT) for x in sample])):
        raise SystemExit("FINd on the GPU differs from the CPU: not timed")
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        find_batch(list(images))
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    find_row = {"images": args.images, "size": "512x384", "seconds": round(seconds, 4),
                "images_per_second": args.images / seconds, "checked_against_cpu": args.check}
    record = {"gpu": gpu, "cpu": f"{cpu_model()}, {os.cpu_count()} cores", "rows": rows, "find": find_row}
    if args.json:
        print(json.dumps(record, indent=2))
        return
    print(f"GPU: {gpu}; CPU: {record['cpu']}")
    print(f"{'bits':>5} {'radius':>6} {'n':>10} {'pairs compared':>16} {'matches':>9} {'seconds':>9} {'pairs/s':>10}")
    for r in rows:
        print(f"{r['bits']:>5} {r['radius']:>6} {r['n']:>10,} {r['pairs_compared']:>16,} {r['matches']:>9,} "
              f"{r['seconds']:>9.3f} {r['pairs_per_second']:>10.3g}")
    print(f"FINd stages: {find_row['images']:,} images of {find_row['size']} in {find_row['seconds']:.3f} s: "
          f"{find_row['images_per_second']:,.0f} images/s (the first {args.check} equal to the CPU's, bit for bit)")


if __name__ == "__main__":
    main()
