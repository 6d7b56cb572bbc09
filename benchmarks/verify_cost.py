"""What ``--verify`` costs a whole run: ``finder hash`` + ``finder cluster --verify`` against the default run.

Issue 21 asks verification at half its cost: hash + ``cluster --verify`` with an empty feature cache at most
2.0x the default hash + cluster on the corpus, 1.3x on 12-MP photos, with the default two jobs and with
``-j 1``.  For every folder and job count this script runs, in fresh processes, round-robin for ``--repeat``
rounds (a slow spell on a shared machine hits both alike):

* default: ``finder hash DIR -j J -q -o NEW.npz`` then ``finder cluster NEW.npz -j J``;
* verify: the same hash, then ``finder cluster NEW.npz --verify -j J`` (a new store each time, so the feature
  cache beside it starts empty, as do the keep rules' looks in both).

Printed: median wall seconds of each part, the whole-run ratio verify / default (the median of the rounds'
ratios), the groups each run printed (so a change that alters the output shows), with the CPU model and
core count.  Folders: ``--corpus`` (default: the first 500 images of ``../shared/corpus/images``, copied once
into ``--cache``) and any given with ``--folder``.

    python benchmarks/verify_cost.py [--cache DIR] [--folder DIR]... [--jobs 1,2] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import corpus_sample, emit_json_or_machine, finder_command, print_table, timed_run  # noqa: E402

HERE = Path(__file__).resolve().parent
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}


def one_round(folder: Path, jobs: int, verify: bool) -> dict:
    """One whole run in a fresh directory: hash, then cluster (with ``--verify`` or not)."""
    finder = finder_command()
    with tempfile.TemporaryDirectory() as work:
        store = str(Path(work) / "hashes.npz")
        hash_wall, _, _ = timed_run([*finder, "hash", str(folder), "-j", str(jobs), "-q", "-o", store])
        cluster = [*finder, "cluster", store, "-j", str(jobs), "-o", str(Path(work) / "groups.csv")]
        cluster_wall, _, _ = timed_run(cluster + (["--verify"] if verify else []))
        groups = len({line.split(",", 1)[0] for line in (Path(work) / "groups.csv").read_text().splitlines()[1:]})
    return {"hash": hash_wall, "cluster": cluster_wall, "total": hash_wall + cluster_wall, "groups": groups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "finder-verify-cost"))
    parser.add_argument("--corpus", default=str(HERE.parent.parent / "shared" / "corpus" / "images"))
    parser.add_argument("--folder", action="append", default=[], help="another folder of images to time")
    parser.add_argument("--jobs", default="1,2", help="comma-separated job counts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    folders = ([corpus_sample(cache, Path(args.corpus))] if Path(args.corpus).is_dir() else []) + [
        Path(f) for f in args.folder]
    rows = []
    for folder in folders:
        count = sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for jobs in (int(j) for j in args.jobs.split(",")):
            runs: dict[str, list[dict]] = {"default": [], "verify": []}
            for round_ in range(args.repeat):
                for mode in runs:
                    print(f"verify_cost: {folder.name} -j {jobs} {mode} round {round_ + 1}/{args.repeat}",
                          file=sys.stderr)
                    runs[mode].append(one_round(folder, jobs, mode == "verify"))
            ratio = statistics.median(v["total"] / d["total"] for d, v in zip(runs["default"], runs["verify"]))
            row = {"folder": folder.name, "files": count, "jobs": jobs, "ratio": round(ratio, 2)}
            for mode, done in runs.items():
                for part in ("hash", "cluster", "total"):
                    row[f"{mode}_{part}"] = round(statistics.median(r[part] for r in done), 2)
                row[f"{mode}_groups"] = done[-1]["groups"]
            rows.append(row)
    if emit_json_or_machine(rows, args.json, f"medians of {args.repeat} alternated rounds, wall seconds"):
        return
    print_table(["folder", "files", "-j", "default hash + cluster s", "verify hash + cluster s", "verify / default",
                 "groups default / verify"],
                [[r["folder"], r["files"], r["jobs"],
                  f"{r['default_hash']:.2f} + {r['default_cluster']:.2f} = {r['default_total']:.2f}",
                  f"{r['verify_hash']:.2f} + {r['verify_cluster']:.2f} = {r['verify_total']:.2f}",
                  f"{r['ratio']:.2f}", f"{r['default_groups']} / {r['verify_groups']}"] for r in rows])


if __name__ == "__main__":
    main()
