"""What the layout check does near the threshold: file pairs matched only between the view radius and the radius.

Takes a hash file made with default views and a ground-truth CSV (``path,group,...`` as the shared corpus
and ``finder synth`` write), finds the pairs with views at the algorithm's default threshold twice — with
the layout check (:mod:`finder.match.layout`) and without it — and prints, for the pairs whose best distance
lies beyond the view radius, how many are true and false, and how many of each the check keeps.  Then
the same for other sides of the layout block (FINd's 4x4, 5x5 and 6x6 lowest frequencies, each with its
own binomial cut-off), to show how the choice of block behaves.

    python benchmarks/layout_band.py corpus.npz ../shared/corpus/images/ground_truth.csv [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from dataclasses import replace
from unittest import mock

import numpy as np

from finder import algorithms
from finder.evaluate.machine import cpu_model
from finder.match import layout
from finder.match import search as matching
from finder.store.hashset import load


def band_pairs(hs, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """File pairs (i, j, distance) found without the layout check whose distance is beyond the view radius."""
    with mock.patch.object(matching, "_layout_filter", lambda rows, *args: rows):
        found = matching.find_pairs(hs, name)
    d = matching.radius(hs.bits[name], algorithm=name)
    far = found.distance > matching.view_radius(d)
    return found.i[far], found.j[far], found.distance[far]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hashes")
    parser.add_argument("truth")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    hs, name = load(args.hashes), "find"
    groups = {os.path.basename(r["path"]): r["group"] for r in csv.DictReader(open(args.truth, newline=""))}
    group = np.array([groups.get(os.path.basename(p), f"?{k}") for k, p in enumerate(hs.paths)])
    i, j, dist = band_pairs(hs, name)
    true = group[i] == group[j]
    plain = hs.plain(name)
    rows = []
    for side in (4, 5, 6):
        with mock.patch.dict(algorithms.ALGORITHMS, {name: replace(algorithms.get(name), layout_side=side)}):
            layout.layout_mask.cache_clear()
            ok = layout.confirms(name, plain[i], plain[j])
            cut = layout.chance_cutoff(side * side)
        layout.layout_mask.cache_clear()
        assert ok is not None
        rows.append({"side": side, "bits": side * side, "cutoff": cut, "true": int(true.sum()),
                     "false": int((~true).sum()), "true_kept": int((ok & true).sum()),
                     "false_kept": int((ok & ~true).sum())})
    if args.json:
        print(json.dumps({"cpu": cpu_model(), "pairs_in_band": len(i), "rows": rows}, indent=2))
        return
    print(f"{len(i)} file pairs matched only beyond the view radius ({args.hashes})")
    print(f"{'block':>6} {'bits':>5} {'cut-off':>8} {'true':>6} {'kept':>6} {'false':>6} {'kept':>6}")
    for r in rows:
        print(f"{r['side']}x{r['side']:<4} {r['bits']:>5} {r['cutoff']:>8} {r['true']:>6} {r['true_kept']:>6} "
              f"{r['false']:>6} {r['false_kept']:>6}")


if __name__ == "__main__":
    main()
