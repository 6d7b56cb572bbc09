"""Updating a store: candidate paths and the previous store in, an updated store out.

Chunks of paths go to an executor (:mod:`finder.engine`); each worker decodes
every image once and turns it into rows (:mod:`finder.store.rows`), sending
back packed bits and the stat of the bytes it read (never pixels), or a
FileError.  The driver knows no algorithm and no scheduler.

A store (the previous HashSet of the same output) is *added to and updated*:

* an entry whose file is a candidate of this run is reused when the file's
  size, mtime, device and inode are unchanged, and hashed again otherwise;
* an entry under a walked directory whose file was not found again is dropped
  (it has gone); with ``prune`` every entry whose file no longer exists is;
* every other entry is kept as it was: hashing one file into a store never
  drops the rest.

One file is one file: hard links (one device and inode under several names)
are hashed once and recorded under each name.  Long runs write checkpoints
(``checkpoint`` every ``checkpoint_seconds``) so an interrupted run resumes
where it stopped.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from finder import algorithms as _algorithms
from finder import views as _views
from finder.engine import Executor, local_executor
from finder.errors import SettingsError
from finder.io.decode import FileError, FileStat, stat_file
from finder.store.hashset import HashSet, PathColumn, default_settings
from finder.store.resolution import DECODE_FULL, DECODE_REDUCED, check_policy, is_reduced
from finder.store.rows import Row, hash_chunk, hash_chunk_gpu, warm_up

Progress = Callable[[int], None]
OnError = Callable[[FileError], None]
Checkpoint = Callable[[HashSet], None]
CHECKPOINT_SECONDS = 60.0
# A checkpoint costs a full write of the store; keep it under a tenth of the run.
CHECKPOINT_COST_SHARE = 0.1


@dataclass
class HashReport:
    """A HashSet and what happened while making it."""

    hashset: HashSet
    new: int = 0
    changed: int = 0
    rehashed: int = 0
    reused: int = 0
    resumed: int = 0
    kept: int = 0
    vanished: int = 0
    hardlinks: int = 0
    checkpoints: int = 0
    errors: list[FileError] = field(default_factory=list)
    warnings: list[FileError] = field(default_factory=list)  # hashed despite a defect (see finder.io.decode)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def hashed(self) -> int:
        return self.new + self.changed + self.rehashed

    def summary(self) -> str:
        text = (
            f"hashed {self.hashed:,} (new {self.new:,}, changed {self.changed:,}, rehashed {self.rehashed:,}), "
            f"reused {self.reused:,}, kept {self.kept:,} outside this run, dropped {self.vanished:,} gone, "
            f"skipped {len(self.errors):,} with errors, in {self.seconds:.1f} s"
        )
        if self.hardlinks:
            text += f"; {self.hardlinks:,} hard links hashed once"
        if self.warnings:
            text += f"; {len(self.warnings):,} with warnings"
        return "; ".join([text, *self.notes])

    def as_dict(self) -> dict[str, Any]:
        """The figures of the run, for ``--summary json``."""
        return {"files": len(self.hashset), "hashed": self.hashed, "new": self.new, "changed": self.changed,
                "rehashed": self.rehashed, "reused": self.reused, "resumed": self.resumed, "kept": self.kept,
                "dropped": self.vanished, "hardlinks": self.hardlinks, "errors": len(self.errors),
                "warnings": len(self.warnings),
                "checkpoints": self.checkpoints, "seconds": round(self.seconds, 3)}


def _progress_callback(progress: Progress | bool | None, total: int) -> tuple[Progress | None, Callable[[], None]]:
    """A callback for ``progress``: a function as given, or a ``tqdm.auto`` bar for ``True``."""
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="img", desc="hashing")
        return bar.update, bar.close
    if callable(progress):
        return progress, lambda: None
    return None, lambda: None


@dataclass
class _Store:
    """Where the new store's rows come from: previous entries kept or reused, and this run's files."""

    previous: HashSet
    keys: list[str]  # the resolved path of every previous entry
    names: tuple[str, ...]
    paths: Sequence[str]
    stats: np.ndarray  # int64[n, 4]: size, mtime_ns, device, inode
    rows: dict[int, list[Row]]  # this run's hashed files: candidate index -> rows
    keep_previous: np.ndarray  # indices into previous: kept outside this run, or reused unchanged

    def assemble(self, settings: dict, errors: list[FileError], pending_previous: np.ndarray | None = None) -> HashSet:
        """The store as of now; ``pending_previous`` adds old entries of files not yet re-hashed."""
        specs = [_algorithms.get(n) for n in self.names]
        old = self.keep_previous if pending_previous is None else np.union1d(self.keep_previous, pending_previous)
        before = self.previous.take(old.astype(np.int64))
        done = sorted(self.rows)
        n_old = len(before)
        paths = np.empty(n_old + len(done), dtype=object)
        for k, i in enumerate(old.tolist()):
            paths[k] = self.keys[i]
        for k, i in enumerate(done):
            paths[n_old + k] = self.paths[i]
        order = np.argsort(paths, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        new_rows = [(n_old + k, row) for k, i in enumerate(done) for row in self.rows[i]]
        new_owner = np.array([f for f, _ in new_rows], dtype=np.int64)
        new_view = np.array([row[0] for _, row in new_rows], dtype=np.uint8)
        new_quality = np.array([row[1] for _, row in new_rows], dtype=np.uint8)
        offsets = np.cumsum([0] + [s.words for s in specs])
        hashes, owner, view, quality = {}, {}, {}, {}
        for k, spec in enumerate(specs):
            fresh = (np.stack([row[2][offsets[k]:offsets[k + 1]] for _, row in new_rows]) if new_rows
                     else np.zeros((0, spec.words), np.uint64))
            hashes[spec.name] = np.concatenate([before.hashes[spec.name], fresh]).astype(np.uint64)
            owner[spec.name] = rank[np.concatenate([before.owner[spec.name], new_owner]).astype(np.int64)]
            view[spec.name] = np.concatenate([before.view[spec.name], new_view])
            quality[spec.name] = np.concatenate([before.quality[spec.name], new_quality])
        stats = np.concatenate([np.stack([before.size, before.mtime_ns, before.device.astype(np.int64),
                                          before.inode.astype(np.int64)], axis=1).reshape(-1, 4),
                                self.stats[done].reshape(-1, 4)])[order]
        return HashSet(paths=PathColumn.of(paths[order]), hashes=hashes, bits={s.name: s.bits for s in specs},
                       size=stats[:, 0], mtime_ns=stats[:, 1], device=stats[:, 2].astype(np.uint64),
                       inode=stats[:, 3].astype(np.uint64), owner=owner, view=view, quality=quality,
                       errors=sorted(errors, key=lambda e: e.path), settings=settings)


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def warn_on_stderr(warning: FileError) -> None:
    """``finder: warning PATH: REASON`` on stderr: hash_paths' default ``on_warning``."""
    print(f"finder: warning {warning}", file=sys.stderr)


#: What a new store is made with when nothing is asked: FINd, the default views, reduced decoding.
DEFAULT_ALGORITHMS = ("find",)
DEFAULT_VIEWS = "default"


def run_settings(previous: HashSet | None, algorithms: Sequence[str] = (), views: str | Sequence[str] | None = None,
                 exact: bool | None = None, decode: str | None = None) -> tuple[list[str], tuple[str, ...], str]:
    """What a run hashes with: what was asked, else what the store it adds to was made with, else the defaults.

    So a re-run of ``finder hash`` without options keeps a store's algorithms,
    views and decode policy, and its entries stay reusable; a store from before
    finder recorded views or the decode policy was made with plain views and full decodes.
    ``exact`` False (``--reduced``) asks for a reduced decode: the store's own
    reduced policy if it has one (a store made under the 2x margin keeps it),
    else the default; ``decode`` names a policy outright (``--decode``).

    Returns
    -------
    (algorithm names, views in canonical order, decode policy, one of ``finder.store.resolution.DECODE_POLICIES``).
    ValueError names an unknown view or decode policy.
    """
    names = [a.lower() for a in algorithms] or (previous.algorithms if previous is not None
                                                else list(DEFAULT_ALGORITHMS))
    if views is None:
        views = tuple(previous.settings.get("views", ["plain"])) if previous is not None else DEFAULT_VIEWS
    recorded = str(previous.settings.get("decode") or DECODE_FULL) if previous is not None else None
    if decode is not None:
        decode = check_policy(decode)
    elif exact:
        decode = DECODE_FULL
    elif exact is False:
        decode = recorded if recorded is not None and is_reduced(recorded) else DECODE_REDUCED
    else:
        decode = recorded or DECODE_REDUCED
    return names, _views.resolve_views(views), decode


def hash_paths(
    paths: Sequence[str],
    algorithms: Sequence[str] = ("find",),
    *,
    jobs: int | None = None,
    exif_transpose: bool = True,
    previous: HashSet | None = None,
    rehash: bool = False,
    walked: Sequence[str] = (),
    prune: bool = False,
    progress: Progress | bool | None = None,
    on_error: OnError | None = None,
    on_warning: OnError | None = warn_on_stderr,
    errors: Sequence[FileError] = (),
    executor: Executor | None = None,
    checkpoint: Checkpoint | None = None,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    views: str | Sequence[str] = "plain",
    decode: str = DECODE_REDUCED,
    device: str = "cpu",
) -> HashReport:
    """Hash image files into a store, reusing and keeping the entries of ``previous``.

    Parameters
    ----------
    paths : candidate image paths (see ``finder.io.files.find_images``: resolved, sorted).
    algorithms : algorithm names; each image is decoded once for all of them.
    jobs : worker processes for the default local executor; None = all cores, 1 = in this process.
    exif_transpose : apply EXIF orientation before hashing.
    previous : the store to update (the output's current content), or None.
    rehash : hash every candidate again; with settings different from ``previous``'s,
        start a new store (the old entries cannot be kept).
    walked : resolved directories this run walked completely: ``previous`` entries under
        them that are not among ``paths`` have gone and are dropped.
    prune : also drop every ``previous`` entry elsewhere whose file no longer exists.
    progress : a callback given the number of files just finished, or True for a
        ``tqdm.auto`` progress bar (notebooks, scripts).
    on_error : called once for each skipped file, as soon as it is known.
    on_warning : called once for each file hashed despite a defect (a JPEG without its end
        marker); by default it prints ``finder: warning PATH: REASON`` on stderr.  None: silent.
    errors : errors found before hashing (e.g. unreadable directories), kept in the result.
    executor : where chunks run (default: a local process pool of ``jobs`` workers).
    checkpoint : called with the store so far at least every ``checkpoint_seconds``
        (e.g. ``lambda s: s.save(output)``), so a killed run can resume.
    views : which views to hash besides the plain image (``finder.views``): ``"plain"``,
        ``"default"`` (plain, mirror, trimmed), ``"dihedral"`` or a list of view names.
    device : ``"cpu"``, or ``"cuda"``: FINd's stages after its RGB thumbnail run on a CUDA GPU, a chunk at a
        time, with decoding in this process (:func:`finder.store.rows.hash_chunk_gpu`; the same hashes).
    decode : the decode policy, recorded in the store's settings: ``"reduced-1x"`` (default) decodes a
        JPEG at the smallest DCT scale that keeps every algorithm's working resolution, ``"reduced"``
        twice it (the default before 2026-12; ``finder.store.resolution``); ``"full"`` decodes every
        pixel, for hashes bit-exact with the reference's (``finder hash --exact``).  A store made under
        another policy is not reused.

    Returns
    -------
    HashReport whose HashSet holds every kept, reused and newly hashed file,
    sorted by path, and every skipped file with its reason.

    Raises
    ------
    SettingsError
        ``previous`` was made with other settings and ``rehash`` is False.
    """
    start = time.perf_counter()
    names = tuple(dict.fromkeys(_algorithms.get(a).name for a in algorithms))
    specs = [_algorithms.get(a) for a in names]
    bits = {s.name: s.bits for s in specs}
    chosen_views = _views.resolve_views(views)
    settings = default_settings(bits, exif_transpose)
    settings["views"] = list(chosen_views)
    settings["decode"] = check_policy(decode)
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; choose cpu or cuda")
    report = HashReport(HashSet.empty(bits, exif_transpose), errors=list(errors))
    previous = _usable_previous(previous, settings, rehash, report)
    resuming = previous.settings.get("complete") is False

    candidate = set(paths)
    key = _previous_keys(previous)
    index = {k: i for i, k in enumerate(key)}
    n = len(paths)
    stats = np.zeros((n, 4), dtype=np.int64)
    rows: dict[int, list[Row]] = {}
    reused: list[int] = []
    status = np.zeros(n, dtype=np.int8)  # 0 new, 1 changed, 2 rehashed (unchanged but forced)
    tasks: list[tuple[int, str]] = []
    twins: dict[int, list[int]] = {}  # hashed index -> other names of the same inode
    first_name: dict[tuple[int, int], int] = {}
    for i, path in enumerate(paths):
        st = stat_file(path)
        if isinstance(st, FileError):
            _record_error(report, st, on_error)
            continue
        old = index.get(path)
        if old is not None and _same_file(previous, old, st) and not rehash:
            reused.append(old)
            report.reused += 1
            continue
        status[i] = 0 if old is None else (2 if _same_file(previous, old, st) else 1)
        identity = (st.device, st.inode)
        if identity in first_name:
            twins.setdefault(first_name[identity], []).append(i)
            continue
        first_name[identity] = i
        tasks.append((i, path))
    report.resumed = report.reused if resuming else 0

    gone = np.array([k not in candidate and (_under(k, walked) or (prune and not os.path.lexists(k)))
                     for k in key], dtype=bool)
    outside = np.array([k not in candidate for k in key], dtype=bool)
    keep_previous = np.flatnonzero(outside & ~gone)
    report.kept, report.vanished = len(keep_previous), int(gone.sum())
    keep_previous = np.union1d(keep_previous, np.array(reused, dtype=np.int64))
    kept_errors = [e for e in previous.errors if e.path not in candidate and not _under(e.path, walked)
                   and not (prune and not os.path.lexists(e.path))]
    pending = np.array(sorted(index[paths[i]] for i, _ in tasks if paths[i] in index), dtype=np.int64)
    store = _Store(previous, key, names, paths, stats, rows, keep_previous)

    advance, close_bar = _progress_callback(progress, n)
    if advance and report.reused:
        advance(report.reused)
    next_checkpoint = time.monotonic() + checkpoint_seconds

    def record(i: int, result: Any) -> None:
        if isinstance(result, FileError):
            _record_error(report, result, on_error)
            for twin in twins.get(i, ()):
                _record_error(report, FileError(paths[twin], result.reason), on_error)
            return
        file_rows, st, warned = result
        for warning in warned:
            for name in (paths[i], *(paths[twin] for twin in twins.get(i, ()))):
                report.warnings.append(FileError(name, warning.reason))
                if on_warning:
                    on_warning(report.warnings[-1])
        for target in (i, *twins.get(i, ())):
            rows[target] = file_rows
            stats[target] = (st.size, st.mtime_ns, st.device, st.inode)
        report.new += int(status[i] == 0)
        report.changed += int(status[i] == 1)
        report.rehashed += int(status[i] == 2)
        report.hardlinks += len(twins.get(i, ()))

    def save_partial() -> None:
        done_old = {index[paths[i]] for i in rows if paths[i] in index}
        waiting = np.array([p for p in pending.tolist() if p not in done_old], dtype=np.int64)
        assert checkpoint is not None
        checkpoint(store.assemble(dict(settings, complete=False), kept_errors + report.errors, waiting))
        report.checkpoints += 1

    try:
        if tasks:
            owned = executor is None
            worker = hash_chunk
            if device == "cuda":
                from finder.engine.gpu import require

                require()
                worker, jobs = hash_chunk_gpu, 1  # one process feeds the GPU
            runner: Executor = local_executor(jobs) if executor is None else executor
            size = runner.chunk_files(len(tasks))
            chunks = [(tasks[k:k + size], names, exif_transpose, chosen_views, decode)
                      for k in range(0, len(tasks), size)]
            exited = False
            try:
                if owned:
                    _warm(names)
                for results in runner.map(worker, chunks):
                    for i, result in results:
                        record(i, result)
                    if advance:
                        advance(len(results) + sum(len(twins.get(i, ())) for i, _ in results))
                    if checkpoint is not None and time.monotonic() >= next_checkpoint:
                        began = time.monotonic()
                        save_partial()
                        cost = time.monotonic() - began
                        next_checkpoint = time.monotonic() + max(checkpoint_seconds, cost / CHECKPOINT_COST_SHARE)
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: stop the workers, keep what is done
                from finder.engine.local import signals_deferred

                with signals_deferred():
                    if owned:
                        exited = True
                        runner.__exit__(type(exc), exc, None)
                    if checkpoint is not None and report.hashed:
                        save_partial()
                raise
            finally:
                if owned and not exited:
                    runner.__exit__(*sys.exc_info())
    finally:
        close_bar()
    report.hashset = store.assemble(dict(settings, complete=True), kept_errors + report.errors)
    report.errors = sorted(report.errors, key=lambda e: e.path)
    report.warnings.sort(key=lambda e: e.path)
    if resuming:
        report.notes.append(f"resumed: {report.resumed:,} already hashed")
    report.seconds = time.perf_counter() - start
    return report


def _warm(names: Sequence[str]) -> None:
    from finder.engine.local import signals_deferred

    with signals_deferred():
        warm_up(names)


def _record_error(report: HashReport, error: FileError, on_error: OnError | None) -> None:
    report.errors.append(error)
    if on_error:
        on_error(error)


def _same_file(previous: HashSet, old: int, st: FileStat) -> bool:
    """Whether entry ``old`` of ``previous`` still describes the file with stat ``st``.

    Size and mtime must match; device and inode too, unless the entry does not
    know them (format 1 stores).
    """
    if previous.size[old] != st.size or previous.mtime_ns[old] != st.mtime_ns:
        return False
    known = previous.inode[old] != 0 or previous.device[old] != 0
    return not known or (int(previous.device[old]) == st.device and int(previous.inode[old]) == st.inode)


def _previous_keys(previous: HashSet) -> list[str]:
    """The resolved path of every entry (format 1 stored paths as given; resolve them now)."""
    if previous.settings.get("resolved_paths", True):
        return [str(p) for p in previous.paths]
    from finder.io.files import resolve

    return [resolve(str(p)) for p in previous.paths]


def _comparable(settings: dict) -> dict:
    return dict(settings, algorithms=sorted(settings.get("algorithms") or []))


def _usable_previous(previous: HashSet | None, settings: dict, rehash: bool, report: HashReport) -> HashSet:
    """``previous`` if its settings match this run's; an empty store when there is none or ``rehash`` replaces it."""
    empty = HashSet.empty(settings["bits"], settings["exif_transpose"])
    if previous is None:
        return empty
    theirs = _comparable(previous.run_settings())
    ours = _comparable({k: settings.get(k) for k in theirs})
    if theirs == ours:
        return previous
    differ = ", ".join(f"{k} {theirs[k]} (this run: {ours[k]})" for k in theirs if theirs[k] != ours[k])
    if rehash:
        report.notes.append(f"replaced a store made with other settings ({differ}); its {len(previous):,} "
                            f"entries were dropped")
        return empty
    raise SettingsError(f"the output was made with other settings: {differ}. Hash with the same settings, "
                        f"write to another -o, or pass --rehash to replace it")
