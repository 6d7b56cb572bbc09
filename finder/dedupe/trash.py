"""The desktop trash: send a file there (the ``send2trash`` library), find it again, and bring it back.

``send2trash`` (the ``dedupe`` extra) moves a file to the trash the way the
desktop does, but does not say where it put it.  On Linux and other
freedesktop.org systems the trash is a folder with ``files/NAME`` and
``info/NAME.trashinfo`` (which records the original ``Path=``), either in
the home trash (``$XDG_DATA_HOME/Trash``) or in ``.Trash/UID`` /
``.Trash-UID`` at the top of the file's mount.  :func:`locate` reads those
records to find a trashed file by its original path and recorded size and
mtime, so ``finder dedupe --undo`` can put it back.  Elsewhere (macOS,
Windows) files are trashed but restoring is left to the desktop.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from finder.errors import ActionError

INFO_SUFFIX = ".trashinfo"


@dataclass(frozen=True)
class Trashed:
    """Where a trashed file lies: its bytes and its info record."""

    file: str
    info: str


def require() -> None:
    """ActionError when the ``send2trash`` library is missing (checked before a run starts)."""
    try:
        import send2trash  # noqa: F401
    except ImportError:
        raise ActionError("the trash needs the send2trash library: pip install 'finder[dedupe]'") from None


def send(path: str) -> None:
    """Move ``path`` to the trash with ``send2trash``; ActionError when the library is missing."""
    require()
    from send2trash import send2trash

    send2trash(path)


def restorable() -> bool:
    """Whether this platform's trash is the freedesktop.org one that :func:`locate` can read."""
    return sys.platform not in ("darwin", "win32")


def mount_point(path: str) -> str:
    """The top of the filesystem holding ``path`` (the nearest existing parent)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def trash_dirs(path: str) -> list[tuple[str, str]]:
    """(trash folder, folder relative ``Path=`` entries start from) where ``path`` may have been trashed."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    top = mount_point(path)
    uid = str(os.getuid()) if hasattr(os, "getuid") else ""
    candidates = [(os.path.join(data_home, "Trash"), data_home), (os.path.join(top, ".Trash", uid), top),
                  (os.path.join(top, f".Trash-{uid}"), top)]
    return [(folder, base) for folder, base in candidates if os.path.isdir(os.path.join(folder, "info"))]


def _original(info_file: str, base: str) -> str | None:
    try:
        with open(info_file, "rb") as handle:
            for line in handle.read(65536).splitlines():
                if line.startswith(b"Path="):
                    raw = unquote_to_bytes(line[5:].strip())
                    return os.fsdecode(raw if raw.startswith(b"/") else os.path.join(os.fsencode(base), raw))
    except OSError:
        return None
    return None


def _records(path: str) -> Iterator[tuple[str, str, os.DirEntry]]:
    """(trash folder, its base, info entry) of every ``.trashinfo`` record where ``path`` may have been trashed."""
    for folder, base in trash_dirs(path):
        try:
            entries = list(os.scandir(os.path.join(folder, "info")))
        except OSError:
            continue
        yield from ((folder, base, entry) for entry in entries if entry.name.endswith(INFO_SUFFIX))


def locate(path: str, size: int, mtime_ns: int) -> Trashed | None:
    """The newest trashed file whose original path was ``path`` and whose size and mtime match; None if none."""
    found: list[tuple[int, Trashed]] = []
    for folder, base, entry in _records(path):
        if _original(entry.path, base) != path:
            continue
        file = os.path.join(folder, "files", entry.name[:-len(INFO_SUFFIX)])
        try:
            st = os.lstat(file)
            stamp = entry.stat().st_mtime_ns
        except OSError:
            continue
        if st.st_size == size and st.st_mtime_ns == mtime_ns:
            found.append((stamp, Trashed(file, entry.path)))
    return max(found, key=lambda item: item[0])[1] if found else None


def drop_orphans(path: str) -> list[str]:
    """Remove the trash's info records of ``path`` that no trashed file goes with; the records removed.

    ``send2trash`` writes ``info/NAME.trashinfo`` first and then renames the
    file to ``files/NAME``: a kill in between leaves the record (empty, when
    the kill came before its write) and no file -- an invalid entry by the
    freedesktop.org trash specification.  Called when a killed run's step is
    settled (the file was found still at its path) or undone.  A record counts
    as ``path``'s when it names ``path``, or is empty and carries the name
    send2trash gives ``path`` (``NAME`` or ``STEM N.EXT``).
    """
    name = os.path.basename(path)
    stem, ext = os.path.splitext(name)
    given = re.compile(re.escape(stem) + r"( [0-9]+)?" + re.escape(ext))
    removed = []
    for folder, base, entry in _records(path):
        trashed = entry.name[:-len(INFO_SUFFIX)]
        if os.path.lexists(os.path.join(folder, "files", trashed)):
            continue
        try:
            empty = entry.stat(follow_symlinks=False).st_size == 0
        except OSError:
            continue
        if _original(entry.path, base) == path or (empty and given.fullmatch(trashed)):
            try:
                os.unlink(entry.path)
            except OSError:
                continue
            removed.append(entry.path)
    return removed
