"""Turn command-line arguments into a sorted list of candidate image paths.

Candidates are recognised by extension (case-insensitive).  Directories are
walked recursively; hidden files and directories (names starting with ``.``)
are skipped unless asked for.  Symbolic links to files are candidates like any
file (a broken one is reported when it is opened); symbolic links to
directories are only walked with ``follow_symlinks``, and a directory is never
entered twice, so a link loop cannot recurse forever.
"""

from __future__ import annotations

import os
from typing import BinaryIO, Iterable

from PIL import features

from finder.decode import FileError, describe_os_error

BASE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"})


def register_heif() -> bool:
    """Register pillow-heif's HEIC/HEIF opener if the ``heif`` extra is installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def image_extensions() -> frozenset[str]:
    """Extensions finder treats as images here: the base set, plus AVIF and HEIC/HEIF when available."""
    extensions = set(BASE_EXTENSIONS)
    if features.check("avif"):
        extensions.add(".avif")
    if register_heif():
        extensions.update({".heic", ".heif"})
    return frozenset(extensions)


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


def walk(
    top: str,
    extensions: frozenset[str],
    *,
    follow_symlinks: bool = False,
    hidden: bool = False,
    errors: list[FileError],
) -> Iterable[str]:
    """Yield candidate files under directory ``top``; unreadable directories go to ``errors``."""
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(directory) as entries:
                entries = list(entries)
        except OSError as exc:
            errors.append(FileError(directory, f"cannot read directory: {describe_os_error(directory, exc)}"))
            continue
        for entry in entries:
            if not hidden and is_hidden(entry.name):
                continue
            if is_directory(entry, follow_symlinks):
                stack.append(entry.path)
            elif is_candidate(entry.name, extensions) and not is_directory(entry, True):
                # A link loop or broken link is still a candidate: opening it reports why.
                yield entry.path


def read_path_list(stream: BinaryIO, null: bool = False) -> list[str]:
    """Paths from a newline- (or NUL-) separated byte stream; undecodable bytes survive."""
    data = stream.read()
    parts = data.split(b"\0" if null else b"\n")
    return [os.fsdecode(p) for p in parts if p]


def find_images(
    paths: Iterable[str],
    *,
    stdin: BinaryIO | None = None,
    null: bool = False,
    follow_symlinks: bool = False,
    hidden: bool = False,
) -> tuple[list[str], list[FileError]]:
    """Candidate image paths for PATH arguments, sorted and without repeats.

    A directory is walked; a file is taken as given, whatever its extension.
    ``-`` reads a list of files from ``stdin``: those are files, not trees, so
    ``find DIR -newer X | finder hash -`` hashes just the new files;
    directories and non-image names in such a list are passed over, except
    a directory with an image extension, which is reported.

    Returns the candidates and the errors met while looking (unreadable
    directories, listed directories named like images).
    """
    extensions = image_extensions()
    errors: list[FileError] = []
    found: set[str] = set()
    listed_dirs: set[str] = set()  # each reported once, however often it is listed
    for path in paths:
        if path == "-":
            if stdin is None:
                raise ValueError("'-' given but no stdin stream")
            for listed in read_path_list(stdin, null):
                if not is_candidate(listed, extensions):
                    continue
                if os.path.isdir(listed):
                    if listed not in listed_dirs:
                        listed_dirs.add(listed)
                        errors.append(FileError(listed, "is a directory"))
                else:
                    found.add(listed)
        elif os.path.isdir(path):
            found.update(walk(path, extensions, follow_symlinks=follow_symlinks, hidden=hidden, errors=errors))
        else:
            found.add(path)
    return sorted(found), errors
