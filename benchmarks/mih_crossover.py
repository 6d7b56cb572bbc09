"""Where multi-index hashing (``mih``) beats the linear scan (``cpu``): the crossover radius.

What it measures, on seeded random 256-bit hashes:

* **queries against an archive** (what ``finder query`` and two-set
  ``compare`` do): ``--archive`` rows (default 10**6), ``--queries`` query
  rows (default 1000; half are near copies of archive rows with 0-12 bits
  flipped, half random).  Per radius: the ``cpu`` backend's
  ``pairs_across(queries, archive, r)``, and ``mih``'s search over an index
  built beforehand; the index build is timed on its own (it depends on the
  radius only through the number of substrings ``m``).
* **all pairs within one set** (``cluster``, one-set ``compare``):
  ``pairs_within(x, r)`` on ``--within`` rows (default 10**5) with each backend,
  index build included (it is part of the call).

From these it prints the largest radius at which ``mih`` is faster per query
(search only), the largest at which it is faster with the build included for
the given batch, and how many queries it takes to pay for the build at each
radius: ``build / (cpu per query - mih per query)``.  Those are the figures
behind ``finder.pairs.MIH_MAX_SHARE`` and ``MIH_MIN_QUERIES`` (docs/performance.md, "Multi-index hashing").

Both backends' results are checked to be identical.  Configurations run
round-robin (``--repeat`` rounds) and each figure is the median of its rounds,
so a busy spell on a shared machine hits both backends alike; the table is
captioned with the CPU model, the cores, the numba threads and the load
average at start and end.

    python benchmarks/mih_crossover.py [--archive 1000000] [--queries 1000] [--within 100000]
                                       [--radii 0,8,16,24,31,40,48] [--bits 256] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numba
import numpy as np

from finder.evaluate.machine import cpu_model, simd_level
from finder.pairs import get_backend, pairs_across, pairs_within

BITS = 256  # --bits changes it


def random_hashes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, (n, BITS // 64), dtype=np.uint64)


def near_copies(rows: np.ndarray, max_flips: int, seed: int) -> np.ndarray:
    """Copies of ``rows`` with 0..max_flips distinct random bits flipped each."""
    rng = np.random.default_rng(seed)
    out = rows.copy()
    for row in out:
        for bit in rng.choice(BITS, rng.integers(0, max_flips + 1), replace=False):
            row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def same(p, q) -> bool:
    return len(p) == len(q) and all(np.array_equal(a, b) for a, b in zip(p, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", type=int, default=10**6)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--within", type=int, default=10**5)
    parser.add_argument("--radii", default="0,8,16,24,31,40,48")
    parser.add_argument("--within-radii", default="0,8,16,24,31,40")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bits", type=int, choices=(64, 128, 192, 256), default=256)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    global BITS
    BITS = args.bits
    radii = [int(r) for r in args.radii.split(",")]
    within_radii = [int(r) for r in args.within_radii.split(",")]
    mih = get_backend("mih")

    archive = random_hashes(args.archive, 1)
    half = args.queries // 2
    rng = np.random.default_rng(2)
    queries = np.concatenate([near_copies(archive[rng.choice(args.archive, half, replace=False)], 12, 3),
                              random_hashes(args.queries - half, 4)])
    x = random_hashes(args.within, 5)
    # warm-up: load (or compile) both backends' kernels
    pairs_across(queries[:4], archive[:5000], 8, backend="cpu")
    pairs_across(queries[:4], archive[:5000], 8, backend="mih")
    pairs_within(x[:3000], 8, backend="mih")
    load_start = os.getloadavg()[0]

    plans = {r: mih.plan(BITS, args.archive, r) for r in radii}
    times: dict[tuple, list[float]] = {}
    for _ in range(args.repeat):
        indexes = {}
        for m in sorted(set(plans.values())):
            t, indexes[m] = timed(lambda m=m: mih.build_index(archive, m))
            times.setdefault(("build", m), []).append(t)
        for r in radii:
            tc, pc = timed(lambda r=r: pairs_across(queries, archive, r, backend="cpu"))
            tm, pm = timed(lambda r=r, built=indexes: mih.search(built[plans[r]], queries, r))
            assert same(pc, pm), f"backends differ at radius {r}"
            times.setdefault(("cpu", r), []).append(tc)
            times.setdefault(("mih", r), []).append(tm)
        indexes.clear()
        for r in within_radii:
            tc, pc = timed(lambda r=r: pairs_within(x, r, backend="cpu"))
            tm, pm = timed(lambda r=r: pairs_within(x, r, backend="mih"))
            assert same(pc, pm), f"backends differ within at radius {r}"
            times.setdefault(("within-cpu", r), []).append(tc)
            times.setdefault(("within-mih", r), []).append(tm)
    med = {k: statistics.median(v) for k, v in times.items()}

    rows = []
    for r in radii:
        build = med[("build", plans[r])]
        cpu_q, mih_q = med[("cpu", r)] / args.queries, med[("mih", r)] / args.queries
        pays_after = build / (cpu_q - mih_q) if cpu_q > mih_q else None
        rows.append({"radius": r, "m": plans[r], "build_s": build, "cpu_s": med[("cpu", r)],
                     "mih_s": med[("mih", r)], "speedup_search": med[("cpu", r)] / med[("mih", r)],
                     "speedup_with_build": med[("cpu", r)] / (med[("mih", r)] + build),
                     "queries_to_pay_for_build": pays_after})
    within = [{"radius": r, "cpu_s": med[("within-cpu", r)], "mih_s": med[("within-mih", r)],
               "speedup": med[("within-cpu", r)] / med[("within-mih", r)]} for r in within_radii]
    faster = [row["radius"] for row in rows if row["speedup_search"] > 1]
    faster_within = [row["radius"] for row in within if row["speedup"] > 1]
    result = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "archive": args.archive, "queries": args.queries, "within_n": args.within, "bits": BITS,
        "repeat": args.repeat, "across": rows, "within": within,
        "crossover_radius_search": max(faster) if faster else None,
        "crossover_radius_within": max(faster_within) if faster_within else None,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['cpu']}, {result['cores']} cores, SIMD {simd_level()}, {result['numba_threads']} numba threads; "
          f"load average {result['load_average'][0]} at start, {result['load_average'][1]} at end; "
          f"median of {args.repeat} rounds")
    print(f"\n{args.queries:,} queries against {args.archive:,} {BITS}-bit hashes (pairs_across):")
    print(" radius   m   build s    cpu s    mih s  speed-up  with build  queries to pay for the build")
    for row in rows:
        pays = f"{row['queries_to_pay_for_build']:,.0f}" if row["queries_to_pay_for_build"] else "never"
        print(f"{row['radius']:7d} {row['m']:3d} {row['build_s']:9.3f} {row['cpu_s']:8.3f} {row['mih_s']:8.3f} "
              f"{row['speedup_search']:8.2f}x {row['speedup_with_build']:10.2f}x  {pays}")
    print(f"\nall pairs within {args.within:,} {BITS}-bit hashes (pairs_within, index build included):")
    print(" radius    cpu s    mih s  speed-up")
    for row in within:
        print(f"{row['radius']:7d} {row['cpu_s']:8.3f} {row['mih_s']:8.3f} {row['speedup']:8.2f}x")
    print(f"\nmih is faster per query up to radius {result['crossover_radius_search']} "
          f"and for all pairs up to radius {result['crossover_radius_within']} (of {BITS} bits)")


if __name__ == "__main__":
    main()
