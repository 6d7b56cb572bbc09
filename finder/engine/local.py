"""The local executor: in this process (``jobs=1``) or a pool of worker processes.

Workers ignore Ctrl-C and take SIGTERM's default action: the parent alone
decides how a run stops (it terminates the pool, writes a checkpoint and
exits), so no worker prints a traceback.  The pool uses ``fork`` where the
platform has it (workers start in milliseconds and share already-loaded
kernels) and the platform default elsewhere; any start method can be asked
for, and the test suite runs the same hashing under ``spawn``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import Pool
from typing import TypeVar

from finder import config

T = TypeVar("T")
R = TypeVar("R")


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while forking or loading kernels.

    A signal whose handler raises inside fork handlers or llvmlite's ctypes
    callbacks surfaces where Python can only print and drop it.  Blocked here,
    it stays pending and is delivered normally when the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def default_start_method() -> str | None:
    """``FINDER_START_METHOD`` if set, else fork where available (forkserver once this process has started
    threads a fork would break, :func:`finder.config.fork_unsafe`), else the platform default."""
    chosen = config.start_method()
    if chosen:
        return chosen
    methods = multiprocessing.get_all_start_methods()
    if "fork" not in methods:
        return None
    return "forkserver" if config.fork_unsafe() and "forkserver" in methods else "fork"


class LocalExecutor:
    """Run chunks in this process (``jobs <= 1``) or in ``jobs`` worker processes."""

    def __init__(self, jobs: int | None = None, start_method: str | None = None) -> None:
        self.jobs = (os.cpu_count() or 1) if jobs is None else max(1, int(jobs))
        self.start_method = start_method or default_start_method()
        self._pool: Pool | None = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(terminate=exc[0] is not None)

    def close(self, terminate: bool = False) -> None:
        if self._pool is None:
            return
        if terminate:
            self._pool.terminate()
        else:
            self._pool.close()
        self._pool.join()
        self._pool = None

    def chunk_files(self, tasks: int) -> int:
        """About 8 chunks per worker for balance, at most 32 files so that results stream back."""
        return max(1, min(32, tasks // (self.jobs * 8)))

    def map(self, fn: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
        """Yield ``fn(chunk)`` for every chunk, in the order they finish."""
        chunks = list(chunks)
        if self.jobs <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                yield fn(chunk)
            return
        if self._pool is None:
            with signals_deferred():
                context = multiprocessing.get_context(self.start_method)
                self._pool = context.Pool(min(self.jobs, len(chunks)), initializer=_worker_init)
        pool = self._pool
        try:
            yield from pool.imap_unordered(fn, chunks)
        except BaseException:
            self.close(terminate=True)
            raise
