"""finder on Dask: hash and compare wall time for 1, 2, 4 workers, and what a compare tile costs.

What it measures, on this machine, with a ``LocalCluster`` of N worker
processes (one task thread each, numba threads = cores // N), the way
``--scheduler local:N`` runs:

* **hash**: ``hash_paths`` of every image under ``--images`` (default the
  shared corpus, else the bundled examples) with FINd and the default views,
  through :class:`finder.engine.dask.DaskExecutor`; the cluster's start-up is
  timed on its own, and one image is hashed first on every worker so that
  loading numba's cache is not counted.  Beside it, the local process pool
  with the same number of processes.
* **compare**: ``find_pairs`` of ``--compare-n`` seeded random 256-bit hashes
  at radius 96 (FINd's default threshold) through
  :class:`finder.match.dask_search.DaskSearch` (tiles of 16,384 files), and the
  local run (numba on all cores) beside it; both results are checked equal.
* **tiles**: for each ``--tiles-n``, the number of tiles and their compute
  time as the workers report it (``distributed.get_task_stream``: median and
  total seconds per tile), pairs compared per second per worker thread, and
  the wall time with ``--tile-workers`` workers.  From the median tile time it
  projects 10^7 and 10^8 hashes (tiles, memory per worker, hours on N worker
  threads).

Every table is captioned with the CPU model, core count and load average
(the machine may be shared).  Usage::

    python benchmarks/dask_scaling.py [--images DIR] [--workers 1,2,4] [--compare-n 100000]
                                      [--tiles-n 100000,1000000] [--tile-workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

from finder.engine.dask import DaskExecutor
from finder.evaluate.machine import cpu_model, simd_level
from finder.io.files import find_images
from finder.match.dask_search import DaskSearch
from finder.match.search import BLOCK_FILES, find_pairs
from finder.store.update import hash_paths
from finder.views import resolve_views

ROOT = Path(__file__).resolve().parents[1]
RADIUS = 96
BITS = 256


def default_images() -> Path:
    shared = Path(os.environ.get("FINDER_SHARED", ROOT.parent / "shared")) / "corpus" / "images"
    return shared if shared.is_dir() else ROOT / "examples" / "images"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def local_cluster(workers: int):
    """The cluster ``--scheduler local:N`` starts, and the seconds it took."""
    import distributed

    from finder.engine.dask import local_cluster as finder_cluster

    start = time.perf_counter()
    cluster = finder_cluster(workers)
    client = distributed.Client(cluster, set_as_default=False)
    client.wait_for_workers(workers)
    return cluster, client, time.perf_counter() - start


def random_set(n: int, seed: int = 7):
    from finder.store.hashset import HashSet

    words = np.random.default_rng(seed).integers(0, 2**64, (n, BITS // 64), dtype=np.uint64)
    return HashSet(paths=np.array([f"{k:08d}.jpg" for k in range(n)], dtype=object), hashes={"find": words},
                   bits={"find": BITS}, size=np.ones(n, np.int64), mtime_ns=np.ones(n, np.int64))


def measure_hash(paths: list[str], workers: int) -> dict:
    views = resolve_views("default")
    cluster, client, startup = local_cluster(workers)
    try:
        executor = DaskExecutor(client)
        client.run(_warm, paths[0])  # load numba's cache on every worker
        start = time.perf_counter()
        report = hash_paths(paths, ["find"], executor=executor, views=views)
        dask_s = time.perf_counter() - start
    finally:
        client.close()
        cluster.close()
    start = time.perf_counter()
    local = hash_paths(paths, ["find"], jobs=workers, views=views)
    local_s = time.perf_counter() - start
    assert np.array_equal(local.hashset.hashes["find"], report.hashset.hashes["find"])
    return {"workers": workers, "files": len(paths), "startup_s": startup, "dask_s": dask_s, "local_pool_s": local_s,
            "images_per_s": len(paths) / dask_s}


def _warm(path: str) -> int:
    """Hash one image in this worker process (loads the kernels the timed run will use)."""
    return len(hash_paths([path], ["find"], jobs=1, views=resolve_views("default")).hashset)


def measure_compare(n: int, workers: int, local_pairs) -> dict:
    import distributed

    hs = random_set(n)
    cluster, client, startup = local_cluster(workers)
    try:
        executor = DaskExecutor(client)
        search = DaskSearch(executor)
        find_pairs(random_set(3000, 1), "find", max_distance=RADIUS, search=search)  # warm the workers' kernels
        search.tiles = 0
        with distributed.get_task_stream(client) as stream:
            start = time.perf_counter()
            got = find_pairs(hs, "find", max_distance=RADIUS, search=search)
            wall = time.perf_counter() - start
        tile_s = [sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
                  for t in stream.data if str(t["key"]).startswith("tile_pairs")]
    finally:
        client.close()
        cluster.close()
    if local_pairs is not None:
        assert all(np.array_equal(x, y) for x, y in zip(got, local_pairs))
    threads = max(1, cores() // workers)  # numba threads per tile task
    compared = n * (n - 1) // 2
    return {"n": n, "workers": workers, "startup_s": startup, "tiles": search.tiles, "wall_s": wall,
            "pairs": len(got), "tile_median_s": statistics.median(tile_s) if tile_s else None,
            "tile_total_s": sum(tile_s), "tile_max_s": max(tile_s) if tile_s else None,
            "threads_per_tile": threads, "pairs_per_s_per_thread": compared / (sum(tile_s) * threads)}


def projection(tile_s: float, threads: int) -> list[dict]:
    """Tiles, memory and time for 10^7 and 10^8 hashes from the measured time of one full tile (one thread)."""
    out = []
    for n in (10**7, 10**8):
        blocks = math.ceil(n / BLOCK_FILES)
        tiles = blocks * (blocks + 1) // 2
        scattered = n * (BITS // 8 + 8 + 1 + 1)  # rows + owner + view + quality (plain rows only)
        core_hours = tiles * tile_s / 3600
        out.append({"n": n, "blocks": blocks, "tiles": tiles, "scattered_mib_per_worker": scattered / 2**20,
                    "core_hours": core_hours,
                    "hours_on": {w: core_hours / w for w in (threads, 64, 512, 4096)}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=default_images())
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--compare-n", type=int, default=100_000)
    parser.add_argument("--tiles-n", default="100000,1000000")
    parser.add_argument("--tile-workers", type=int, default=2)
    parser.add_argument("--skip-hash", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    load = [os.getloadavg()[0]]
    result: dict = {"cpu": cpu_model(), "cores": cores(), "radius": RADIUS, "bits": BITS,
                    "tile_files": BLOCK_FILES}

    if not args.skip_hash:
        paths, _ = find_images([str(args.images)])
        result["images"] = str(args.images)
        result["hash"] = [measure_hash(paths, w) for w in workers]

    start = time.perf_counter()
    local = find_pairs(random_set(args.compare_n), "find", max_distance=RADIUS)
    result["compare_local_s"] = time.perf_counter() - start
    result["compare"] = [measure_compare(args.compare_n, w, local) for w in workers]

    result["tiles"] = []
    for n in (int(x) for x in args.tiles_n.split(",")):
        if n == args.compare_n and args.tile_workers in workers:
            result["tiles"].append(next(r for r in result["compare"] if r["workers"] == args.tile_workers))
        else:
            result["tiles"].append(measure_compare(n, args.tile_workers, None))
    # the rate of the largest run: pairs compared per second of tile compute, per numba thread
    largest = max(result["tiles"], key=lambda t: t["n"])
    rate = largest["pairs_per_s_per_thread"]
    tile_s = BLOCK_FILES**2 / rate  # a full off-diagonal tile on one thread
    result["tile_s"] = tile_s
    result["pairs_per_s_per_thread"] = rate
    result["projection"] = projection(tile_s, cores())
    load.append(os.getloadavg()[0])
    result["load_average"] = [round(x, 2) for x in load]
    if args.json:
        print(json.dumps(result, indent=1, default=str))
        return

    print(f"{result['cpu']}, {result['cores']} cores, SIMD {simd_level()}; "
          f"load average {load[0]:.2f} at start, {load[-1]:.2f} at end")
    if "hash" in result:
        print(f"\nhash: {result['hash'][0]['files']} images ({result['images']}), FINd, default views")
        print(" workers  cluster start s  dask s  images/s  local pool s")
        for r in result["hash"]:
            print(f"{r['workers']:8d} {r['startup_s']:16.1f} {r['dask_s']:7.1f} {r['images_per_s']:9.0f} "
                  f"{r['local_pool_s']:13.1f}")
    print(f"\ncompare: {args.compare_n:,} random {BITS}-bit hashes, radius {RADIUS}; "
          f"local (numba, all cores) {result['compare_local_s']:.1f} s")
    print(" workers  tiles  wall s  tile median s  pairs")
    for r in result["compare"]:
        print(f"{r['workers']:8d} {r['tiles']:6d} {r['wall_s']:7.1f} {r['tile_median_s']:14.2f} {r['pairs']:,}")
    print(f"\ntiles ({BLOCK_FILES:,} files per block), {args.tile_workers} workers:")
    print("         n  tiles  wall s  tile median s  tile max s  compute s  Gpairs/s/thread")
    for r in result["tiles"]:
        print(f"{r['n']:10,d} {r['tiles']:6d} {r['wall_s']:7.1f} {r['tile_median_s']:14.2f} {r['tile_max_s']:11.2f} "
              f"{r['tile_total_s']:10.1f} {r['pairs_per_s_per_thread'] / 1e9:16.2f}")
    if tile_s:
        print(f"\na full tile ({BLOCK_FILES:,} x {BLOCK_FILES:,}): {tile_s:.2f} s on one thread "
              f"({result['pairs_per_s_per_thread'] / 1e9:.2f} Gpairs/s, the n = {largest['n']:,} run); projected:")
        print("          n  blocks       tiles  MiB/worker  core-hours  hours on 2 / 64 / 512 / 4096 threads")
        for p in result["projection"]:
            hours = " / ".join(f"{h:.3g}" for h in p["hours_on"].values())
            print(f"{p['n']:11,d} {p['blocks']:7,d} {p['tiles']:11,d} {p['scattered_mib_per_worker']:11,.0f} "
                  f"{p['core_hours']:11,.1f}  {hours}")


if __name__ == "__main__":
    main()
