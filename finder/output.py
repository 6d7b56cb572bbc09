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
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

import numpy as np

from finder.errors import OutputError
from finder.io.atomic import atomic_write
from finder.store.hashset import is_hash_file

FORMATS = ("csv", "json", "jsonl")


def is_stdout(path: str | None) -> bool:
    return path in (None, "-")


def check_output(path: str | None) -> None:
    """Fail at once, before any work, if results could not be written to ``path``.

    Refuses a missing or read-only folder, a directory, a closed stdout, and
    an existing finder hash file (command output must never replace the hashes).
    """
    if is_stdout(path):
        if sys.stdout is None:
            raise OutputError("standard output is closed")
        return
    assert path is not None
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise OutputError(f"cannot write {path}: is a directory")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable")
    if os.path.exists(target) and is_hash_file(target):
        raise OutputError(f"refusing to write over {path}: it is a finder hash file; choose another -o")


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[IO[bytes]]:
    """A byte stream for ``path``: stdout for None or ``-``, else an atomically replaced file.

    An OS error while writing (full disk, read-only filesystem, ``/dev/full``)
    becomes a one-line :class:`OutputError`; a closed pipe is left to the
    caller (the CLI ends quietly).
    """
    check_output(path)
    label = "standard output" if is_stdout(path) else str(path)
    try:
        if is_stdout(path):
            stream = sys.stdout.buffer
            yield stream
            stream.flush()
        else:
            assert path is not None
            with atomic_write(path, "wb") as handle:
                yield handle
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {label}: {exc.strerror or exc}") from None


def _json_bytes(value: Any, indent: int | None = None) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=indent).encode("utf-8", "backslashreplace")


def write_rows(stream: IO[bytes], header: Sequence[str], rows: Iterable[Sequence[Any]], fmt: str) -> None:
    """Write ``rows`` (tuples in ``header`` order) as csv, a JSON array of objects, or JSON lines."""
    if fmt == "csv":
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="", write_through=False)
        writer = csv.writer(text, lineterminator="\n")
        # csv quotes fields holding the line terminator ("\n") but not a lone "\r", which readers
        # still split on: rows with a "\r" anywhere are written fully quoted.
        quoted = csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        for row in rows:
            if any(isinstance(v, str) and "\r" in v for v in row):
                quoted.writerow(row)
            else:
                writer.writerow(row)
        text.flush()
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


def write_json_lines(stream: IO[bytes], items: Iterable[Any]) -> None:
    """Write one JSON object per line (JSON lines), streaming."""
    for item in items:
        stream.write(_json_bytes(item) + b"\n")


PAIR_HEADER = ("path_a", "path_b", "distance", "similarity", "same_file")


def pair_rows(i, j, distance, paths_a, paths_b, bits: int, same=None) -> Iterator[tuple[str, str, int, float, bool]]:
    """Rows of matching pairs: both paths, Hamming distance, similarity = 1 - distance / bits,
    and whether the two paths are one file (hard links)."""
    same = np.zeros(len(i), dtype=bool) if same is None else same
    for a, b, d, s in zip(i.tolist(), j.tolist(), distance.tolist(), same.tolist()):
        yield str(paths_a[a]), str(paths_b[b]), d, round(1.0 - d / bits, 6), s


def csv_field(value: str) -> bytes:
    """One CSV field as bytes (raw name bytes, quoted when it holds a comma, quote, CR or LF)."""
    raw = os.fsencode(value)
    if not raw or any(c in raw for c in b',"\r\n'):
        return b'"' + raw.replace(b'"', b'""') + b'"'
    return raw


class CsvPairWriter:
    """Pair rows straight to CSV bytes, chunk by chunk: ``path_a,path_b,distance,similarity,same_file``.

    Each path a chunk names is encoded once for the chunk (not every path of the set up front: at 10^7 files
    that was 2 GB of byte strings) and each distance's text is looked up, so a chunk of pairs becomes lines
    with one join per row and the output is the same bytes :func:`write_rows` would write.
    """

    def __init__(self, stream: IO[bytes], paths_a: Any, paths_b: Any, bits: int) -> None:
        self.stream = stream
        self.paths_a, self.paths_b = paths_a, paths_b
        # Everything after path_b depends only on (distance, same): one byte string per combination.
        self.tails = np.array([b"," + str(d).encode() + b"," + repr(round(1.0 - d / bits, 6)).encode()
                               + (b",True\n" if s else b",False\n") for d in range(bits + 1) for s in (0, 1)],
                              dtype=object)
        stream.write(",".join(PAIR_HEADER).encode() + b"\n")

    @staticmethod
    def _fields(paths: Any, rows: np.ndarray, suffix: bytes) -> np.ndarray:
        named, where = np.unique(rows, return_inverse=True)
        fields = np.empty(len(named), dtype=object)
        for k, f in enumerate(named.tolist()):
            fields[k] = csv_field(str(paths[f])) + suffix
        return fields[where]

    def write(self, i: np.ndarray, j: np.ndarray, distance: np.ndarray, same: np.ndarray) -> None:
        if not len(i):
            return
        tails = self.tails[distance.astype(np.intp) * 2 + same.astype(np.intp)]
        fields_a, fields_b = self._fields(self.paths_a, i, b","), self._fields(self.paths_b, j, b"")
        self.stream.write(b"".join([x + y + z for x, y, z in zip(fields_a, fields_b, tails)]))


def write_pairs(stream: IO[bytes], a, b, rules, vote: int | None, fmt: str, search=None) -> int:
    """Write every matching pair of ``a`` (or from ``a`` to ``b``) under ``rules``; the number of rows.

    Pairs are found and written block by block (``matching.iter_pairs``), so
    memory stays O(n + one block) however many pairs match.  ``search`` finds
    the blocks elsewhere (``matching.Search``, e.g. on a Dask cluster).
    """
    from finder.match.search import iter_pairs, iter_voted_pairs, same_file

    paths_b = (b or a).paths
    count = 0
    if len(rules) == 1 and fmt == "csv":
        rule = rules[0]
        writer = CsvPairWriter(stream, a.paths, paths_b, rule.bits)
        for p in iter_pairs(a, rule.algorithm, max_distance=rule.max_distance, b=b, search=search):
            writer.write(p.i, p.j, p.distance, same_file(a, p.i, b, p.j))
            count += len(p)
        return count

    def counted(chunks):
        nonlocal count
        for chunk in chunks:
            count += len(chunk)
            yield chunk

    if len(rules) == 1:
        rule = rules[0]
        header: tuple[str, ...] = PAIR_HEADER
        rows: Iterator[tuple] = (
            row for p in counted(iter_pairs(a, rule.algorithm, max_distance=rule.max_distance, b=b, search=search))
            for row in pair_rows(p.i, p.j, p.distance, a.paths, paths_b, rule.bits, same_file(a, p.i, b, p.j)))
    else:
        header = voted_pair_header(rules)
        rows = (row for v in counted(iter_voted_pairs(a, rules, vote, b=b, search=search))
                for row in voted_pair_rows(v, rules, a.paths, paths_b, same_file(a, v.i, b, v.j)))
    write_rows(stream, header, rows, fmt)
    return count


def voted_pair_header(rules) -> tuple[str, ...]:
    return ("path_a", "path_b", "votes", *(f"distance_{r.algorithm}" for r in rules), "similarity", "same_file")


def voted_pair_rows(voted, rules, paths_a, paths_b, same=None) -> Iterator[tuple]:
    """Rows of voted pairs: paths, votes, each algorithm's distance, mean similarity, same file."""
    bits = np.array([r.bits for r in rules], dtype=np.float64)[:, None]
    similarity = np.round(1.0 - (voted.distance / bits).mean(axis=0), 6)
    same = np.zeros(len(voted), dtype=bool) if same is None else same
    for k, (a, b) in enumerate(zip(voted.i.tolist(), voted.j.tolist())):
        yield (str(paths_a[a]), str(paths_b[b]), int(voted.votes[k]), *voted.distance[:, k].tolist(),
               float(similarity[k]), bool(same[k]))
