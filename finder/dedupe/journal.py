"""The journal: an append-only JSON-lines file of intents and outcomes, fsynced record by record;
read back into a :class:`History` to continue or undo a run."""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from finder import __version__
from finder.dedupe import ACTIONS
from finder.dedupe.fileops import fsync_dir
from finder.dedupe.plan import inside
from finder.errors import ActionError
from finder.groups.file import is_absolute_path, is_count

JOURNAL_FORMAT = "finder.dedupe-journal"
#: 2: every record carries ``mac``, chained (see :func:`sign`).  Version 1 journals were not signed.
JOURNAL_VERSION = 2
KEY_BYTES = 32


def key_path() -> str:
    """Where this user's journal key lives (beside the freedesktop trash: ``$XDG_DATA_HOME/finder``)."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data_home, "finder", "journal.key")


def journal_key() -> bytes:
    """This user's secret journal key, made (mode 0600) the first time a journal is written or read.

    Journals are signed with it, so ``--undo`` reverses only what this user's finder recorded: a journal
    written by hand, by someone else, or changed since, moves nothing.
    """
    path = key_path()
    try:
        with open(path, "rb") as handle:
            key = handle.read()
    except FileNotFoundError:
        key = secrets.token_bytes(KEY_BYTES)
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        except FileExistsError:  # made meanwhile by another run
            return journal_key()
        except OSError as exc:
            raise ActionError(f"cannot keep the journal key {path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise ActionError(f"cannot read the journal key {path}: {exc.strerror or exc}") from None
    if len(key) != KEY_BYTES:
        raise ActionError(f"the journal key {path} is damaged ({len(key)} bytes, not {KEY_BYTES}); "
                          "journals signed with it cannot be undone by finder any more")
    return key


def _canonical(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k != "mac"}, ensure_ascii=True, sort_keys=True)


def sign(key: bytes, previous: str, record: dict[str, Any]) -> str:
    """A record's ``mac``: HMAC-SHA256 under this user's key of the previous record's mac and this record, so
    records cannot be forged, changed, reordered or taken from another journal (only a torn tail is lost)."""
    return hmac.new(key, f"{previous}\n{_canonical(record)}".encode("ascii"), hashlib.sha256).hexdigest()


class Journal:
    """An append-only JSON-lines file; every record is whole and fsynced before :meth:`write` returns.

    A journal survives a torn tail: opening one whose last record was cut short (a run killed while
    writing it) drops that partial line first, so what is appended next starts on a line of its own.
    The torn record was an intent whose step never began, or an outcome whose step the file system
    still shows: continuing settles it from there (:func:`finder.dedupe.run.resume`).  A record that
    cannot be written whole (a full disk) is taken back and raises :class:`ActionError` before the
    step it announces is taken.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.key = journal_key()
        self.previous = ""  # the mac of the last record, which the next one is chained to
        existed = os.path.exists(path)
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        if not existed:
            fsync_dir(os.path.dirname(os.path.abspath(path)))
        else:
            self._drop_torn_tail()
            records = read_journal(path, started=False)  # also checks every signature before appending
            self.previous = str(records[-1]["mac"]) if records else ""

    def _drop_torn_tail(self) -> None:
        size = os.lseek(self.fd, 0, os.SEEK_END)
        if size == 0 or os.pread(self.fd, 1, size - 1) == b"\n":
            return
        keep = size
        while keep > 0:  # back to just after the last newline
            start = max(0, keep - 65536)
            chunk = os.pread(self.fd, keep - start, start)
            found = chunk.rfind(b"\n")
            if found >= 0:
                keep = start + found + 1
                break
            keep = start
        os.ftruncate(self.fd, keep)
        os.fsync(self.fd)

    def write(self, record: dict[str, Any]) -> None:
        mac = sign(self.key, self.previous, record)
        data = (json.dumps({**record, "mac": mac}, ensure_ascii=True, sort_keys=True) + "\n").encode("ascii")
        start = os.lseek(self.fd, 0, os.SEEK_END)
        written = 0
        try:
            while written < len(data):
                count = os.write(self.fd, data[written:])
                if count <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                written += count
            os.fsync(self.fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, start)  # no half record stays behind
            raise ActionError(f"cannot write journal {self.path}: {exc.strerror or exc}; "
                              "stopped before the next step") from None
        self.previous = mac

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number finder writes")


#: The fields a step's intent carries, and what each must be.
_INTENT_FIELDS: dict[str, Callable[[Any], bool]] = {
    "op": is_count, "action": lambda v: v in ACTIONS, "path": is_absolute_path, "keeper": is_absolute_path,
    "group": lambda v: isinstance(v, int) and not isinstance(v, bool), "size": is_count, "mtime_ns": is_count,
    "dest": lambda v: v is None or is_absolute_path(v), "device": is_count, "inode": is_count, "nlink": is_count,
}


def _problem(record: dict[str, Any]) -> str | None:
    """What is wrong with a journal record after the header (None: nothing), by the fields its type needs."""
    kind = record.get("type")
    if kind == "intent":
        for name, valid in _INTENT_FIELDS.items():
            if name not in record or not valid(record[name]):
                return f"an intent whose {name} is {record.get(name)!r}"
    elif kind in ("done", "skipped", "undone"):
        if not is_count(record.get("op")):
            return f"a {kind} record whose op is {record.get('op')!r}"
        moved = record.get("trash")
        if moved is not None and not (isinstance(moved, dict) and is_absolute_path(moved.get("file"))
                                      and is_absolute_path(moved.get("info"))):
            return f"a {kind} record whose trash entry is {moved!r}"
    elif kind not in ("undo", "end"):
        return f"a record of type {kind!r}"
    return None


#: How every header line starts (its keys are sorted): a torn first line is a beginning of it.
_HEADER_START = b'{"action": "'


def _torn_header(content: bytes) -> bool:
    """Whether ``content`` (no newline in it) is nothing, or a header cut short -- not some other file."""
    if not content:
        return True
    if not (_HEADER_START.startswith(content) or content.startswith(_HEADER_START)):
        return False
    try:
        json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return True
    return False  # a whole record without its newline is not torn


def read_journal(path: str, started: bool = True) -> list[dict[str, Any]]:
    """The records of a journal; a torn last line (a run killed while writing it) is ignored.

    ``started=False``: a journal holding no whole record (empty, or a run killed while writing its very first
    line: nothing was done) gives ``[]`` instead of the "not a journal" error.
    """
    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError as exc:
        raise ActionError(f"cannot read journal {path}: {exc.strerror or exc}") from None
    if not started and b"\n" not in content and _torn_header(content):
        return []
    lines = content.split(b"\n")
    records: list[dict[str, Any]] = []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_no_constants)
        except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError is a ValueError
            if k >= len(lines) - 2:  # the last line, cut short by a kill
                continue
            raise ActionError(f"{path}: line {k + 1} is not JSON: not a finder dedupe journal") from None
        if not isinstance(record, dict):
            raise ActionError(f"{path}: line {k + 1} is not a record: not a finder dedupe journal")
        problem = _problem(record) if records else None
        if problem:
            raise ActionError(f"{path}: line {k + 1}: {problem}: not a finder dedupe journal record")
        records.append(record)
    if not records or records[0].get("format") != JOURNAL_FORMAT:
        raise ActionError(f"{path}: not a finder dedupe journal")
    if records[0].get("version") != JOURNAL_VERSION:
        raise ActionError(f"{path}: journal version {records[0].get('version')} is not supported"
                          + (" (unsigned: written before finder signed its journals)"
                             if records[0].get("version") == 1 else ""))
    _check_destinations(path, records)
    key, previous = journal_key(), ""
    for record in records:
        mac = record.get("mac")
        if not isinstance(mac, str) or not hmac.compare_digest(mac, sign(key, previous, record)):
            raise ActionError(f"{path}: not a journal finder wrote for this user, or changed since: "
                              "undo and continue act only on their own journals")
        previous = mac
    return records


def _check_destinations(path: str, records: list[dict[str, Any]]) -> None:
    """Every step's destination inside the run's ``--to`` (a second line of defence after the signatures)."""
    to = records[0].get("to")
    for record in records[1:]:
        dest = record.get("dest") if record.get("type") == "intent" else None
        if dest is not None and not (isinstance(to, str) and isinstance(dest, str) and inside(dest, to)):
            raise ActionError(f"{path}: a step whose destination {dest!r} is outside the run's --to {to!r}: "
                              "not a finder dedupe journal record")


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
    records = read_journal(journal, started=False) if os.path.exists(journal) else []
    if not records:  # new, or a run killed before its first record: nothing was done
        return None
    history = replay(records)
    header = history.header
    mine = journal_header(groups_file, action, to)
    for key in ("action", "to", "groups"):
        if header.get(key) != mine[key]:
            raise ActionError(f"{journal} was written for {key} {header.get(key)!r}, not {mine[key]!r}; "
                              "give a new --journal")
    if history.undone:
        raise ActionError(f"{journal} has been undone; give a new --journal to start again")
    return history


@contextlib.contextmanager
def journal_lock(path: str) -> Iterator[None]:
    """One run per journal (the hash file's flock, on ``JOURNAL.lock``)."""
    from finder.io.lock import store_lock

    with store_lock(path, wait_option=None):
        yield
