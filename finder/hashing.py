"""The parallel hashing driver: paths in, a HashSet out.

Chunks of paths go to a process pool; each worker decodes every image once,
runs every requested algorithm on it and sends back packed bits (never
pixels) or a FileError.  An earlier HashSet made with the same algorithms and
settings supplies the hashes of files whose size and mtime are unchanged.
The driver knows nothing about any particular algorithm.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
from PIL import Image

from finder import algorithms as _algorithms
from finder.decode import FileError, open_image, stat_file
from finder.hashset import HashSet

Progress = Callable[[int], None]
OnError = Callable[[FileError], None]


@dataclass
class HashReport:
    """A HashSet and what happened while making it."""

    hashset: HashSet
    new: int = 0
    changed: int = 0
    rehashed: int = 0
    reused: int = 0
    vanished: int = 0
    errors: list[FileError] = field(default_factory=list)
    seconds: float = 0.0
    rehash_reason: str | None = None

    @property
    def hashed(self) -> int:
        return self.new + self.changed + self.rehashed

    def summary(self) -> str:
        text = (
            f"hashed {self.hashed} (new {self.new}, changed {self.changed}, rehashed {self.rehashed}), reused {self.reused}, "
            f"dropped {self.vanished} vanished, skipped {len(self.errors)} with errors, "
            f"in {self.seconds:.1f} s"
        )
        return f"{text}; {self.rehash_reason}" if self.rehash_reason else text


def hash_image(path: str, names: Sequence[str], exif_transpose: bool) -> np.ndarray | FileError:
    """Decode ``path`` once and hash it with each algorithm: uint64 words concatenated."""
    image = open_image(path, exif_transpose)
    if isinstance(image, FileError):
        return image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.concatenate([_algorithms.get(name).hash_image(image) for name in names])
    except Exception as exc:  # a decodable image that a hash cannot handle is skipped, not fatal
        return FileError(path, f"cannot hash: {type(exc).__name__}: {exc}")
    finally:
        image.close()


def hash_chunk(args: tuple[list[tuple[int, str]], tuple[str, ...], bool]) -> list[tuple[int, np.ndarray | FileError]]:
    """Worker entry point: hash a chunk of (index, path)."""
    chunk, names, exif_transpose = args
    return [(index, hash_image(path, names, exif_transpose)) for index, path in chunk]


def _ignore_sigint() -> None:
    # The parent handles Ctrl-C and terminates the pool; workers must not print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back while forking or loading kernels.

    A SIGINT that lands inside fork handlers or llvmlite's ctypes callbacks
    raises KeyboardInterrupt where Python can only print and drop it.  Blocked
    here, it stays pending and is raised normally when the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def warm_up(names: Sequence[str]) -> None:
    """Load (or compile) every algorithm's kernels once, so forked workers inherit them."""
    tiny = Image.new("RGB", (8, 8))
    for name in names:
        _algorithms.get(name).hash_image(tiny)


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork shares the parent's already-loaded numba kernels; elsewhere use the platform default.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def run_pool(
    tasks: list[tuple[int, str]],
    names: tuple[str, ...],
    exif_transpose: bool,
    jobs: int,
    progress: Progress | None,
) -> Iterator[tuple[int, np.ndarray | FileError]]:
    """Yield (index, words or FileError) for every task, using ``jobs`` processes (1 = in-process)."""
    if jobs <= 1 or len(tasks) <= 1:
        for index, path in tasks:
            yield index, hash_image(path, names, exif_transpose)
            if progress:
                progress(1)
        return
    size = max(1, min(32, len(tasks) // (jobs * 8)))
    chunks = [(tasks[i : i + size], names, exif_transpose) for i in range(0, len(tasks), size)]
    with sigint_deferred():
        pool = _pool_context().Pool(min(jobs, len(chunks)), initializer=_ignore_sigint)
    try:
        for results in pool.imap_unordered(hash_chunk, chunks):
            yield from results
            if progress:
                progress(len(results))
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def hash_paths(
    paths: Sequence[str],
    algorithms: Sequence[str] = ("find",),
    *,
    jobs: int | None = None,
    exif_transpose: bool = True,
    previous: HashSet | None = None,
    rehash: bool = False,
    progress: Progress | None = None,
    on_error: OnError | None = None,
    errors: Sequence[FileError] = (),
) -> HashReport:
    """Hash image files, reusing unchanged entries of ``previous``.

    Parameters
    ----------
    paths : candidate image paths (see ``finder.files.find_images``).
    algorithms : algorithm names; each image is decoded once for all of them.
    jobs : worker processes; None = all cores, 1 = in this process.
    exif_transpose : apply EXIF orientation before hashing.
    previous : an earlier HashSet; entries with the same path, size and mtime are
        reused when it has the same algorithms and ``exif_transpose`` setting.
    rehash : ignore ``previous``.
    progress : called with the number of files just finished.
    on_error : called once for each skipped file, as soon as it is known.
    errors : errors found before hashing (e.g. unreadable directories), kept in the result.

    Returns
    -------
    HashReport with a HashSet of the files that were hashed or reused, in
    ``paths`` order, and every skipped file with its reason.
    """
    start = time.perf_counter()
    names = tuple(dict.fromkeys(_algorithms.get(a).name for a in algorithms))
    specs = [_algorithms.get(a) for a in names]
    jobs = (os.cpu_count() or 1) if jobs is None else max(1, jobs)
    report = HashReport(HashSet.empty({s.name: s.bits for s in specs}, exif_transpose), errors=list(errors))

    before = {str(p): i for i, p in enumerate(previous.paths)} if previous is not None else {}
    reusable = previous is not None and not rehash
    if reusable:
        if sorted(previous.algorithms) != sorted(names):
            report.rehash_reason = f"previous file has algorithms {','.join(previous.algorithms)}: rehashed all"
            reusable = False
        elif previous.exif_transpose != exif_transpose:
            report.rehash_reason = "previous file used a different EXIF setting: rehashed all"
            reusable = False
    unchanged = np.zeros(len(paths), dtype=bool)

    n = len(paths)
    total_words = sum(s.words for s in specs)
    words = np.zeros((n, total_words), dtype=np.uint64)
    size = np.zeros(n, dtype=np.int64)
    mtime = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    tasks: list[tuple[int, str]] = []
    for index, path in enumerate(paths):
        st = stat_file(path)
        if isinstance(st, FileError):
            report.errors.append(st)
            if on_error:
                on_error(st)
            continue
        size[index], mtime[index] = st.st_size, st.st_mtime_ns
        old = before.get(path)
        unchanged[index] = old is not None and previous.size[old] == st.st_size and previous.mtime_ns[old] == st.st_mtime_ns
        if unchanged[index] and reusable:
            words[index] = np.concatenate([previous.hashes[name][old] for name in names])
            ok[index] = True
            report.reused += 1
            continue
        tasks.append((index, path))
    report.vanished = len(set(before) - set(paths))
    if progress and report.reused:
        progress(report.reused)

    if tasks:
        with sigint_deferred():
            warm_up(names)
    for index, result in run_pool(tasks, names, exif_transpose, jobs, progress):
        if isinstance(result, FileError):
            report.errors.append(result)
            if on_error:
                on_error(result)
        else:
            words[index] = result
            ok[index] = True
            if paths[index] not in before:
                report.new += 1
            elif unchanged[index]:
                report.rehashed += 1
            else:
                report.changed += 1

    keep = np.flatnonzero(ok)
    offsets = np.cumsum([0] + [s.words for s in specs])
    report.hashset = HashSet(
        paths=np.array([paths[i] for i in keep], dtype=str) if len(keep) else np.zeros(0, dtype="U1"),
        hashes={s.name: np.ascontiguousarray(words[keep, offsets[k] : offsets[k + 1]]) for k, s in enumerate(specs)},
        bits={s.name: s.bits for s in specs},
        size=size[keep],
        mtime_ns=mtime[keep],
        errors=sorted(report.errors, key=lambda e: e.path),
        exif_transpose=exif_transpose,
    )
    report.seconds = time.perf_counter() - start
    return report
