"""What users do with groups: move, trash, link or delete the duplicates — planned, journaled, undoable.

The rules that make it impossible to lose a photo:

* **Dry run first.**  :func:`plan` only looks; nothing is changed until
  :func:`apply` is called (``finder dedupe --apply``).
* **Never the keeper, never a reference image, never the last copy.**  Only
  members :func:`finder.groups.keep.proposed` offers are acted on, and only while
  their group's keeper is there, unchanged: a group whose keeper is missing or
  changed is left alone entirely.  A file that is the keeper's (or a
  reference image's) very file — a hard link, same device and inode now — is
  not a duplicate.
* **Only what was hashed.**  A file whose size or mtime differs from the
  hash file's record is refused (hash it again first); every file is checked
  again just before it is touched.
* **A journal before and after every action.**  An ``intent`` record
  (fsynced) before, a ``done`` record (fsynced) after, in a JSON-lines file.
  A run killed at any point is continued by running it again with the same
  journal (:func:`resume` finishes or redoes the step in flight, then the
  plan skips what is done), and :func:`undo` reverses everything done so far,
  in reverse order, including a step caught half-way.
* **Nothing is overwritten.**  A move never replaces a file at its
  destination (hard link + unlink on one filesystem, copy + link across
  filesystems); a restore never replaces a file at the original path.

Actions: ``move`` (to ``--to DIR``, keeping the folder structure below the
groups' common folder), ``trash`` (the desktop trash, ``send2trash``),
``hardlink`` / ``symlink`` (the duplicate's path becomes a link to the keeper;
the duplicate itself is moved to ``--to`` or the trash, so undo can restore
it), and ``delete`` (irreversible: undo cannot bring a deleted file back).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import shutil
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from finder import __version__
from finder.dedupe import trash
from finder.errors import ActionError
from finder.groups.linkage import Group, Member

ACTIONS = ("move", "trash", "hardlink", "symlink", "delete")
JOURNAL_FORMAT = "finder.dedupe-journal"
JOURNAL_VERSION = 1
# Test hook: seconds to wait after each intent record (lets a test kill -9 a run mid-way).

Event = Callable[[str, "Step", dict[str, Any]], None]


@dataclass(frozen=True)
class Step:
    """One file to act on, with what was recorded about it and where it goes.

    ``dest``: the move target, or for links where the duplicate itself is put
    (None: the trash).  ``device``/``inode``/``nlink`` are the file's now.
    """

    action: str
    path: str
    keeper: str
    group: int
    size: int
    mtime_ns: int
    dest: str | None = None
    device: int = 0
    inode: int = 0
    nlink: int = 1


@dataclass
class Plan:
    """What a run would do: the steps, what is kept and why, what is refused and why, and the bytes freed."""

    action: str
    to: str | None
    steps: list[Step] = field(default_factory=list)
    kept: Counter = field(default_factory=Counter)
    refused: list[tuple[str, str]] = field(default_factory=list)
    done_before: int = 0

    @property
    def freed(self) -> int:
        """Bytes freed: a file's size once all its names are acted on (hard links elsewhere keep it alive)."""
        names = Counter((s.device, s.inode) for s in self.steps)
        sizes = {(s.device, s.inode): (s.size, s.nlink) for s in self.steps}
        return sum(size for key, (size, nlink) in sizes.items() if names[key] >= nlink)


# ---------------------------------------------------------------------------------------------- groups file


def _member(record: Any, where: str) -> Member:
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        raise ActionError(f"{where}: a member without a path")
    size, mtime = record.get("size"), record.get("mtime_ns")
    if not isinstance(size, int) or not isinstance(mtime, int):
        raise ActionError(f"{where}: member {record['path']!r} has no recorded size and mtime_ns "
                          "(a groups file from an older finder); run finder cluster again")
    twin = record.get("same_file_as")
    return Member(record["path"], int(record.get("distance") or 0), twin if isinstance(twin, str) else None,
                  size=size, mtime_ns=mtime, reference=bool(record.get("reference")))


def read_groups(path: str, stream: IO[bytes] | None = None) -> list[Group]:
    """Groups from ``finder cluster``'s JSON (an array) or JSON lines; ActionError when it is not one."""
    try:
        if stream is not None:
            data = stream.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        raise ActionError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        content = data.decode("utf-8")
        stripped = content.lstrip()
        records = json.loads(content) if stripped.startswith("[") else [
            json.loads(line) for line in content.splitlines() if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ActionError(f"{path}: not a finder groups file (JSON or JSON lines from finder cluster): {exc}") from None
    groups = []
    for k, record in enumerate(records):
        where = f"{path}: group {k}"
        if not isinstance(record, dict) or not isinstance(record.get("members"), list):
            raise ActionError(f"{where}: not a finder group (no members); use finder cluster --format json")
        members = [_member(m, where) for m in record["members"]]
        keeper = record.get("keeper")
        if not isinstance(keeper, str) or keeper not in {m.path for m in members}:
            raise ActionError(f"{where}: no keeper among its members (a groups file from an older finder); "
                              "run finder cluster again")
        representative = record.get("representative")
        groups.append(Group(int(record.get("group", k)), representative if isinstance(representative, str)
                            else members[0].path, members, keeper))
    return groups


# ---------------------------------------------------------------------------------------------- planning


def common_root(groups: Sequence[Group]) -> str:
    """The deepest folder holding every member of every group (moves keep the structure below it)."""
    folders = {os.path.dirname(m.path) for g in groups for m in g.members}
    return os.path.commonpath(sorted(folders)) if folders else "/"


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def unchanged(st: os.stat_result | None, size: int, mtime_ns: int) -> bool:
    """A regular file (not a link) of the recorded size and mtime."""
    return st is not None and stat.S_ISREG(st.st_mode) and st.st_size == size and st.st_mtime_ns == mtime_ns


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _links_to(path: str, target: str, target_st: os.stat_result) -> bool:
    """Whether ``path`` is already a link to ``target`` (a symbolic link to it, or the same file)."""
    st = _stat(path)
    if st is None:
        return False
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(OSError):
            return os.path.realpath(path) == os.path.realpath(target)
        return False
    return _identity(st) == _identity(target_st)


def plan(groups: Sequence[Group], action: str, to: str | None = None, done: frozenset[str] = frozenset()) -> Plan:
    """The steps ``action`` would take on ``groups``; nothing is changed.

    ``done``: paths a journal already records as done (a continued run).
    """
    from finder.groups.keep import proposed

    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")
    if action == "move" and not to:
        raise ActionError("--action move needs --to DIR")
    to = os.path.abspath(to) if to else None
    root = common_root(groups)
    result = Plan(action, to)
    for group in groups:
        keeper = next(m for m in group.members if m.path == group.keeper)
        candidates = proposed(group)
        result.kept["keeper"] += 1
        result.kept["reference"] += sum(m.reference and m.path != group.keeper for m in group.members)
        result.kept["hard link of a kept file"] += len(group.members) - len(candidates) - 1 - sum(
            m.reference and m.path != group.keeper for m in group.members)
        keeper_st = _stat(keeper.path)
        if not unchanged(keeper_st, keeper.size or 0, keeper.mtime_ns or 0):
            why = "missing" if keeper_st is None else "changed since it was hashed"
            for m in candidates:
                if m.path in done:
                    result.done_before += 1
                else:
                    result.refused.append((m.path, f"its keeper {keeper.path} is {why}; the group is left alone"))
            continue
        assert keeper_st is not None
        protected = {_identity(keeper_st)}
        for m in group.members:
            st = _stat(m.path) if m.reference else None
            if st is not None:
                protected.add(_identity(st))
        for m in candidates:
            if m.path in done:
                result.done_before += 1
                continue
            st = _stat(m.path)
            if st is None:
                result.refused.append((m.path, "gone"))
                continue
            if action in ("hardlink", "symlink") and _links_to(m.path, keeper.path, keeper_st):
                result.kept["already a link to the keeper"] += 1
                continue
            if _identity(st) in protected:
                result.kept["hard link of a kept file"] += 1
                continue
            if not unchanged(st, m.size or 0, m.mtime_ns or 0):
                result.refused.append((m.path, "changed since it was hashed (size, mtime or type); hash it again "
                                               "first"))
                continue
            if action == "hardlink" and st.st_dev != keeper_st.st_dev:
                result.refused.append((m.path, "on another filesystem than its keeper: cannot hard-link"))
                continue
            dest = os.path.join(to, os.path.relpath(m.path, root)) if to else None
            if dest is not None and (os.path.lexists(dest) or dest == m.path):
                result.refused.append((m.path, f"destination {dest} exists; nothing is overwritten"))
                continue
            result.steps.append(Step(action, m.path, keeper.path, group.id, m.size or 0, m.mtime_ns or 0, dest,
                                     st.st_dev, st.st_ino, st.st_nlink))
    return result


# ---------------------------------------------------------------------------------------------- file moves


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def move_noreplace(src: str, dest: str) -> None:
    """Move ``src`` to ``dest`` without ever replacing an existing ``dest`` (FileExistsError instead).

    On one filesystem: a hard link at ``dest``, then unlink ``src`` (atomic
    no-replace).  Across filesystems: copy (data and times) to a temporary
    file beside ``dest``, fsync, link it into place, then unlink ``src``.  On
    filesystems without hard links: rename after checking ``dest`` is free.
    """
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        os.link(src, dest, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _copy_noreplace(src, dest)
        elif exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            if os.path.lexists(dest):
                raise FileExistsError(errno.EEXIST, "destination exists", dest) from None
            os.rename(src, dest)
            _fsync_dir(os.path.dirname(dest))
            return
        else:
            raise
    _fsync_dir(os.path.dirname(dest))
    os.unlink(src)
    _fsync_dir(os.path.dirname(src))


def _copy_noreplace(src: str, dest: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".finder-", suffix=".tmp", dir=os.path.dirname(dest))
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        try:
            os.link(tmp, dest)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            if os.path.lexists(dest):
                raise FileExistsError(errno.EEXIST, "destination exists", dest) from None
            os.rename(tmp, dest)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _at(path: str | None, size: int, mtime_ns: int) -> bool:
    return path is not None and unchanged(_stat(path), size, mtime_ns)


def _stashed(record: dict[str, Any]) -> trash.Trashed | str | None:
    """Where the original of a step is now, if not at its path: its ``dest``, or its place in the trash."""
    if record.get("dest"):
        return record["dest"] if _at(record["dest"], record["size"], record["mtime_ns"]) else None
    if record["action"] in ("trash", "hardlink", "symlink"):
        known = record.get("trash")
        if known and _at(known.get("file"), record["size"], record["mtime_ns"]):
            return trash.Trashed(known["file"], known["info"])
        return trash.locate(record["path"], record["size"], record["mtime_ns"])
    return None


def _stash(record: dict[str, Any]) -> dict[str, Any]:
    """Put the original away: to ``dest`` or the trash.  Returns what the done record should remember."""
    if record.get("dest"):
        move_noreplace(record["path"], record["dest"])
        return {}
    trash.send(record["path"])
    found = trash.locate(record["path"], record["size"], record["mtime_ns"]) if trash.restorable() else None
    return {"trash": asdict(found)} if found else {}


def _make_link(record: dict[str, Any]) -> None:
    if record["action"] == "hardlink":
        os.link(record["keeper"], record["path"], follow_symlinks=False)
    else:
        os.symlink(record["keeper"], record["path"])
    _fsync_dir(os.path.dirname(record["path"]))


def perform(record: dict[str, Any]) -> dict[str, Any]:
    """Carry out one intent record; what the done record should add."""
    action, path = record["action"], record["path"]
    if action == "move":
        move_noreplace(path, record["dest"])
        return {}
    if action == "trash":
        return _stash(record)
    if action == "delete":
        os.unlink(path)
        _fsync_dir(os.path.dirname(path))
        return {}
    extra = _stash(record)
    _make_link(record)
    return extra


def state(record: dict[str, Any]) -> str:
    """Where an intent stands on disk: ``todo`` (nothing happened), ``half`` (a link step caught between
    putting the original away and linking, or a move between link and unlink), ``done``, or ``lost``."""
    action, path = record["action"], record["path"]
    here = _at(path, record["size"], record["mtime_ns"])
    keeper_st = _stat(record["keeper"])
    if here and action == "hardlink" and keeper_st is not None and _links_to(path, record["keeper"], keeper_st):
        here = False  # an exact copy (same size and mtime) now linked to its keeper
    if action == "move":
        there = _at(record["dest"], record["size"], record["mtime_ns"])
        return {(True, False): "todo", (False, True): "done", (True, True): "half"}.get((here, there), "lost")
    if here:
        return "todo"
    if action == "delete":
        return "done"
    if action == "trash":
        return "done" if _stashed(record) is not None else "lost"
    linked = keeper_st is not None and _links_to(path, record["keeper"], keeper_st)
    stashed = _stashed(record) is not None
    if linked:
        return "done" if stashed else "lost"
    return "half" if stashed and not os.path.lexists(path) else "lost"


def finish(record: dict[str, Any]) -> dict[str, Any]:
    """Complete a step caught ``half``-way (forward: the journal said it was to happen)."""
    if record["action"] == "move":  # both names exist: drop the source
        os.unlink(record["path"])
        return {}
    _make_link(record)
    found = _stashed(record)
    return {"trash": asdict(found)} if isinstance(found, trash.Trashed) else {}


# ---------------------------------------------------------------------------------------------- journal


class Journal:
    """An append-only JSON-lines file; every record is fsynced before :meth:`write` returns."""

    def __init__(self, path: str) -> None:
        self.path = path
        existed = os.path.exists(path)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        if not existed:
            _fsync_dir(os.path.dirname(os.path.abspath(path)))

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=True, sort_keys=True) + "\n").encode("ascii")
        os.write(self.fd, data)
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: str) -> list[dict[str, Any]]:
    """The records of a journal; a torn last line (a run killed while writing it) is ignored."""
    try:
        with open(path, "rb") as handle:
            lines = handle.read().split(b"\n")
    except OSError as exc:
        raise ActionError(f"cannot read journal {path}: {exc.strerror or exc}") from None
    records = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if k >= len(lines) - 2:  # the last line, cut short by a kill
                continue
            raise ActionError(f"{path}: line {k + 1} is not JSON: not a finder dedupe journal") from None
        if not isinstance(record, dict):
            raise ActionError(f"{path}: line {k + 1} is not a record: not a finder dedupe journal")
        records.append(record)
    if not records or records[0].get("format") != JOURNAL_FORMAT:
        raise ActionError(f"{path}: not a finder dedupe journal")
    if records[0].get("version") != JOURNAL_VERSION:
        raise ActionError(f"{path}: journal version {records[0].get('version')} is not supported")
    return records


@dataclass
class History:
    """A journal replayed: each step's intent record, what is done, what is undone."""

    header: dict[str, Any]
    intents: dict[int, dict[str, Any]] = field(default_factory=dict)
    done: dict[int, dict[str, Any]] = field(default_factory=dict)
    undone: set[int] = field(default_factory=set)

    @property
    def next_op(self) -> int:
        return max(self.intents, default=-1) + 1

    def done_paths(self) -> frozenset[str]:
        return frozenset(self.intents[k]["path"] for k in self.done)

    def pending(self) -> list[dict[str, Any]]:
        """Intents with no outcome: the step a killed run was in."""
        return [r for k, r in sorted(self.intents.items()) if k not in self.done and not r.get("closed")]


def replay(records: list[dict[str, Any]]) -> History:
    history = History(records[0])
    for record in records[1:]:
        kind, op = record.get("type"), record.get("op")
        if not isinstance(op, int):
            continue
        if kind == "intent":
            history.intents[op] = dict(record)
        elif kind == "done" and op in history.intents:
            history.done[op] = record
            history.intents[op].update({k: v for k, v in record.items() if k == "trash"})
        elif kind == "skipped" and op in history.intents:
            history.intents[op]["closed"] = True
        elif kind == "undone":
            history.undone.add(op)
    return history


def journal_header(groups_file: str, action: str, to: str | None) -> dict[str, Any]:
    return {"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, "type": "start", "finder_version": __version__,
            "groups": os.path.abspath(groups_file) if groups_file != "-" else "-", "action": action,
            "to": os.path.abspath(to) if to else None,
            "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}


def default_journal_name() -> str:
    """``finder-dedupe-YYYYMMDD-HHMMSS.jsonl`` in the current folder (a new name, never an existing file)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, k = f"finder-dedupe-{stamp}.jsonl", 1
    while os.path.exists(name):
        k += 1
        name = f"finder-dedupe-{stamp}-{k}.jsonl"
    return name


def open_history(journal: str, groups_file: str, action: str, to: str | None) -> History | None:
    """The history of an existing journal this run continues (None for a new one); ActionError if it cannot be."""
    if not os.path.exists(journal):
        return None
    history = replay(read_journal(journal))
    header = history.header
    mine = journal_header(groups_file, action, to)
    for key in ("action", "to", "groups"):
        if header.get(key) != mine[key]:
            raise ActionError(f"{journal} was written for {key} {header.get(key)!r}, not {mine[key]!r}; "
                              "give a new --journal")
    if history.undone:
        raise ActionError(f"{journal} has been undone; give a new --journal to start again")
    return history


# ---------------------------------------------------------------------------------------------- apply, undo


@dataclass
class Outcome:
    """What a run did: steps done (and bytes), refused at the last moment, failed with an OS error."""

    done: list[Step] = field(default_factory=list)
    resumed: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def resume(history: History, journal: Journal, on_event: Event | None = None) -> int:
    """Settle the step(s) a killed run left in flight: record what had happened, finish a half step.

    Returns how many were completed.
    """
    finished = 0
    for record in history.pending():
        where = state(record)
        op = record["op"]
        if where == "half":
            extra = finish(record)
            where = "done"
        else:
            extra = {}
        if where == "done":
            journal.write({"type": "done", "op": op, "resumed": True, **extra})
            history.done[op] = record
            finished += 1
        else:  # todo (it never happened: the plan does it again) or lost (reported)
            journal.write({"type": "skipped", "op": op, "reason": f"found {where} on resume"})
            record["closed"] = True
            if where == "lost" and on_event is not None:
                on_event("lost", _step_of(record), {})
    return finished


def _step_of(record: dict[str, Any]) -> Step:
    return Step(record["action"], record["path"], record["keeper"], int(record.get("group", -1)), record["size"],
                record["mtime_ns"], record.get("dest"), int(record.get("device", 0)), int(record.get("inode", 0)),
                int(record.get("nlink", 1)))


def apply(the_plan: Plan, journal: Journal, history: History | None = None,
          on_event: Event | None = None, step_delay: float = 0.0) -> Outcome:
    """Carry out ``the_plan``, journaling an intent before and an outcome after each step.

    ``step_delay`` seconds pass between each intent and its step (``FINDER_DEDUPE_STEP_DELAY``, for tests
    and demonstrations that stop a run between the two)."""
    outcome = Outcome()
    op = history.next_op if history is not None else 0
    for step in the_plan.steps:
        record = {"type": "intent", "op": op, **asdict(step)}
        journal.write(record)
        if step_delay:
            time.sleep(step_delay)
        # Checked again just before acting: the file and its keeper are still as planned.
        st, keeper_st = _stat(step.path), _stat(step.keeper)
        reason = None
        if st is None or not unchanged(st, step.size, step.mtime_ns) or _identity(st) != (step.device, step.inode):
            reason = "changed or gone since the plan was made"
        elif keeper_st is None or not stat.S_ISREG(keeper_st.st_mode):
            reason = f"its keeper {step.keeper} is gone"
        elif step.dest and os.path.lexists(step.dest):
            reason = f"destination {step.dest} exists; nothing is overwritten"
        if reason is None:
            try:
                extra = perform(record)
            except OSError as exc:
                reason = f"failed: {exc.strerror or exc}"
                kind = "failed"
            else:
                journal.write({"type": "done", "op": op, **extra})
                outcome.done.append(step)
                if on_event is not None:
                    on_event("done", step, extra)
        else:
            kind = "refused"
        if reason is not None:
            journal.write({"type": "skipped", "op": op, "reason": reason})
            (outcome.failed if kind == "failed" else outcome.refused).append((step.path, reason))
            if on_event is not None:
                on_event(kind, step, {"reason": reason})
        op += 1
    return outcome


@dataclass
class UndoOutcome:
    restored: list[Step] = field(default_factory=list)
    irreversible: list[Step] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def _restore(record: dict[str, Any]) -> str:
    """Reverse one step; returns 'restored', 'nothing' (it had not happened) or 'irreversible'."""
    action, path = record["action"], record["path"]
    where = state(record)
    if where == "todo":
        return "nothing"
    if action == "delete":
        return "irreversible"
    if action == "move":
        if where == "half":
            os.unlink(record["dest"])
        else:
            move_noreplace(record["dest"], path)
        return "restored"
    found = _stashed(record)
    if found is None:  # checked before anything is removed
        raise FileNotFoundError(errno.ENOENT, "the original is neither at its path, its destination nor in the "
                                              "trash", path)
    if action in ("hardlink", "symlink"):
        keeper_st = _stat(record["keeper"])
        if keeper_st is not None and _links_to(path, record["keeper"], keeper_st):
            os.unlink(path)
    if isinstance(found, trash.Trashed):
        move_noreplace(found.file, path)
        with contextlib.suppress(OSError):
            os.unlink(found.info)
    else:
        move_noreplace(found, path)
    return "restored"


def undo(journal_path: str, on_event: Event | None = None) -> UndoOutcome:
    """Reverse every step a journal records (done, or caught half-way), newest first; recorded in the journal."""
    history = replay(read_journal(journal_path))
    outcome = UndoOutcome()
    with Journal(journal_path) as journal:
        journal.write({"type": "undo", "time": _dt.datetime.now().astimezone().isoformat(timespec="seconds")})
        for op in sorted(history.intents, reverse=True):
            record = history.intents[op]
            if op in history.undone or (record.get("closed") and op not in history.done):
                continue
            step = _step_of(record)
            try:
                result = _restore(record)
            except OSError as exc:
                reason = (f"a file is at {exc.filename} again; nothing is overwritten"
                          if isinstance(exc, FileExistsError) else f"{exc.strerror or exc}")
                outcome.refused.append((record["path"], reason))
                if on_event is not None:
                    on_event("refused", step, {"reason": reason})
                continue
            if result == "irreversible":
                outcome.irreversible.append(step)
                if on_event is not None:
                    on_event("irreversible", step, {})
                continue
            journal.write({"type": "undone", "op": op, "result": result})
            if result == "restored":
                outcome.restored.append(step)
                if on_event is not None:
                    on_event("restored", step, {})
    return outcome


@contextlib.contextmanager
def journal_lock(path: str) -> Iterator[None]:
    """One run per journal (the hash file's flock, on ``JOURNAL.lock``)."""
    from finder.io.lock import store_lock

    with store_lock(path):
        yield
