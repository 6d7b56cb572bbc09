"""Speed of finder.pairs.pairs_within (cpu backend), and FAISS IndexBinaryFlat doing the same job.

For every size n and every case (64-bit hashes at D=10, 256-bit at D=31 and
D=100) the script builds seeded random hashes with planted near duplicates and
times "all pairs i < j with Hamming distance <= D":

* finder: ``pairs_within(words, D)``;
* FAISS (when ``faiss`` is importable): ``IndexBinaryFlat`` over the same
  hashes as bytes, ``range_search(x, D + 1)`` for all rows as queries (binary
  range search keeps distances strictly below the radius), self-pairs dropped
  and only i < j kept.  Both results are checked to be the identical pair sets.

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
    """One measurement (runs inside a worker subprocess)."""
    import numba

    threads = numba.get_num_threads()
    x = make_hashes(n, bits)
    out: dict = {"engine": engine, "n": n, "bits": bits, "D": d, "threads": threads}
    if engine == "finder":
        from finder.pairs import pairs_within

        t = time.perf_counter()
        pairs_within(x[: min(n, 2000)], d)  # JIT compile / cache load
        out["warmup_s"] = time.perf_counter() - t
        base = _maxrss_mib()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            p = pairs_within(x, d)
            times.append(time.perf_counter() - t)
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
        times = []
        build = []
        for _ in range(repeat):
            t = time.perf_counter()
            index = faiss.IndexBinaryFlat(bits)
            index.add(codes)
            t1 = time.perf_counter()
            lims, dists, ids = index.range_search(codes, d + 1)  # strict "<" radius
            q = np.repeat(np.arange(n, dtype=np.int64), np.diff(lims.astype(np.int64)))
            keep = q < ids
            i, j = q[keep], ids[keep].astype(np.int64)
            t2 = time.perf_counter()
            times.append(t2 - t)
            build.append(t1 - t)
            assert dists.max(initial=0) <= d
            out["matches"] = int(i.shape[0])
            if check:
                out["key_hash"] = _digest(i, j, n)
            del index, lims, dists, ids, q, keep, i, j
        out["build_s"] = statistics.median(build)
    out["time_s"] = statistics.median(times)
    out["gpairs_per_s"] = n * (n - 1) / 2 / out["time_s"] / 1e9
    out["peak_mib"] = _maxrss_mib() - base
    return out


def run_in_subprocess(engine: str, n: int, bits: int, d: int, repeat: int, check: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps([engine, n, bits, d, repeat, check])]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"worker {engine} n={n} bits={bits} D={d} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _has_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,50000,100000,200000", help="comma-separated n values")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case (median reported)")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (n=3000, 1 repeat)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--no-faiss", action="store_true", help="skip FAISS even if installed")
    ap.add_argument("--million", action="store_true", help="also run n=1,000,000 256-bit hashes at D=31 once")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(run_case(*json.loads(args.worker))))
        return 0

    sizes = [3000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    repeat = 1 if args.quick else args.repeat
    faiss_ok = _has_faiss() and not args.no_faiss
    rows = []
    for n in sizes:
        for bits, d in CASES:
            row = {"finder": run_in_subprocess("finder", n, bits, d, repeat, faiss_ok)}
            if faiss_ok:
                row["faiss"] = run_in_subprocess("faiss", n, bits, d, repeat, True)
                row["same_pairs"] = (
                    row["faiss"]["matches"] == row["finder"]["matches"]
                    and row["faiss"]["key_hash"] == row["finder"]["key_hash"]
                )
                row["ratio_finder_over_faiss"] = row["finder"]["time_s"] / row["faiss"]["time_s"]
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
        print(json.dumps({"rows": rows, "million": million}, indent=2))
    return 0 if all(r.get("same_pairs", True) for r in rows) else 1


def _print_row(row: dict, header: bool) -> None:
    f = row["finder"]
    if header:
        from finder.bench import cpu_model  # imported here: workers measure their memory without it

        print(f"cpu: {cpu_model()}, {os.cpu_count()} CPUs")
        print(f"threads: {f['threads']} (numba; FAISS set to the same via omp_set_num_threads)")
        print(
            f"{'n':>8} {'bits':>4} {'D':>4} {'matches':>9} | {'finder s':>9} {'Gpairs/s':>8} {'peak MiB':>8}"
            f" {'warmup s':>8}"
            f" | {'faiss s':>8} {'Gpairs/s':>8} {'peak MiB':>8} | {'ratio':>6} same"
        )
    line = (
        f"{f['n']:>8} {f['bits']:>4} {f['D']:>4} {f['matches']:>9} | {f['time_s']:>9.3f} {f['gpairs_per_s']:>8.2f}"
        f" {f['peak_mib']:>8.1f} {f['warmup_s']:>8.2f}"
    )
    if "faiss" in row:
        g = row["faiss"]
        line += (
            f" | {g['time_s']:>8.3f} {g['gpairs_per_s']:>8.2f} {g['peak_mib']:>8.1f}"
            f" | {row['ratio_finder_over_faiss']:>6.3f} {'yes' if row['same_pairs'] else 'NO'}"
        )
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
