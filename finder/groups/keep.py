"""Keep rules: which member of each group is kept (the *keeper*), and which lie in reference folders.

A rule ranks files by one fact (:class:`finder.groups.facts.FileFacts`); rules are
applied in order, each breaking the ties of the ones before, and the path
(byte order) breaks what is left, so the choice never depends on anything
but the facts.  The rules:

=================  ===================================================================
``pixels``         largest pixel area (width x height)
``size``           largest file (bytes)
``oldest``         earliest date: the EXIF date taken, else the file's mtime; ties by mtime
``newest``         latest date, the same way
``shortest-path``  shortest path
``format:NAME``    files of this format first (``jpeg``, ``png``, ``tiff``, ... or an
                   extension); repeat for an order: ``format:tiff,format:png``
``path:GLOB``      files whose path matches GLOB first (``~`` expanded, a relative
                   pattern taken from the current folder; a pattern without
                   wildcards means that folder and everything under it)
=================  ===================================================================

Default: ``pixels,size,oldest``, then path order.  A file whose header cannot
be read now (gone, damaged) is chosen only when no member can be read.

Reference folders (``--reference DIR``): images under them are never proposed
for removal; in a group with reference members the keeper is the best of
them, every reference member is kept, and groups without one are unaffected.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from finder.errors import KeepRuleError
from finder.groups.facts import FileFacts
from finder.groups.linkage import Group, Member

DEFAULT_RULES = ("pixels", "size", "oldest")
RULE_NAMES = ("pixels", "size", "oldest", "newest", "shortest-path", "format:NAME", "path:GLOB")
WILDCARDS = "*?["
FORMAT_ALIASES = {"JPG": "JPEG", "JPE": "JPEG", "TIF": "TIFF", "HEIC": "HEIF", "HIF": "HEIF"}

Key = Callable[[FileFacts], tuple]


@dataclass(frozen=True)
class KeepRule:
    """One keep rule: its text as given and a sort key over file facts (smaller is preferred)."""

    text: str
    key: Key


def _pixels(f: FileFacts) -> tuple:
    area = f.pixels
    return (0, -area) if area is not None else (1, 0)


def _size(f: FileFacts) -> tuple:
    return (-f.size,)


def _oldest(f: FileFacts) -> tuple:
    return (f.date_ns, f.mtime_ns)


def _newest(f: FileFacts) -> tuple:
    return (-f.date_ns, -f.mtime_ns)


def _shortest_path(f: FileFacts) -> tuple:
    return (len(os.fsencode(f.path)),)


SIMPLE_RULES: dict[str, Key] = {
    "pixels": _pixels, "size": _size, "oldest": _oldest, "newest": _newest, "shortest-path": _shortest_path,
}


def known_formats() -> set[str]:
    """Format names Pillow knows (with every plugin loaded), plus their aliases."""
    from PIL import Image

    from finder.io.decode import register_codecs

    register_codecs()
    Image.init()
    return {f.upper() for f in Image.OPEN} | {f.upper() for f in Image.registered_extensions().values()} | set(
        FORMAT_ALIASES.values())


def format_of(f: FileFacts) -> str:
    """A file's format: Pillow's name from the header, else from the extension."""
    if f.format:
        return f.format.upper()
    ext = os.path.splitext(f.path)[1].lstrip(".").upper()
    return FORMAT_ALIASES.get(ext, ext)


def format_rule(name: str) -> Key:
    """Prefer files of format ``name`` (a Pillow format name or an extension, any case)."""
    wanted = name.strip().lstrip(".").upper()
    wanted = FORMAT_ALIASES.get(wanted, wanted)
    if not wanted or wanted not in known_formats():
        raise KeepRuleError(f"--keep format:{name}: unknown image format (e.g. format:jpeg, format:png, format:tiff)")
    return lambda f: (0,) if format_of(f) == wanted else (1,)


def expand_pattern(pattern: str, cwd: str | None = None) -> str:
    """A path:GLOB pattern as matched against the absolute, resolved paths of the hash file.

    ``~`` is expanded; a relative pattern starts at ``cwd``; the folders before
    the first wildcard are resolved like the hash file's paths (symbolic links);
    a pattern without wildcards, or ending in ``/``, matches everything under it.
    """
    if not pattern.strip():
        raise KeepRuleError("--keep path: needs a pattern, e.g. 'path:~/Pictures/originals/*'")
    text = os.path.expanduser(pattern)
    if not os.path.isabs(text) and text[0] not in WILDCARDS:
        text = os.path.join(cwd or os.getcwd(), text)
    if not any(c in text for c in WILDCARDS):
        return os.path.realpath(text).rstrip("/") + "/*"
    parts = text.split("/")
    fixed = next(k for k, part in enumerate(parts) if any(c in part for c in WILDCARDS))
    if fixed > 1:
        parts[:fixed] = os.path.realpath("/".join(parts[:fixed])).split("/")
    text = "/".join(parts)
    return text + "*" if text.endswith("/") else text


def path_rule(pattern: str, cwd: str | None = None) -> Key:
    """Prefer files whose path matches ``pattern`` (fnmatch: ``*`` also crosses ``/``)."""
    full = expand_pattern(pattern, cwd)
    return lambda f: (0,) if fnmatch.fnmatchcase(f.path, full) else (1,)


def split_rules(values: Iterable[str]) -> list[str]:
    """``--keep`` values to rule texts: comma-separated, except that ``path:`` takes the rest of its value."""
    texts: list[str] = []
    for value in values:
        rest = value
        while rest:
            if rest.lstrip().startswith("path:"):
                texts.append(rest.strip())
                break
            token, _, rest = rest.partition(",")
            if token.strip():
                texts.append(token.strip())
    return texts


def parse_rules(values: Sequence[str] = (), cwd: str | None = None) -> list[KeepRule]:
    """Keep rules from ``--keep`` values (default :data:`DEFAULT_RULES`); raises KeepRuleError on a bad one."""
    texts = split_rules(values) or list(DEFAULT_RULES)
    rules = []
    for text in texts:
        kind, colon, argument = text.partition(":")
        kind = kind.strip().lower()
        if not colon and kind in SIMPLE_RULES:
            rules.append(KeepRule(kind, SIMPLE_RULES[kind]))
        elif colon and kind == "format":
            rules.append(KeepRule(text, format_rule(argument)))
        elif colon and kind == "path":
            rules.append(KeepRule(text, path_rule(argument, cwd)))
        else:
            raise KeepRuleError(f"--keep: unknown rule {text!r}; rules: {', '.join(RULE_NAMES)}")
    return rules


def rank(facts: Sequence[FileFacts], rules: Sequence[KeepRule]) -> list[int]:
    """Indices of ``facts`` from most to least preferred: readable first, then each rule, then path bytes."""
    def key(k: int) -> tuple:
        f = facts[k]
        return (f.problem is not None, *(rule.key(f) for rule in rules), os.fsencode(f.path))

    return sorted(range(len(facts)), key=key)


def resolve_folders(folders: Iterable[str]) -> tuple[str, ...]:
    """Reference folders as absolute resolved paths (the form the hash file records)."""
    resolved = []
    for folder in folders:
        if not os.path.isdir(folder):
            raise KeepRuleError(f"--reference {folder}: not a folder")
        resolved.append(os.path.realpath(folder))
    return tuple(dict.fromkeys(resolved))


def under(path: str, folders: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``folders`` or lies below one."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in folders)


def member_facts(member: Member, facts: Mapping[str, FileFacts]) -> FileFacts:
    """The facts of ``member``, or its recorded ones alone when its header was not read."""
    found = facts.get(member.path)
    if found is not None:
        return found
    return FileFacts(member.path, member.size or 0, member.mtime_ns or 0, problem="not read")


def decide(groups: Iterable[Group], facts: Mapping[str, FileFacts], rules: Sequence[KeepRule],
           references: Sequence[str] = ()) -> list[Group]:
    """Each group with its keeper chosen and its reference members marked.

    The keeper is the best member by ``rules`` (:func:`rank`) among the
    group's reference members when it has any, else among all members.
    """
    decided = []
    for group in groups:
        members = [replace(m, reference=under(m.path, references)) for m in group.members]
        pool = [m for m in members if m.reference] or members
        best = rank([member_facts(m, facts) for m in pool], rules)[0]
        decided.append(replace(group, members=members, keeper=pool[best].path))
    return decided


def proposed(group: Group, distinct: bool = False) -> list[Member]:
    """Members proposed for removal: not the keeper, not a reference image, not a hard link of either.

    Hard links are known from ``same_file_as`` (each name points to the
    group's first name of the same file).  With ``distinct``, one member per
    file, for counting bytes.
    """
    def file_of(m: Member) -> str:
        return m.same_file_as or m.path

    kept = {file_of(m) for m in group.members if m.path == group.keeper or m.reference}
    found, seen = [], set()
    for m in group.members:
        if file_of(m) in kept or (distinct and file_of(m) in seen):
            continue
        seen.add(file_of(m))
        found.append(m)
    return found


def decide_groups(groups: Sequence[Group], rules: Sequence[KeepRule], references: Sequence[str] = (),
                  jobs: int | None = None, progress: Callable[[int], None] | None = None
                  ) -> tuple[list[Group], dict[str, FileFacts]]:
    """Read the grouped files' headers (in parallel) and :func:`decide`; the groups and the facts read."""
    from finder.groups.facts import gather

    facts = gather(((m.path, m.size or 0, m.mtime_ns or 0) for g in groups for m in g.members), jobs, progress)
    return decide(groups, facts, rules, references), facts


def describe_rules(rules: Sequence[KeepRule]) -> str:
    """The rules as one line, for reports and summaries."""
    return ", ".join(r.text for r in rules) + ", then path order"
