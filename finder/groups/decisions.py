"""What a person decided in review, kept beside the hash file and honoured by every command that groups.

``finder serve`` (and ``finder decisions``) record four kinds of decision in ``NAME.decisions.json`` beside
the hash file ``NAME.npz``:

``distinct``
    Two files are not duplicates: their pair is never matched again (``cluster``, ``report``, ``serve``), and
    ``dedupe`` never acts on one as the other's duplicate.
``keep_all``
    A group is kept whole: it is not offered again while its files are the same set; a new file joining the
    group brings it back.
``keeper``
    The member to keep in a group: it overrides the keep rules wherever that file is grouped with any of the
    files it was chosen among.
``reviewed``
    A group was looked at (shown as such; nothing is hidden).

Files are named by their *identity*, not their path: the algorithm, its plain hash and the file size
(``find:0f3a…:123456``), so a decision survives a rename or a move (and a re-hash of the moved file).
Byte-identical copies share an identity.  The file is written atomically (temporary file + rename) on every
decision, so a kill at any moment leaves the previous or the new file, never a torn one; it is read as hostile
input (a strict schema, no pickles, size limits) and a damaged one is an error naming it, never overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from finder.errors import FinderError
from finder.groups.keep import companions
from finder.groups.linkage import Group
from finder.io.atomic import atomic_write
from finder.pairs import Pairs
from finder.store.hashset import HashSet

FORMAT = "finder-decisions"
VERSION = 1
KINDS = ("distinct", "keep_all", "keeper", "reviewed")
#: What the file may hold: far more than a person decides, small enough to read at every start.
MAX_BYTES = 64 << 20
MAX_FILES_PER_RECORD = 100_000
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}:[0-9a-f]{1,1024}:[0-9]{1,20}")
KEEPER_REASON = "chosen in review (finder serve)"


class DecisionsError(FinderError):
    """The decisions file cannot be read or written."""


def decisions_path(hashfile: str | os.PathLike) -> str:
    """``NAME.decisions.json`` beside the hash file ``NAME.npz``."""
    path = os.fspath(hashfile)
    stem = path[:-4] if path.lower().endswith(".npz") else path
    return f"{stem}.decisions.json"


class FileKeys:
    """The identity of each file of a hash file (see the module docstring), computed on demand."""

    def __init__(self, hashset: HashSet, algorithm: str | None = None) -> None:
        self.hashset = hashset
        self.algorithm = algorithm or hashset.algorithms[0]
        self._plain: np.ndarray | None = None
        self._cache: dict[int, str] = {}
        self._index: dict[str, int] | None = None

    def __call__(self, index: int) -> str:
        key = self._cache.get(index)
        if key is None:
            if self._plain is None:
                self._plain = self.hashset.plain(self.algorithm)
            words = self._plain[index]
            key = f"{self.algorithm}:{words.astype('>u8').tobytes().hex()}:{int(self.hashset.size[index])}"
            self._cache[index] = key
        return key

    def index_of(self, path: str) -> int | None:
        """The file index of ``path`` in the hash file, or None."""
        if self._index is None:
            self._index = {str(p): k for k, p in enumerate(self.hashset.paths)}
        return self._index.get(path)

    def of_path(self, path: str) -> str | None:
        """The identity of the file recorded at ``path``, or None when the hash file does not hold it."""
        index = self.index_of(path)
        return None if index is None else self(index)


@dataclass
class Decisions:
    """The decisions of one hash file, in the order they were made (see the module docstring)."""

    path: str
    records: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------------------------------ file

    @classmethod
    def load(cls, path: str) -> Decisions:
        """The decisions in ``path``; none when it does not exist.  A damaged file is an error (it is not
        replaced by an empty one: a person's decisions are not thrown away)."""
        try:
            with open(path, "rb") as handle:
                content = handle.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise DecisionsError(f"cannot read decisions {path}: {exc.strerror or exc}") from None
        if len(content) > MAX_BYTES:
            raise DecisionsError(f"decisions {path}: larger than {MAX_BYTES >> 20} MiB")
        try:
            data = json.loads(content.decode("utf-8"), parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DecisionsError(f"decisions {path}: not a decisions file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DecisionsError(f"decisions {path}: not a {FORMAT} file")
        if data.get("version") != VERSION:
            raise DecisionsError(f"decisions {path}: version {data.get('version')!r}; this finder reads {VERSION}")
        records = data.get("decisions")
        if not isinstance(records, list):
            raise DecisionsError(f"decisions {path}: 'decisions' must be a list")
        checked = [_checked(record, f"decisions {path}, entry {k + 1}") for k, record in enumerate(records)]
        return cls(path, checked)

    def save(self) -> None:
        """Write the file atomically (the previous one stays whole until the new one is complete)."""
        data = {"format": FORMAT, "version": VERSION, "decisions": self.records}
        try:
            with atomic_write(self.path, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, ensure_ascii=True)
        except OSError as exc:
            raise DecisionsError(f"cannot write decisions {self.path}: {exc.strerror or exc}") from None

    # ---------------------------------------------------------------------------------------- change

    def add(self, kind: str, files: Sequence[str], *, keeper: str | None = None,
            paths: Sequence[str] = (), save: bool = True) -> dict[str, Any]:
        """Record one decision (and save): ``files`` are identities (:class:`FileKeys`), ``paths`` their names
        now, in the same order (kept only to list the decision for a person)."""
        # Sorted, repeats kept (byte-identical copies share an identity), each name beside its identity.
        named = sorted(zip(files, paths)) if len(paths) == len(files) else [(f, None) for f in sorted(files)]
        record: dict[str, Any] = {"id": max((r["id"] for r in self.records), default=0) + 1, "kind": kind,
                                  "files": [f for f, _ in named],
                                  "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        if keeper is not None:
            record["keeper"] = keeper
        if paths and len(paths) == len(files):
            record["paths"] = [p for _, p in named]
        record = _checked(record, "new decision")
        self.records.append(record)
        if save:
            self.save()
        return record

    def undo(self) -> dict[str, Any] | None:
        """Take back the last decision (and save); the one taken back, or None when there is none."""
        if not self.records:
            return None
        record = self.records.pop()
        self.save()
        return record

    def clear(self, kind: str | None = None, ids: Iterable[int] = ()) -> int:
        """Remove the decisions of ``kind`` (all kinds when None), or only those numbered ``ids``; how many."""
        wanted = set(ids)
        keep = [r for r in self.records
                if not ((kind is None or r["kind"] == kind) and (not wanted or r["id"] in wanted))]
        removed = len(self.records) - len(keep)
        if removed:
            self.records = keep
            self.save()
        return removed

    # ------------------------------------------------------------------------------------------ read

    def distinct_pairs(self) -> set[frozenset[str]]:
        """Every pair of identities marked "not a duplicate"."""
        return {frozenset(r["files"]) for r in self.records if r["kind"] == "distinct"}

    def _covered(self, kind: str, keys: Iterable[str]) -> bool:
        # Counted with repeats: a new byte-identical copy (same identity) is a new file in the group.
        group = Counter(keys)
        return any(not group - Counter(r["files"]) for r in self.records if r["kind"] == kind)

    def kept_whole(self, keys: Iterable[str]) -> bool:
        """Whether a group of these identities was marked "keep all" (no new file since, an exact copy
        counting as new)."""
        return self._covered("keep_all", keys)

    def reviewed(self, keys: Iterable[str]) -> bool:
        """Whether a group of these identities was marked reviewed (no new file since)."""
        return self._covered("reviewed", keys)

    def keeper_of(self, keys: Iterable[str]) -> str | None:
        """The identity chosen as keeper among ``keys`` (the latest such decision), or None."""
        group = set(keys)
        for record in reversed(self.records):
            if record["kind"] == "keeper" and record["keeper"] in group and len(group & set(record["files"])) > 1:
                return str(record["keeper"])
        return None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _checked(record: Any, where: str) -> dict[str, Any]:
    """``record`` if it is a well-formed decision; else an error saying what is wrong."""
    if not isinstance(record, dict):
        raise DecisionsError(f"{where}: not an object")
    kind, files = record.get("kind"), record.get("files")
    if kind not in KINDS:
        raise DecisionsError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if not isinstance(record.get("id"), int) or isinstance(record.get("id"), bool) or record["id"] < 1:
        raise DecisionsError(f"{where}: 'id' must be a positive integer")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES_PER_RECORD:
        raise DecisionsError(f"{where}: 'files' must be a list of 1 to {MAX_FILES_PER_RECORD:,} identities")
    if not all(isinstance(k, str) and KEY_PATTERN.fullmatch(k) for k in files):
        raise DecisionsError(f"{where}: 'files' holds something that is not a file identity (ALGORITHM:HEX:SIZE)")
    if kind == "distinct" and len(set(files)) != 2:
        raise DecisionsError(f"{where}: 'not a duplicate' names exactly two files")
    if kind == "keeper":
        keeper = record.get("keeper")
        if not isinstance(keeper, str) or keeper not in files:
            raise DecisionsError(f"{where}: 'keeper' must be one of its 'files'")
    elif "keeper" in record:
        raise DecisionsError(f"{where}: only a keeper decision names a keeper")
    if not isinstance(record.get("at"), str) or len(record["at"]) > 64:
        raise DecisionsError(f"{where}: 'at' must be a date")
    paths = record.get("paths", [])
    if not isinstance(paths, list) or len(paths) > MAX_FILES_PER_RECORD or not all(isinstance(p, str) for p in paths):
        raise DecisionsError(f"{where}: 'paths' must be a list of names")
    unknown = set(record) - {"id", "kind", "files", "keeper", "at", "paths"}
    if unknown:
        raise DecisionsError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    return dict(record)


# ------------------------------------------------------------------------------------------ honouring


def drop_distinct(pairs: Any, keys: FileKeys, decisions: Decisions) -> Any:
    """``pairs`` (:class:`finder.pairs.Pairs` or voted pairs, over the files of ``keys``' hash file) less every
    pair marked "not a duplicate"."""
    marked = decisions.distinct_pairs()
    if not marked or not len(pairs):
        return pairs
    named = {k for pair in marked for k in pair}
    touched = np.unique(np.concatenate([pairs.i, pairs.j]))
    hit = {int(f) for f in touched if keys(int(f)) in named}
    if not hit:
        return pairs
    keep = np.ones(len(pairs), bool)
    for n, (a, b) in enumerate(zip(pairs.i.tolist(), pairs.j.tolist())):
        if a in hit and b in hit and frozenset((keys(a), keys(b))) in marked:
            keep[n] = False
    if isinstance(pairs, Pairs):
        return Pairs(pairs.i[keep], pairs.j[keep], pairs.distance[keep])
    return replace(pairs, i=pairs.i[keep], j=pairs.j[keep], votes=pairs.votes[keep], distance=pairs.distance[:, keep])


@dataclass
class Honoured:
    """Groups after the decisions: those still offered, and how many were hidden ("keep all")."""

    groups: list[Group]
    hidden: int = 0
    keepers_chosen: int = 0
    members_dropped: int = 0


def honour(groups: Sequence[Group], keys: FileKeys | Mapping[str, str | None], decisions: Decisions) -> Honoured:
    """Groups with the decisions applied (after their keepers were chosen by the keep rules).

    - a group marked "keep all" (the same set of files) is not offered;
    - a keeper chosen in review replaces the rules' keeper (``keeper_reason`` says so);
    - a member marked "not a duplicate" of the keeper leaves the group (single linkage can still join it
      through a third file: it is not the keeper's duplicate, so it is not offered for removal);
    - groups left with one file are dropped.

    ``keys``: the hash file's :class:`FileKeys`, or a mapping path -> identity.  A member the hash file does not
    hold is left as it is.
    """
    def key_of(path: str) -> str | None:
        return keys.of_path(path) if isinstance(keys, FileKeys) else keys.get(path)

    if not decisions.records:
        return Honoured(list(groups))
    distinct = decisions.distinct_pairs()
    out, hidden, chosen, dropped = [], 0, 0, 0
    for group in groups:
        named = {m.path: key_of(m.path) for m in group.members}
        known = [k for k in named.values() if k is not None]
        if known and len(known) == len(named) and decisions.kept_whole(known):
            hidden += 1
            continue
        chosen_key = decisions.keeper_of(known)
        if chosen_key is not None:
            keeper = next(m.path for m in group.members if named[m.path] == chosen_key)
            if keeper != group.keeper:
                chosen += 1
                pair = companions(keeper, group.members)
                members = [replace(m, kept_with=keeper if m.path in pair else None) for m in group.members]
                group = replace(group, members=members, keeper=keeper, keeper_reason=KEEPER_REASON)
            elif group.keeper_reason != KEEPER_REASON:
                group = replace(group, keeper_reason=f"{KEEPER_REASON}; {group.keeper_reason}")
        keeper_key = named.get(group.keeper) if group.keeper else None
        if keeper_key is not None and distinct:
            members = [m for m in group.members
                       if named[m.path] is None or frozenset((named[m.path], keeper_key)) not in distinct
                       or m.path == group.keeper]
            dropped += len(group.members) - len(members)
            if len(members) < 2:
                continue
            still = {m.path for m in members}
            group = replace(group, members=members,
                            representative=group.representative if group.representative in still
                            else (group.keeper or members[0].path))
        out.append(group)
    renumbered = [replace(g, id=k) for k, g in enumerate(out)]
    return Honoured(renumbered, hidden, chosen, dropped)
