"""Whole-run speed of ``finder hash -j 1`` on a folder of 12-megapixel JPEGs, next to the plain dHash loop.

The folder: freely licensed large images from Debian's wallpaper packages
(:data:`PACKAGES`; photographs and artwork under CC-BY, CC-BY-SA, CC0, GPL and
similar licences, see each package's ``copyright``), fetched with ``apt-get
download`` into a cache folder, unpacked with ``dpkg-deb -x``, and every
distinct image of at least 4 megapixels re-encoded as a 4000x3000 JPEG, q=90
(centre-cropped to 4:3, Lanczos), like a phone's.  Every fourth file is
stored in landscape with EXIF orientation 6 (shown in portrait), as phones do,
so the reduced decode is measured with EXIF transposition.  Nothing is
committed; the cache is reused by later runs.

What is timed, each as a fresh subprocess, round-robin for ``--repeat``
rounds (a slow spell on a shared machine hits every configuration alike):

* the plain loop users write today: ``Image.open(p)``, ``.load()``,
  ``imagehash.dhash(image)`` over every file, in one ``python -c``;
* ``finder hash FOLDER -j 1 -q -o NEW.npz`` with its defaults (FINd, default
  views, reduced-size decoding), and the same with ``--exact`` (full decode);
  each run writes a new hash file, so nothing is reused.

Reported: median seconds, images/s and MB/s (file bytes read) per
configuration, and the median over rounds of each run's time divided by the
same round's plain loop.  One untimed pass first reads every file (page cache)
and loads finder's numba cache.

    python benchmarks/phone_photos.py [--cache DIR] [--count 40] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from finder.evaluate.machine import cpu_model, simd_level

#: Debian (bookworm) packages of large, freely licensed wallpapers.
PACKAGES = ("gnome-backgrounds", "mate-backgrounds", "plasma-workspace-wallpapers", "ukui-wallpapers")
SIZE = (4000, 3000)
QUALITY = 90
MIN_SOURCE_PIXELS = 4_000_000
ORIENTATION_TAG = 0x0112
PLAIN_LOOP = ("import sys, imagehash\nfrom PIL import Image\n"
              "for p in sys.argv[1:]:\n"
              "    with Image.open(p) as im:\n"
              "        im.load()\n"
              "        imagehash.dhash(im)\n")


def fetch_sources(cache: Path, packages: tuple[str, ...] = PACKAGES) -> Path:
    """Download and unpack Debian ``packages`` into ``cache`` (once); the unpacked tree."""
    debs, tree = cache / "debs", cache / "tree"
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    if not tree.exists():
        partial = cache / "tree.partial"
        shutil.rmtree(partial, ignore_errors=True)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True)
        partial.rename(tree)
    return tree


def _identity(path: Path) -> str:
    """One name per wallpaper: Plasma ships each at many sizes under ``NAME/contents/images/WxH.jpg``."""
    parts = path.parts
    return parts[parts.index("contents") - 1] if "contents" in parts else path.stem


def source_images(tree: Path) -> list[Path]:
    """The largest file of every distinct wallpaper of at least :data:`MIN_SOURCE_PIXELS`, by name."""
    best: dict[str, tuple[int, Path]] = {}
    for path in sorted(tree.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp") or not path.is_file():
            continue
        try:
            with Image.open(path) as image:
                pixels = image.width * image.height
        except Exception:  # not an image after all: skip it
            continue
        key = _identity(path)
        if pixels >= MIN_SOURCE_PIXELS and pixels > best.get(key, (0, path))[0]:
            best[key] = (pixels, path)
    return sorted(p for _, p in best.values())


def phone_jpeg(source: Path, target: Path, rotate: bool) -> None:
    """``source`` centre-cropped to 4:3 and resized to 4000x3000, saved as JPEG q=90 (EXIF orientation 6 if
    ``rotate``: the stored landscape pixels are shown as portrait)."""
    with Image.open(source) as image:
        image = image.convert("RGB")
        w, h = image.size
        if w * SIZE[1] > h * SIZE[0]:
            crop = (w - h * SIZE[0] // SIZE[1]) // 2
            image = image.crop((crop, 0, w - crop, h))
        else:
            crop = (h - w * SIZE[1] // SIZE[0]) // 2
            image = image.crop((0, crop, w, h - crop))
        image = image.resize(SIZE, Image.Resampling.LANCZOS)
        exif = Image.Exif()
        if rotate:
            exif[ORIENTATION_TAG] = 6
        image.save(target, "JPEG", quality=QUALITY, exif=exif.tobytes())


def build_folder(cache: Path, count: int) -> Path:
    """``cache/jpeg-N``: ``count`` (at most the sources available) 12-megapixel JPEGs, built once."""
    folder = cache / f"jpeg-{count}"
    if folder.exists():
        return folder
    sources = source_images(fetch_sources(cache))[:count]
    partial = cache / f"jpeg-{count}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for k, source in enumerate(sources):
        phone_jpeg(source, partial / f"{k:04d}.jpg", rotate=k % 4 == 3)
    partial.rename(folder)
    return folder


def configurations(folder: Path, files: list[str], out: Path) -> dict[str, list[str]]:
    finder = [sys.executable, "-m", "finder"]
    return {
        "plain loop (Image.open + load + imagehash.dhash)": [sys.executable, "-c", PLAIN_LOOP, *files],
        "finder hash -j 1 (defaults: reduced)": [*finder, "hash", str(folder), "-j", "1", "-q", "-o", str(out)],
        "finder hash -j 1 --exact": [*finder, "hash", str(folder), "-j", "1", "-q", "--exact", "-o", str(out)],
    }


def measure(folder: Path, repeat: int) -> dict:
    files = sorted(str(p) for p in folder.glob("*.jpg"))
    megabytes = sum(os.path.getsize(p) for p in files) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "h.npz"
        runs = configurations(folder, files, out)
        for command in runs.values():  # one untimed round: page cache, numba cache
            out.unlink(missing_ok=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        ratios: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeat):
            this_round = {}
            for name, command in runs.items():
                out.unlink(missing_ok=True)
                began = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                this_round[name] = time.perf_counter() - began
            loop = next(iter(this_round.values()))
            for name, value in this_round.items():
                seconds[name].append(value)
                ratios[name].append(value / loop)
    rows = []
    for name in runs:
        median = statistics.median(seconds[name])
        rows.append({"run": name, "seconds": round(median, 3), "images_per_s": round(len(files) / median, 2),
                     "mb_per_s": round(megabytes / median, 1),
                     "vs_plain_loop": round(statistics.median(ratios[name]), 3),
                     "all_seconds": [round(s, 3) for s in seconds[name]]})
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "simd": simd_level(), "images": len(files),
            "megabytes": round(megabytes, 1), "image_size": list(SIZE), "repeat": repeat, "rows": rows}


def render(result: dict) -> str:
    lines = [f"{result['images']} JPEGs of {result['image_size'][0]}x{result['image_size'][1]} "
             f"({result['megabytes']} MB), medians of {result['repeat']} alternated rounds; "
             f"{result['cpu']}, {result['cores']} cores, SIMD {result['simd']}",
             f"{'run':<50} {'seconds':>8} {'images/s':>9} {'MB/s':>7} {'x plain loop':>13}"]
    for row in result["rows"]:
        lines.append(f"{row['run']:<50} {row['seconds']:>8.2f} {row['images_per_s']:>9.2f} "
                     f"{row['mb_per_s']:>7.1f} {row['vs_plain_loop']:>13.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "finder" / "phone-photos",
                        help="where the packages, the unpacked tree and the built folder are kept")
    parser.add_argument("--count", type=int, default=40, help="images in the folder (at most the distinct sources)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--build-only", action="store_true", help="build the folder, print its path, time nothing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = build_folder(args.cache, args.count)
    if args.build_only:
        print(folder)
        return
    result = measure(folder, args.repeat)
    print(json.dumps(result, indent=1) if args.json else render(result))


if __name__ == "__main__":
    main()
