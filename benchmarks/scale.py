"""One machine, 10^6 and 10^7 files: load, --info, compare -d 8 and cluster -d 8 on synthetic hash files.

The stores come from ``benchmarks/big_store.py`` (random 256-bit rows, every 50th file a near copy of the one
before it, camera-folder paths; kept in ``--cache``).  Each command runs as a user runs it, in its own
process; its wall time and peak resident memory (``wait4``'s ``ru_maxrss``) are printed with the CPU.

    python benchmarks/scale.py [--files 1000000 10000000] [--cache DIR] [--json]

``--views-files N...`` also runs ``finder cluster`` at the default threshold on a store with default views
(``big_store.py --views default``: mirror rows, and content-box rows for one file in five) of N files.  On
random rows that radius is near chance (P(d <= 96) ~ 4e-5 for 256 random bits), so most files join chance
groups: a worst case for the pairs streamed into the union-find, not a picture of a real photo folder.

    python benchmarks/scale.py --files --views-files 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emit_json_or_machine  # noqa: E402
from big_store import write  # noqa: E402

COMMANDS = {
    "show --info": ["show", "{store}", "--info"],
    "compare -d 8": ["compare", "{store}", "-d", "8", "-o", "{out}/pairs.csv"],
    "cluster -d 8": ["cluster", "{store}", "-d", "8", "--keep", "oldest", "-o", "{out}/groups.json"],
}


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command in a child process."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "finder", *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"finder {' '.join(argv)} failed: {child.stderr.read().decode() if child.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--views-files", type=int, nargs="*", default=[])
    parser.add_argument("--cache", default="/tmp/finder-scale")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in args.files:
        store = cache / f"synthetic-{n}.npz"
        if not store.exists():
            write(str(store), n)
        for label, template in COMMANDS.items():
            argv = [part.format(store=store, out=cache) for part in template]
            wall, rss = run(argv)
            rows.append({"files": n, "command": label, "seconds": round(wall, 1), "peak_rss_mib": round(rss)})
            print(f"{n:,} {label}: {wall:.1f} s, {rss:,.0f} MiB", file=sys.stderr)
    for n in args.views_files:
        store = cache / f"synthetic-views-{n}.npz"
        if not store.exists():
            write(str(store), n, views="default")
        label = "cluster (default threshold and views)"
        wall, rss = run(["cluster", str(store), "--keep", "oldest", "-o", str(cache / "groups-views.json")])
        rows.append({"files": n, "command": label, "seconds": round(wall, 1), "peak_rss_mib": round(rss)})
        print(f"{n:,} {label}: {wall:.1f} s, {rss:,.0f} MiB", file=sys.stderr)
    if emit_json_or_machine(rows, args.json):
        return
    print("| files | command | wall s | peak RSS MiB |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['files']:,} | `finder {r['command']}` | {r['seconds']} | {r['peak_rss_mib']:,} |")


if __name__ == "__main__":
    main()
