"""The hash store as dedupe's evidence: which files were hashed, what each was, and whether it still is.

A groups file is an input, not trusted state: it may be hand-edited, stale, or
crafted.  ``finder dedupe`` therefore acts only on files the hash store records
as hashed, and only while each is still the image that was hashed:

* :meth:`Hashed.refusal` (cheap, for the plan): the path is in the store, and the
  file's size, mtime, device and inode are those the store recorded (and those
  the groups file says, so a groups file made from another store is refused);
* :meth:`Hashed.still_the_image` (one decode, just before a step acts): the file
  decoded now, with the store's settings, has the recorded stat *and* the very
  plain hash the store holds, bit for bit.  Size and mtime can be forged
  (``touch -r`` on a padded replacement); the pixels cannot be, short of a
  deliberate hash collision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from finder.errors import ActionError
from finder.groups.decisions import FileKeys
from finder.io.decode import FileError, FileStat
from finder.store.hashset import HashSet, load
from finder.store.rows import plain_rows


@dataclass
class Hashed:
    """A loaded hash store, indexed by path, that checks files against what it recorded."""

    store: HashSet
    source: str = "the hash store"
    keys: FileKeys = field(init=False, repr=False)  # path -> file index (the hashed files, not the skipped)
    _plain: np.ndarray | None = field(default=None, repr=False)
    _seen: dict[tuple[int, ...], str | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.keys = FileKeys(self.store)

    @classmethod
    def load(cls, path: str) -> Hashed:
        """The store in ``path``; a one-line error when there is none (dedupe acts on nothing unhashed)."""
        if not os.path.isfile(path):
            raise ActionError(f"hash file {path} not found: finder dedupe acts only on files in the hash store "
                              "the groups came from; give it with --hashes FILE")
        return cls(load(path), path)

    def recorded(self, path: str) -> FileStat | None:
        """What the store recorded about ``path`` (None: not hashed)."""
        k = self.keys.index_of(path)
        if k is None:
            return None
        s = self.store
        return FileStat(int(s.size[k]), int(s.mtime_ns[k]), int(s.device[k]), int(s.inode[k]))

    def refusal(self, path: str, st: os.stat_result | FileStat, size: int | None = None,
                mtime_ns: int | None = None) -> str | None:
        """Why ``path`` (whose stat is ``st``) may not be acted on, or None.  ``size``/``mtime_ns``: what the
        groups file says it recorded."""
        was = self.recorded(path)
        if was is None:
            return f"not in {self.source}: finder dedupe acts only on files that were hashed"
        if (size, mtime_ns) != (None, None) and (size, mtime_ns) != (was.size, was.mtime_ns):
            return f"the groups file records another size or mtime than {self.source}: cluster it again"
        now = st if isinstance(st, FileStat) else FileStat.of(st)
        if not _same(now, was):
            return "changed since it was hashed (size, mtime, device or inode); hash it again first"
        return None

    def still_the_image(self, path: str) -> str | None:
        """Why ``path`` is no longer the image the store hashed, or None: decoded now (as the store decoded
        it) it must have the recorded stat and the stored plain hash of every algorithm, bit for bit.

        A verdict is remembered for the file's stat including its ctime, which every write changes and
        ``touch`` cannot set back, so a keeper of many duplicates is decoded once per run."""
        k = self.keys.index_of(path)
        if k is None:
            return f"not in {self.source}: finder dedupe acts only on files that were hashed"
        try:
            st = os.lstat(path)
        except OSError as exc:
            return f"cannot be read to check it is still the image hashed: {exc.strerror or exc}"
        key = (k, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if key not in self._seen:
            self._seen[key] = self._check(path, k)
        return self._seen[key]

    def _check(self, path: str, k: int) -> str | None:
        settings = self.store.run_settings()
        names = self.store.algorithms
        got = plain_rows(path, names, self.store.exif_transpose, tuple(settings.get("views") or ["plain"]),
                         str(settings.get("decode") or "full"))
        if isinstance(got, FileError):
            return f"cannot be read to check it is still the image hashed: {got.reason}"
        words, st = got
        was = self.recorded(path)
        assert was is not None
        if not _same(st, was):
            return "changed since it was hashed (size, mtime, device or inode); hash it again first"
        if self._plain is None:
            self._plain = np.concatenate([self.store.plain(name) for name in names], axis=1)
        if not np.array_equal(words, self._plain[k]):
            return ("not the image that was hashed (same size and mtime, other pixels): it was replaced or "
                    "edited; hash it again first")
        return None


def _same(now: FileStat, was: FileStat) -> bool:
    """Size and mtime equal, and device and inode where the store knows them (a format-1 store does not)."""
    return (now.size, now.mtime_ns) == (was.size, was.mtime_ns) and (
        was.device == 0 or now.device == was.device) and (was.inode == 0 or now.inode == was.inode)
