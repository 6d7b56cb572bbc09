"""What does geometric verification (``--verify``) cost: per image, per pair, and for the visual-word candidates?

Times the library functions ``compare --verify`` runs, in this process (one core):

* **features per image**: decode + greyscale 512-px working image + ORB on it and on its mirror
  (:func:`finder.verify.features.extract`), what the feature cache saves on a second run;
* **check per pair** (:func:`finder.verify.geometry.check`), separately for pairs that pass (copies) and pairs
  that fail (each image against its nearest *other* image by FINd hash, the hardest negatives, and
  random pairs): a failed pair also tries the mirrored features;
* **visual-word candidates** for the whole sample (:func:`finder.verify.visualwords.similar`, k = 8).

CPU seconds (``time.process_time``) are reported beside wall time: on a shared machine the CPU time is
what one free core would take.  Every table names the CPU.

    python benchmarks/verify_speed.py [IMAGES_DIR] [--limit 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from finder.evaluate.machine import cpu_model, simd_level

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "images"


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", default=str(CORPUS if CORPUS.is_dir() else ROOT / "examples" / "images"))
    parser.add_argument("--limit", type=int, default=200, help="images sampled (sorted order, evenly spaced)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    import cv2

    from finder.io.decode import read_image
    from finder.io.files import find_images
    from finder.store.update import hash_paths
    from finder.verify.geometry import check
    from finder.verify.visualwords import similar

    cv2.setNumThreads(1)
    paths, _ = find_images([args.images])
    if len(paths) > args.limit:
        paths = [paths[k] for k in np.linspace(0, len(paths) - 1, args.limit).round().astype(int)]
    from finder.verify.features import extract

    features, wall_img, cpu_img = [], [], []
    for path in paths:
        result = read_image(path)
        if isinstance(result, tuple):
            image = result[0]
            found, wall, cpu = _timed(lambda image=image: extract(image))
            features.append(found)
            wall_img.append(wall)
            cpu_img.append(cpu)
    decode_wall = []
    for path in paths[:50]:
        _, wall, _ = _timed(lambda path=path: read_image(path))
        decode_wall.append(wall)
    report = hash_paths(paths, ["find"], jobs=1, progress=False, views="plain")
    words = report.hashset.plain("find")
    d = np.bitwise_count(words[:, None, :] ^ words[None, :, :]).sum(axis=2)
    np.fill_diagonal(d, 10**6)
    order = [report.hashset.paths.tolist().index(p) for p in paths if p in report.hashset.paths.tolist()]
    rng = np.random.default_rng(0)
    pairs = [(i, int(np.argmin(d[order[i]][order]))) for i in range(len(features))]
    pairs += [tuple(int(x) for x in rng.choice(len(features), 2, replace=False)) for _ in range(len(features))]
    passed, failed = [], []
    for i, j in pairs:
        result, wall, cpu = _timed(lambda i=i, j=j: check(features[i], features[j]))
        (passed if result.ok else failed).append((wall, cpu))
    _, words_wall, words_cpu = _timed(lambda: similar(features, 8))
    ms = 1000.0
    rows = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "images": len(features),
        "decode_ms": statistics.median(decode_wall) * ms,
        "features_ms_cpu": statistics.mean(cpu_img) * ms, "features_ms_wall": statistics.mean(wall_img) * ms,
        "keypoints_mean": float(np.mean([len(f) for f in features])),
        "pairs_passed": len(passed), "pairs_failed": len(failed),
        "check_passed_ms_cpu": statistics.mean(c for _, c in passed) * ms if passed else 0.0,
        "check_failed_ms_cpu": statistics.mean(c for _, c in failed) * ms if failed else 0.0,
        "check_failed_ms_wall": statistics.mean(w for w, _ in failed) * ms if failed else 0.0,
        "visual_words_s_cpu": words_cpu, "visual_words_s_wall": words_wall,
        "cache_bytes_per_image": float(np.mean([f.xy.nbytes + f.descriptors.nbytes + f.mirror_xy.nbytes
                                                + f.mirror_descriptors.nbytes for f in features])),
    }
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"--verify cost on {rows['cpu']} ({rows['cores']} cores, SIMD {simd_level()}), one process, "
                        f"{rows['images']} images from {args.images}")
    table.add_column("what")
    table.add_column("CPU ms", justify="right")
    table.add_column("wall ms", justify="right")
    table.add_row("decode (once per image, shared with hashing)", "", f"{rows['decode_ms']:.1f}")
    table.add_row(f"features per image (ORB, image + mirror; {rows['keypoints_mean']:.0f} keypoints)",
                  f"{rows['features_ms_cpu']:.1f}", f"{rows['features_ms_wall']:.1f}")
    table.add_row(f"check per pair that passes ({rows['pairs_passed']})", f"{rows['check_passed_ms_cpu']:.2f}", "")
    table.add_row(f"check per pair that fails ({rows['pairs_failed']}, mirror tried too)",
                  f"{rows['check_failed_ms_cpu']:.2f}", f"{rows['check_failed_ms_wall']:.2f}")
    table.add_row(f"visual-word candidates for all {rows['images']} images (k = 8)",
                  f"{rows['visual_words_s_cpu'] * ms:.0f}", f"{rows['visual_words_s_wall'] * ms:.0f}")
    table.add_row("feature cache per image (bytes)", f"{rows['cache_bytes_per_image']:,.0f}", "")
    Console().print(table)


if __name__ == "__main__":
    main()
