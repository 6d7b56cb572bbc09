"""Writers for rows of results: CSV, JSON, JSON lines, to a file (atomically) or stdout.

File names are arbitrary bytes on POSIX; Python carries undecodable bytes as
lone surrogates.  CSV restores the original bytes (``surrogateescape``), as
``find`` would print them; JSON and JSON lines stay valid UTF-8 and escape
them as ``\\udcXX``, which ``json.loads`` turns back into the same string.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from typing import IO, Any, Iterable, Iterator, Sequence

import numpy as np

from finder.atomic import atomic_write

FORMATS = ("csv", "json", "jsonl")


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[IO[bytes]]:
    """A byte stream for ``path``: stdout for None or ``-``, else an atomically replaced file."""
    if path in (None, "-"):
        stream = sys.stdout.buffer
        yield stream
        stream.flush()
    else:
        with atomic_write(path, "wb") as handle:
            yield handle


def _json_bytes(value: Any, indent: int | None = None) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=indent).encode("utf-8", "backslashreplace")


def write_rows(stream: IO[bytes], header: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> None:
    """Write ``rows`` (tuples in ``header`` order) as csv, a JSON array of objects, or JSON lines."""
    if fmt == "csv":
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text.detach()
    elif fmt == "jsonl":
        for row in rows:
            stream.write(_json_bytes(dict(zip(header, row))) + b"\n")
    elif fmt == "json":
        write_json_array(stream, (dict(zip(header, row)) for row in rows))
    else:
        raise ValueError(f"unknown format {fmt!r}")


def write_json(stream: IO[bytes], value: Any) -> None:
    """Write one JSON document (indented, UTF-8, undecodable bytes escaped)."""
    stream.write(_json_bytes(value, indent=1) + b"\n")


def write_json_array(stream: IO[bytes], items: Iterable[Any]) -> None:
    """Write a JSON array one item per line, streaming (no list of all items is built)."""
    stream.write(b"[")
    for k, item in enumerate(items):
        stream.write((b",\n" if k else b"\n") + _json_bytes(item))
    stream.write(b"\n]\n")


PAIR_HEADER = ("path_a", "path_b", "distance", "similarity")
GROUP_HEADER = ("group", "path", "distance_to_representative")


def pair_rows(i, j, distance, paths_a, paths_b, bits: int) -> Iterator[tuple[str, str, int, float]]:
    """Rows of matching pairs: both paths, Hamming distance, similarity = 1 - distance / bits."""
    for a, b, d in zip(i.tolist(), j.tolist(), distance.tolist()):
        yield str(paths_a[a]), str(paths_b[b]), d, round(1.0 - d / bits, 6)


def voted_pair_header(rules) -> tuple[str, ...]:
    return ("path_a", "path_b", "votes", *(f"distance_{r.algorithm}" for r in rules), "similarity")


def voted_pair_rows(voted, rules, paths_a, paths_b) -> Iterator[tuple]:
    """Rows of voted pairs: paths, votes, each algorithm's distance, mean similarity."""
    bits = np.array([r.bits for r in rules], dtype=np.float64)[:, None]
    similarity = np.round(1.0 - (voted.distance / bits).mean(axis=0), 6)
    for k, (a, b) in enumerate(zip(voted.i.tolist(), voted.j.tolist())):
        yield (str(paths_a[a]), str(paths_b[b]), int(voted.votes[k]), *voted.distance[:, k].tolist(),
               float(similarity[k]))


def write_groups(stream: IO[bytes], groups, fmt: str) -> None:
    """Groups as CSV rows (group, path, distance_to_representative), a JSON array, or JSON lines."""
    if fmt == "csv":
        rows = ((g.id, m.path, m.distance) for g in groups for m in g.members)
        write_rows(stream, GROUP_HEADER, rows, "csv")
        return
    objects = (
        {"group": g.id, "size": g.size, "representative": g.representative,
         "members": [{"path": m.path, "distance": m.distance} for m in g.members]}
        for g in groups
    )
    if fmt == "json":
        write_json_array(stream, objects)
    elif fmt == "jsonl":
        for obj in objects:
            stream.write(_json_bytes(obj) + b"\n")
    else:
        raise ValueError(f"unknown format {fmt!r}")
