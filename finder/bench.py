"""``finder bench``: where the time and memory of hashing and matching go, on your images.

Five measurements, each answering a question a user asks before running
finder on a large collection:

``per_image``
    How long does one image take with each algorithm, and is it the decoding,
    the resizing or the hash itself?  Every algorithm is split into the same
    three stages: *decode* (``Image.open`` + full load, as
    :func:`finder.decode.open_image` does it), *prepare* (the resize/convert
    step that turns the decoded image into the algorithm's small input array)
    and *hash* (everything after that).  The staged versions are checked by
    the test suite to give exactly the algorithm's own hash, so the split is
    faithful rather than an approximation.
``find_stages``
    FINd's own pipeline stage by stage (thumbnail, RGB, luma, blur, DCT,
    median), to see which kernel to optimise next.
``memory``
    Peak resident memory of one worker process per algorithm, so ``--jobs``
    can be chosen without running out of memory.
``jobs``
    Throughput through :func:`finder.hash_paths` for each worker count, and
    the speed-up over the first.
``sizes``
    Hashing time and all-pairs comparison time as the collection grows, with
    the fitted growth exponent of each: hashing should be linear (~1) and
    all-pairs matching quadratic (~2), which tells how far a larger
    collection can be extrapolated.

:func:`run_bench` returns a JSON-serialisable dict; :func:`render_tables`
turns it into rich tables for the terminal.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
from PIL import Image

from finder import algorithms as _algorithms
from finder.algorithms import find
from finder.bits import pack_bits
from finder.decode import FileError, open_image
from finder.files import find_images
from finder.hamming import pairs_within
from finder.hashing import HashReport, hash_paths, warm_up

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "FIND_STAGES",
    "STAGED",
    "Staged",
    "find_hash_staged",
    "growth_exponent",
    "render_tables",
    "run_bench",
    "sample_paths",
]

Progress = Callable[[str], None]

#: imagehash's default hash size (8 x 8 = 64 bits) and its resampling filter.
HASH_SIZE = 8
PHASH_HIGHFREQ = 4
LANCZOS = Image.Resampling.LANCZOS

#: Sizes above this are only compare-timed: hashing them would take too long by
#: default (at ~10 ms per large photo, 10 000 images already take ~100 s per job).
DEFAULT_HASH_CAP = 10_000

#: FINd's stages in pipeline order, as reported in ``find_stages``.
FIND_STAGES = ("decode", "thumbnail", "convert_rgb", "luma", "blur", "dct", "median_bits")

PER_IMAGE_STAGES = ("decode", "prepare", "hash", "total")


# --------------------------------------------------------------------------
# Staged algorithms: prepare (resize/convert to an array) + hash (the rest)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Staged:
    """An algorithm split in two: ``hash(prepare(image))`` equals its ``hash_image(image)``.

    ``prepare`` does the Pillow work (resize, mode conversion, conversion to a
    NumPy array); ``hash`` does the arithmetic on that array and packs the
    bits.  Neither modifies the image.
    """

    prepare: Callable[[Image.Image], Any]
    hash: Callable[[Any], np.ndarray]


def _find_hash(rgb: np.ndarray) -> np.ndarray:
    return find.find_from_rgb(rgb, find.DCT)


def _grey(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    # The first line of every imagehash function: grey, then a Lanczos resize.
    return np.asarray(image.convert("L").resize(size, LANCZOS))


def _ahash_prepare(image: Image.Image) -> np.ndarray:
    return _grey(image, (HASH_SIZE, HASH_SIZE))


def _ahash_hash(pixels: np.ndarray) -> np.ndarray:
    return pack_bits((pixels > np.mean(pixels)).ravel())


def _dhash_prepare(image: Image.Image) -> np.ndarray:
    return _grey(image, (HASH_SIZE + 1, HASH_SIZE))  # (width, height): one extra column


def _dhash_hash(pixels: np.ndarray) -> np.ndarray:
    return pack_bits((pixels[:, 1:] > pixels[:, :-1]).ravel())


def _phash_prepare(image: Image.Image) -> np.ndarray:
    side = HASH_SIZE * PHASH_HIGHFREQ
    return _grey(image, (side, side))


def _phash_hash(pixels: np.ndarray) -> np.ndarray:
    import scipy.fftpack

    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
    low = dct[:HASH_SIZE, :HASH_SIZE]
    return pack_bits((low > np.median(low)).ravel())


def _whash_prepare(image: Image.Image) -> np.ndarray:
    # image_scale defaults to the largest power of two <= the smaller side (at least hash_size).
    scale = max(2 ** int(np.log2(min(image.size))), HASH_SIZE)
    return _grey(image, (scale, scale))


def _whash_hash(pixels: np.ndarray) -> np.ndarray:
    import pywt

    ll_max_level = int(np.log2(pixels.shape[0]))
    dwt_level = ll_max_level - int(np.log2(HASH_SIZE))
    values = pixels / 255.0
    # remove_max_haar_ll: drop the lowest-frequency Haar coefficient.
    coeffs = list(pywt.wavedec2(values, "haar", level=ll_max_level))
    coeffs[0] *= 0
    values = pywt.waverec2(coeffs, "haar")
    low = pywt.wavedec2(values, "haar", level=dwt_level)[0]
    return pack_bits((low > np.median(low)).ravel())


#: The staged version of every registered algorithm, by name.
STAGED: dict[str, Staged] = {
    "find": Staged(find.prepare, _find_hash),
    "ahash": Staged(_ahash_prepare, _ahash_hash),
    "dhash": Staged(_dhash_prepare, _dhash_hash),
    "phash": Staged(_phash_prepare, _phash_hash),
    "whash": Staged(_whash_prepare, _whash_hash),
}


def find_hash_staged(image: Image.Image) -> tuple[np.ndarray, dict[str, float]]:
    """FINd of a decoded image, run stage by stage with each stage timed.

    Parameters
    ----------
    image : a fully loaded Pillow image (not modified).

    Returns
    -------
    words : uint64[4], identical to ``find.find_hash(image)``.
    seconds : wall time of each stage of :data:`FIND_STAGES` except ``decode``.
        ``convert_rgb`` includes ``np.asarray``; ``luma`` and ``blur`` include
        allocating their output arrays.
    """
    clock = time.perf_counter
    t0 = clock()
    small = find.thumbnail(image)
    t1 = clock()
    if small.mode != "RGB":
        small = small.convert("RGB")
    rgb = np.asarray(small)
    t2 = clock()
    lum = np.empty(rgb.shape[:2])
    find.luma(rgb, lum)
    t3 = clock()
    samples = np.empty((find.GRID, find.GRID))
    find.blur_samples(lum, samples)
    t4 = clock()
    coefficients = find.dct_16x16(samples, find.DCT)
    t5 = clock()
    words = find.median_bits(coefficients)
    t6 = clock()
    seconds = {
        "thumbnail": t1 - t0,
        "convert_rgb": t2 - t1,
        "luma": t3 - t2,
        "blur": t4 - t3,
        "dct": t5 - t4,
        "median_bits": t6 - t5,
    }
    return words, seconds


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def sample_paths(paths: Sequence[str], sample: int) -> list[str]:
    """Up to ``sample`` paths, evenly spaced through the sorted list (deterministic).

    Evenly spaced rather than the first ``sample`` so that a folder sorted by
    name (often by camera, date or source) is represented throughout.
    """
    ordered = sorted(paths)
    n = len(ordered)
    if sample <= 0:
        return []
    if n <= sample:
        return ordered
    return [ordered[i * n // sample] for i in range(sample)]


def growth_exponent(ns: Sequence[float], seconds: Sequence[float | None]) -> float | None:
    """Least-squares slope of ``log(time)`` against ``log(n)``.

    ``time = c * n**k`` gives ``k``: about 1 for hashing (linear), about 2 for
    all-pairs comparison (quadratic).  Points with a missing or non-positive
    time are left out; None when fewer than two distinct sizes remain.
    """
    points = [(float(n), float(t)) for n, t in zip(ns, seconds) if t is not None and t > 0 and n > 0]
    if len({n for n, _ in points}) < 2:
        return None
    x = np.log([n for n, _ in points])
    y = np.log([t for _, t in points])
    x0 = x - x.mean()
    return float((x0 * (y - y.mean())).sum() / (x0 * x0).sum())


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _draw(all_paths: list[str], sample: list[str], n: int) -> list[str]:
    """``n`` image paths: evenly spaced distinct ones, then cycling through the sample."""
    if n <= len(all_paths):
        return sample_paths(all_paths, n)
    extra = [sample[i % len(sample)] for i in range(n - len(all_paths))]
    return sorted(all_paths) + extra


def _random_words(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    """``n`` uniformly random packed hashes of ``bits`` bits (padding bits zero)."""
    words = rng.integers(0, 2**64, size=(n, (bits + 63) // 64), dtype=np.uint64, endpoint=False)
    tail = bits % 64
    if tail and n:
        words[:, -1] &= np.uint64(((1 << tail) - 1) << (64 - tail))
    return words


def _versions() -> dict[str, str]:
    import numba
    import PIL

    import finder

    try:
        import imagehash

        imagehash_version = imagehash.__version__
    except Exception:  # pragma: no cover - imagehash is a dependency
        imagehash_version = "?"
    return {
        "finder": finder.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "numba": numba.__version__,
        "imagehash": imagehash_version,
        "python": platform.python_version(),
    }


# --------------------------------------------------------------------------
# The five measurements
# --------------------------------------------------------------------------


def _per_image(
    sample: list[str], names: list[str], repeat: int, progress: Progress | None
) -> tuple[dict, dict | None, list[str], list[str]]:
    """Per-image stage medians for every algorithm, and FINd's fine stages."""
    per: dict[str, dict[str, list[float]]] = {a: {s: [] for s in PER_IMAGE_STAGES} for a in names}
    fine: dict[str, list[float]] = {s: [] for s in FIND_STAGES}
    measured: list[str] = []
    skipped: list[str] = []
    clock = time.perf_counter
    step = max(1, len(sample) // 10)
    for k, path in enumerate(sample):
        if k % step == 0:
            _say(progress, f"per-image stages: {k}/{len(sample)} images")
        runs: dict[str, dict[str, list[float]]] = {a: {s: [] for s in PER_IMAGE_STAGES} for a in names}
        fine_runs: dict[str, list[float]] = {s: [] for s in FIND_STAGES}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(repeat):
                    t0 = clock()
                    image = open_image(path)
                    decode = clock() - t0
                    if isinstance(image, FileError):
                        raise ValueError(image.reason)
                    try:
                        for name in names:
                            staged = STAGED[name]
                            t0 = clock()
                            prepared = staged.prepare(image)
                            t1 = clock()
                            staged.hash(prepared)
                            t2 = clock()
                            r = runs[name]
                            r["decode"].append(decode)
                            r["prepare"].append(t1 - t0)
                            r["hash"].append(t2 - t1)
                            r["total"].append(decode + t2 - t0)
                        if "find" in names:
                            _, seconds = find_hash_staged(image)
                            fine_runs["decode"].append(decode)
                            for stage, value in seconds.items():
                                fine_runs[stage].append(value)
                    finally:
                        image.close()
        except Exception:  # an image that cannot be decoded or hashed is left out, as hash_paths would
            skipped.append(path)
            continue
        measured.append(path)
        for name in names:
            for stage in PER_IMAGE_STAGES:
                per[name][stage].append(statistics.median(runs[name][stage]))
        if "find" in names:
            for stage in FIND_STAGES:
                fine[stage].append(statistics.median(fine_runs[stage]))
    if not measured:
        raise ValueError("none of the sampled images could be decoded and hashed")
    per_image = {a: {s: _median_ms(per[a][s]) for s in PER_IMAGE_STAGES} for a in names}
    find_stages = None
    if "find" in names:
        find_stages = {s: _median_ms(fine[s]) for s in FIND_STAGES}
        find_stages["total"] = sum(find_stages.values())
    return per_image, find_stages, measured, skipped


_MEMORY_SCRIPT = r"""
import json, os, re, resource, sys

def maxrss_mib():
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 2**20 if sys.platform == "darwin" else value / 1024  # bytes on macOS, KiB elsewhere

def status_mib(field):
    # /proc/self/status (Linux): VmRSS now, VmHWM peak of this process image since exec.
    try:
        with open("/proc/self/status") as f:
            return int(re.search(field + r":\s+(\d+) kB", f.read()).group(1)) / 1024
    except (OSError, AttributeError):
        return None

from finder.hashing import hash_paths, warm_up
job = json.load(sys.stdin)
warm_up(job["algorithms"])
baseline = status_mib("VmRSS")
import_peak = status_mib("VmHWM")
report = hash_paths(job["paths"], job["algorithms"], jobs=1)
peak = status_mib("VmHWM")
result = {"ru_maxrss_mib": maxrss_mib(), "source": "VmHWM" if peak is not None else "ru_maxrss"}
if peak is None:  # no /proc: ru_maxrss, which may include the parent's size at fork
    baseline = import_peak = None
    peak = result["ru_maxrss_mib"]
result.update(baseline_mib=baseline, import_peak_mib=import_peak, peak_mib=peak, hashed=len(report.hashset))
print(json.dumps(result))
"""


def _memory_one(name: str, paths: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT],
        input=json.dumps({"algorithms": [name], "paths": paths}),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory measurement for {name} failed: {last}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    baseline = result["baseline_mib"]
    result["delta_mib"] = None if baseline is None else result["peak_mib"] - baseline
    return result


def _memory(paths: list[str], names: list[str], progress: Progress | None) -> dict:
    """Peak RSS of a fresh one-algorithm worker hashing ``paths``, per algorithm.

    The subprocesses are independent (peak RSS is per process), so up to
    ``cpu_count`` of them run at once.
    """
    _say(progress, f"memory: {len(names)} fresh processes")
    workers = max(1, min(len(names), os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(_memory_one, name, paths) for name in names}
        return {name: futures[name].result() for name in names}


def _jobs(
    paths: list[str], names: list[str], jobs: list[int], repeat: int, progress: Progress | None
) -> tuple[list[dict], HashReport | None]:
    """Throughput of hash_paths with all algorithms together, per worker count; and the last report."""
    rows: list[dict] = []
    report = None
    hash_paths(paths[:2], names, jobs=1)  # load every kernel before timing
    for j in jobs:
        _say(progress, f"throughput: --jobs {j}")
        seconds = []
        hashed = 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = hash_paths(paths, names, jobs=j)
            seconds.append(time.perf_counter() - t0)
            hashed = len(report.hashset)
        median = statistics.median(seconds)
        rows.append({"jobs": j, "images": len(paths), "hashed": hashed, "seconds": median,
                     "images_per_s": len(paths) / median})
    for row in rows:
        row["speedup"] = row["images_per_s"] / rows[0]["images_per_s"]
    return rows, report


def _sizes(
    all_paths: list[str],
    sample: list[str],
    names: list[str],
    sizes: list[int],
    jobs: int,
    repeat: int,
    hash_cap: int | None,
    seed: int,
    progress: Progress | None,
    known: HashReport | None = None,
) -> dict:
    """Hashing and all-pairs time against collection size, with growth exponents."""
    specs = [_algorithms.get(n) for n in names]
    radius = {s.name: math.floor(s.default_threshold * s.bits) for s in specs}
    real: dict[str, dict[str, np.ndarray]] = {s.name: {} for s in specs}  # path -> words, unique paths

    def remember(report) -> None:
        for k, path in enumerate(report.hashset.paths.tolist()):
            for s in specs:
                real[s.name].setdefault(path, report.hashset.hashes[s.name][k])

    remember(known if known is not None else hash_paths(sample, names, jobs=jobs))
    rows: list[dict] = []
    for n in sizes:
        row: dict[str, Any] = {"n": n, "hash_s": None, "hash_images_per_s": None}
        if hash_cap is None or n <= hash_cap:
            _say(progress, f"sizes: hashing {n} images")
            paths = _draw(all_paths, sample, n)
            t0 = time.perf_counter()
            report = hash_paths(paths, names, jobs=jobs)
            row["hash_s"] = time.perf_counter() - t0
            row["hash_images_per_s"] = n / row["hash_s"]
            remember(report)
        rows.append(row)

    largest = max(sizes, default=0)
    rng = np.random.default_rng(seed)
    real_count: dict[str, int] = {}
    for s in specs:
        words = np.array(list(real[s.name].values()), dtype=np.uint64).reshape(-1, s.words)[:largest]
        synthetic = max(0, largest - len(words))
        real_count[s.name] = len(words)
        words = np.ascontiguousarray(np.concatenate([words, _random_words(rng, synthetic, s.bits)]))
        pairs_within(words[: min(len(words), 64)], radius[s.name])  # load the kernel before timing
        for row in rows:
            n = row["n"]
            _say(progress, f"sizes: comparing {n} {s.name} hashes")
            seconds = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                found = pairs_within(words[:n], radius[s.name])
                seconds.append(time.perf_counter() - t0)
            row.setdefault("compare_s", {})[s.name] = statistics.median(seconds)
            row.setdefault("pairs", {})[s.name] = len(found.i)
            row.setdefault("synthetic", {})[s.name] = max(0, n - real_count[s.name])
    ns = [r["n"] for r in rows]

    def last_two(times: list[float | None]) -> float | None:
        # Slope between the two largest timed sizes: the asymptotic regime, free of fixed overheads.
        timed = sorted((n, t) for n, t in zip(ns, times) if t is not None and t > 0)
        distinct = list({n: (n, t) for n, t in timed}.values())[-2:]
        return growth_exponent([n for n, _ in distinct], [t for _, t in distinct])

    return {
        "jobs": jobs,
        "algorithms": names,
        "radius": radius,
        "hash_cap": hash_cap,
        "real": real_count,
        "rows": rows,
        "exponent": {
            "hash": growth_exponent(ns, [r["hash_s"] for r in rows]),
            "compare": {s.name: growth_exponent(ns, [r["compare_s"][s.name] for r in rows]) for s in specs},
        },
        "exponent_last_two": {
            "hash": last_two([r["hash_s"] for r in rows]),
            "compare": {s.name: last_two([r["compare_s"][s.name] for r in rows]) for s in specs},
        },
    }


def run_bench(
    paths: list[str],
    algorithms: list[str],
    jobs: list[int],
    sizes: list[int],
    *,
    repeat: int = 3,
    sample: int = 200,
    progress: Callable[[str], None] | None = None,
    hash_cap: int | None = DEFAULT_HASH_CAP,
    seed: int = 0,
) -> dict:
    """Measure per-image stage times, memory, worker scaling and size scaling on real images.

    Parameters
    ----------
    paths : files and directories, as given to ``finder hash`` (directories
        are walked with :func:`finder.files.find_images`).
    algorithms : algorithm names; empty means every registered algorithm.
    jobs : worker counts for the throughput measurement (the first is the
        reference for the speed-up); empty skips it.
    sizes : collection sizes for the growth measurement; empty skips it.
    repeat : runs per measurement; the median is reported, which resists the
        noise of a shared machine.
    sample : at most this many images, evenly spaced through the sorted
        paths, are used for the per-image, memory and throughput measurements.
    progress : called with a short message as each phase starts.
    hash_cap : sizes above this are not hash-timed (``hash_s`` is None), only
        compare-timed; None times hashing at every size.  Hashing time is
        always measured for real, never extrapolated.
    seed : seed of the synthetic hashes used beyond the folder's size.

    Returns
    -------
    dict, JSON-serialisable, all times in milliseconds (``per_image``,
    ``find_stages``) or seconds (``jobs``, ``sizes``):

    ``meta``
        algorithms, image counts (found, sampled, measured, skipped), repeat,
        cpu count, numba threads, library versions.
    ``per_image``
        ``{algorithm: {decode, prepare, hash, total}}`` in ms: medians over the
        images of each image's median over ``repeat`` runs.  The image is
        decoded once per run and fed to every algorithm, so ``decode`` is the
        same cost each algorithm pays alone.  ``total`` is the median of the
        per-run sums, so it need not equal the sum of the stage medians.
    ``find_stages``
        ``{stage: ms}`` for :data:`FIND_STAGES` plus ``total`` (their sum);
        None when FINd is not among ``algorithms``.
    ``memory``
        ``{algorithm: {baseline_mib, import_peak_mib, peak_mib, delta_mib,
        ru_maxrss_mib, source, hashed}}``: a fresh Python process
        (``sys.executable``) per algorithm imports finder and loads the
        algorithm's kernels, then records its resident size
        (``baseline_mib``: interpreter + libraries + compiled kernels) and its
        high-water mark so far (``import_peak_mib``); it then hashes the
        sample in-process with ``hash_paths(jobs=1)``, exactly as one pool
        worker does, and records the high-water mark at the end
        (``peak_mib``).  ``delta_mib = peak_mib - baseline_mib`` is what
        decoding and hashing add per worker; a pool of ``--jobs N`` needs up
        to about N times ``peak_mib`` (less what forked workers share with
        the parent).  Sizes come from ``VmRSS``/``VmHWM`` in
        ``/proc/self/status`` (``source == "VmHWM"``).  ``ru_maxrss_mib``
        (``getrusage(RUSAGE_SELF)`` at the end) is reported too but not
        used where ``/proc`` exists: on Linux it also counts the pages the
        child had when it was forked from this (larger) process before
        ``exec``, so it overstates a small worker; without ``/proc`` it is
        the peak, and baseline/delta are None.
    ``jobs``
        one row per worker count: ``{jobs, images, hashed, seconds,
        images_per_s, speedup}``, hashing the sample with *all* requested
        algorithms together (each image decoded once, as ``finder hash``
        does), median of ``repeat``.
    ``sizes``
        ``{jobs, algorithms, radius, hash_cap, real, rows, exponent,
        exponent_last_two}``: one row per
        size ``n`` with ``hash_s`` (one real run of hash_paths with all
        algorithms and the largest ``jobs`` value on ``n`` images: distinct
        images of the folder, then cycling through the sample),
        ``compare_s[algorithm]`` (``hamming.pairs_within`` on ``n`` hashes at
        radius ``floor(default_threshold * bits)``, median of ``repeat``; the
        folder's real hashes first, then ``synthetic[algorithm]`` seeded
        random ones; ``real[algorithm]`` is how many real hashes there
        were) and ``pairs[algorithm]``.  ``exponent`` holds the
        least-squares slope of log time against log n for hashing and for
        each algorithm's comparison over all sizes (None with fewer than two
        sizes); fixed overheads (process pool start, thread launch) flatten
        it at small sizes, so ``exponent_last_two`` gives the slope between
        the two largest sizes alone, the regime a larger collection
        continues.

    Raises
    ------
    ValueError
        On an unknown algorithm, non-positive jobs/sizes/repeat/sample, or
        when no image could be found or decoded.
    """
    names = list(dict.fromkeys(_algorithms.get(a).name for a in algorithms)) or list(_algorithms.ALGORITHMS)
    for name in names:
        if name not in STAGED:  # pragma: no cover - every registered algorithm is staged
            raise ValueError(f"no staged version of algorithm {name!r}")
    for label, values in (("jobs", jobs), ("sizes", sizes)):
        if any(int(v) < 1 for v in values):
            raise ValueError(f"{label} must be positive integers, got {list(values)}")
    if repeat < 1 or sample < 1:
        raise ValueError("repeat and sample must be at least 1")
    jobs = [int(j) for j in jobs]
    sizes = [int(n) for n in sizes]

    _say(progress, "finding images")
    all_paths, _ = find_images(paths)
    if not all_paths:
        raise ValueError("no images found")
    chosen = sample_paths(all_paths, sample)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm_up(names)
    per_image, find_stages, measured, skipped = _per_image(chosen, names, repeat, progress)
    memory = _memory(measured, names, progress)
    jobs_rows, known = _jobs(measured, names, jobs, repeat, progress) if jobs else ([], None)
    sizes_result = _sizes(
        all_paths, measured, names, sizes, max(jobs, default=1), repeat, hash_cap, seed, progress, known
    )

    import numba

    meta = {
        "algorithms": names,
        "bits": {n: _algorithms.get(n).bits for n in names},
        "n_images": len(all_paths),
        "sample": len(chosen),
        "measured": len(measured),
        "skipped": len(skipped),
        "repeat": repeat,
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "versions": _versions(),
    }
    return {
        "meta": meta,
        "per_image": per_image,
        "find_stages": find_stages,
        "memory": memory,
        "jobs": jobs_rows,
        "sizes": sizes_result,
    }


# --------------------------------------------------------------------------
# Terminal tables
# --------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_tables(result: dict) -> list[Table]:
    """Rich tables of a :func:`run_bench` result, in the order they were measured.

    One table each for per-image stage times (a row per algorithm), FINd's
    stages (a row per stage plus a total; left out when FINd was not run),
    memory (a row per algorithm), worker scaling (a row per jobs value; left
    out when empty) and size scaling (a row per size plus an exponent row;
    left out when empty).

    Returns
    -------
    list of ``rich.table.Table``.
    """
    from rich.table import Table  # imported here: only the terminal output needs rich

    meta = result["meta"]
    tables = []

    t = Table(title=f"Per image, ms (median of {meta['measured']} images x {meta['repeat']} runs)")
    for column in ("algorithm", "decode", "prepare", "hash", "total"):
        t.add_column(column, justify="left" if column == "algorithm" else "right")
    for name, row in result["per_image"].items():
        t.add_row(name, *(_fmt(row[s]) for s in PER_IMAGE_STAGES))
    tables.append(t)

    stages = result.get("find_stages")
    if stages:
        t = Table(title="FINd stages, ms (median)")
        t.add_column("stage")
        t.add_column("ms", justify="right")
        t.add_column("share", justify="right")
        total = stages["total"] or float("nan")
        for stage in FIND_STAGES:
            t.add_row(stage, _fmt(stages[stage]), f"{100 * stages[stage] / total:.0f}%")
        t.add_row("total", _fmt(stages["total"]), "100%", style="bold")
        tables.append(t)

    t = Table(title=f"Memory per worker, MiB (RSS of a fresh process hashing {meta['measured']} images)")
    for column in ("algorithm", "baseline", "import peak", "peak", "peak - baseline"):
        t.add_column(column, justify="left" if column == "algorithm" else "right")
    for name, row in result["memory"].items():
        t.add_row(name, *(_fmt(row[k], 1) for k in ("baseline_mib", "import_peak_mib", "peak_mib", "delta_mib")))
    tables.append(t)

    if result["jobs"]:
        t = Table(title=f"Throughput, {'+'.join(meta['algorithms'])} together ({meta['cpu_count']} CPUs)")
        for column in ("jobs", "seconds", "images/s", "speed-up"):
            t.add_column(column, justify="right")
        for row in result["jobs"]:
            t.add_row(str(row["jobs"]), _fmt(row["seconds"]), _fmt(row["images_per_s"], 1), f"{row['speedup']:.2f}x")
        tables.append(t)

    sizes = result["sizes"]
    if sizes["rows"]:
        names = list(sizes["radius"])
        t = Table(
            title=f"Growth with collection size (hashing with --jobs {sizes['jobs']}; compare = all pairs)",
            caption="radius: " + ", ".join(f"{n} {r}" for n, r in sizes["radius"].items())
            + f"; beyond {max(sizes['real'].values(), default=0):,} real hashes of the folder, seeded random ones",
        )
        t.add_column("n", justify="right")
        t.add_column("hash s", justify="right")
        t.add_column("images/s", justify="right")
        for name in names:
            t.add_column(f"{name} compare ms", justify="right")
        for row in sizes["rows"]:
            t.add_row(f"{row['n']:,}", _fmt(row["hash_s"]), _fmt(row["hash_images_per_s"], 0),
                      *(_fmt(1e3 * row["compare_s"][n], 3) for n in names))
        exponent = sizes["exponent"]
        t.add_row("exponent", _fmt(exponent["hash"], 2), "",
                  *(_fmt(exponent["compare"][n], 2) for n in names), style="bold")
        last = sizes["exponent_last_two"]
        t.add_row("last two", _fmt(last["hash"], 2), "", *(_fmt(last["compare"][n], 2) for n in names), style="bold")
        tables.append(t)
    return tables
