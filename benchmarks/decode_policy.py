"""What reduced-size decoding changes: bit differences against ``--exact`` hashes, and pair accuracy.

For every folder and every algorithm (each hashed alone, the worst case: an
algorithm alone may be decoded smaller than together with FINd), the folder
is hashed twice in this process with ``finder.hash_paths`` -- decode policy
``full`` and ``reduced`` -- and the plain rows of the two are compared file by
file: max, median and 99th percentile of the Hamming distance, and how many
files differ at all.  With ``--truth CSV`` (``path,group``, e.g. the shared
corpus' ``ground_truth.csv``) the pair precision, recall and F1 of each
policy at the algorithm's default threshold are printed beside them (the
same scores as ``finder evaluate``'s plain rows), so a drop in accuracy shows.

``--policy`` names the reduced policy set against ``full``: ``reduced-1x`` (the
default: the decoded image keeps each algorithm's working resolution) or
``reduced`` (twice it, the default before 2026-12).

    python benchmarks/decode_policy.py FOLDER [--truth CSV] [-a ALGO]... [--policy P] [--json]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from finder.evaluate.machine import cpu_model, simd_level
from finder.evaluate.metrics import curve, truth_from_csv
from finder.io.files import find_images
from finder.match.search import make_rules
from finder.store import resolution
from finder.store.update import hash_paths

ALGORITHMS = ("find", "ahash", "dhash", "phash", "whash")


def bit_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distance between the rows of two ``uint64[n, words]`` arrays, computed with numpy alone."""
    return np.unpackbits((a ^ b).view(np.uint8), axis=1).sum(axis=1)


def compare(folder: str, name: str, truth_csv: str | None, policy: str) -> dict:
    paths, _ = find_images([folder])
    full = hash_paths(paths, [name], jobs=1, views="plain", decode="full", on_warning=None).hashset
    reduced = hash_paths(paths, [name], jobs=1, views="plain", decode=policy, on_warning=None).hashset
    assert list(full.paths) == list(reduced.paths)
    d = bit_differences(full.plain(name), reduced.plain(name))
    row = {"folder": folder, "algorithm": name, "bits": full.bits[name], "files": len(d),
           "differ": int((d > 0).sum()), "max": int(d.max()), "median": float(np.median(d)),
           "p99": float(np.percentile(d, 99))}
    if truth_csv:
        truth = truth_from_csv(full.paths, truth_csv)
        distance = make_rules(full, [name])[0].max_distance
        for label, hs in (("full", full), ("reduced", reduced)):
            at = curve(hs, name, truth.labels).at(distance)
            row.update({f"{label}_{k}": round(float(at[k]), 4) for k in ("precision", "recall", "f1")})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--truth", help="ground truth CSV (path,group) for the pair scores")
    parser.add_argument("-a", "--algorithm", action="append", dest="algorithms")
    parser.add_argument("--policy", choices=sorted(resolution.MARGINS), default=resolution.DECODE_REDUCED)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [compare(folder, name, args.truth, args.policy)
            for folder in args.folders for name in args.algorithms or ALGORITHMS]
    if args.json:
        print(json.dumps({"cpu": cpu_model(), "cores": os.cpu_count(), "policy": args.policy, "rows": rows}, indent=1))
        return
    print(f"{args.policy} vs full decode; {cpu_model()}, {os.cpu_count()} cores, SIMD {simd_level()}")
    for row in rows:
        scores = ""
        if "full_f1" in row:
            scores = "  " + "  ".join(f"{k} {row['full_' + k]:.3f} -> {row['reduced_' + k]:.3f}"
                                      for k in ("precision", "recall", "f1"))
        print(f"{os.path.basename(row['folder'].rstrip('/'))} {row['algorithm']:>6} ({row['bits']} bits): "
              f"{row['differ']}/{row['files']} differ, max {row['max']}, median {row['median']:g}, "
              f"p99 {row['p99']:g}{scores}")


if __name__ == "__main__":
    main()
