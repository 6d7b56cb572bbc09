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
        write_json(stream, [dict(zip(header, row)) for row in rows])
    else:
        raise ValueError(f"unknown format {fmt!r}")


def write_json(stream: IO[bytes], value: Any) -> None:
    """Write one JSON document (indented, UTF-8, undecodable bytes escaped)."""
    stream.write(_json_bytes(value, indent=1) + b"\n")
