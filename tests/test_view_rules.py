"""Matching with views against a brute-force reference of its rules, on random hash sets.

The reference below is written from the rules as documented (finder.match.search.block_pairs and
_view_row_pairs, finder.match.layout), pair by pair and row by row in plain numpy, independently of the
blocked, kernel-driven implementation.
"""

from __future__ import annotations

import numpy as np
import pytest

from finder.match.layout import chance_cutoff, layout_mask
from finder.match.search import find_pairs, radius
from finder.store.hashset import HashSet
from finder.views import QUALITY_CUTOFF, view_code, view_radius

PLAIN, MIRROR, TRIMMED, INSET = 0, view_code("mirror"), view_code("trimmed"), view_code("inset")
ROT90 = view_code("rot90")
BOX = (TRIMMED, INSET)


FIND_MIRROR = np.uint64(0x5555555555555555)  # the bits a mirror inverts: from FIND_SPEC.md, see finder.algorithms


def random_views(n: int, seed: int, prototypes: int = 5, dihedral: bool = False, rotated: float = 0.5,
                 mirrored: bool = False) -> HashSet:
    """``n`` files, each with a plain and a mirror row and sometimes a box row (trimmed or inset).

    Every row is one of a few prototypes with 0-60 of its other bits flipped and, for half the rows, 4-9
    of its layout bits, so row pairs fall at every distance around FINd's radius (96) and view radius
    (86), with layout bits agreeing or not.  ``mirrored``: as FINd's are, each mirror row is its file's
    plain row with the mirror bits inverted and 0-30 other bits flipped, and half the prototypes are the
    mirrors of the others (so mirror rows match plain rows).
    """
    protos = np.random.default_rng(0).integers(0, 2**64, (prototypes, 4), dtype=np.uint64, endpoint=False)
    if mirrored:
        protos = np.concatenate([protos, protos ^ FIND_MIRROR])
    rng = np.random.default_rng(seed)
    layout = np.unpackbits(layout_mask("find").astype(">u8").view(np.uint8)).astype(bool)  # bit k, MSB first
    free = np.flatnonzero(~layout)
    rows, owner, view = [], [], []
    for f in range(n):
        kinds = [PLAIN, MIRROR] + ([int(rng.choice(BOX))] if rng.random() < 0.4 else [])
        kinds += [ROT90] if dihedral and rng.random() < rotated else []
        for kind in kinds:
            row = protos[rng.integers(prototypes)].copy()
            flips = rng.choice(free, int(rng.integers(0, 61)), replace=False)  # layout bits kept ...
            if rng.random() < 0.5:                                           # ... or 4-9 of them flipped too
                flips = np.concatenate([flips, rng.choice(np.flatnonzero(layout), int(rng.integers(4, 10)), False)])
            if mirrored and kind == MIRROR:
                row = rows[-1] ^ FIND_MIRROR  # the file's plain row, just appended
                flips = rng.choice(256, 2 * int(rng.integers(0, 16)), replace=False)
            for bit in flips:
                row[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
            rows.append(row)
            owner.append(f)
            view.append(kind)
    quality = np.where(rng.random(len(rows)) < 0.08, QUALITY_CUTOFF - 1, 100).astype(np.uint8)
    return HashSet(paths=[f"/p/{seed}/{f:04d}.jpg" for f in range(n)], hashes={"find": np.array(rows)},
                   bits={"find": 256}, size=np.ones(n, np.int64), mtime_ns=np.ones(n, np.int64),
                   owner={"find": np.array(owner, np.int64)}, view={"find": np.array(view, np.uint8)},
                   quality={"find": quality})


def reference(a: HashSet, b: HashSet | None, d: int) -> dict[tuple[int, int], int]:
    """{(i, j): distance} by the documented rules, one file pair and one row pair at a time."""
    within = b is None
    b = a if b is None else b
    dv = view_radius(d)
    mask, cut = layout_mask("find"), chance_cutoff(25)

    def rows_of(hs):
        out: dict[int, list[int]] = {}
        for r, f in enumerate(hs.owner["find"]):
            out.setdefault(int(f), []).append(r)
        return out

    ra, rb = rows_of(a), rows_of(b)
    va, vb = a.view["find"], b.view["find"]
    wa, wb = a.hashes["find"], b.hashes["find"]
    box_of_a = {f: r for f, rs in ra.items() for r in rs if va[r] in BOX}
    box_of_b = {f: r for f, rs in rb.items() for r in rs if vb[r] in BOX}
    plain_of_a = {f: r for f, rs in ra.items() for r in rs if va[r] == PLAIN}
    plain_of_b = {f: r for f, rs in rb.items() for r in rs if vb[r] == PLAIN}

    def apart(x, y):
        return int(np.bitwise_count(x ^ y).sum())

    framed_a = {f for f, rs in ra.items() if any(va[r] == INSET for r in rs)}
    framed_b = {f for f, rs in rb.items() if any(vb[r] == INSET for r in rs)}
    qa, qb = a.file_quality("find"), b.file_quality("find")
    dihedral = bool((va == ROT90).any() or (vb == ROT90).any())
    found = {}
    for i in range(len(a)):
        for j in range(i + 1 if within else 0, len(b)):
            best = None
            for r in ra[i]:
                for s in rb[j]:
                    x, y = int(va[r]), int(vb[s])
                    dist = int(np.bitwise_count(wa[r] ^ wb[s]).sum())
                    geo_x, geo_y = x not in BOX and x != PLAIN, y not in BOX and y != PLAIN
                    if geo_x and geo_y:
                        continue                      # never mirror with mirror
                    if (geo_x and y in BOX or geo_y and x in BOX) and not dihedral:
                        continue                      # geometric views meet boxes with dihedral views only
                    if x == PLAIN and y == PLAIN:
                        limit = dv if (i in framed_a or j in framed_b) else d
                        if dist > dv and int(np.bitwise_count((wa[r] ^ wb[s]) & mask).sum()) > cut:
                            continue                  # beyond the view radius the layout must agree
                        if dist > dv and i in box_of_a and j in box_of_b and min(
                                apart(wa[box_of_a[i]], wb[box_of_b[j]]), apart(wa[box_of_a[i]], wb[plain_of_b[j]]),
                                apart(wa[plain_of_a[i]], wb[box_of_b[j]])) > d:
                            continue                  # two framed files: beyond the view radius the pictures
                                                      # must match too
                    else:
                        limit = dv
                        if x == PLAIN and geo_y:
                            continue                  # geometric views against plain rows one way only: the
                                                      # smaller file's (within one set), the first set's (across)
                    if dist <= limit and (best is None or dist < best):
                        best = dist
            if best is not None and (best == 0 or (qa[i] >= QUALITY_CUTOFF and qb[j] >= QUALITY_CUTOFF)):
                found[(i, j)] = best
    return found


def as_dict(p) -> dict[tuple[int, int], int]:
    return {(int(i), int(j)): int(dd) for i, j, dd in zip(p.i, p.j, p.distance)}


@pytest.mark.parametrize("seed,dihedral", [(1, False), (2, False), (3, True), (6, True)])
def test_pairs_within_one_set_follow_the_rules(seed, dihedral):
    hs = random_views(70, seed, dihedral=dihedral)
    d = radius(256, 0.375)
    want = reference(hs, None, d)
    assert len(want) > 50
    assert as_dict(find_pairs(hs, "find", max_distance=d)) == want


@pytest.mark.parametrize("seed,dihedral", [(4, False), (5, True)])
def test_pairs_across_two_sets_follow_the_rules(seed, dihedral):
    a, b = random_views(40, seed), random_views(35, seed + 100, dihedral=dihedral)
    d = radius(256, 0.375)
    want = reference(a, b, d)
    assert len(want) > 20
    assert as_dict(find_pairs(a, "find", max_distance=d, b=b)) == want


@pytest.mark.parametrize("seed,across", [(7, False), (8, False), (9, True)])
def test_one_pass_of_plain_and_mirror_rows_follows_the_rules(seed, across, monkeypatch):
    """The one-pass search (finder.pairs.mirrored), which the cpu backend's vector loop takes for FINd's default
    views: the reference's pairs, with mirror rows both within and beyond MIRROR_EXTRA_MAX of their estimate."""
    from finder.match import search
    from finder.pairs import mirrored

    monkeypatch.setenv("FINDER_PAIRS_BACKEND", "cpu")
    monkeypatch.setenv("FINDER_POPCOUNT", "vector")
    calls = []
    real = mirrored.pairs_with_mirror
    monkeypatch.setattr(mirrored, "pairs_with_mirror", lambda *args, **kw: calls.append(args[2]) or real(*args, **kw))
    a = random_views(90, seed, mirrored=True)
    b = random_views(60, seed + 100, mirrored=True) if across else None
    d = radius(256, 0.375)
    want = reference(a, b, d)
    mirror_pairs = {(i, j) for (i, j), dist in want.items() if dist <= view_radius(d)}
    assert len(want) > 50 and len(mirror_pairs) > 10
    got = as_dict(find_pairs(a, "find", max_distance=d, b=b))
    assert calls, "the one pass was not taken"
    limits = np.concatenate(calls)
    assert (limits >= 0).any() and (limits < 0).any()  # some mirror rows in the one pass, some left out of it
    assert got == want
    monkeypatch.setattr(search, "MIRROR_EXTRA_MAX", 256)  # every mirror row in the one pass: the same pairs
    assert as_dict(find_pairs(a, "find", max_distance=d, b=b)) == want


def test_one_pass_finds_mirror_matches_beyond_their_estimate(monkeypatch):
    """Mirror rows planted at the view radius (and 1, 2 bits inside) from a later file's plain row, their estimate
    (plain row with the mirror bits inverted) ``e`` bits further: the estimate alone would miss every one; the
    one pass finds them through its ``view radius + e`` window, at their exact distance, as the reference does."""
    monkeypatch.setenv("FINDER_PAIRS_BACKEND", "cpu")
    monkeypatch.setenv("FINDER_POPCOUNT", "vector")
    rng = np.random.default_rng(12)
    d = radius(256, 0.375)
    dv = view_radius(d)

    def flip(row, bits):
        row = row.copy()
        for bit in bits:
            row[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
        return row

    rows, planted = [], {}
    for k in range(30):
        later = rng.integers(0, 2**64, 4, dtype=np.uint64, endpoint=False)
        apart = rng.permutation(256)
        short, extra = int(k % 3), 2 + int(k % 8) * 2  # 0-2 bits inside the view radius; e = 2..16
        mirror = flip(later, apart[:dv - short])
        plain = flip(mirror, apart[dv - short:dv - short + extra]) ^ FIND_MIRROR  # e bits outside the difference
        rows += [plain, mirror, later, flip(later ^ FIND_MIRROR, rng.choice(256, 6, replace=False))]
        planted[(2 * k, 2 * k + 1)] = dv - short
    n = 60
    hs = HashSet(paths=[f"/p/{f:04d}.jpg" for f in range(n)], hashes={"find": np.array(rows)}, bits={"find": 256},
                 size=np.ones(n, np.int64), mtime_ns=np.ones(n, np.int64),
                 owner={"find": np.repeat(np.arange(n), 2)},
                 view={"find": np.tile([PLAIN, MIRROR], n).astype(np.uint8)},
                 quality={"find": np.full(2 * n, 100, np.uint8)})
    want = reference(hs, None, d)
    assert all(want.get(pair) == dist for pair, dist in planted.items())
    assert as_dict(find_pairs(hs, "find", max_distance=d)) == want


def test_every_rule_is_exercised():
    """The random sets reach every branch of the reference: otherwise the comparison proves little."""
    hs = random_views(70, 1)
    d = radius(256, 0.375)
    dv, mask, cut = view_radius(d), layout_mask("find"), chance_cutoff(25)
    w, v, o = hs.hashes["find"], hs.view["find"], hs.owner["find"]
    plain = np.flatnonzero(v == PLAIN)
    x = w[plain][:, None, :] ^ w[plain][None, :, :]
    dist, lay = np.bitwise_count(x).sum(axis=2), np.bitwise_count(x & mask).sum(axis=2)
    band = (dist > dv) & (dist <= d)
    assert (band & (lay <= cut)).sum() > 4 and (band & (lay > cut)).sum() > 4
    assert np.isin(v, [TRIMMED]).any() and np.isin(v, [INSET]).any()
    assert len(set(o[v == INSET].tolist())) > 3


def _framed(source: str, target, border: float = 0.1, colour=(255, 255, 255), size=(480, 360)):
    """``source`` fitted into ``size`` with a painted border of ``border`` of each side, saved as JPEG."""
    from PIL import Image

    w, h = size
    inner = Image.open(source).convert("RGB").resize((int(w * (1 - 2 * border)), int(h * (1 - 2 * border))))
    canvas = Image.new("RGB", size, colour)
    canvas.paste(inner, (int(w * border), int(h * border)))
    canvas.save(target, "JPEG", quality=90)
    return str(target)


def test_two_photos_in_the_same_border_are_not_a_pair_but_one_photo_in_two_borders_is(tmp_path):
    """Issue 19, item 2: two different photos in the same 10 % white border matched on the border (plain rows
    within FINd's radius, beyond the view radius); their boxes now decide.  The same photo in a white and in
    a black border still matches."""
    import os

    from finder.match.search import find_pairs
    from finder.store.update import hash_paths

    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "images")
    paths = [_framed(os.path.join(examples, "0033_77449721.jpg"), tmp_path / "a.jpg"),
             _framed(os.path.join(examples, "0053_02747386.jpg"), tmp_path / "b.jpg"),
             _framed(os.path.join(examples, "0033_77449721.jpg"), tmp_path / "a-black.jpg", 0.15, (0, 0, 0))]
    store = hash_paths(sorted(paths), jobs=1, views="default").hashset
    names = [os.path.basename(p) for p in store.paths]
    plain = store.plain("find")
    a, b = names.index("a.jpg"), names.index("b.jpg")
    apart = int(np.bitwise_count(plain[a] ^ plain[b]).sum())
    assert 86 < apart <= 96, apart  # the frames match: within the radius, beyond the view radius
    pairs = find_pairs(store, "find")
    found = {tuple(sorted((names[i], names[j]))) for i, j in zip(pairs.i.tolist(), pairs.j.tolist())}
    assert ("a.jpg", "b.jpg") not in found
    assert ("a-black.jpg", "a.jpg") in found


@pytest.mark.parametrize("seed,dihedral", [(1, False), (3, True)])
def test_explain_agrees_with_matching_on_every_pair(seed, dihedral):
    """finder explain's row-by-row account gives the matcher's verdict and distance for every file pair of a
    random set (the verdict is the matcher's; the account must lead to it).  With dihedral views every file
    has its rotated rows, as in a store hashed with --views dihedral."""
    from finder.match.explain import explain

    hs = random_views(24, seed, dihedral=dihedral, rotated=1.0)
    d = radius(256, 0.375)
    found = as_dict(find_pairs(hs, "find", max_distance=d))
    for i in range(len(hs)):
        for j in range(i + 1, len(hs)):
            e = explain(hs, i, hs, j, "find", d)
            assert e.matched == ((i, j) in found)
            best = e.best
            assert (best is not None) == e.matched, (i, j, e.verdict, [r.decided for r in e.rows])
            if e.matched:
                assert best.distance == e.distance == found[(i, j)]
            assert e.verdict.startswith("match" if e.matched else "no match")


def framed_trio(folder):
    """Two different photos in one 10 % white border (a, b), and the photo of a in a 15 % black one."""
    import os

    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "images")
    return (_framed(os.path.join(examples, "0033_77449721.jpg"), folder / "a.jpg"),
            _framed(os.path.join(examples, "0053_02747386.jpg"), folder / "b.jpg"),
            _framed(os.path.join(examples, "0033_77449721.jpg"), folder / "a-black.jpg", 0.15, (0, 0, 0)))


def run_finder(cwd, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "finder", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_explain_command_on_a_framed_pair(tmp_path):
    """finder explain: the blocked pair says which rule blocked it and exits 1; the framed true pair names the
    row pair that matched, exits 0; JSON carries every row pair; an image not in the store is hashed now."""
    import json

    a, b, black = framed_trio(tmp_path)

    def finder(*args):
        return run_finder(tmp_path, *args)

    assert finder("hash", a, b, "-o", "h.npz", "-q").returncode == 0
    blocked = finder("explain", a, b, "--against", "h.npz")
    assert blocked.returncode == 1 and "verdict: no match: blocked: both files are framed" in blocked.stdout
    assert "plain    plain          92" in blocked.stdout
    matched = finder("explain", a, black, "--against", "h.npz", "--format", "json")  # black: not in h.npz
    assert matched.returncode == 0, matched.stderr
    record = json.loads(matched.stdout)
    assert record["matched"] and record["view"] == "trimmed x inset" and record["distance"] <= 86
    assert {(r["view_a"], r["view_b"]) for r in record["rows"]} >= {("plain", "plain"), ("trimmed", "inset")}


@pytest.mark.parametrize("seed,dihedral", [(2, False), (6, True)])
def test_file_view_distances_are_the_smallest_compared_row_pair(seed, dihedral):
    """The distance reported for a file pair and the row pair it comes from, against a brute force over the row
    pairs matching compares (plain with anything, box with box, and geometric with box under dihedral views)."""
    from finder.match.search import file_view_distances

    hs = random_views(30, seed, dihedral=dihedral, rotated=1.0)
    names = {PLAIN: "plain", MIRROR: "mirror", TRIMMED: "trimmed", INSET: "inset", ROT90: "rot90"}
    w, v, o = hs.hashes["find"], hs.view["find"], hs.owner["find"]
    i, j = np.triu_indices(len(hs), 1)
    got, labels = file_view_distances(hs, "find", i, j)
    for k, (x, y) in enumerate(zip(i.tolist(), j.tolist())):
        best = None
        for r in np.flatnonzero(o == x):
            for s in np.flatnonzero(o == y):
                a, b = int(v[r]), int(v[s])
                geo_a, geo_b = a not in BOX and a != PLAIN, b not in BOX and b != PLAIN
                if not (a == PLAIN or b == PLAIN or (a in BOX and b in BOX)
                        or (dihedral and (geo_a and b in BOX or a in BOX and geo_b))):
                    continue
                dist = int(np.bitwise_count(w[r] ^ w[s]).sum())
                if best is None or dist < best[0]:
                    best = (dist, "plain" if a == b == PLAIN else f"{names[a]} x {names[b]}")
        assert got[k] == best[0]
        label_rows = labels[k].split(" x ")
        assert labels[k] == best[1] or int(np.bitwise_count(  # a tie between two row pairs: either name is right
            w[np.flatnonzero((o == x) & (v == [c for c, n in names.items() if n == label_rows[0]][0]))[0]]
            ^ w[np.flatnonzero((o == y) & (v == [c for c, n in names.items() if n == label_rows[-1]][0]))[0]]
        ).sum()) == best[0]


def test_query_k_marks_a_pair_a_rule_blocked_and_names_the_matching_row_pair(tmp_path):
    """query -k lists the framed false pair within the radius as not matching, and says which rule blocked it;
    a match says which row pair matched (issue 19, item 3)."""
    import csv
    import io
    import os

    a, b, black = framed_trio(tmp_path)

    def finder(*args):
        return run_finder(tmp_path, *args)

    assert finder("hash", a, "-o", "h.npz", "-q").returncode == 0
    rows = list(csv.DictReader(io.StringIO(finder("query", b, black, "--against", "h.npz", "-k", "1").stdout)))
    by_query = {os.path.basename(r["query"]): r for r in rows}
    assert by_query["b.jpg"]["match"] == "False" and int(by_query["b.jpg"]["distance"]) <= 96
    assert "both files are framed" in by_query["b.jpg"]["blocked"]
    assert by_query["a-black.jpg"]["match"] == "True" and by_query["a-black.jpg"]["view"] in (
        "inset x trimmed", "trimmed x inset") and not by_query["a-black.jpg"]["blocked"]


def test_split_words_keeps_distances_and_puts_the_mirror_bits_in_the_second_half():
    """The one pass's bit order (finder.pairs.mirrored.split_words), checked bit by bit with numpy."""
    from finder.pairs.mirrored import extra_bits, split_words

    rng = np.random.default_rng(3)
    rows = rng.integers(0, 2**64, (50, 4), dtype=np.uint64, endpoint=False)
    split = split_words(rows, int(FIND_MIRROR))
    bits = np.unpackbits(rows.astype(">u8").view(np.uint8), axis=1)  # bit k of the hash, MSB first
    split_bits = np.unpackbits(split.astype(">u8").view(np.uint8), axis=1)
    inverted = np.arange(256) % 2 == 1  # position 63 - k % 64 even: k odd
    assert np.array_equal(split_bits[:, :128], bits[:, ~inverted]) and np.array_equal(split_bits[:, 128:],
                                                                                        bits[:, inverted])
    apart = np.bitwise_count(rows[:, None] ^ rows[None]).sum(axis=2)
    assert np.array_equal(np.bitwise_count(split[:, None] ^ split[None]).sum(axis=2), apart)
    assert np.array_equal(extra_bits(rows, rows ^ FIND_MIRROR, int(FIND_MIRROR)), np.zeros(50))
    with pytest.raises(ValueError):
        split_words(rows, 0x0F0F0F0F0F0F0F0F)
    with pytest.raises(ValueError):
        split_words(rows[:, :3], int(FIND_MIRROR))


def test_findings_mirror_rows_are_the_plain_rows_with_the_recorded_bits_inverted():
    """FIND_MIRROR_INVERTS follows from FINd's definition; on real photos (the bundled examples) each mirror row
    is within a few bits of its plain row with those bits inverted, and far from it with the other half."""
    import os

    from finder.algorithms import ALGORITHMS
    from finder.pairs.mirrored import extra_bits
    from finder.store.update import hash_paths

    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "images")
    paths = sorted(os.path.join(examples, f) for f in os.listdir(examples) if f.endswith(".jpg"))[:12]
    hs = hash_paths(paths, jobs=1, views="plain,mirror").hashset
    w, v = hs.hashes["find"], hs.view["find"]
    plain, mirror = w[v == PLAIN], w[v == MIRROR]
    inverts = ALGORITHMS["find"].mirror_inverts
    assert inverts == int(FIND_MIRROR)
    near = extra_bits(plain, mirror, inverts)
    assert near.max() <= 32 and np.median(near) <= 12
    assert extra_bits(plain, mirror, 0xAAAAAAAAAAAAAAAA).min() > 200
