"""The groups file: written by ``finder cluster`` and read by ``finder dedupe``, here in one place.

JSON (an array) or JSON lines, one object per group: ``group``, ``size``,
``representative``, ``keeper`` and ``members`` (``path``, ``distance``,
``same_file_as``, ``reference`` and the recorded ``size`` and ``mtime_ns``
that dedupe checks); or CSV rows for reading by people and spreadsheets.
"""

from __future__ import annotations

import json
from typing import IO, Any

from finder.errors import ActionError
from finder.groups.linkage import Group, Member
from finder.output import write_json_array, write_json_lines, write_rows

GROUP_HEADER = ("group", "path", "distance_to_representative", "representative", "same_file_as", "keeper",
                "reference")


def write_groups(stream: IO[bytes], groups, fmt: str) -> None:
    """Groups as CSV rows (group, path, distance_to_representative, ..., keeper, reference), a JSON array,
    or JSON lines.  JSON members carry the recorded ``size`` and ``mtime_ns`` that ``finder dedupe`` checks."""
    if fmt == "csv":
        rows = ((g.id, m.path, m.distance, m.path == g.representative, m.same_file_as or "", m.path == g.keeper,
                 m.reference) for g in groups for m in g.members)
        write_rows(stream, GROUP_HEADER, rows, "csv")
        return
    objects = (
        {"group": g.id, "size": g.size, "representative": g.representative, "keeper": g.keeper,
         "members": [{"path": m.path, "distance": m.distance, "same_file_as": m.same_file_as,
                      "reference": m.reference, "size": m.size, "mtime_ns": m.mtime_ns} for m in g.members]}
        for g in groups
    )
    if fmt == "json":
        write_json_array(stream, objects)
    elif fmt == "jsonl":
        write_json_lines(stream, objects)
    else:
        raise ValueError(f"unknown format {fmt!r}")


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
