"""Putting one file away and back: moves that never overwrite, links, the trash, and where a step stands.

Each operation takes a step's journal record; :func:`state` tells from the file system alone
whether a step is still to do, half done or done, so a killed run can be settled and undone."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from dataclasses import asdict
from typing import Any

from finder.dedupe import trash
from finder.dedupe.plan import links_to, lstat, unchanged
from finder.io.files import DEDUPE_MARK


def mark_destination(to: str) -> None:
    """Leave :data:`finder.io.files.DEDUPE_MARK` in ``to``, so ``finder hash`` does not find the duplicates
    put away there again (when ``to`` lies inside a hashed folder)."""
    os.makedirs(to, exist_ok=True)
    with contextlib.suppress(FileExistsError), open(os.path.join(to, DEDUPE_MARK), "x", encoding="utf-8") as mark:
        mark.write("finder dedupe puts duplicates here; finder hash skips this folder "
                   "(unless it is the folder hashed, or with --no-default-excludes)\n")


def fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: Where the names of one file went: (device, inode) of the file they were names of -> a path of it there.
#: Moving several hard-linked names across filesystems one by one would make a copy for each; with this
#: record the second and later names become hard links of the first copy again.
Twins = dict[tuple[int, int], str]


def move_noreplace(src: str, dest: str, twin: str | None = None) -> None:
    """Move ``src`` to ``dest`` without ever replacing an existing ``dest`` (FileExistsError instead).

    On one filesystem: a hard link at ``dest``, then unlink ``src`` (atomic
    no-replace).  Across filesystems: copy (data and times) to a temporary
    file beside ``dest``, fsync, link it into place, then unlink ``src`` --
    or, when ``twin`` (a name of the same file already moved to ``dest``'s
    filesystem) is given, a hard link of ``twin`` at ``dest``, so hard links
    stay hard links.  On filesystems without hard links: rename after
    checking ``dest`` is free.
    """
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        os.link(src, dest, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno == errno.EXDEV and twin is not None:
            os.link(twin, dest, follow_symlinks=False)
        elif exc.errno == errno.EXDEV:
            _copy_noreplace(src, dest)
        elif exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            if os.path.lexists(dest):
                raise FileExistsError(errno.EEXIST, "destination exists", dest) from None
            os.rename(src, dest)
            fsync_dir(os.path.dirname(dest))
            return
        else:
            raise
    fsync_dir(os.path.dirname(dest))
    os.unlink(src)
    fsync_dir(os.path.dirname(src))


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
    return path is not None and unchanged(lstat(path), size, mtime_ns)


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


def _key(record: dict[str, Any]) -> tuple[int, int]:
    return int(record.get("device", 0)), int(record.get("inode", 0))


def _twin(record: dict[str, Any], twins: Twins | None) -> str | None:
    """A name of this step's file already moved where it goes, still as recorded (None: copy if need be)."""
    found = twins.get(_key(record)) if twins is not None and record.get("inode") else None
    return found if found is not None and _at(found, record["size"], record["mtime_ns"]) else None


def _moved(record: dict[str, Any], twins: Twins | None, where: str) -> None:
    if twins is not None and record.get("inode"):
        twins.setdefault(_key(record), where)


def _stash(record: dict[str, Any], twins: Twins | None = None) -> dict[str, Any]:
    """Put the original away: to ``dest`` or the trash.  Returns what the done record should remember."""
    if record.get("dest"):
        move_noreplace(record["path"], record["dest"], _twin(record, twins))
        _moved(record, twins, record["dest"])
        return {}
    trash.send(record["path"])
    found = trash.locate(record["path"], record["size"], record["mtime_ns"]) if trash.restorable() else None
    return {"trash": asdict(found)} if found else {}


def _make_link(record: dict[str, Any]) -> None:
    if record["action"] == "hardlink":
        os.link(record["keeper"], record["path"], follow_symlinks=False)
    else:
        os.symlink(record["keeper"], record["path"])
    fsync_dir(os.path.dirname(record["path"]))


def perform(record: dict[str, Any], twins: Twins | None = None) -> dict[str, Any]:
    """Carry out one intent record; what the done record should add.  ``twins``: see :data:`Twins`."""
    action, path = record["action"], record["path"]
    if action == "move":
        move_noreplace(path, record["dest"], _twin(record, twins))
        _moved(record, twins, record["dest"])
        return {}
    if action == "trash":
        return _stash(record)
    if action == "delete":
        os.unlink(path)
        fsync_dir(os.path.dirname(path))
        return {}
    extra = _stash(record, twins)
    _make_link(record)
    return extra


def state(record: dict[str, Any]) -> str:
    """Where an intent stands on disk: ``todo`` (nothing happened), ``half`` (a move, or a link step putting
    its original away to ``--to``, caught with both names; or a link step between putting the original away
    and linking), ``done``, or ``lost``."""
    action, path = record["action"], record["path"]
    here = _at(path, record["size"], record["mtime_ns"])
    keeper_st = lstat(record["keeper"])
    if here and action == "hardlink" and keeper_st is not None and links_to(path, record["keeper"], keeper_st):
        here = False  # an exact copy (same size and mtime) now linked to its keeper
    if action == "move":
        there = _at(record["dest"], record["size"], record["mtime_ns"])
        return {(True, False): "todo", (False, True): "done", (True, True): "half"}.get((here, there), "lost")
    if here:
        if action in ("hardlink", "symlink") and record.get("dest") and _at(record["dest"], record["size"],
                                                                             record["mtime_ns"]):
            return "half"  # stashing to --to caught with both names (after the link, before the unlink)
        return "todo"
    if action == "delete":
        return "done"
    if action == "trash":
        return "done" if _stashed(record) is not None else "lost"
    linked = keeper_st is not None and links_to(path, record["keeper"], keeper_st)
    stashed = _stashed(record) is not None
    if linked:
        return "done" if stashed else "lost"
    return "half" if stashed and not os.path.lexists(path) else "lost"


def drop_torn_trash(record: dict[str, Any]) -> None:
    """For a step found not done that puts its file in the trash: remove the info record a kill inside
    ``send2trash`` can leave without its file (:func:`finder.dedupe.trash.drop_orphans`)."""
    if trash.restorable() and (record["action"] == "trash" or (record["action"] in ("hardlink", "symlink")
                                                               and not record.get("dest"))):
        trash.drop_orphans(record["path"])


def finish(record: dict[str, Any]) -> dict[str, Any]:
    """Complete a step caught ``half``-way (forward: the journal said it was to happen)."""
    if record["action"] == "move":  # both names exist: drop the source
        os.unlink(record["path"])
        return {}
    if os.path.lexists(record["path"]):  # the original is still at its path as well as at --to: drop this name
        os.unlink(record["path"])
        fsync_dir(os.path.dirname(record["path"]))
    _make_link(record)
    found = _stashed(record)
    return {"trash": asdict(found)} if isinstance(found, trash.Trashed) else {}


def restore(record: dict[str, Any], twins: Twins | None = None) -> str:
    """Reverse one step; returns 'restored', 'nothing' (it had not happened) or 'irreversible'.

    ``twins``: names of the same original already restored (:data:`Twins`), so that names that were hard links
    of one file before a move across filesystems are hard links again after it is undone."""
    action, path = record["action"], record["path"]
    where = state(record)
    if where == "todo":
        drop_torn_trash(record)
        return "nothing"
    if action == "delete":
        return "irreversible"
    if action == "move" or (where == "half" and _at(path, record["size"], record["mtime_ns"])):
        if where == "half":  # both names: the original is still at its path
            os.unlink(record["dest"])
        else:
            move_noreplace(record["dest"], path, _twin(record, twins))
        _moved(record, twins, path)
        return "restored"
    found = _stashed(record)
    if found is None:  # checked before anything is removed
        raise FileNotFoundError(errno.ENOENT, "the original is neither at its path, its destination nor in the "
                                              "trash", path)
    if action in ("hardlink", "symlink"):
        keeper_st = lstat(record["keeper"])
        if keeper_st is not None and links_to(path, record["keeper"], keeper_st):
            os.unlink(path)
    if isinstance(found, trash.Trashed):
        move_noreplace(found.file, path)
        with contextlib.suppress(OSError):
            os.unlink(found.info)
    else:
        move_noreplace(found, path, _twin(record, twins))
    _moved(record, twins, path)
    return "restored"
