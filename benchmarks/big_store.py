"""A synthetic hash file of N files (10^7 by default) for the one-machine scale goals: no images, realistic paths.

FINd-width (256-bit) rows: random, except that every ``--copy-every``-th file is a near copy (1-6 bits flipped)
of the file before it, so a radius-8 search finds real pairs.  Paths are ``/home/user/Pictures/YYYY/MM-DD/
IMG_NNNNNNNN.jpg`` (46-47 bytes, like a camera folder), sorted as finder sorts them (by bytes).  Written in
the format-2 layout ``HashSet.save`` writes (uncompressed members, which the reader accepts), without ever
holding the paths as Python strings.

    python benchmarks/big_store.py OUT.npz [--files 10000000] [--copy-every 50] [--views default]

``--views default`` adds what a store made with finder's default views holds: every file's mirror row (its
plain row with FINd's mirror bits inverted, as :mod:`finder.pairs.mirrored` derives, and a few more bits
flipped: 0-20, median 6, as measured on the corpus) and, for one file in five, a content-box row (``trimmed``:
a row of its own, as a framed picture's box is).  A near copy copies its source's rows, then flips bits.

Then, with ``/usr/bin/time -v`` for peak memory (``benchmarks/scale.py`` runs them all):

    finder show OUT.npz --info
    finder compare OUT.npz -d 8 -o pairs.csv
    finder cluster OUT.npz -d 8 -o groups.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os

import numpy as np

from finder import __version__
from finder.io.atomic import atomic_write
from finder.store.hashset import FORMAT_NAME, FORMAT_VERSION, STATUS_HASHED, default_settings


def synthetic_paths(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct sorted paths as one uint8 blob and uint64 offsets (built as fixed-width bytes)."""
    years = rng.integers(2005, 2027, n)
    months, days = rng.integers(1, 13, n), rng.integers(1, 29, n)
    ids = rng.permutation(n) + 10_000_000
    text = np.char.add(np.char.add(np.char.add("/home/user/Pictures/", years.astype("U4")), "/"),
                       np.char.add(np.char.add(np.char.zfill(months.astype("U2"), 2), "-"),
                                   np.char.zfill(days.astype("U2"), 2)))
    text = np.char.add(np.char.add(text, "/IMG_"), np.char.add(ids.astype("U8"), ".jpg"))
    fixed = np.sort(text.astype("S"))  # one width: bytes order, padding NULs sort first
    lengths = np.char.str_len(fixed)
    width = fixed.dtype.itemsize
    matrix = fixed.view(np.uint8).reshape(n, width)
    keep = np.arange(width)[None, :] < lengths[:, None]
    blob = matrix[keep]
    offsets = np.zeros(n + 1, np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    return blob, offsets


def synthetic_rows(n: int, copy_every: int, rng: np.random.Generator) -> np.ndarray:
    rows = rng.integers(0, 2**64, (n, 4), dtype=np.uint64, endpoint=False)
    copies = np.arange(copy_every, n, copy_every)
    rows[copies] = rows[copies - 1]
    for _ in range(6):
        bit = rng.integers(0, 256, len(copies))
        rows[copies, bit // 64] ^= np.left_shift(np.uint64(1), (bit % 64).astype(np.uint64))
    return rows


def flip_bits(rows: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> None:
    """Flip ``counts[k]`` random bits of row ``k`` in place (a bit may be drawn twice: then fewer)."""
    for step in range(int(counts.max(initial=0))):
        pick = np.flatnonzero(counts > step)
        bit = rng.integers(0, 256, len(pick))
        rows[pick, bit // 64] ^= np.left_shift(np.uint64(1), (bit % 64).astype(np.uint64))


def view_rows(plain: np.ndarray, copy_every: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Default views' rows for the files whose plain rows are ``plain``: (rows, owner, view code), by file."""
    from finder.algorithms import ALGORITHMS
    from finder.views import view_code

    n = len(plain)
    mirror = plain ^ np.uint64(ALGORITHMS["find"].mirror_inverts)
    flip_bits(mirror, np.minimum(rng.poisson(6, n), 20), rng)
    boxed = rng.random(n) < 0.2
    box = rng.integers(0, 2**64, (n, 4), dtype=np.uint64, endpoint=False)
    copies = np.arange(copy_every, n, copy_every)
    mirror[copies], box[copies], boxed[copies] = mirror[copies - 1], box[copies - 1], boxed[copies - 1]
    flip_bits(mirror, np.where(np.isin(np.arange(n), copies), 6, 0), rng)
    per_file = 2 + boxed.astype(np.int64)
    owner = np.repeat(np.arange(n, dtype=np.int64), per_file)
    start = np.concatenate([[0], np.cumsum(per_file)[:-1]])
    rows = np.empty((len(owner), 4), np.uint64)
    view = np.empty(len(owner), np.uint8)
    rows[start], view[start] = plain, 0
    rows[start + 1], view[start + 1] = mirror, view_code("mirror")
    rows[start[boxed] + 2], view[start[boxed] + 2] = box[boxed], view_code("trimmed")
    return rows, owner, view


def write(path: str, n: int, copy_every: int = 50, seed: int = 0, views: str = "plain") -> None:
    from finder.views import VIEW_NAMES

    rng = np.random.default_rng(seed)
    blob, offsets = synthetic_paths(n, rng)
    plain = synthetic_rows(n, copy_every, rng)
    if views == "default":
        rows, owner, view = view_rows(plain, copy_every, rng)
    else:
        rows, owner, view = plain, np.arange(n, dtype=np.int64), np.zeros(n, np.uint8)
    settings = default_settings({"find": 256})
    settings.update({"format_version": FORMAT_VERSION, "finder_version": __version__, "files": n,
                     "rows": {"find": len(rows)}, "view_names": list(VIEW_NAMES),
                     "views": ["plain", "mirror", "trimmed"] if views == "default" else ["plain"],
                     "synthetic": "benchmarks/big_store.py",
                     "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
    zeros = np.zeros(0, np.uint8)
    arrays = {
        "format": np.array(FORMAT_NAME), "format_version": np.array(FORMAT_VERSION, np.int64),
        "settings": np.frombuffer(json.dumps(settings, sort_keys=True).encode(), np.uint8),
        "paths": blob, "path_offsets": offsets,
        "size": rng.integers(500_000, 8_000_000, n), "mtime_ns": np.full(n, 1_700_000_000 * 10**9, np.int64),
        "device": np.ones(n, np.uint64), "inode": np.arange(1, n + 1, dtype=np.uint64),
        "status": np.full(n, STATUS_HASHED, np.uint8), "reasons": zeros, "reason_offsets": np.zeros(1, np.uint64),
        "hash_find": rows, "owner_find": owner, "view_find": view, "quality_find": np.full(len(rows), 255, np.uint8),
    }
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--files", type=int, default=10_000_000)
    parser.add_argument("--copy-every", type=int, default=50)
    parser.add_argument("--views", choices=("plain", "default"), default="plain")
    args = parser.parse_args()
    write(args.out, args.files, args.copy_every, views=args.views)
    print(f"{args.out}: {args.files:,} files, {os.path.getsize(args.out) / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
