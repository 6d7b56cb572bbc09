"""finder on Dask: real schedulers and worker processes, the same bytes as a local run, a worker killed mid-run.

The cluster of this module is a ``LocalCluster`` of two worker *processes*
(one thread each, each behind a nanny that restarts it when it dies); one test
starts ``dask scheduler`` and ``dask worker`` as separate processes on
127.0.0.1 and hands finder the address, as a user would.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import distributed
import numpy as np
import pytest
from click.testing import CliRunner
from distributed.diagnostics.plugin import WorkerPlugin

from finder.cli.app import cli
from finder.engine.dask import MAX_CHUNK_FILES, MIN_CHUNK_FILES, DaskExecutor, parse_scheduler
from finder.errors import SchedulerError
from finder.match.dask_search import TILE_ENV, DaskSearch
from finder.match.search import find_pairs, vote_pairs
from finder.store.hashset import load
from tests.conftest import GOLDEN_DIR, golden_rows
from tests.helpers import planted, synthetic_hashset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  env={"NUMBA_NUM_THREADS": "1"}) as local, \
            distributed.Client(local, set_as_default=False) as client:
        yield local, client


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The golden images, twice over under different names (98 files: several hashing tasks of 32)."""
    folder = tmp_path_factory.mktemp("images")
    for copy in range(2):
        for row in golden_rows():
            data = (GOLDEN_DIR / row["file"]).read_bytes()
            (folder / f"c{copy}_{row['file']}").write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def stores(images, tmp_path_factory):
    """Local reference hash files of ``images``: FINd with the default views, and find + dhash."""
    out = tmp_path_factory.mktemp("stores")
    single, double = out / "find.npz", out / "two.npz"
    assert run("hash", images, "-o", single, "-j", "1", "-q").exit_code == 0
    assert run("hash", images, "-o", double, "-a", "find", "-a", "dhash", "-j", "1", "-q").exit_code == 0
    return single, double


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env=env)


def address(cluster) -> str:
    return cluster[0].scheduler_address


class DieOnce(WorkerPlugin):
    """Kill the worker process (``os._exit``) right after it finishes a task whose key starts with ``prefix``.

    ``marker`` files make it happen once per run (``per_worker``: once per
    worker name): the first worker to create the file dies, the others and the
    restarted worker carry on.  The result of that task is never sent: the
    scheduler must run it again elsewhere.
    """

    def __init__(self, prefix: str, marker: str, per_worker: bool = False) -> None:
        self.prefix, self.marker, self.per_worker = prefix, marker, per_worker
        self.name = "die-once"

    def setup(self, worker) -> None:
        self.worker_name = str(worker.name)

    def transition(self, key, start, finish, **kwargs) -> None:
        name = key if isinstance(key, str) else str(key)
        if finish != "memory" or not name.startswith(self.prefix):
            return
        marker = self.marker + (f".{self.worker_name}" if self.per_worker else "")
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os._exit(1)


@pytest.fixture
def kill_a_worker(cluster, tmp_path):
    """Register a DieOnce plugin for the test; wait for the cluster to be whole again afterwards."""
    client = cluster[1]
    markers = []

    def arm(prefix: str, per_worker: bool = False):
        marker = str(tmp_path / f"died-{prefix}")
        markers.append(marker)
        client.register_plugin(DieOnce(prefix, marker, per_worker), name="die-once")
        return marker

    yield arm
    client.unregister_worker_plugin("die-once")
    try:  # a restarted worker imports numpy and numba again: slow under load
        client.wait_for_workers(2, timeout=90)
    except TimeoutError:  # a nanny gave up restarting its worker: start a new one, as an operator would
        cluster[0].scale(2)
        client.wait_for_workers(2, timeout=120)


def died(marker: str) -> int:
    parent = Path(marker).parent
    return sum(1 for p in parent.iterdir() if p.name.startswith(Path(marker).name))


# --------------------------------------------------------------------------
# hash
# --------------------------------------------------------------------------


def test_hash_on_the_cluster_writes_the_same_store(cluster, images, stores, tmp_path):
    out = tmp_path / "dask.npz"
    result = run("hash", images, "-o", out, "--scheduler", address(cluster))
    assert result.exit_code == 0, result.output
    assert "hashed 98 (new 98" in result.stderr
    assert run("show", out).stdout_bytes == run("show", stores[0]).stdout_bytes
    ours, theirs = load(out), load(stores[0])
    for name in theirs.algorithms:
        for column in ("hashes", "owner", "view", "quality"):
            np.testing.assert_array_equal(getattr(ours, column)[name], getattr(theirs, column)[name])


def test_hash_survives_a_worker_killed_mid_run(cluster, images, stores, tmp_path, kill_a_worker):
    marker = kill_a_worker("hash_chunk")
    out = tmp_path / "dask.npz"
    result = run("hash", images, "-o", out, "--scheduler", address(cluster), "-a", "find", "-a", "dhash")
    assert result.exit_code == 0, result.output
    assert died(marker) == 1  # a worker really died after finishing a chunk it never delivered
    assert run("show", out).stdout_bytes == run("show", stores[1]).stdout_bytes


def test_resume_on_the_cluster_hashes_only_what_is_missing(cluster, images, stores, tmp_path):
    out = tmp_path / "partial.npz"
    half = sorted(images.iterdir())[:50]
    assert run("hash", *half, "-o", out, "-j", "1", "-q").exit_code == 0
    result = run("hash", images, "-o", out, "--scheduler", address(cluster), "--summary", "json")
    assert result.exit_code == 0, result.output
    assert '"reused": 50' in result.stderr and '"new": 48' in result.stderr
    assert run("show", out).stdout_bytes == run("show", stores[0]).stdout_bytes


# --------------------------------------------------------------------------
# compare and cluster
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_compare_and_cluster_on_the_cluster_write_the_same_bytes(cluster, stores, fmt, tmp_path):
    single, double = stores
    tiles = {TILE_ENV: "15"}  # 98 files: 7 blocks, 28 tiles within one set
    for args in (["compare", single, "-t", "0.4"],
                 ["compare", double, "-a", "find", "-a", "dhash", "-t", "find=0.4", "-t", "dhash=0.3"],
                 ["cluster", single, "-t", "0.45", "--linkage", "star"],
                 ["cluster", double, "-t", "find=0.4", "-t", "dhash=0.3", "--vote", "1"]):
        local = run(*args, "--format", fmt)
        remote = run(*args, "--format", fmt, "--scheduler", address(cluster), env=tiles)
        assert local.exit_code == remote.exit_code == 0, remote.output
        assert remote.stdout_bytes == local.stdout_bytes
        assert len(local.stdout_bytes) > 1000  # something was found
    # two sets: the first 40 images against all of them
    part = tmp_path / "part.npz"
    load(single).take(np.arange(40)).save(part)
    local = run("compare", part, single, "--format", fmt)
    remote = run("compare", part, single, "--format", fmt, "--scheduler", address(cluster), env=tiles)
    assert remote.stdout_bytes == local.stdout_bytes and local.stdout_bytes.count(b"\n") > 40


def test_report_on_the_cluster_shows_the_same_page(cluster, stores, tmp_path):
    """``report --scheduler``: the same groups, keepers and figures as a local report; only the run line differs."""
    single, _ = stores
    pages = []
    for name, extra in (("local", []), ("remote", ["--scheduler", address(cluster)])):
        out = tmp_path / f"{name}.html"
        result = run("report", single, "-t", "0.45", "-o", out, "-q", *extra)
        assert result.exit_code == 0, result.output
        pages.append(re.sub(r"<dt>report</dt><dd>[^<]*</dd>", "", out.read_text()))
    assert pages[0] == pages[1] and pages[0].count("<section") > 2


def _synthetic(n: int, seed: int):
    words = planted(n, 4, seed=seed, copies=4, flips=10)
    return synthetic_hashset([f"{k:06d}.jpg" for k in range(n)], {"find": words})


def test_tiles_cover_the_triangle_exactly(cluster):
    a, b = _synthetic(3000, 1), _synthetic(700, 2)
    with DaskExecutor(cluster[1]) as executor:
        search = DaskSearch(executor, tile_files=250)
        for d in (0, 30, 90):
            got = find_pairs(a, "find", max_distance=d, search=search)
            want = find_pairs(a, "find", max_distance=d)
            for x, y in zip(got, want):
                assert x.dtype == y.dtype
                np.testing.assert_array_equal(x, y)
            got = find_pairs(b, "find", max_distance=d, b=a, search=search)
            want = find_pairs(b, "find", max_distance=d, b=a)
            for x, y in zip(got, want):
                np.testing.assert_array_equal(x, y)
        assert search.tiles == 3 * (12 * 13 // 2 + 3 * 12)  # B(B+1)/2 within, 3 x 12 across, per radius


def test_compare_survives_a_worker_killed_mid_run(cluster, kill_a_worker):
    a = _synthetic(4000, 3)
    marker = kill_a_worker("tile_pairs")
    with DaskExecutor(cluster[1]) as executor:
        search = DaskSearch(executor, tile_files=250)  # 136 tiles
        got = find_pairs(a, "find", max_distance=40, search=search)
    assert died(marker) == 1
    want = find_pairs(a, "find", max_distance=40)
    for x, y in zip(got, want):
        np.testing.assert_array_equal(x, y)


def test_cluster_survives_every_worker_killed_once(cluster, kill_a_worker):
    """Every worker dies once (and with them, possibly every copy of the scattered hashes): the same pairs.

    Each worker dies on its first tile; how many die before the work is done depends on how fast the
    nanny restarts them, so at least one must have died."""
    a = _synthetic(4000, 4)
    rules = __import__("finder.match.search", fromlist=["make_rules"]).make_rules(a, ["find"], {None: 0.15})
    marker = kill_a_worker("tile_pairs", per_worker=True)
    with DaskExecutor(cluster[1]) as executor:
        got = vote_pairs(a, rules, search=DaskSearch(executor, tile_files=250))
    assert died(marker) >= 1
    want = vote_pairs(a, rules)
    for x, y in zip((got.i, got.j, got.votes, got.distance), (want.i, want.j, want.votes, want.distance)):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------
# A scheduler and workers started as separate processes, as on a real cluster
# --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_separate_scheduler_and_worker_processes(images, stores, tmp_path):
    port = _free_port()
    scheduler = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    started = [
        subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                          "--no-dashboard"], env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "dask", "worker", scheduler, "--nworkers", "2", "--nthreads", "1",
                          "--host", "127.0.0.1", "--no-dashboard"], env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        with distributed.Client(scheduler, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "remote.npz"
        finder = [sys.executable, "-m", "finder"]
        hashed = subprocess.run([*finder, "hash", str(images), "-o", str(out), "--scheduler", scheduler, "-q"],
                                env=env, capture_output=True, timeout=120)
        assert hashed.returncode == 0, hashed.stderr.decode()
        assert run("show", out).stdout_bytes == run("show", stores[0]).stdout_bytes
        compared = subprocess.run([*finder, "compare", str(out), "-t", "0.4", "--scheduler", scheduler],
                                  env=dict(env, **{TILE_ENV: "50"}), capture_output=True, timeout=120)
        assert compared.returncode == 0, compared.stderr.decode()
        assert compared.stdout == run("compare", stores[0], "-t", "0.4").stdout_bytes
    finally:
        for process in reversed(started):
            os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(started):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --------------------------------------------------------------------------
# Errors: one line, exit 2
# --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["local:0", "local:x", "not an address", "tcp://", "bogus://x:1",
                                  "ws://127.0.0.1:1", "inproc://x", "local:99999"])
def test_bad_scheduler_is_a_one_line_error(spec, stores):
    result = run("compare", stores[0], "--scheduler", spec)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --scheduler") and result.stderr.count("\n") == 1


def test_parse_scheduler():
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("local")[0] == "local" and parse_scheduler("local")[1] >= 1
    assert parse_scheduler("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    assert parse_scheduler("scheduler-host:8786") == ("address", "scheduler-host:8786")


def test_unreachable_scheduler_and_jobs_conflict(images, tmp_path):
    with pytest.raises(SchedulerError, match="cannot connect to the Dask scheduler at tcp://127.0.0.1"):
        DaskExecutor(f"tcp://127.0.0.1:{_free_port()}", timeout=1)
    result = run("hash", images, "-o", tmp_path / "x.npz", "-j", "2", "--scheduler", "local:2")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_nothing_listening_fails_at_once(stores):
    began = time.monotonic()
    result = run("cluster", stores[0], "--scheduler", f"tcp://127.0.0.1:{_free_port()}")
    assert result.exit_code == 2 and "Connection refused" in result.stderr and result.stderr.count("\n") == 1
    assert time.monotonic() - began < 5  # was 20 s: Dask's connect timeout


def test_an_address_that_is_not_a_dask_scheduler_fails_in_seconds(stores, tmp_path):
    """A web server where the scheduler should be: distributed would wait for its handshake for ever."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        began = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "finder", "cluster", str(stores[0]), "--scheduler",
                               f"tcp://127.0.0.1:{server.server_address[1]}"], capture_output=True, timeout=60)
        took = time.monotonic() - began
    finally:
        server.shutdown()
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "did not answer as a Dask scheduler" in stderr, stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1 and took < 30


def test_without_the_dask_extra_scheduler_says_what_to_install(monkeypatch, stores):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = run("cluster", stores[0], "--scheduler", "local:2")
    assert result.exit_code == 2
    assert "pip install 'finder[dask]'" in result.stderr and result.stderr.count("\n") == 1


def test_a_failing_task_is_a_one_line_error(cluster):
    with DaskExecutor(cluster[1]) as executor:
        with pytest.raises(SchedulerError, match="a task failed on a Dask worker: ValueError"):
            list(executor.map(int, ["1", "x"]))


def test_chunks_are_coarse_and_balanced(cluster):
    cluster[1].wait_for_workers(2, timeout=180)
    with DaskExecutor(cluster[1]) as executor:
        assert executor.jobs == 2
        assert executor.chunk_files(10) == MIN_CHUNK_FILES
        assert executor.chunk_files(16 * 100) == 100
        assert executor.chunk_files(10**7) == MAX_CHUNK_FILES
        results = sorted(executor.map(sum, [[k, k] for k in range(50)]))  # more chunks than the window
        assert results == [2 * k for k in range(50)]
    assert cluster[1].status == "running"  # a client given by the caller stays open


def test_local_cluster_starts_and_stops(stores):
    started = time.perf_counter()
    local = run("compare", stores[0], "-t", "0.4")
    remote = run("compare", stores[0], "-t", "0.4", "--scheduler", "local:2")
    assert remote.exit_code == 0 and remote.stdout_bytes == local.stdout_bytes
    assert time.perf_counter() - started < 60


def test_workers_with_another_pillow_are_refused(cluster, monkeypatch):
    import PIL

    monkeypatch.setattr(PIL, "__version__", "0.1")  # this process only: the workers report the real one
    with pytest.raises(SchedulerError, match="hashes could differ; install the same finder and Pillow"):
        DaskExecutor(cluster[1])
    assert cluster[1].status == "running"
