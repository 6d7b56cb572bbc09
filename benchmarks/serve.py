"""finder serve at scale: a hash file of 10^5 files in 10^4 groups, its start, first page, paging and a decision.

The hash file is synthetic (a generator, not images): FINd-width random hashes, each group a source row and
copies a few bits from it (2 to 6 members), the rest single files, under paths of realistic length
(``/home/user/Pictures/YYYY/MM/IMG_NNNNNNN.jpg``).  The files do not exist, so the keep rules find no facts to
read (each header read fails at once) and thumbnails are not part of the figures: what is measured is the
review's own work and the API's, through Starlette's in-process test client (no socket):

- ``start s``: load the hash file, match all pairs, group, choose keepers, apply decisions (``Review(...)``);
- ``first page ms``: ``GET /api/groups`` (20 groups, sorted by space to reclaim) right after the start;
- ``paging ms``: the median of ``GET /api/groups?offset=...`` over 20 pages spread through the list;
- ``decide ms``: ``POST /api/decide`` (mark a group reviewed: the decisions file rewritten atomically);
- ``RSS MiB``: the process's resident memory after the start (``ru_maxrss``: its peak).

    python benchmarks/serve.py [--files 100000] [--groups 10000] [--json]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time

import numpy as np

from finder.store.hashset import HashSet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import emit_json_or_machine  # noqa: E402

#: Random 256-bit rows are 128 +- 8 bits apart, so FINd's default radius (96) would match ~10^5 chance pairs among
#: 10^5 random rows; real photos' hashes are not uniform.  The benchmark groups at 32 bits (the planted copies
#: are <= 12 bits from their source, hence <= 24 from each other), where chance pairs are ~1e-30.
THRESHOLD = 0.125


def synthetic_store(n_files: int, n_groups: int, seed: int = 0) -> HashSet:
    """``n_files`` FINd-width hashes, ``n_groups`` of them groups of 2-6 near copies (<= 12 bits apart)."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**63, (n_files, 4), dtype=np.uint64) | (rng.integers(0, 2, (n_files, 4),
                                                                                  dtype=np.uint64) << 63)
    at = 0
    for _ in range(n_groups):
        size = int(rng.integers(2, 7))
        for k in range(1, size):
            row = words[at].copy()
            for bit in rng.choice(256, int(rng.integers(1, 13)), replace=False):
                row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
            words[at + k] = row
        at += size
    assert at <= n_files, "too many groups for the files"
    years = rng.integers(2005, 2027, n_files)
    months = rng.integers(1, 13, n_files)
    paths = [f"/home/user/Pictures/{y}/{m:02d}/IMG_{k:07d}.jpg" for k, (y, m) in enumerate(zip(years, months))]
    order = np.argsort(np.array([os.fsencode(p) for p in paths], dtype=object))
    paths = [paths[k] for k in order]
    return HashSet(paths=paths, hashes={"find": words[order]}, bits={"find": 256},
                   size=rng.integers(200_000, 6_000_000, n_files), mtime_ns=np.full(n_files, 1_700_000_000 * 10**9),
                   device=np.ones(n_files, np.uint64), inode=np.arange(1, n_files + 1, dtype=np.uint64))


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(n_files: int, n_groups: int) -> dict:
    from starlette.testclient import TestClient

    from finder.web.app import create_app
    from finder.web.review import Review

    with tempfile.TemporaryDirectory() as folder:
        hashfile = os.path.join(folder, "hashes.npz")
        synthetic_store(n_files, n_groups).save(hashfile)
        start = time.perf_counter()
        review = Review(hashfile, jobs=os.cpu_count(), threshold=THRESHOLD)
        started = time.perf_counter() - start
        app, token = create_app(review, port=8765)
        client = TestClient(app, base_url="http://127.0.0.1:8765")
        client.get(f"/?token={token}", follow_redirects=False)
        t = time.perf_counter()
        first = client.get("/api/groups")
        first_ms = (time.perf_counter() - t) * 1000
        total = first.json()["total"]
        pages = []
        for offset in np.linspace(20, max(20, total - 20), 20).astype(int):
            t = time.perf_counter()
            assert client.get(f"/api/groups?offset={offset}").status_code == 200
            pages.append((time.perf_counter() - t) * 1000)
        csrf = client.get("/api/state").json()["csrf"]
        t = time.perf_counter()
        decided = client.post("/api/decide", json={"kind": "reviewed", "group": 0},
                              headers={"X-CSRF-Token": csrf, "Origin": "http://127.0.0.1:8765"})
        decide_ms = (time.perf_counter() - t) * 1000
        assert decided.status_code == 200, decided.text
        return {"files": n_files, "groups_made": n_groups, "groups_found": total, "start_s": round(started, 2),
                "first_page_ms": round(first_ms, 1), "paging_ms": round(statistics.median(pages), 1),
                "decide_ms": round(decide_ms, 1), "rss_mib": round(rss_mib()),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    row = measure(args.files, args.groups)
    if emit_json_or_machine([row], args.json):
        return
    print("| files | groups | start s | first page ms | paging ms (median) | decide ms | RSS MiB | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {row['files']:,} | {row['groups_found']:,} | {row['start_s']} | {row['first_page_ms']} | "
          f"{row['paging_ms']} | {row['decide_ms']} | {row['rss_mib']} | {row['peak_rss_mib']} |")


if __name__ == "__main__":
    main()
