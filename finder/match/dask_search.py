"""All-pairs search on a Dask cluster: tiles of the pair triangle as tasks, merged on the client.

:class:`DaskSearch` plugs into :func:`finder.match.search.iter_pairs` (and
``iter_voted_pairs``, ``find_pairs``, ``vote_pairs``) as their ``search``: it
yields, block of files by block of files, exactly what the local loop yields
-- the file pairs ``(i, j)`` with ``i`` in the block, sorted by ``(i, j)`` --
so ``compare`` and ``cluster`` write the same bytes in the same order.

How:

* the set's matching columns for one algorithm (hash rows, owner, view,
  quality: no paths) are **scattered once** to every worker;
* its files are cut into ``B`` blocks of ``tile_files``; within one set the
  triangle becomes ``B (B + 1) / 2`` tile tasks (diagonal tiles: pairs within
  the block, the others: pairs across two blocks; across two sets, every
  block of A against every block of B).  Each tile runs
  :func:`finder.match.search.block_pairs` -- the local code, views, quality rules
  and the ``finder.pairs`` kernel included -- on its two blocks, with the
  worker's share of the machine's cores as numba threads, and returns three
  numpy arrays, not Python objects;
* tiles are submitted in row order through a bounded window and each block of
  rows is merged (sorted by ``(i, j)``) and yielded as soon as all its tiles
  are back, so memory holds the window's matches, not all pairs.  Grouping
  happens on the client.

A worker that dies loses its tiles; the scheduler runs them again elsewhere.
If it held the last copy of the scattered columns, the tiles waiting for them
are cancelled: the columns are scattered again and those tiles resubmitted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from finder import config
from finder.engine.dask import DaskExecutor, import_distributed, task_result
from finder.errors import SchedulerError
from finder.match.search import BLOCK_FILES
from finder.pairs import Pairs
from finder.store.hashset import HashSet, PathColumn

__all__ = ["Columns", "DaskSearch", "TILE_ENV", "columns", "tile_pairs"]

#: Environment variable: files per tile block (default ``finder.match.search.BLOCK_FILES``).
TILE_ENV = config.DASK_TILE_FILES
#: How often lost scattered columns are scattered again before the run gives up.
RESCATTER_LIMIT = 3

@dataclass(frozen=True)
class Columns:
    """What a tile needs of one algorithm of a set (scattered as one object): no paths, no file stats.

    Attributes
    ----------
    name : str
        The algorithm.
    bits : int
        Its hash width.
    words : uint64[rows, w]
        Hash rows, file by file (``owner`` ascending).
    owner : int64[rows]
        File of each row.
    view, quality : uint8[rows]
        View and quality of each row (``finder.views``).
    """

    name: str
    bits: int
    words: np.ndarray
    owner: np.ndarray
    view: np.ndarray
    quality: np.ndarray


def columns(hashset: HashSet, name: str) -> Columns:
    """The :class:`Columns` of ``hashset``'s algorithm ``name``."""
    return Columns(name, hashset.bits[name], hashset.hashes[name], hashset.owner[name], hashset.view[name],
                   hashset.quality[name])


def _block(table: Columns, f0: int, f1: int) -> HashSet:
    """Files ``f0:f1`` as a HashSet of their rows (no paths: matching does not read them)."""
    r0, r1 = (int(x) for x in np.searchsorted(table.owner, [f0, f1], side="left"))
    n, name = f1 - f0, table.name
    blank = PathColumn(np.zeros(0, np.uint8), np.zeros(n + 1, np.uint64))  # n empty names: only rows matter here
    return HashSet(paths=blank, hashes={name: table.words[r0:r1]},
                   bits={name: table.bits}, size=np.zeros(n, np.int64), mtime_ns=np.zeros(n, np.int64),
                   owner={name: table.owner[r0:r1] - f0}, view={name: table.view[r0:r1]},
                   quality={name: table.quality[r0:r1]})


def _set_numba_threads() -> None:
    """This task's share of the machine: cores divided among the worker's task threads."""
    import numba

    try:
        from distributed import get_worker

        slots = get_worker().state.nthreads
    except (ImportError, ValueError):  # not on a Dask worker
        slots = 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    most = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # set by numba at import
    numba.set_num_threads(max(1, min(most, cores // max(1, slots))))


def tile_pairs(a: Columns, b: Columns | None, d: int, rows: tuple[int, int],
               cols: tuple[int, int], backend: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One tile (runs on a worker): file pairs with ``i`` in ``rows`` and ``j`` in ``cols``.

    ``backend``: the pairs backend the client chose (``--device cuda``: each worker takes its tiles on its
    own GPU); empty: the worker's default.

    Within one set (``b`` None), ``rows == cols`` is a diagonal tile (pairs
    ``i < j`` inside the block) and otherwise ``cols`` lies after ``rows``.

    Returns
    -------
    i, j : int64[m]
        Global file indices, sorted by (i, j).
    distance : int32[m]
    """
    from finder.match.search import block_pairs

    if backend:
        config.choose_pairs_backend(backend)
    _set_numba_threads()
    f0, f1 = rows
    g0, g1 = cols
    left = _block(a, f0, f1)
    if b is None and rows == cols:
        found = block_pairs(left, a.name, d, 0, f1 - f0)
    else:
        found = block_pairs(left, a.name, d, 0, f1 - f0, _block(a if b is None else b, g0, g1))
    return found.i + f0, found.j + g0, found.distance


class DaskSearch:
    """``search`` for :mod:`finder.match.search`: the blocks of file pairs, computed as tiles on a Dask cluster.

    Parameters
    ----------
    executor : DaskExecutor
        The connected cluster.
    tile_files : int, optional
        Files per tile block; default ``$FINDER_DASK_TILE_FILES`` or
        ``finder.match.search.BLOCK_FILES`` (16,384: a 256-bit tile is ~0.3 s on
        two cores, well above Dask's per-task overhead).
    """

    def __init__(self, executor: DaskExecutor, tile_files: int | None = None) -> None:
        self.executor = executor
        self.client = executor.client
        self.tile_files = tile_files or config.dask_tile_files() or BLOCK_FILES
        self.tiles = 0  # tiles run so far (all calls)
        self.backend = config.pairs_backend()  # the client's choice (--device), passed to every tile
        self._scattered: dict[tuple[int, str], tuple[Any, Any]] = {}

    def _scatter(self, hashset: HashSet, name: str, again: bool = False) -> Any:
        """The scattered columns of ``hashset``'s ``name`` (scattered once, or again after a loss)."""
        key = (id(hashset), name)
        if again or key not in self._scattered:
            # one object, one key (a dict would be scattered value by value, under its own keys)
            future = self.client.scatter(columns(hashset, name), broadcast=True, hash=False)
            self._scattered[key] = (hashset, future)  # the set is kept alive so its id stays unique
        return self._scattered[key][1]

    def _tiles(self, ranges: Sequence[tuple[int, int]], n_other: int | None) -> list[tuple[int, tuple, tuple]]:
        """(range index, rows, cols) in row order.

        Each range (consecutive, covering the set) is cut into row blocks of
        ``tile_files``; within one set the column blocks are the same blocks
        (the triangle: every block against itself and each later one), across
        two sets the other set's blocks.
        """
        step = self.tile_files
        row_blocks = [(index, (r0, min(r0 + step, f1))) for index, (f0, f1) in enumerate(ranges)
                      for r0 in range(f0, f1, step)]
        if n_other is None:
            blocks = [rows for _, rows in row_blocks]
            return [(index, rows, cols) for p, (index, rows) in enumerate(row_blocks) for cols in blocks[p:]]
        blocks = [(g0, min(g0 + step, n_other)) for g0 in range(0, n_other, step)]
        return [(index, rows, cols) for index, rows in row_blocks for cols in blocks]

    def __call__(self, a: HashSet, name: str, d: int, b: HashSet | None,
                 ranges: Sequence[tuple[int, int]]) -> Iterator[Pairs]:
        """Yield, for each ``(f0, f1)`` in ``ranges``, the file pairs with ``f0 <= i < f1``, sorted by (i, j)."""
        distributed = import_distributed()
        tiles = self._tiles(ranges, None if b is None else len(b))
        future_a = self._scatter(a, name)
        future_b = None if b is None else self._scatter(b, name)
        remaining = [0] * len(ranges)
        for index, _, _ in tiles:
            remaining[index] += 1
        found: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in ranges]
        todo = list(range(len(tiles)))[::-1]  # a stack: pop() gives tiles in row order
        flying: dict[Any, tuple[int, int]] = {}  # future -> (tile, scatter generation it depends on)
        completed = distributed.as_completed(loop=self.client.loop)
        generation = 0
        next_out = 0

        def submit() -> None:
            if todo:
                t = todo.pop()
                _, rows, cols = tiles[t]
                future = self.client.submit(tile_pairs, future_a, future_b, d, rows, cols, self.backend, pure=False)
                flying[future] = (t, generation)
                completed.add(future)

        try:
            for _ in range(self.executor.window()):
                submit()
            while next_out < len(ranges):
                while next_out < len(ranges) and remaining[next_out] == 0:
                    yield _merge(found[next_out])
                    found[next_out] = []
                    next_out += 1
                if next_out == len(ranges):
                    break
                future = next(completed)
                t, depends_on = flying.pop(future)
                if future.status == "cancelled":  # its scattered input was lost with a worker
                    if depends_on == generation:  # the current copy is lost: scatter again (once per loss)
                        generation += 1
                        if generation > RESCATTER_LIMIT:
                            raise SchedulerError("the scattered hashes were lost with their workers too often")
                        future_a = self._scatter(a, name, again=True)
                        future_b = None if b is None else self._scatter(b, name, again=True)
                    todo.append(t)
                    todo.sort(reverse=True)
                    submit()
                    continue
                result = task_result(future)
                self.tiles += 1
                index = tiles[t][0]
                found[index].append(result)
                remaining[index] -= 1
                submit()
        except (OSError, TimeoutError) as exc:  # the scheduler went away (CommClosedError is an OSError)
            raise SchedulerError(f"lost the Dask scheduler during the pair search: {type(exc).__name__}: {exc}") \
                from None
        finally:
            if flying:
                with contextlib.suppress(Exception):
                    self.client.cancel(list(flying))

    def close(self) -> None:
        """Release the scattered hashes (the workers drop them)."""
        futures = [future for _, future in self._scattered.values()]
        self._scattered.clear()
        with contextlib.suppress(Exception):
            self.client.cancel(futures)

    def __enter__(self) -> DaskSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _merge(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Pairs:
    """Tiles of one block of rows to one Pairs sorted by (i, j)."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return Pairs.empty()
    i, j, d = (np.concatenate(x) for x in zip(*parts))
    order = np.lexsort((j, i))
    return Pairs(i[order].astype(np.int64), j[order].astype(np.int64), d[order].astype(np.int32))
