"""The Dask executor: chunks of work on a ``distributed`` cluster, behind the :class:`~finder.engine.Executor` protocol.

``--scheduler`` names where the work runs:

``tcp://HOST:PORT`` (or ``tls://...``, or ``HOST:PORT``)
    an existing ``dask scheduler``; its workers must have finder installed
    (``pip install 'finder[dask]'``, the same finder and Pillow versions as
    here -- checked on connect, since hashes depend on them) and must be able
    to read the image paths (a shared filesystem, or the same mount on every
    worker).
``local:N`` (``local`` = one per core)
    a ``LocalCluster`` of ``N`` worker processes on this machine, one thread
    each, started for the run and stopped after it.

Tasks are coarse (a chunk of files per task, see :meth:`DaskExecutor.chunk_files`)
and submitted through a bounded window: at most a few tasks per worker thread
are in flight, the next is submitted as each finishes, and results are yielded
as they complete (``distributed.as_completed``).  A worker that dies takes its
running tasks with it; the scheduler runs them again elsewhere, so a run
survives a lost worker.  Everything Dask-specific is imported on first use:
without the ``dask`` extra, only ``--scheduler`` fails (one-line error).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from finder.errors import SchedulerError

T = TypeVar("T")
R = TypeVar("R")

#: Seconds to wait for the scheduler to answer and for a first worker to join.
CONNECT_TIMEOUT = 20.0
#: Seconds a scheduler address gets to accept a TCP connection (a refused one fails at once), and then to
#: answer as a Dask scheduler: something else listening there (a web server) never answers.
PROBE_TIMEOUT = 5.0
HANDSHAKE_TIMEOUT = 10.0
#: Schemes finder's workers are reached by (distributed also knows inproc, ucx and ws, which a finder cluster
#: does not use); an address without a scheme is tcp.
SCHEMES = ("tcp", "tls")
#: local:N starts N worker processes: more than this many per core only adds memory, never speed.
LOCAL_WORKERS_PER_CORE = 4
#: Files per hashing task, at least and at most: a file costs ~5-20 ms (decode + hash), so a task
#: of 32+ files runs well over Dask's ~1 ms per-task overhead and the 100 ms rule of thumb.
MIN_CHUNK_FILES = 32
MAX_CHUNK_FILES = 512
#: Chunks per worker thread the files are cut into (balance and a steady progress bar).
CHUNKS_PER_THREAD = 8
#: Tasks in flight per worker thread (the submission window).
IN_FLIGHT_PER_THREAD = 3
INSTALL_HINT = "pip install 'finder[dask]'"

_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^\s:/]+:\d+$|^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)


def parse_scheduler(spec: str) -> tuple[str, Any]:
    """``("local", workers)`` for ``local`` / ``local:N``, else ``("address", spec)``.

    Raises
    ------
    SchedulerError
        On ``local:0``, ``local:x`` or something that is not an address.
    """
    text = spec.strip()
    if text == "local" or text.startswith("local:"):
        count, most = text.partition(":")[2] or str(_cores()), LOCAL_WORKERS_PER_CORE * _cores()
        if not count.isdigit() or not 1 <= int(count) <= most:
            raise SchedulerError(f"--scheduler {spec!r}: local:N needs a number of workers 1 <= N <= {most} "
                                 f"({LOCAL_WORKERS_PER_CORE} per core)")
        return "local", int(count)
    if not _ADDRESS.match(text):
        raise SchedulerError(f"--scheduler {spec!r} is not a scheduler address (tcp://HOST:PORT) or local:N")
    scheme = text.partition("://")[0].lower() if "://" in text else "tcp"
    if scheme not in SCHEMES:
        raise SchedulerError(f"--scheduler {spec!r}: finder reaches Dask schedulers by {' or '.join(SCHEMES)}, "
                             f"not {scheme}")
    return "address", text


def host_port(address: str) -> tuple[str, int]:
    """(host, port) of ``[scheme://]HOST:PORT`` (``[::1]:8786`` for IPv6)."""
    rest = address.partition("://")[2] if "://" in address else address
    host, _, port = rest.rstrip("/").rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else -1


def probe(address: str, timeout: float = PROBE_TIMEOUT) -> None:
    """SchedulerError at once when nothing accepts a TCP connection at ``address``."""
    host, port = host_port(address)
    if not host or not 0 < port < 65536:
        raise SchedulerError(f"--scheduler {address!r} is not a scheduler address (tcp://HOST:PORT) or local:N")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise SchedulerError(f"cannot connect to the Dask scheduler at {address}: {reason}") from None


def connect(address: str, timeout: float = HANDSHAKE_TIMEOUT) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, or SchedulerError within about ``timeout``
    seconds: distributed waits for the scheduler's handshake without a deadline, so the client is made
    in a thread of its own and given up on (left to the process's exit) if nothing answers."""
    distributed = import_distributed()
    probe(address)
    made: dict[str, Any] = {}

    def make() -> None:
        try:
            made["client"] = distributed.Client(address, timeout=timeout, set_as_default=False)
        except BaseException as exc:  # handed to the caller's thread
            made["error"] = exc

    thread = threading.Thread(target=make, name="finder-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 1)
    if thread.is_alive():
        raise SchedulerError(f"{address} did not answer as a Dask scheduler within {timeout:g} s "
                             "(is it a scheduler's address, tcp://HOST:8786?)")
    if "error" in made:
        raise made["error"]
    return made["client"]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def import_distributed():
    try:
        import distributed
    except ImportError:
        raise SchedulerError(f"--scheduler needs Dask's distributed scheduler: {INSTALL_HINT}") from None
    return distributed


def local_cluster(workers: int) -> Any:
    """A ``LocalCluster`` of ``workers`` processes (one task thread each, cores // workers numba threads).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which
    turns off glibc's adaptive mmap threshold: every decoded image buffer is
    then mapped and unmapped afresh, and hashing runs at half speed (measured:
    docs/scaling.md).  finder's own cluster starts its workers without it.
    """
    import dask

    distributed = import_distributed()
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=logging.ERROR, env={"NUMBA_NUM_THREADS": str(max(1, _cores() // workers))})


def worker_versions() -> dict[str, str]:
    """The versions that decide the hashes a process computes (run on every worker on connect)."""
    import PIL

    import finder

    return {"finder": finder.__version__, "pillow": PIL.__version__}


class DaskExecutor:
    """Run chunks on a Dask cluster: an address, ``local:N``, or a ``distributed.Client`` given by the caller.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``tcp://HOST:PORT``, ``local:N`` / ``local``, or an existing client
        (then not closed by :meth:`close`).
    timeout : float
        Seconds to wait for the scheduler and for at least one worker.

    Attributes
    ----------
    client : distributed.Client
    jobs : int
        Worker threads in the cluster when connected (sizes the chunks).
    """

    def __init__(self, scheduler: Any, *, timeout: float = CONNECT_TIMEOUT) -> None:
        distributed = import_distributed()
        self.cluster = None
        self._owned = not isinstance(scheduler, distributed.Client)
        self.label = scheduler if isinstance(scheduler, str) else "the given client"
        if not self._owned:
            self.client = scheduler
        else:
            kind, value = parse_scheduler(scheduler)
            try:
                if kind == "local":
                    self.cluster = local_cluster(value)
                    self.client = distributed.Client(self.cluster, set_as_default=False)
                else:
                    self.client = connect(value, min(timeout, HANDSHAKE_TIMEOUT))
            except (OSError, TimeoutError) as exc:
                self.close()
                raise SchedulerError(f"cannot connect to the Dask scheduler at {value}: {exc}") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            self.close()
            raise SchedulerError(f"no Dask worker joined the scheduler at {self.label} within {timeout:g} s") from None
        self._check_workers()
        self.jobs = max(1, sum(self.client.nthreads().values()))

    def _check_workers(self) -> None:
        """Every worker must run this finder and Pillow: other versions could hash differently."""
        ours = worker_versions()
        try:
            theirs = self.client.run(worker_versions)
        except Exception as exc:  # e.g. a worker without finder cannot unpickle the function
            self.close()
            raise SchedulerError(f"the Dask workers cannot run finder ({type(exc).__name__}: {exc}); "
                                 f"install it on every worker: {INSTALL_HINT}") from None
        for address, versions in sorted(theirs.items()):
            if versions != ours:
                self.close()
                raise SchedulerError(f"Dask worker {address} runs {versions}, this machine {ours}: hashes could "
                                     f"differ; install the same finder and Pillow on every worker")

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect, and stop the LocalCluster this executor started (a given client stays open)."""
        if not self._owned:
            return
        client, cluster = getattr(self, "client", None), self.cluster
        self.cluster = None
        with contextlib.suppress(Exception):
            if client is not None:
                client.close()
        with contextlib.suppress(Exception):
            if cluster is not None:
                cluster.close()

    def chunk_files(self, tasks: int) -> int:
        """Files per task: about ``CHUNKS_PER_THREAD`` chunks per worker thread, within the coarse-task bounds."""
        return max(MIN_CHUNK_FILES, min(MAX_CHUNK_FILES, tasks // (self.jobs * CHUNKS_PER_THREAD)))

    def window(self) -> int:
        """Tasks kept in flight: a few per worker thread (counted now, so workers that joined count)."""
        threads = sum(self.client.nthreads().values()) or self.jobs
        return max(2, IN_FLIGHT_PER_THREAD * threads)

    def map(self, fn: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
        """Yield ``fn(chunk)`` for every chunk, in the order they finish."""
        distributed = import_distributed()
        pending = iter(chunks)
        completed = distributed.as_completed(loop=self.client.loop)
        flying: set = set()

        def submit() -> None:
            for chunk in pending:
                future = self.client.submit(fn, chunk, pure=False)
                flying.add(future)
                completed.add(future)
                return

        try:
            for _ in range(self.window()):
                submit()
            for future in completed:
                flying.discard(future)
                result = task_result(future)
                submit()
                yield result
        except (OSError, TimeoutError) as exc:  # the scheduler went away (CommClosedError is an OSError)
            raise SchedulerError(f"lost the Dask scheduler: {type(exc).__name__}: {exc}") from None
        finally:
            if flying:
                with contextlib.suppress(Exception):
                    self.client.cancel(list(flying))


def task_result(future: Any) -> Any:
    """A finished future's result; a task that failed becomes a one-line :class:`SchedulerError`."""
    try:
        return future.result()
    except SchedulerError:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if name == "KilledWorker":
            raise SchedulerError(f"a task was lost with its worker too often ({exc}); are the workers running out "
                                 f"of memory?") from None
        raise SchedulerError(f"a task failed on a Dask worker: {name}: {exc}") from None


@contextlib.contextmanager
def maybe_dask(scheduler: str | None, timeout: float = CONNECT_TIMEOUT) -> Iterator[DaskExecutor | None]:
    """A :class:`DaskExecutor` for ``scheduler`` (closed afterwards), or None without one."""
    if not scheduler:
        yield None
        return
    executor = DaskExecutor(scheduler, timeout=timeout)
    try:
        yield executor
    finally:
        executor.close()
