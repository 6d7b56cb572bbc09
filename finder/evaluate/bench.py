"""``finder bench``: where the time and memory of hashing and matching go, on your images.

Five measurements, each answering a question a user asks before running
finder on a large collection:

``per_image``
    How long does one image take with each algorithm, and is it the decoding,
    the resizing or the hash itself?  *decode* is ``Image.open`` + full load,
    as :func:`finder.io.decode.open_image` does it; then the algorithm's own
    stages from the registry (:mod:`finder.algorithms`) run one by one with
    :func:`finder.algorithms.base.run_stages`, exactly as hashing runs them:
    *prepare* is the sum of its Pillow resize/convert stages
    (``Stage.prepare``), *hash* the sum of the others.  Nothing is copied
    into this module, so what is timed is what hashes.
``find_stages``
    FINd's own pipeline stage by stage (thumbnail, RGB, luma, blur+decimate,
    DCT, median bits; the same run as ``per_image``), to see which kernel to
    optimise next.
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

:func:`run_bench` returns a JSON-serialisable dict;
:func:`finder.evaluate.bench_tables.render_tables` turns it into rich tables for the terminal.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from finder import algorithms as _algorithms
from finder.algorithms.base import run_stages
from finder.evaluate.machine import cpu_model, popcount_loop, simd_level, versions
from finder.io.decode import FileError, open_image
from finder.io.files import find_images
from finder.pairs import pairs_within
from finder.store.rows import warm_up
from finder.store.update import HashReport, hash_paths

if TYPE_CHECKING:
    pass

__all__ = [
    "FIND_STAGES",
    "PER_IMAGE_STAGES",
    "growth_exponent",
    "measure_per_image",
    "per_image_bench",
    "run_bench",
    "sample_paths",
]

Progress = Callable[[str], None]

#: Sizes above this are only compare-timed: hashing them would take too long by
#: default (at ~10 ms per large photo, 10 000 images already take ~100 s per job).
DEFAULT_HASH_CAP = 10_000

#: FINd's stages in pipeline order, as reported in ``find_stages``: decoding, then the registered stages.
FIND_STAGES = ("decode", *_algorithms.get("find").stage_names)

PER_IMAGE_STAGES = ("decode", "prepare", "hash", "total")


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


# --------------------------------------------------------------------------
# The five measurements
# --------------------------------------------------------------------------


def _time_runs(
    path: str, specs: list[_algorithms.Algorithm], repeat: int
) -> dict[str, dict[str, list[float]]] | None:
    """Seconds per run of decoding ``path`` once and running every algorithm's stages on it.

    Returns ``{algorithm: {"decode": [...], stage: [...], ...}}``, one value per
    run; None when the image cannot be decoded.  A stage's exception propagates.
    """
    runs: dict[str, dict[str, list[float]]] = {
        a.name: {"decode": [], **{stage: [] for stage in a.stage_names}} for a in specs}
    for _ in range(repeat):
        start = time.perf_counter()
        image = open_image(path)
        decode = time.perf_counter() - start
        if isinstance(image, FileError):
            return None
        try:
            for algorithm in specs:
                _, seconds = run_stages(algorithm, image)
                runs[algorithm.name]["decode"].append(decode)
                for stage, value in seconds.items():
                    runs[algorithm.name][stage].append(value)
        finally:
            image.close()
    return runs


def _split_runs(algorithm: _algorithms.Algorithm, runs: dict[str, list[float]]) -> dict[str, float]:
    """Median over runs of decode, prepare (the Pillow stages), hash (the others) and their total."""
    columns: dict[str, list[float]] = {column: [] for column in PER_IMAGE_STAGES}
    for k, decode in enumerate(runs["decode"]):
        prepare = sum(runs[stage.name][k] for stage in algorithm.stages if stage.prepare)
        hashing = sum(runs[stage.name][k] for stage in algorithm.stages if not stage.prepare)
        for column, value in zip(PER_IMAGE_STAGES, (decode, prepare, hashing, decode + prepare + hashing)):
            columns[column].append(value)
    return {column: statistics.median(values) for column, values in columns.items()}


def measure_per_image(
    sample: list[str], names: list[str], repeat: int, progress: Progress | None = None
) -> tuple[dict, dict | None, list[str], list[str]]:
    """Per-image stage medians for every algorithm, and FINd stage by stage.

    Each image is decoded once per run and every algorithm's registered stages
    run on it (:func:`finder.algorithms.base.run_stages`); an image is summarised
    by its median over ``repeat`` runs, the sample by the median over images.

    Parameters
    ----------
    sample : image paths.
    names : registered algorithm names.
    repeat : runs per image.
    progress : called with a short message now and then.

    Returns
    -------
    per_image : ``{algorithm: {decode, prepare, hash, total}}`` in ms.
    find_stages : ``{stage: ms}`` for :data:`FIND_STAGES` plus ``total`` (their
        sum), or None when ``"find"`` is not in ``names``.
    measured, skipped : the paths measured, and those that could not be decoded or hashed.

    Raises
    ------
    ValueError
        When no image of the sample could be decoded and hashed.
    """
    specs = [_algorithms.get(name) for name in names]
    per: dict[str, dict[str, list[float]]] = {a: {s: [] for s in PER_IMAGE_STAGES} for a in names}
    fine: dict[str, list[float]] = {s: [] for s in FIND_STAGES}
    measured: list[str] = []
    skipped: list[str] = []
    step = max(1, len(sample) // 10)
    for k, path in enumerate(sample):
        if k % step == 0:
            _say(progress, f"per-image stages: {k}/{len(sample)} images")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runs = _time_runs(path, specs, repeat)
        except Exception:  # noqa: BLE001 - an image a stage fails on is left out, as hash_paths would
            runs = None
        if runs is None:
            skipped.append(path)
            continue
        measured.append(path)
        for algorithm in specs:
            for column, value in _split_runs(algorithm, runs[algorithm.name]).items():
                per[algorithm.name][column].append(value)
        if "find" in runs:
            for stage in FIND_STAGES:
                fine[stage].append(statistics.median(runs["find"][stage]))
    if not measured:
        raise ValueError("none of the sampled images could be decoded and hashed")
    per_image = {a: {s: _median_ms(per[a][s]) for s in PER_IMAGE_STAGES} for a in names}
    find_stages = None
    if "find" in names:
        find_stages = {s: _median_ms(fine[s]) for s in FIND_STAGES}
        find_stages["total"] = sum(find_stages.values())
    return per_image, find_stages, measured, skipped


def _memory_one(name: str, paths: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "finder.evaluate.memory_probe"],
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
                real[s.name].setdefault(path, report.hashset.plain(s.name)[k])

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
        are walked with :func:`finder.io.files.find_images`).
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
        cpu model and count, numba threads, library versions.
    ``per_image``
        ``{algorithm: {decode, prepare, hash, total}}`` in ms: medians over the
        images of each image's median over ``repeat`` runs.  The image is
        decoded once per run and fed to every algorithm, so ``decode`` is the
        same cost each algorithm pays alone.  ``total`` is the median of the
        per-run sums, so it need not equal the sum of the stage medians.
        *prepare* sums the algorithm's ``Stage.prepare`` stages (Pillow
        resize/convert), *hash* the others; the stages are the registry's own.
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
    names = _names(algorithms)
    for label, values in (("jobs", jobs), ("sizes", sizes)):
        if any(int(v) < 1 for v in values):
            raise ValueError(f"{label} must be positive integers, got {list(values)}")
    _check_counts(repeat, sample)
    jobs = [int(j) for j in jobs]
    sizes = [int(n) for n in sizes]

    result, all_paths, measured = _per_image_phase(paths, names, repeat, sample, progress)
    memory = _memory(measured, names, progress)
    jobs_rows, known = _jobs(measured, names, jobs, repeat, progress) if jobs else ([], None)
    sizes_result = _sizes(
        all_paths, measured, names, sizes, max(jobs, default=1), repeat, hash_cap, seed, progress, known
    )
    return {**result, "memory": memory, "jobs": jobs_rows, "sizes": sizes_result}


def per_image_bench(
    paths: list[str],
    algorithms: list[str],
    *,
    repeat: int = 3,
    sample: int = 200,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Only the per-image part of :func:`run_bench`: ``{meta, per_image, find_stages}``.

    Parameters and the meaning of each key are those of :func:`run_bench`.
    """
    _check_counts(repeat, sample)
    return _per_image_phase(paths, _names(algorithms), repeat, sample, progress)[0]


def _names(algorithms: Sequence[str]) -> list[str]:
    """Registered names, duplicates dropped; every algorithm when empty (ValueError on an unknown one)."""
    return list(dict.fromkeys(_algorithms.get(a).name for a in algorithms)) or list(_algorithms.ALGORITHMS)


def _check_counts(repeat: int, sample: int) -> None:
    if repeat < 1 or sample < 1:
        raise ValueError("repeat and sample must be at least 1")


def _per_image_phase(
    paths: list[str], names: list[str], repeat: int, sample: int, progress: Progress | None
) -> tuple[dict, list[str], list[str]]:
    """Find and sample the images, time them per image; the result so far, all paths and the measured ones."""
    _say(progress, "finding images")
    all_paths, _ = find_images(paths)
    if not all_paths:
        raise ValueError("no images found")
    chosen = sample_paths(all_paths, sample)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm_up(names)
    per_image, find_stages, measured, skipped = measure_per_image(chosen, names, repeat, progress)

    import numba

    meta = {
        "algorithms": names,
        "bits": {n: _algorithms.get(n).bits for n in names},
        "n_images": len(all_paths),
        "sample": len(chosen),
        "measured": len(measured),
        "skipped": len(skipped),
        "repeat": repeat,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "simd_level": simd_level(),
        "popcount_loop": popcount_loop(),
        "numba_threads": numba.get_num_threads(),
        "versions": versions(),
    }
    return {"meta": meta, "per_image": per_image, "find_stages": find_stages}, all_paths, measured
