"""What small jobs cost: wall time of whole ``finder`` commands as a user runs them.

What it measures: complete command-line runs, each in a fresh subprocess --
interpreter start, imports, loading the hash file, the work, writing the
result to a pipe:

* ``finder --version`` (start-up alone);
* ``finder cluster H.npz`` and ``finder compare H.npz`` on ``--files`` hashes
  (default 500) with default views (plain, mirror, content box), made by
  ``finder hash`` from generated JPEGs: groups of four -- a random picture
  (320x240: shapes on a gradient), its mirror, a copy in a white frame, and a smaller,
  harder-compressed copy -- so the file has real view rows and real groups,
  and the keep rules read real image headers; ``--images DIR`` hashes the
  first ``--files`` images of DIR instead;
* ``finder hash examples/images -o NEW.npz`` (the 28 bundled images, every
  run a new output, so every image is decoded and hashed).

Every command runs once untimed first (page cache, Python's bytecode cache,
numba's kernel cache), then the commands run round-robin (``--repeat``
rounds), so a busy spell on a shared machine hits all of them alike; each is
reported as the median and the minimum of its rounds' wall times, and the
median of their CPU times (user + system, worker processes included: on a
busy machine the wall time also holds the time spent waiting for a core).  The children run with
the caller's environment less ``PYTHONDONTWRITEBYTECODE`` (an installed finder
has its ``.pyc`` files) and ``FINDER_PAIRS_BACKEND`` (the size rules decide).
The ``imports`` column says which heavy libraries each command imported
(one extra run under ``python -X importtime``).

``--crossover`` also measures, in fresh processes, the figures behind the
size cut-offs that keep small jobs off numba: all pairs within ``n`` random
256-bit rows with the numpy ``reference`` backend against the numba ``cpu``
backend including its import and kernel load
(``finder.pairs.REFERENCE_MAX_CELLS``), and grouping a random graph with
numpy/plain Python against numba (``finder.groups.linkage.NUMBA_MIN_WORK``).

    python benchmarks/small_jobs.py [--files 500] [--repeat 7] [--images DIR] [--crossover] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _harness import finder_command, timed_run
from PIL import Image, ImageDraw, ImageOps

from finder.evaluate.machine import cpu_model, simd_level

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "numba", "scipy", "PIL", "imagehash", "rich")


def child_env() -> dict[str, str]:
    """The caller's environment, less what would make the runs unlike a user's (see the module docstring)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "FINDER_PAIRS_BACKEND")}


def photo(rng: np.random.Generator, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A random picture: a colour gradient under a dozen random rectangles and ellipses (a distinct hash)."""
    width, height = size
    ramp = (np.linspace(0, 1, width)[None, :, None] * rng.random(3)
            + np.linspace(0, 1, height)[:, None, None] * rng.random(3))
    image = Image.fromarray((ramp * 127).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 20)), int(rng.integers(0, height - 20))
        box = (x0, y0, x0 + int(rng.integers(20, width // 2)), y0 + int(rng.integers(20, height // 2)))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    return image


def make_images(folder: Path, count: int, seed: int = 0) -> None:
    """``count`` JPEGs in groups of four: a photo, its mirror, a framed copy, a small recompressed copy."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = 0
    group = 0
    while made < count:
        base = photo(rng)
        frame = tuple(int(c) for c in rng.integers(0, 256, 3))
        copies = (base, ImageOps.mirror(base), ImageOps.expand(base, border=24, fill=frame),
                  base.resize((240, 180), Image.Resampling.LANCZOS))
        for k, image in enumerate(copies[: count - made]):
            image.save(folder / f"{group:04d}_{k}.jpg", quality=60 if k == 3 else 90)
            made += 1
        group += 1


def first_images(folder: Path, count: int, into: Path) -> None:
    """Links to the first ``count`` images of ``folder`` (sorted) in ``into``."""
    exts = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in exts and p.is_file())[:count]
    into.mkdir(parents=True, exist_ok=True)
    for k, path in enumerate(files):
        (into / f"{k:05d}{path.suffix.lower()}").symlink_to(path.resolve())


def heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    """Which of :data:`HEAVY` a ``finder ARGS`` run imports (``python -X importtime``)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "finder", *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, text=True)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
             if line.startswith("import time:")}
    return [name for name in HEAVY if name in names]


def measure_commands(work: Path, files: int, images: Path | None, repeat: int, progress) -> list[dict]:
    env = child_env()
    finder = finder_command()
    folder = work / "images"
    if images is not None:
        first_images(images, files, folder)
    else:
        make_images(folder, files)
    hashes = work / "hashes.npz"
    progress(f"hashing {files} images into {hashes.name} (default views)")
    timed_run([*finder, "hash", str(folder), "-o", str(hashes), "-q"], env)
    examples = ROOT / "examples" / "images"
    outputs = iter(range(10**6))
    commands = {
        "finder --version": (["--version"], None),
        f"finder cluster ({files} files)": (["cluster", str(hashes)], None),
        f"finder compare ({files} files)": (["compare", str(hashes)], None),
        "finder hash examples/images (28 files)": (["hash", str(examples), "-q"], "-o"),
    }

    def argv(args: list[str], output: str | None) -> list[str]:
        extra = [output, str(work / f"out{next(outputs)}.npz")] if output else []
        return [*finder, *args, *extra]

    progress("warm-up: one untimed run of each command")
    for args, output in commands.values():
        timed_run(argv(args, output), env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for round_ in range(repeat):
        progress(f"round {round_ + 1}/{repeat}")
        for name, (args, output) in commands.items():
            times[name].append(timed_run(argv(args, output), env)[:2])
    results = []
    for name, (args, output) in commands.items():
        loaded = heavy_imports(args + ([output, str(work / "imports.npz")] if output else []), env)
        wall, cpu = (sorted(t[k] for t in times[name]) for k in (0, 1))
        results.append({"command": name, "median_s": round(statistics.median(wall), 4), "min_s": round(wall[0], 4),
                        "cpu_median_s": round(statistics.median(cpu), 4), "runs": len(wall), "imports": loaded})
    return results


CROSSOVER_PAIRS = r"""
import sys, time
import numpy as np
backend, n = sys.argv[1], int(sys.argv[2])
x = np.random.default_rng(n).integers(0, 2**64, (n, 4), dtype=np.uint64)
start = time.perf_counter()
from finder.pairs import pairs_within
pairs_within(x, 96, backend=backend)
print(time.perf_counter() - start)
"""

CROSSOVER_GROUPS = r"""
import sys, time
import numpy as np
kernel, linkage, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(n)
i, j = rng.integers(0, n, n), rng.integers(0, n, n)
i, j = np.minimum(i, j)[i != j], np.maximum(i, j)[i != j]
from finder.groups.linkage import group_indices
start = time.perf_counter()
group_indices(n, i, j, linkage, kernel=kernel)
cold = time.perf_counter() - start
start = time.perf_counter()
group_indices(n, i, j, linkage, kernel=kernel)
print(cold, time.perf_counter() - start)
"""


def fresh(code: str, args: list[str], env: dict[str, str]) -> list[float]:
    """The times a fresh ``python -c CODE ARGS`` prints on its last line."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return [float(x) for x in proc.stdout.strip().splitlines()[-1].split()]


def measure_crossover(repeat: int, progress) -> dict[str, list[dict]]:
    """Cold-process times of both sides of each cut-off (median of ``repeat`` round-robin rounds)."""
    env = child_env()
    pair_sizes = (1000, 2000, 4096, 6000, 8000)
    graph_sizes = (100_000, 300_000, 1_000_000)
    progress("crossover warm-up (numba's cache)")
    fresh(CROSSOVER_PAIRS, ["cpu", "100"], env)
    for linkage in ("single", "star"):
        fresh(CROSSOVER_GROUPS, ["numba", linkage, "100"], env)
    pair_times: dict[tuple, list[float]] = {}
    group_times: dict[tuple, list[list[float]]] = {}
    for round_ in range(repeat):
        progress(f"crossover round {round_ + 1}/{repeat}")
        for n in pair_sizes:
            for backend in ("reference", "cpu"):
                pair_times.setdefault((n, backend), []).append(fresh(CROSSOVER_PAIRS, [backend, str(n)], env)[0])
        for n in graph_sizes:
            for linkage in ("single", "star"):
                for kernel in ("numpy", "numba"):
                    group_times.setdefault((n, linkage, kernel), []).append(
                        fresh(CROSSOVER_GROUPS, [kernel, linkage, str(n)], env))
    pairs_rows = [{"rows": n, "reference_s": round(statistics.median(pair_times[n, "reference"]), 3),
                   "cpu_cold_s": round(statistics.median(pair_times[n, "cpu"]), 3)} for n in pair_sizes]
    def median(key: tuple, k: int) -> float:
        return round(statistics.median(t[k] for t in group_times[key]), 3)

    group_rows = [{"nodes": n, "edges": "~n", "linkage": linkage, "numpy_s": median((n, linkage, "numpy"), 0),
                   "numba_cold_s": median((n, linkage, "numba"), 0), "numba_loaded_s": median((n, linkage, "numba"), 1)}
                  for n in graph_sizes for linkage in ("single", "star")]
    return {"pairs": pairs_rows, "groups": group_rows}


def markdown(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500, help="images in the cluster/compare hash file")
    parser.add_argument("--images", type=Path, default=None, help="hash the first --files images of this folder "
                                                                  "instead of generated ones")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds")
    parser.add_argument("--crossover", action="store_true", help="also measure the numpy/numba cut-offs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()

    def progress(message: str) -> None:
        print(f"small_jobs: {message}", file=sys.stderr, flush=True)

    machine: dict[str, Any] = {"cpu": cpu_model(), "cores": os.cpu_count(), "simd": simd_level(),
                               "python": platform.python_version(),
               "load_start": [round(x, 2) for x in os.getloadavg()]}
    work = Path(tempfile.mkdtemp(prefix="finder-small-jobs-"))
    try:
        commands = measure_commands(work, args.files, args.images, args.repeat, progress)
        crossover = measure_crossover(max(1, min(args.repeat, 3)), progress) if args.crossover else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine["load_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps({"machine": machine, "commands": commands, "crossover": crossover}, indent=1))
        return
    print(f"{machine['cpu']}, {machine['cores']} cores, SIMD {machine['simd']}, Python {machine['python']}; "
          f"load average "
          f"{machine['load_start'][0]} at start, {machine['load_end'][0]} at end; wall time of whole commands, "
          f"{commands[0]['runs']} rounds\n")
    print(markdown(["command", "wall median s", "wall min s", "CPU median s", "imports"],
                   [[c["command"], f"{c['median_s']:.3f}", f"{c['min_s']:.3f}", f"{c['cpu_median_s']:.3f}",
                     ", ".join(c["imports"]) or "-"] for c in commands]))
    if crossover:
        print("\nAll pairs within n random 256-bit rows at radius 96, fresh process (cpu: numba import and "
              "kernel load included)\n")
        print(markdown(["rows", "reference (numpy) s", "cpu (numba, cold) s"],
                       [[r["rows"], r["reference_s"], r["cpu_cold_s"]] for r in crossover["pairs"]]))
        print("\nGrouping a random graph of n nodes and ~n edges, fresh process (numba cold: import and load "
              "included; loaded: a second call)\n")
        print(markdown(["nodes", "linkage", "numpy s", "numba (cold) s", "numba (loaded) s"],
                       [[r["nodes"], r["linkage"], r["numpy_s"], r["numba_cold_s"], r["numba_loaded_s"]]
                        for r in crossover["groups"]]))


if __name__ == "__main__":
    main()
