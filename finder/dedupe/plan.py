"""The plan: which files an action would touch, which are kept and why, which are refused and why.

Nothing here changes a file: :func:`plan` only looks (the dry run), and
:func:`finder.dedupe.run.apply` carries the steps out."""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from finder.dedupe import ACTIONS, trash
from finder.dedupe.hashed import Hashed
from finder.errors import ActionError
from finder.groups.linkage import Group


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
        """Bytes the plan frees (see :func:`freed_by`)."""
        return freed_by(self.steps)


def freed_by(steps: Sequence[Step]) -> int:
    """Bytes freed by ``steps``: a file's size once all its names are acted on (hard links elsewhere keep it)."""
    names = Counter((s.device, s.inode) for s in steps)
    sizes = {(s.device, s.inode): (s.size, s.nlink) for s in steps}
    return sum(size for key, (size, nlink) in sizes.items() if names[key] >= nlink)


def common_root(groups: Sequence[Group]) -> str:
    """The deepest folder holding every member of every group (moves keep the structure below it)."""
    folders = {os.path.dirname(m.path) for g in groups for m in g.members}
    return os.path.commonpath(sorted(folders)) if folders else "/"


def lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def unchanged(st: os.stat_result | None, size: int, mtime_ns: int) -> bool:
    """A regular file (not a link) of the recorded size and mtime."""
    return st is not None and stat.S_ISREG(st.st_mode) and st.st_size == size and st.st_mtime_ns == mtime_ns


def identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def links_to(path: str, target: str, target_st: os.stat_result) -> bool:
    """Whether ``path`` is already a link to ``target`` (a symbolic link to it, or the same file)."""
    st = lstat(path)
    if st is None:
        return False
    if stat.S_ISLNK(st.st_mode):
        with contextlib.suppress(OSError):
            return os.path.realpath(path) == os.path.realpath(target)
        return False
    return identity(st) == identity(target_st)


def inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies below ``folder`` once ``..`` and symbolic links are resolved."""
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real != top and os.path.commonpath([top, real]) == top


def check_request(action: str, to: str | None, groups: Sequence[Group] = ()) -> None:
    """Refuse what means nothing before anything is written: an unknown action, ``move`` without ``--to``,
    ``--to`` with ``trash`` or ``delete`` (which put nothing there), ``--to`` the very folder the groups'
    files are in, and the trash (``trash``, or a link without ``--to``) where send2trash is missing."""
    if action not in ACTIONS:
        raise ActionError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")
    if action == "move" and not to:
        raise ActionError("--action move needs --to DIR")
    if action in ("trash", "delete") and to:
        raise ActionError(f"--action {action} puts nothing in --to; give --to with move, hardlink or symlink")
    if action == "trash" or (action in ("hardlink", "symlink") and not to):
        trash.require()
    if to and groups and os.path.realpath(to) == os.path.realpath(common_root(groups)):
        raise ActionError(f"--to {to} is the folder the duplicates are in: give another folder")


def plan(groups: Sequence[Group], action: str, to: str | None = None, done: frozenset[str] = frozenset(), *,
         hashed: Hashed) -> Plan:
    """The steps ``action`` would take on ``groups``; nothing is changed.

    ``hashed``: the hash store the groups came from.  A group whose keeper is not in it, or is no longer
    what it recorded, is left alone; so is every duplicate that is not, or is no longer (see
    :meth:`~finder.dedupe.hashed.Hashed.refusal`).  ``done``: paths a journal already records as done
    (a continued run).
    """
    from finder.groups.keep import proposed

    check_request(action, to, groups)
    to = os.path.abspath(to) if to else None
    root = common_root(groups)
    result = Plan(action, to)
    for group in groups:
        keeper = next(m for m in group.members if m.path == group.keeper)
        candidates = proposed(group)
        result.kept["keeper"] += 1
        references = sum(m.reference and m.path != group.keeper for m in group.members)
        pairs = sum(bool(m.kept_with) and not m.reference and m.path != group.keeper for m in group.members)
        result.kept["reference"] += references
        result.kept["RAW+JPEG companion"] += pairs
        result.kept["hard link of a kept file"] += len(group.members) - len(candidates) - 1 - references - pairs
        keeper_st = lstat(keeper.path)
        if keeper_st is None or not stat.S_ISREG(keeper_st.st_mode):
            why: str | None = "missing" if keeper_st is None else "not a regular file"
        else:
            why = hashed.refusal(keeper.path, keeper_st, keeper.size, keeper.mtime_ns)
        if why is not None:
            for m in candidates:
                if m.path in done:
                    result.done_before += 1
                else:
                    result.refused.append((m.path, f"its keeper {keeper.path} is {why}; the group is left alone"))
            continue
        assert keeper_st is not None
        protected = {identity(keeper_st)}
        for m in group.members:
            st = lstat(m.path) if m.reference else None
            if st is not None:
                protected.add(identity(st))
        for m in candidates:
            if m.path in done:
                result.done_before += 1
                continue
            st = lstat(m.path)
            if st is None:
                result.refused.append((m.path, "gone"))
                continue
            if action in ("hardlink", "symlink") and links_to(m.path, keeper.path, keeper_st):
                result.kept["already a link to the keeper"] += 1
                continue
            if identity(st) in protected:
                result.kept["hard link of a kept file"] += 1
                continue
            why = ("changed since it was hashed (no longer a regular file)" if not stat.S_ISREG(st.st_mode)
                   else hashed.refusal(m.path, st, m.size, m.mtime_ns))
            if why is not None:
                result.refused.append((m.path, why))
                continue
            if action == "hardlink" and st.st_dev != keeper_st.st_dev:
                result.refused.append((m.path, "on another filesystem than its keeper: cannot hard-link"))
                continue
            dest = os.path.join(to, os.path.relpath(m.path, root)) if to else None
            if to is not None and dest is not None and not inside(dest, to):  # never outside --to
                result.refused.append((m.path, f"its destination {dest} would be outside --to {to}"))
                continue
            if dest is not None and (os.path.lexists(dest) or dest == m.path):
                result.refused.append((m.path, f"destination {dest} exists; nothing is overwritten"))
                continue
            result.steps.append(Step(action, m.path, keeper.path, group.id, m.size or 0, m.mtime_ns or 0, dest,
                                     st.st_dev, st.st_ino, st.st_nlink))
    return result
