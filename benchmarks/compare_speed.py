"""Speed of finder.pairs.pairs_within (cpu backend), and FAISS IndexBinaryFlat doing the same job.

For every size n and every case (64-bit hashes at D=10, 256-bit at D=31 and
D=100) the script builds seeded random hashes with planted near duplicates and
times "all pairs i < j with Hamming distance <= D":

* finder: ``pairs_within(words, D)``, with the popcount loop this CPU gets
  (``auto``) or each loop named by ``--loops`` (forced through
  ``FINDER_POPCOUNT``; see finder/pairs/simd.py);
* FAISS (when ``faiss`` is importable: ``pip install '.[bench]'``, which
  installs faiss-cpu): ``IndexBinaryFlat`` over the same hashes as bytes,
  ``range_search(x, D + 1)`` for all rows as queries (binary range search
  keeps distances strictly below the radius), self-pairs dropped and only
  i < j kept.  Both results are checked to be the identical pair sets.

``--rounds R`` runs the whole sequence R times, every engine of a case right
after the others (finder loops, then FAISS), and reports medians over the
rounds; the ratio is the median of the per-round ratios, each measured side
by side.  Besides wall time, each run's process CPU time (all threads) is
recorded: on a machine shared with other jobs it is the steadier figure.

Each (engine, n, case) runs in a fresh subprocess, so that its peak memory can
be measured honestly: ``peak MiB`` is the increase of the process's RSS
high-water mark (``getrusage(RUSAGE_SELF).ru_maxrss``) during the timed calls,
over its level after data generation and warm-up (it includes the output).
Warm-up (JIT compile or cache load, index build for FAISS is timed
separately) is excluded from the timings and reported in its own column.
Times are medians over ``--repeat`` runs; ``Gpairs/s`` is n(n-1)/2 / time.

Usage::

    python benchmarks/compare_speed.py                 # default sizes
    python benchmarks/compare_speed.py --quick         # smoke run
    python benchmarks/compare_speed.py --sizes 50000 --repeat 1 --json
    python benchmarks/compare_speed.py --million       # 1M x 256-bit at D=31
    python benchmarks/compare_speed.py --sizes 100000 --loops vector,bitsliced --rounds 3
    python benchmarks/compare_speed.py --planes        # few queries vs an archive: which loop wins
    python benchmarks/compare_speed.py --breakdown     # where the time goes at n=100,000, 256 bits, D=100

``--planes`` answers where the ``bitsliced`` loop starts to pay: it first
builds bit planes of the whole second set, so for a few query rows against a
large archive (``pairs_across(queries, archive, 96)``, 256-bit hashes) it can
lose to the ``vector`` loop; both are timed for growing query counts, in
alternation, in this process (``finder.pairs.cpu.BITSLICED_MIN_QUERIES``).

``--breakdown`` splits the 100,000 x 256-bit, D=100 case: finder's bit planes,
its search at D=100 (1.4 M pairs) against D=60 (the same kernel work, ~2,000
pairs) and the cost of concatenating 1.4 M pairs; FAISS's ``range_search`` at
radius 101 against 61 (how much its result lists cost).  Wall and CPU
seconds, medians of ``--repeat``, in this process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

CASES = [(64, 10), (256, 31), (256, 100)]


def make_hashes(n: int, bits: int, seed: int = 12345) -> np.ndarray:
    """Seeded random packed hashes, 2% of rows replaced by near copies (0..8 flipped bits)."""
    rng = np.random.default_rng(seed + 7 * bits + n)
    words = bits // 64
    x = rng.integers(0, 2**64, size=(n, words), dtype=np.uint64)
    k = n // 50
    if k:
        src = rng.integers(0, n, k)
        dst = rng.choice(n, k, replace=False)
        x[dst] = x[src]
        for _ in range(8):
            flip = rng.random(k) < 0.5
            pos = rng.integers(0, bits, k)
            rows = dst[flip]
            x[rows, pos[flip] // 64] ^= np.uint64(1) << (pos[flip] % 64).astype(np.uint64)
    return x


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _digest(i: np.ndarray, j: np.ndarray, n: int) -> str:
    """SHA-256 of the sorted pair set (done outside the timed region)."""
    key = np.sort(i.astype(np.int64) * n + j.astype(np.int64))
    return hashlib.sha256(key.tobytes()).hexdigest()


def run_case(engine: str, n: int, bits: int, d: int, repeat: int, check: bool) -> dict:
    """One measurement (runs inside a worker subprocess); ``engine`` is ``finder`` or ``faiss``."""
    import numba

    threads = numba.get_num_threads()
    x = make_hashes(n, bits)
    out: dict = {"engine": engine, "n": n, "bits": bits, "D": d, "threads": threads}
    times, cpu_times = [], []
    if engine == "finder":
        from finder.pairs import cpu, pairs_within

        out["loop"] = cpu.search_loop(bits // 64, d)
        t = time.perf_counter()
        pairs_within(x[: min(n, 2000)], d)  # JIT compile / cache load
        out["warmup_s"] = time.perf_counter() - t
        base = _maxrss_mib()
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            p = pairs_within(x, d)
            times.append(time.perf_counter() - t)
            cpu_times.append(time.process_time() - c)
            out["matches"] = len(p)
            if check:
                out["key_hash"] = _digest(p.i, p.j, n)
            del p
    else:
        import faiss

        faiss.omp_set_num_threads(threads)
        codes = np.ascontiguousarray(x).view(np.uint8)  # (n, bits/8), any consistent byte order
        # verify that FAISS distances agree with ours on a few pairs
        t = time.perf_counter()
        probe = faiss.IndexBinaryFlat(bits)
        probe.add(codes[:50])
        dist, idx = probe.search(codes[:50], 50)
        ours = np.bitwise_count(x[:50][:, None, :] ^ x[:50][None, :, :]).sum(-1)
        assert (np.take_along_axis(ours, idx, 1) == dist).all(), "FAISS distances differ from ours"
        out["warmup_s"] = time.perf_counter() - t
        base = _maxrss_mib()
        build = []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            index = faiss.IndexBinaryFlat(bits)
            index.add(codes)
            t1 = time.perf_counter()
            lims, dists, ids = index.range_search(codes, d + 1)  # strict "<" radius
            q = np.repeat(np.arange(n, dtype=np.int64), np.diff(lims.astype(np.int64)))
            keep = q < ids
            i, j = q[keep], ids[keep].astype(np.int64)
            t2 = time.perf_counter()
            times.append(t2 - t)
            cpu_times.append(time.process_time() - c)
            build.append(t1 - t)
            assert dists.max(initial=0) <= d
            out["matches"] = int(i.shape[0])
            if check:
                out["key_hash"] = _digest(i, j, n)
            del index, lims, dists, ids, q, keep, i, j
        out["build_s"] = statistics.median(build)
    out["time_s"] = statistics.median(times)
    out["cpu_s"] = statistics.median(cpu_times)
    out["gpairs_per_s"] = n * (n - 1) / 2 / out["time_s"] / 1e9
    out["peak_mib"] = _maxrss_mib() - base
    return out


def run_in_subprocess(engine: str, n: int, bits: int, d: int, repeat: int, check: bool) -> dict:
    """:func:`run_case` in a fresh interpreter; ``engine`` ``finder:LOOP`` forces a popcount loop (``auto``: none)."""
    kind, _, loop = engine.partition(":")
    env = dict(os.environ)
    if kind == "finder":
        env["FINDER_POPCOUNT"] = loop or "auto"
    cmd = [sys.executable, __file__, "--worker", json.dumps([kind, n, bits, d, repeat, check])]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"worker {engine} n={n} bits={bits} D={d} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def planes_crossover(archive: int, queries: list[int], repeat: int) -> list[dict]:
    """Seconds of ``pairs_across(x[:q], x, 96)`` with each loop forced, for every ``q`` (medians, alternated)."""
    from finder.pairs import bitsliced, pairs_across

    x = make_hashes(archive, 256)
    times: dict[tuple[int, str], list[float]] = {}
    for loop in ("vector", "bitsliced"):
        os.environ["FINDER_POPCOUNT"] = loop
        pairs_across(x[:8], x[:3000], 96)  # JIT compile / cache load
    t = time.perf_counter()
    bitsliced.planes_of(x)
    build = time.perf_counter() - t
    for _ in range(repeat):
        for q in queries:
            for loop in ("vector", "bitsliced"):
                os.environ["FINDER_POPCOUNT"] = loop
                t = time.perf_counter()
                pairs_across(x[:q], x, 96)
                times.setdefault((q, loop), []).append(time.perf_counter() - t)
    del os.environ["FINDER_POPCOUNT"]
    return [{"archive": archive, "queries": q, "planes_build_s": build,
             "vector_s": statistics.median(times[(q, "vector")]),
             "bitsliced_s": statistics.median(times[(q, "bitsliced")])} for q in queries]


def breakdown(repeat: int, faiss_ok: bool) -> list[tuple[str, float, float]]:
    """(step, wall s, CPU s) of the parts of the 100,000 x 256-bit, D=100 case (see the module docstring)."""
    from finder.pairs import bitsliced, pairs_within

    n = 100_000
    x = make_hashes(n, 256)
    pairs_within(x[:2000], 100)  # JIT compile / cache load
    steps: list[tuple[str, Callable[[], object]]] = [
        ("finder: bit planes of 100,000 rows", lambda: bitsliced.planes_of(x)),
        ("finder: pairs_within D=100", lambda: pairs_within(x, 100)),
        ("finder: pairs_within D=60", lambda: pairs_within(x, 60)),
    ]
    found = pairs_within(x, 100)
    parts = np.array_split(np.arange(len(found)), -(-n // 128))  # one piece per chunk of 128 rows
    steps.append((f"finder: concatenate {len(found):,} pairs from {len(parts)} chunks",
                  lambda: [np.concatenate([a[p] for p in parts]) for a in found]))
    if faiss_ok:
        import faiss

        faiss.omp_set_num_threads(numba_threads())
        index = faiss.IndexBinaryFlat(256)
        index.add(np.ascontiguousarray(x).view(np.uint8))
        codes = np.ascontiguousarray(x).view(np.uint8)
        steps += [("FAISS: range_search radius 101 (D=100)", lambda: index.range_search(codes, 101)),
                  ("FAISS: range_search radius 61 (D=60)", lambda: index.range_search(codes, 61))]
    out = []
    for name, step in steps:
        walls, cpus = [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            step()
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        out.append((name, statistics.median(walls), statistics.median(cpus)))
    return out


def numba_threads() -> int:
    import numba

    return numba.get_num_threads()


def _has_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def machine_line() -> str:
    """CPU model, core count, SIMD level and the popcount loop this CPU gets (one line, for every table)."""
    from finder.evaluate.machine import cpu_model, simd_level  # imported here: workers measure their memory without it
    from finder.pairs.simd import cpu_loop

    return f"cpu: {cpu_model()}, {os.cpu_count()} cores, SIMD {simd_level()}, popcount loop {cpu_loop()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,50000,100000,200000", help="comma-separated n values")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case and process (median reported)")
    ap.add_argument("--rounds", type=int, default=1, help="alternated rounds of all engines (medians reported)")
    ap.add_argument("--loops", default="auto",
                    help="finder popcount loops to time side by side: auto (this CPU's), vector, bitsliced")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (n=3000, 1 repeat)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--no-faiss", action="store_true", help="skip FAISS even if installed")
    ap.add_argument("--million", action="store_true", help="also run n=1,000,000 256-bit hashes at D=31 once")
    ap.add_argument("--planes", action="store_true",
                    help="only time few queries against a 1,000,000-row archive with each loop (where bitsliced pays)")
    ap.add_argument("--breakdown", action="store_true",
                    help="only split the 100,000 x 256-bit, D=100 case into its parts (finder and FAISS)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(run_case(*json.loads(args.worker))))
        return 0
    if args.breakdown:
        print(machine_line())
        print(f"{'step':58} {'wall s':>7} {'cpu s':>7}  (median of {args.repeat}, {numba_threads()} threads)")
        for name, wall, cpu in breakdown(args.repeat, _has_faiss() and not args.no_faiss):
            print(f"{name:58} {wall:>7.3f} {cpu:>7.3f}")
        return 0
    if args.planes:
        rows = planes_crossover(1_000_000, [1, 4, 16, 64, 256, 1024, 4096], args.repeat)
        if args.json:
            print(json.dumps({"machine": machine_line(), "rows": rows}, indent=2))
            return 0
        print(machine_line())
        print(f"pairs_across(queries, archive, 96), archive {rows[0]['archive']:,} x 256 bits; "
              f"bit planes of the archive: {rows[0]['planes_build_s']:.3f} s; median of {args.repeat}")
        print(f"{'queries':>8} {'vector s':>9} {'bitsliced s':>11}  faster")
        for r in rows:
            faster = "bitsliced" if r["bitsliced_s"] < r["vector_s"] else "vector"
            print(f"{r['queries']:>8} {r['vector_s']:>9.3f} {r['bitsliced_s']:>11.3f}  {faster}")
        return 0

    sizes = [3000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    repeat = 1 if args.quick else args.repeat
    loops = [loop.strip() for loop in args.loops.split(",") if loop.strip()]
    faiss_ok = _has_faiss() and not args.no_faiss
    if not faiss_ok and not args.no_faiss:
        print("FAISS not installed (pip install '.[bench]' for faiss-cpu): timing finder alone", file=sys.stderr)
    if not args.json:
        print(machine_line())
    runs: dict[tuple, list[dict]] = {}
    for _ in range(max(args.rounds, 1)):
        for n in sizes:
            for bits, d in CASES:
                engines = [f"finder:{loop}" for loop in loops] + (["faiss"] if faiss_ok else [])
                for engine in engines:
                    runs.setdefault((n, bits, d, engine), []).append(
                        run_in_subprocess(engine, n, bits, d, repeat, faiss_ok))
    rows = []
    for n in sizes:
        for bits, d in CASES:
            for loop in loops:
                row = _summary(runs[(n, bits, d, f"finder:{loop}")], runs.get((n, bits, d, "faiss")))
                row["requested_loop"] = loop  # what --loops asked for; row["finder"]["loop"] is what ran
                rows.append(row)
                if not args.json:
                    _print_row(row, header=len(rows) == 1)
    million = None
    if args.million:
        million = run_in_subprocess("finder", 1_000_000, 256, 31, 1, False)
        if not args.json:
            m = million
            print(
                f"\n1M x 256-bit, D=31: {m['time_s']:.1f} s, {m['gpairs_per_s']:.2f} Gpairs/s, "
                f"{m['matches']} matches, peak RSS delta {m['peak_mib']:.0f} MiB, threads {m['threads']}"
            )
    if args.json:
        print(json.dumps({"machine": machine_line(), "rows": rows, "million": million}, indent=2))
    return 0 if all(r.get("same_pairs", True) for r in rows) else 1


def _summary(finder_runs: list[dict], faiss_runs: list[dict] | None) -> dict:
    """Medians over the rounds of one finder loop (and FAISS) on one case; ratios per round, then their median."""

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    f = dict(finder_runs[-1])
    for key in ("time_s", "cpu_s", "gpairs_per_s", "peak_mib", "warmup_s"):
        f[key] = med(finder_runs, key)
    row: dict = {"finder": f, "rounds": len(finder_runs)}
    if faiss_runs:
        g = dict(faiss_runs[-1])
        for key in ("time_s", "cpu_s", "gpairs_per_s", "peak_mib"):
            g[key] = med(faiss_runs, key)
        row["faiss"] = g
        row["same_pairs"] = all(a["matches"] == b["matches"] and a["key_hash"] == b["key_hash"]
                                for a, b in zip(finder_runs, faiss_runs))
        row["ratio_finder_over_faiss"] = statistics.median(
            a["time_s"] / b["time_s"] for a, b in zip(finder_runs, faiss_runs))
        row["cpu_ratio_finder_over_faiss"] = statistics.median(
            a["cpu_s"] / b["cpu_s"] for a, b in zip(finder_runs, faiss_runs))
    return row


def _print_row(row: dict, header: bool) -> None:
    f = row["finder"]
    if header:
        print(f"threads: {f['threads']} (numba; FAISS set to the same via omp_set_num_threads); "
              f"medians of {row['rounds']} alternated round(s); cpu s = process CPU time, all threads")
        print(
            f"{'n':>8} {'bits':>4} {'D':>4} {'matches':>9} {'loop':>14} | {'finder s':>9} {'cpu s':>7} {'Gpairs/s':>8}"
            f" {'peak MiB':>8} {'warmup s':>8}"
            f" | {'faiss s':>8} {'cpu s':>7} {'peak MiB':>8} | {'ratio':>6} {'cpu':>6} same"
        )
    loop = f"auto:{f['loop']}" if row.get("requested_loop") == "auto" else f["loop"]
    line = (
        f"{f['n']:>8} {f['bits']:>4} {f['D']:>4} {f['matches']:>9} {loop:>14} | {f['time_s']:>9.3f}"
        f" {f['cpu_s']:>7.2f} {f['gpairs_per_s']:>8.2f} {f['peak_mib']:>8.1f} {f['warmup_s']:>8.2f}"
    )
    if "faiss" in row:
        g = row["faiss"]
        line += (
            f" | {g['time_s']:>8.3f} {g['cpu_s']:>7.2f} {g['peak_mib']:>8.1f}"
            f" | {row['ratio_finder_over_faiss']:>6.3f} {row['cpu_ratio_finder_over_faiss']:>6.3f}"
            f" {'yes' if row['same_pairs'] else 'NO'}"
        )
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
