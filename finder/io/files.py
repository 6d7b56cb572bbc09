"""Turn command-line arguments into a sorted list of candidate image paths.

Every candidate is returned as its absolute, resolved path (symbolic links
and ``..`` resolved, see :func:`resolve`), so one file reached two ways —
``photos/`` and ``/home/me/photos``, or through a symlinked directory — is one
candidate, and a hash file's entries are found again whatever the spelling.
(Hard links, two names of one inode, stay two candidates; the hashing driver
hashes the inode once and records both names.)

Candidates are recognised by extension (case-insensitive).  Directories are
walked recursively; hidden files and directories (names starting with ``.``)
are skipped unless asked for.  Symbolic links to files are candidates like any
file (a broken one is reported when it is opened); symbolic links to
directories are only walked with ``follow_symlinks``, and a directory is never
entered twice, so a link loop cannot recurse forever.
"""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from finder.io.decode import FileError, describe_os_error, image_extensions


def is_candidate(name: str, extensions: frozenset[str]) -> bool:
    return os.path.splitext(name)[1].lower() in extensions


def is_hidden(name: str) -> bool:
    return name.startswith(".") and name not in (".", "..")


def is_directory(entry: os.DirEntry, follow_symlinks: bool) -> bool:
    """``entry.is_dir``, but False when it can't be told (a symbolic link loop raises ELOOP)."""
    try:
        return entry.is_dir(follow_symlinks=follow_symlinks)
    except OSError:
        return False


def resolve(path: str) -> str:
    """The absolute path with symbolic links resolved; a dangling or looping link keeps its own name.

    A link whose target cannot be reached stays as the (absolute) link path,
    so that opening it reports "broken symbolic link" or "symbolic link loop".
    """
    real = os.path.realpath(path)
    if os.path.exists(real):
        return real
    parent, name = os.path.split(os.path.abspath(path))
    return os.path.join(os.path.realpath(parent), name)


# Folders of thumbnails, caches and recycle bins that NAS boxes, desktops and photo tools keep
# beside real photos: never photos themselves, skipped unless --no-default-excludes.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    "@eaDir",                     # Synology thumbnails
    "#recycle", "#snapshot",      # Synology recycle bin and snapshots
    "@Recycle", ".@__thumb",      # QNAP recycle bin and thumbnails
    "$RECYCLE.BIN", "System Volume Information",  # Windows
    ".Trash-*", ".Trashes",       # freedesktop and macOS trash
    ".thumbnails", ".cache",      # freedesktop thumbnail cache
    ".picasaoriginals",           # Picasa's copies of edited originals
    ".AppleDouble", "__MACOSX",   # resource forks (netatalk, zip)
)


#: The file ``finder dedupe`` leaves in a ``--to`` folder: a walk skips the folder holding it (unless it is the
#: folder asked for, or --no-default-excludes), so duplicates put away inside a hashed tree are not found again.
DEDUPE_MARK = ".finder-dedupe-destination"


@dataclass
class Filters:
    """Which names a walk skips: hidden ones, excluded globs, the default excludes."""

    hidden: bool = False
    exclude: tuple[str, ...] = ()
    default_excludes: bool = True
    passed_over: Counter = field(default_factory=Counter)  # extension -> files seen but not images

    def skips(self, name: str, path: str) -> bool:
        if not self.hidden and is_hidden(name):
            return True
        patterns = self.exclude + (DEFAULT_EXCLUDES if self.default_excludes else ())
        return any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in patterns)

    def note(self, name: str) -> None:
        self.passed_over[os.path.splitext(name)[1].lower() or "(none)"] += 1


def walk(
    top: str,
    extensions: frozenset[str],
    *,
    follow_symlinks: bool = False,
    hidden: bool = False,
    errors: list[FileError],
    filters: Filters | None = None,
) -> Iterable[str]:
    """Yield resolved candidate files under directory ``top``; unreadable directories go to ``errors``."""
    filters = filters or Filters(hidden=hidden)
    seen: set[tuple[int, int]] = set()
    stack = [os.path.realpath(top)]
    while stack:
        directory = stack.pop()
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as entries:
                listed = list(entries)
        except OSError as exc:
            errors.append(FileError(directory, f"cannot read directory: {describe_os_error(directory, exc)}"))
            continue
        if filters.default_excludes and len(seen) > 1 and any(e.name == DEDUPE_MARK for e in listed):
            continue  # duplicates finder dedupe put away
        for entry in listed:
            if filters.skips(entry.name, entry.path):
                continue
            if is_directory(entry, follow_symlinks):
                stack.append(resolve(entry.path) if entry.is_symlink() else entry.path)
            elif is_candidate(entry.name, extensions) and not is_directory(entry, True):
                # A link loop or broken link is still a candidate: opening it reports why.
                yield resolve(entry.path) if entry.is_symlink() else entry.path
            elif not is_directory(entry, True):
                filters.note(entry.name)


def read_path_list(stream: BinaryIO, null: bool = False) -> list[str]:
    """Paths from a newline- (or NUL-) separated byte stream; undecodable bytes survive."""
    data = stream.read()
    parts = data.split(b"\0" if null else b"\n")
    return [os.fsdecode(p) for p in parts if p]


def walked_roots(paths: Iterable[str]) -> list[str]:
    """The resolved directories among PATH arguments: the trees a run sees completely.

    An entry of a hash file under one of them whose file was not found again
    has gone; entries elsewhere were simply not part of this run.
    """
    return sorted({os.path.realpath(p) for p in paths if p != "-" and os.path.isdir(p)})


def find_images(
    paths: Iterable[str],
    *,
    stdin: BinaryIO | None = None,
    null: bool = False,
    follow_symlinks: bool = False,
    hidden: bool = False,
    filters: Filters | None = None,
) -> tuple[list[str], list[FileError]]:
    """Candidate image paths for PATH arguments: resolved, sorted, each file once.

    A directory is walked; a file is taken as given, whatever its extension.
    ``-`` reads a list of files from ``stdin``: those are files, not trees, so
    ``find DIR -newer X | finder hash -`` hashes just the new files;
    directories and non-image names in such a list are passed over, except
    a directory with an image extension, which is reported.

    Returns the candidates and the errors met while looking (unreadable
    directories, listed directories named like images).  ``filters`` (hidden
    names, ``--exclude`` globs, the default excludes) also counts the files it
    passed over by extension, so a run that finds nothing can say why.
    """
    filters = filters or Filters(hidden=hidden)
    extensions = image_extensions()
    errors: list[FileError] = []
    found: set[str] = set()
    listed_dirs: set[str] = set()  # each reported once, however often it is listed
    for path in paths:
        if path == "-":
            if stdin is None:
                raise ValueError("'-' given but no stdin stream")
            for listed in read_path_list(stdin, null):
                if "\0" in listed:  # os.stat would refuse it; almost surely `find -print0` without -0
                    errors.append(FileError(listed.split("\0")[0] + "...", "the list on stdin is NUL-separated: "
                                            "add -0 (as for find -print0)"))
                    continue
                if not is_candidate(listed, extensions):
                    filters.note(listed)
                    continue
                if os.path.isdir(listed):
                    if listed not in listed_dirs:
                        listed_dirs.add(listed)
                        errors.append(FileError(listed, "is a directory"))
                else:
                    found.add(resolve(listed))
        elif os.path.isdir(path):
            found.update(walk(path, extensions, follow_symlinks=follow_symlinks, errors=errors, filters=filters))
        else:
            found.add(resolve(path))
    return sorted(found), errors
