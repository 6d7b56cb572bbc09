"""Executors: where chunks of work run, behind one small protocol.

The hashing driver hands an executor a picklable module-level function and an
iterable of picklable chunks, and receives the results in any order, as each
chunk finishes::

    with local_executor(jobs=4) as executor:
        for result in executor.map(hash_chunk, chunks):
            ...

Implementations: :class:`finder.engine.local.LocalExecutor` (this process, or
a process pool) and :class:`finder.engine.dask.DaskExecutor` (a Dask cluster).
Each says how many workers it has (``jobs``) and how many files one chunk
should hold (``chunk_files(tasks)``): small chunks that stream back locally,
coarse tasks (>= 100 ms) on Dask.  Nothing may rely on state inherited through ``fork``: a worker
started with ``spawn`` must behave the same (codecs register themselves
in :mod:`finder.io.decode`, kernels load from numba's cache on first use).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn`` over chunks and yields results as they finish (unordered)."""

    #: Worker processes (or threads) running chunks at once.
    jobs: int

    def chunk_files(self, tasks: int) -> int:
        """Files per chunk for ``tasks`` files: enough chunks to balance the workers, each worth sending."""
        ...

    def map(self, fn: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def local_executor(jobs: int | None = None, start_method: str | None = None) -> Executor:
    """A :class:`~finder.engine.local.LocalExecutor` (imported lazily)."""
    from finder.engine.local import LocalExecutor

    return LocalExecutor(jobs, start_method)
