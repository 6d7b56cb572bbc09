"""What ``finder query`` costs against a large archive: load, hash, match, and the whole command.

It writes a synthetic archive of ``--files`` (default 10**6) seeded random
256-bit FINd hashes with the rows ``finder hash`` makes by default (plain and
mirror for every file, a trimmed content box for one in five: about 2.2 rows
per file), then times, for one query image (default: the first bundled
example image):

* ``load(archive)`` -- reading and checking the ``.npz``;
* hashing the query with the archive's settings (``finder.query.hash_queries``);
* matching (``finder.query.match``): all archive files within FINd's default
  radius, and the 5 nearest (``-k 5``);
* the whole command in a fresh process, ``python -m finder query IMAGE
  --against ARCHIVE`` (interpreter start, imports and numba's cache included),
  with and without ``-k 5``.

Medians of ``--repeat`` runs; the table is captioned with the CPU model,
cores and load average.  The archive is written to a temporary folder and
removed afterwards.

    python benchmarks/query_cost.py [--files 1000000] [--image PATH] [--repeat 3] [--json]
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

import numpy as np

from finder.evaluate.machine import cpu_model, simd_level
from finder.query import hash_queries, match
from finder.store.hashset import HashSet, load
from finder.views import resolve_views, view_code

ROOT = Path(__file__).resolve().parents[1]


def synthetic_archive(n: int, seed: int = 3) -> HashSet:
    rng = np.random.default_rng(seed)
    trimmed = np.flatnonzero(rng.random(n) < 0.2)
    owner = np.concatenate([np.arange(n), np.arange(n), trimmed])
    view = np.concatenate([np.zeros(n, np.uint8), np.full(n, view_code("mirror"), np.uint8),
                           np.full(len(trimmed), view_code("trimmed"), np.uint8)])
    order = np.argsort(owner, kind="stable")
    words = rng.integers(0, 2**64, (len(owner), 4), dtype=np.uint64)
    views = list(resolve_views("default"))
    return HashSet(paths=np.array([f"/archive/{k:08d}.jpg" for k in range(n)], dtype=object),
                   hashes={"find": words}, bits={"find": 256}, size=np.ones(n, np.int64),
                   mtime_ns=np.ones(n, np.int64), owner={"find": owner[order]}, view={"find": view[order]},
                   settings={"views": views})


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10**6)
    parser.add_argument("--image", type=Path, default=sorted((ROOT / "examples" / "images").iterdir())[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    out: dict = {"cpu": cpu_model(), "cores": os.cpu_count(), "files": args.files, "image": str(args.image)}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "archive.npz"
        archive = synthetic_archive(args.files)
        out["rows"] = int(len(archive.hashes["find"]))
        archive.save(path)
        out["archive_mib"] = path.stat().st_size / 2**20
        del archive
        out["load_s"], archive = timed(lambda: load(path), args.repeat)
        query = [str(args.image.resolve())]
        out["hash_s"], report = timed(lambda: hash_queries(query, archive, "find", jobs=1), args.repeat)
        queries = report.hashset
        match(queries, archive, "find")  # warm-up: kernels loaded
        match(queries, archive, "find", k=5)
        out["match_s"], _ = timed(lambda: match(queries, archive, "find"), args.repeat)
        out["knn_s"], _ = timed(lambda: match(queries, archive, "find", k=5), args.repeat)
        command = [sys.executable, "-m", "finder", "query", query[0], "--against", str(path), "-q"]
        run = lambda extra: subprocess.run(command + extra, capture_output=True, check=False)  # noqa: E731
        out["command_s"], _ = timed(lambda: run([]), args.repeat)
        out["command_k_s"], _ = timed(lambda: run(["-k", "5"]), args.repeat)
    out["load_average"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['cpu']}, {out['cores']} cores, SIMD {simd_level()}; load average {out['load_average'][0]} at start, "
          f"{out['load_average'][1]} at end; median of {args.repeat}")
    print(f"archive: {args.files:,} files, {out['rows']:,} FINd rows (default views), {out['archive_mib']:.0f} MiB")
    for label, key in (("load the archive", "load_s"), ("hash the query image", "hash_s"),
                       ("match (default radius)", "match_s"), ("5 nearest (-k 5)", "knn_s"),
                       ("whole command", "command_s"), ("whole command -k 5", "command_k_s")):
        print(f"  {label:24s} {out[key]:7.3f} s")


if __name__ == "__main__":
    main()
