"""The groups file: written by ``finder cluster`` and read by ``finder dedupe``, here in one place.

JSON (an array) or JSON lines, one object per group: ``group``, ``size``,
``representative``, ``keeper``, ``keeper_reason`` (why the keep rules chose it)
and ``members`` (``path``, ``distance`` and ``view``: the distance to the
representative and the row pair it comes from, ``same_file_as``, ``reference``
and the recorded ``size`` and ``mtime_ns`` that dedupe checks); or CSV rows
for reading by people and spreadsheets.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

from finder.errors import ActionError
from finder.groups.linkage import Group, Member
from finder.output import write_json_array, write_json_lines, write_rows

GROUP_HEADER = ("group", "path", "distance_to_representative", "representative", "same_file_as", "keeper",
                "reference", "keeper_reason", "view", "kept_with")


def write_groups(stream: IO[bytes], groups, fmt: str) -> None:
    """Groups as CSV rows (group, path, distance_to_representative, ..., keeper, reference), a JSON array,
    or JSON lines.  JSON members carry the recorded ``size`` and ``mtime_ns`` that ``finder dedupe`` checks."""
    if fmt == "csv":
        rows = ((g.id, m.path, m.distance, m.path == g.representative, m.same_file_as or "", m.path == g.keeper,
                 m.reference, (g.keeper_reason or "") if m.path == g.keeper else "", m.view or "", m.kept_with or "")
                for g in groups for m in g.members)
        write_rows(stream, GROUP_HEADER, rows, "csv")
        return
    objects = (
        {"group": g.id, "size": g.size, "representative": g.representative, "keeper": g.keeper,
         "keeper_reason": g.keeper_reason,
         "members": [{"path": m.path, "distance": m.distance, "view": m.view, "same_file_as": m.same_file_as,
                      "reference": m.reference, "kept_with": m.kept_with, "size": m.size, "mtime_ns": m.mtime_ns}
                     for m in g.members]}
        for g in groups
    )
    if fmt == "json":
        write_json_array(stream, objects)
    elif fmt == "jsonl":
        write_json_lines(stream, objects)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def is_count(value: Any) -> bool:
    """A JSON integer >= 0 (not a bool, a float or a string)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_absolute_path(value: Any) -> bool:
    """A path dedupe may act on: absolute, normal (no ``..``, ``.`` or doubled ``/``), without NUL."""
    return (isinstance(value, str) and value != "" and "\0" not in value and os.path.isabs(value)
            and os.path.normpath(value) == value)


def _member(record: Any, where: str) -> Member:
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        raise ActionError(f"{where}: a member without a path")
    path = record["path"]
    if not is_absolute_path(path):
        raise ActionError(f"{where}: member path {path!r} is not a normal absolute path (finder cluster writes "
                          "absolute paths without '..'; a hash file of relative paths predates finder 0.2: hash again)")
    size, mtime = record.get("size"), record.get("mtime_ns")
    if not isinstance(size, int) or not isinstance(mtime, int):
        raise ActionError(f"{where}: member {path!r} has no recorded size and mtime_ns "
                          "(a groups file from an older finder); run finder cluster again")
    if not (is_count(size) and is_count(mtime)):
        raise ActionError(f"{where}: member {path!r} has a size or mtime_ns that is not a whole number >= 0")
    distance = record.get("distance")
    if distance is not None and not is_count(distance):
        raise ActionError(f"{where}: member {path!r} has a distance that is not a whole number >= 0: {distance!r}")
    twin, reference = record.get("same_file_as"), record.get("reference", False)
    if twin is not None and not is_absolute_path(twin):
        raise ActionError(f"{where}: member {path!r} has a same_file_as that is not an absolute path: {twin!r}")
    if not isinstance(reference, bool):
        raise ActionError(f"{where}: member {path!r} has a reference flag that is not true or false: {reference!r}")
    view, kept_with = record.get("view"), record.get("kept_with")
    if kept_with is not None and not is_absolute_path(kept_with):
        raise ActionError(f"{where}: member {path!r} has a kept_with that is not an absolute path")
    return Member(path, distance or 0, twin, size=size, mtime_ns=mtime, reference=reference,
                  view=view if isinstance(view, str) else None, kept_with=kept_with)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number finder writes")


def _parse(content: str) -> Any:
    """JSON without NaN or Infinity (``1e400`` becomes a float, refused where a whole number is due)."""
    return json.loads(content, parse_constant=_no_constants)


def read_groups(path: str, stream: IO[bytes] | None = None) -> list[Group]:
    """Groups from ``finder cluster``'s JSON (an array) or JSON lines; ActionError when it is not one.

    The file is input, not trusted state: every group and member is checked against the schema
    ``finder cluster`` writes (whole numbers, absolute paths without NUL, each file once, the keeper
    among the members), and anything else is one line naming the group and the field.
    """
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
        records = _parse(content) if stripped.startswith("[") else [
            _parse(line) for line in content.splitlines() if line.strip()]
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ActionError(f"{path}: not a finder groups file (JSON or JSON lines from finder cluster): {exc}") from None
    except RecursionError:
        raise ActionError(f"{path}: not a finder groups file: nested too deeply") from None
    if not isinstance(records, list):
        raise ActionError(f"{path}: not a finder groups file (an array of groups from finder cluster)")
    groups, seen = [], set()
    for k, record in enumerate(records):
        where = f"{path}: group {k}"
        if not isinstance(record, dict) or not isinstance(record.get("members"), list) or not record["members"]:
            raise ActionError(f"{where}: not a finder group (no members); use finder cluster --format json")
        members = [_member(m, where) for m in record["members"]]
        for member in members:
            if member.path in seen:
                raise ActionError(f"{where}: {member.path!r} is listed twice in the groups file")
            seen.add(member.path)
        keeper = record.get("keeper")
        if not isinstance(keeper, str) or keeper not in {m.path for m in members}:
            raise ActionError(f"{where}: no keeper among its members (a groups file from an older finder); "
                              "run finder cluster again")
        number, representative = record.get("group", k), record.get("representative")
        if not is_count(number):
            raise ActionError(f"{where}: its number is not a whole number >= 0: {number!r}")
        reason = record.get("keeper_reason")
        groups.append(Group(number, representative if isinstance(representative, str) else members[0].path,
                            members, keeper, reason if isinstance(reason, str) else None))
    return groups
