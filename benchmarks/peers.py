"""finder against its peers, whole runs on one core, side by side: czkawka, findimagedupes, the plain loop.

Folders (nothing committed; built in ``--cache`` once):

* ``mixed``: the first 500 images of the shared corpus (``../shared/corpus/images``, sorted by name), copied;
* ``phone``: 12-megapixel JPEGs made by ``benchmarks/phone_photos.py`` from Debian's wallpaper packages
  (``--phone-count``, default 68).

Tools, each run from scratch (no cache or database from an earlier run) under ``taskset -c 0`` with every
thread pool set to one thread, round-robin for ``--repeat`` rounds, the median reported:

* ``finder``: ``finder hash DIR -j 1 -q -o NEW.npz`` then ``finder cluster NEW.npz`` (defaults: FINd, views);
* ``czkawka``: the czkawka Rust library through its Python binding (PyPI ``czkawka`` 0.1.2, installed by this
  script into its own virtual environment in ``--cache``, not into finder's), ``ImageSimilarity`` with its
  default similarity, ``find_similar()``, with a fresh ``$HOME`` so its hash cache starts empty;
* ``findimagedupes``: Debian's package (``apt-get install findimagedupes`` by this script when missing),
  ``findimagedupes -q -R DIR`` without a fingerprint database;
* ``plain loop``: ``Image.open``, ``imagehash.dhash`` over every file in one ``python -c``.

Printed: seconds per tool and folder and finder's time as a share of each peer's (below 1: finder faster),
with the CPU model and core count.

    python benchmarks/peers.py [--cache DIR] [--corpus DIR] [--repeat 3] [--phone-count 68] [--json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import corpus_sample, emit_json_or_machine, print_table  # noqa: E402
from phone_photos import build_folder  # noqa: E402

CZKAWKA = "czkawka==0.1.2"
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_THREAD_LIMIT": "1"}
PLAIN_LOOP = ("import sys, pathlib, imagehash\nfrom PIL import Image\n"
              "for p in sorted(pathlib.Path(sys.argv[1]).rglob('*')):\n"
              "    if p.is_file():\n"
              "        try:\n"
              "            with Image.open(p) as im: im.load(); imagehash.dhash(im)\n"
              "        except Exception: pass\n")
CZKAWKA_RUN = ("import sys\nfrom czkawka import ImageSimilarity\n"
               "f = ImageSimilarity(); f.set_directories([sys.argv[1]]); print(len(f.find_similar()))\n")


def czkawka_python(cache: Path) -> Path:
    venv = cache / "czkawka-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", CZKAWKA], check=True)
    return python


def findimagedupes() -> str:
    found = shutil.which("findimagedupes")
    if not found:
        subprocess.run(["apt-get", "install", "-y", "-qq", "findimagedupes"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
        found = shutil.which("findimagedupes")
    if not found:
        raise SystemExit("findimagedupes could not be installed")
    return found


def commands(folder: Path, work: Path, czkawka: Path, fid: str) -> dict[str, list[list[str]]]:
    store = work / "new.npz"
    finder = [sys.executable, "-m", "finder"]
    return {
        "finder": [[*finder, "hash", str(folder), "-j", "1", "-q", "-o", str(store)],
                   [*finder, "cluster", str(store)]],
        "czkawka": [[str(czkawka), "-c", CZKAWKA_RUN, str(folder)]],
        "findimagedupes": [[fid, "-q", "-R", str(folder)]],
        "plain loop": [[sys.executable, "-c", PLAIN_LOOP, str(folder)]],
    }


def timed(steps: list[list[str]], work: Path) -> float:
    """Wall seconds of the steps in turn, one core, fresh caches (a new $HOME, no old store)."""
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    for old in work.glob("new.*"):
        old.unlink()
    env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), **ONE_THREAD)
    env.pop("XDG_DATA_HOME", None)
    start = time.perf_counter()
    for argv in steps:
        subprocess.run(["taskset", "-c", "0", *argv], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(folders: dict[str, Path], repeat: int, czkawka: Path, fid: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, folder in folders.items():
            runs = commands(folder, work, czkawka, fid)
            for steps in runs.values():  # untimed: page cache, numba's kernel cache, bytecode
                timed(steps, work)
            times: dict[str, list[float]] = {tool: [] for tool in runs}
            for k in range(repeat):
                print(f"peers: {label} round {k + 1}/{repeat}", file=sys.stderr)
                for tool, steps in runs.items():
                    times[tool].append(timed(steps, work))
            files = [p for p in folder.rglob("*") if p.is_file()]
            row = {"folder": label, "files": len(files), "mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
                   "seconds": {tool: round(statistics.median(t), 2) for tool, t in times.items()}}
            row["finder_share"] = {tool: round(row["seconds"]["finder"] / s, 2)
                                   for tool, s in row["seconds"].items() if tool != "finder"}
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent.parent
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "finder-peers"))
    parser.add_argument("--corpus", default=str(here.parent / "shared" / "corpus" / "images"))
    parser.add_argument("--phone-count", type=int, default=68)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    folders = {"mixed": corpus_sample(cache, Path(args.corpus))}
    if args.phone_count:
        folders["phone 12 MP"] = build_folder(cache / "phone", args.phone_count)
    rows = measure(folders, args.repeat, czkawka_python(cache), findimagedupes())
    if emit_json_or_machine(rows, args.json, f"one core each (taskset -c 0), medians of {args.repeat}"):
        return
    print_table(["folder", "files", "MB", "finder s", "czkawka s", "findimagedupes s", "plain loop s",
                 "finder / czkawka", "finder / findimagedupes", "finder / plain loop"],
                [[r["folder"], r["files"], r["mb"], *(r["seconds"][t] for t in ("finder", "czkawka", "findimagedupes",
                                                                                  "plain loop")),
                  *(r["finder_share"][t] for t in ("czkawka", "findimagedupes", "plain loop"))] for r in rows])


if __name__ == "__main__":
    main()
