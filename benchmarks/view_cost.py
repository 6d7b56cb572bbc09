"""What default views cost: all-pairs matching with views against the plain rows alone.

A hash file made with default views holds, per image, its plain row, a mirror
row and (for images with a frame) a trimmed row.  This benchmark takes such a
file (``finder hash PHOTOS -o views.npz``), makes a larger set by repeating its
files ``--copies`` times, and times :func:`finder.match.search.find_pairs` at the
algorithm's default threshold on

* the set with all its views, and
* the same set reduced to its plain rows (what ``--views plain`` stores),

alternated for ``--repeat`` rounds; each figure is the median of its rounds
and the ratio is taken from medians measured side by side in one run.  The
numba kernels are compiled (or loaded from the cache) by an untimed warm-up.

How the copies are made (``--copies-are``): ``unrelated`` (default) XORs every
row of a copy with one random mask per copy, which keeps all distances within
the copy and makes rows of different copies unrelated: the set is ``copies``
independent folders with the file's own duplicate density (what a large
photo folder looks like to matching). ``near`` instead flips
``--bits-flipped`` random bits in every row, so every copy is a near-duplicate
of every other: a worst case with 20x denser matches, where sorting the found
pairs, not searching, is much of the time.

    python benchmarks/view_cost.py views.npz [--copies 10,20] [--copies-are unrelated|near]
                                             [--bits-flipped 4] [--repeat 3] [--whole-run] [--json]

With ``--whole-run`` each figure is instead a whole ``finder compare FILE.npz -o PAIRS.csv`` run as a
user starts it (a fresh process: imports, loading the kernels, reading the hash file, matching,
writing the pairs), on the two sets saved as hash files.

With ``--hash-folder PATH`` it times whole hashing runs instead: ``finder hash
PATH -j 1 -o NEW.npz -q`` with ``--views plain`` and with ``--views default``,
each a fresh subprocess writing a new file (nothing reused), alternated for
``--repeat`` rounds after one untimed pass (page cache, numba cache); the
ratio is the median of the per-round ratios.

    python benchmarks/view_cost.py --hash-folder ../shared/corpus/images [--repeat 5] [--exact] [--json]

Prints the CPU model, core count and numba threads with the table.
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

import numba
import numpy as np
from _harness import finder_command, timed_run

from finder.algorithms import get as algorithm
from finder.evaluate.machine import cpu_model, simd_level
from finder.match.search import find_pairs
from finder.store.hashset import HashSet, load


def replicate(hs: HashSet, name: str, copies: int, flipped: int, seed: int = 0, near: bool = True) -> HashSet:
    """``hs`` (algorithm ``name`` only) repeated ``copies`` times: each copy's rows with ``flipped`` random bits
    flipped (``near``), or XORed with one random mask per copy (unrelated copies, distances kept within each)."""
    rng = np.random.default_rng(seed)
    words, owner, view = hs.hashes[name], hs.owner[name], hs.view[name]
    quality = hs.quality.get(name, np.full(len(words), 100, np.uint8))
    n, rows, bits = len(hs), len(words), hs.bits[name]
    parts = []
    for c in range(copies):
        noisy = words.copy()
        if c and not near:
            noisy ^= rng.integers(0, 2**64, words.shape[1], dtype=np.uint64)
        elif c:
            for _ in range(flipped):
                bit = rng.integers(0, bits, rows)
                noisy[np.arange(rows), bit // 64] ^= np.left_shift(np.uint64(1), (bit % 64).astype(np.uint64))
        parts.append(noisy)
    paths = [f"/copy{c:03d}/{p}" for c in range(copies) for p in hs.paths]
    order = np.argsort(np.array([p.encode() for p in paths], dtype=object), kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    owners = np.concatenate([rank[owner + c * n] for c in range(copies)])
    row_order = np.lexsort((np.tile(view, copies), owners))
    zeros = np.zeros(copies * n, np.int64)
    return HashSet(
        paths=np.array(paths, dtype=object)[order],
        hashes={name: np.concatenate(parts)[row_order]},
        bits={name: bits},
        size=zeros, mtime_ns=zeros,
        owner={name: owners[row_order]},
        view={name: np.tile(view, copies)[row_order]},
        quality={name: np.tile(quality, copies)[row_order]},
        settings=dict(hs.settings),
    )


def plain_only(hs: HashSet, name: str) -> HashSet:
    """``hs`` with only its plain rows (as ``--views plain`` would have stored)."""
    keep = hs.view[name] == 0
    return HashSet(paths=hs.paths, hashes={name: hs.hashes[name][keep]}, bits=dict(hs.bits), size=hs.size,
                   mtime_ns=hs.mtime_ns, owner={name: hs.owner[name][keep]}, view={name: hs.view[name][keep]},
                   quality={name: hs.quality[name][keep]} if name in hs.quality else {}, settings=dict(hs.settings))


def _time(hs: HashSet, name: str, threshold: float) -> tuple[float, int]:
    start = time.perf_counter()
    found = find_pairs(hs, name, threshold=threshold)
    return time.perf_counter() - start, len(found)


def _compare_run(hashes: str, out: str) -> float:
    seconds, _, _ = timed_run(finder_command() + ["compare", hashes, "-o", out])
    return seconds


def _hash_run(folder: str, views: str, out: str, exact: bool) -> float:
    command = [sys.executable, "-m", "finder", "hash", folder, "-j", "1", "-q", "--views", views, "-o", out]
    start = time.perf_counter()
    subprocess.run(command + (["--exact"] if exact else []), check=True)
    seconds = time.perf_counter() - start
    os.unlink(out)
    return seconds


def hashing_cost(folder: str, repeat: int, exact: bool) -> dict:
    """Whole ``finder hash -j 1`` runs with plain and default views, alternated; medians and per-round ratios."""
    runs: dict[str, list[float]] = {"plain": [], "default": []}
    with tempfile.TemporaryDirectory() as tmp:
        _hash_run(folder, "default", os.path.join(tmp, "warm.npz"), exact)  # page cache and numba cache
        for _ in range(repeat):
            for views in ("plain", "default"):
                runs[views].append(_hash_run(folder, views, os.path.join(tmp, f"{views}.npz"), exact))
    ratios = [d / p for p, d in zip(runs["plain"], runs["default"])]
    return {"seconds_plain": statistics.median(runs["plain"]), "seconds_default": statistics.median(runs["default"]),
            "ratio": statistics.median(ratios), "ratios": ratios, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("hashes", nargs="?", help="a hash file made with default views")
    parser.add_argument("--hash-folder", metavar="PATH", help="time whole hashing runs of PATH instead")
    parser.add_argument("--exact", action="store_true", help="with --hash-folder: full-size decoding")
    parser.add_argument("--algorithm", default="find")
    parser.add_argument("--copies", default="10,20", help="comma-separated repeat counts")
    parser.add_argument("--copies-are", choices=("unrelated", "near"), default="unrelated")
    parser.add_argument("--bits-flipped", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whole-run", action="store_true", help="time whole `finder compare` runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    machine = f"CPU: {cpu_model()}, {os.cpu_count()} cores, SIMD {simd_level()}"
    if args.hash_folder:
        result = hashing_cost(args.hash_folder, args.repeat, args.exact)
        if args.json:
            print(json.dumps({"cpu": cpu_model(), "cores": os.cpu_count(), **result}, indent=2))
            return
        print(f"{machine}; finder hash -j 1{' --exact' if args.exact else ''} {args.hash_folder}, "
              f"{args.repeat} alternated rounds")
        print(f"views plain {result['seconds_plain']:.2f} s, default {result['seconds_default']:.2f} s (medians); "
              f"default / plain {result['ratio']:.2f} (median of rounds: "
              f"{', '.join(f'{r:.2f}' for r in result['ratios'])})")
        return
    if not args.hashes:
        parser.error("give a hash file, or --hash-folder PATH")
    base = load(args.hashes)
    name = args.algorithm
    threshold = algorithm(name).default_threshold
    results = []
    for copies in (int(c) for c in args.copies.split(",")):
        views = replicate(base, name, copies, args.bits_flipped, near=args.copies_are == "near")
        plain = plain_only(views, name)
        runs: dict[str, list[float]] = {"plain": [], "views": []}
        counts = {}
        if args.whole_run:
            with tempfile.TemporaryDirectory() as tmp:
                files = {label: os.path.join(tmp, f"{label}.npz") for label in runs}
                plain.save(files["plain"])
                views.save(files["views"])
                out = os.path.join(tmp, "pairs.csv")
                _compare_run(files["views"], out)  # warm-up: page cache, numba cache
                for _ in range(args.repeat):
                    for label in runs:
                        runs[label].append(_compare_run(files[label], out))
                        with open(out, "rb") as pairs:
                            counts[label] = sum(1 for _ in pairs) - 1
        else:
            _time(plain.take(np.arange(min(len(plain), 200))), name, threshold)  # warm-up: numba load
            _time(views.take(np.arange(min(len(views), 200))), name, threshold)
            for _ in range(args.repeat):
                for label, hs in (("plain", plain), ("views", views)):
                    seconds, counts[label] = _time(hs, name, threshold)
                    runs[label].append(seconds)
        med = {k: statistics.median(v) for k, v in runs.items()}
        results.append({"files": len(views), "rows_plain": len(plain.hashes[name]),
                        "rows_views": len(views.hashes[name]),
                        "seconds_plain": med["plain"], "seconds_views": med["views"],
                        "ratio": med["views"] / med["plain"], "pairs_plain": counts["plain"],
                        "pairs_views": counts["views"]})
    meta = {"cpu": cpu_model(), "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "algorithm": name, "threshold": threshold, "repeat": args.repeat,
            "timed": "whole finder compare runs" if args.whole_run else "find_pairs in one process"}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
        return
    print(f"CPU: {meta['cpu']}, {meta['cores']} cores, numba threads {meta['numba_threads']}; "
          f"{name} at {threshold}, copies {args.copies_are}, median of {args.repeat} alternated rounds; "
          f"timed: {meta['timed']}")
    print(f"{'files':>8} {'rows plain':>10} {'rows views':>10} {'plain s':>8} {'views s':>8} {'ratio':>6} "
          f"{'pairs plain':>11} {'pairs views':>11}")
    for r in results:
        print(f"{r['files']:>8} {r['rows_plain']:>10} {r['rows_views']:>10} {r['seconds_plain']:>8.2f} "
              f"{r['seconds_views']:>8.2f} {r['ratio']:>6.2f} {r['pairs_plain']:>11} {r['pairs_views']:>11}")


if __name__ == "__main__":
    main()
