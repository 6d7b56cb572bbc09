"""Why two images match or not: every row pair, its distance and radius, the rules that applied, the verdict.

Matching compares each file's rows (its plain hash and its views: mirror, rotations, content box) under
the rules of :func:`finder.match.search.block_pairs`.  :func:`explain` walks the rows of one file pair in
the same order of rules, pair by pair, and says for each what decided it; the verdict itself is taken
from the matcher, run on the two files alone, so an explanation never claims a match the matcher would
not make (the tests check that the two agree on random hash sets).

The rules, in the order they apply to a row pair:

1. *not compared*: two geometric views (mirror against mirror says what plain against plain says); a
   geometric view against a content box (only with ``--views dihedral``); the second file's geometric
   rows against the first's plain row (one direction is enough);
2. *radius*: plain against plain within the radius ``d``; any other pair within the view radius ``dv``;
   a framed file's (``inset``) plain row is held to ``dv`` too;
3. *layout*: a plain match beyond ``dv`` must agree on the layout bits beyond chance
   (:mod:`finder.match.layout`);
4. *frames*: a plain match beyond ``dv`` of two files that both have a content box must be confirmed by
   a box;

and then for the file pair: a match at distance above 0 involving a flat image (quality below
:data:`finder.views.QUALITY_CUTOFF`) is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from finder.match import layout as _layout
from finder.match.search import BOX_CODES, DIHEDRAL_CODES, INSET, find_pairs
from finder.store.hashset import HashSet
from finder.views import QUALITY_CUTOFF, VIEW_NAMES, view_radius


@dataclass(frozen=True)
class RowPair:
    """One row of the first file against one row of the second: distance, the radius that applies (None
    when the pair is not compared), and what decided it (``match`` when it matched)."""

    view_a: str
    view_b: str
    distance: int
    radius: int | None
    decided: str

    @property
    def matched(self) -> bool:
        return self.decided == "match"


@dataclass
class Explanation:
    """Every row pair of two files under one algorithm's radius, and the verdict."""

    path_a: str
    path_b: str
    algorithm: str
    bits: int
    radius: int
    view_radius: int
    quality: tuple[int, int]
    rows: list[RowPair] = field(default_factory=list)
    matched: bool = False
    distance: int | None = None
    verdict: str = ""

    @property
    def best(self) -> RowPair | None:
        """The matching row pair with the smallest distance (the one matching reports), or None."""
        found = [r for r in self.rows if r.matched]
        return min(found, key=lambda r: r.distance) if found else None

    def to_dict(self) -> dict:
        best = self.best
        return {"a": self.path_a, "b": self.path_b, "algorithm": self.algorithm, "bits": self.bits,
                "radius": self.radius, "view_radius": self.view_radius, "quality": list(self.quality),
                "matched": self.matched, "distance": self.distance,
                "view": f"{best.view_a} x {best.view_b}" if best else None, "verdict": self.verdict,
                "rows": [{"view_a": r.view_a, "view_b": r.view_b, "distance": r.distance, "radius": r.radius,
                          "decided": r.decided} for r in self.rows]}


def _rows(hs: HashSet, name: str, f: int) -> list[tuple[int, str]]:
    rows = np.flatnonzero(hs.owner[name] == f)
    return [(int(r), VIEW_NAMES[int(hs.view[name][r])]) for r in rows]


def explain(a: HashSet, i: int, b: HashSet, j: int, name: str, d: int) -> Explanation:
    """Explain file ``a[i]`` against file ``b[j]`` under algorithm ``name`` at radius ``d`` (bits).

    ``a`` and ``b`` may be the same set (then ``i != j``).  The first file's geometric rows are the ones
    compared, as the matcher compares the earlier file's.
    """
    dv = view_radius(d)
    wa, wb = a.hashes[name], b.hashes[name]
    rows_a, rows_b = _rows(a, name, i), _rows(b, name, j)
    framed_a = any(a.view[name][r] == INSET for r, _ in rows_a)
    framed_b = any(b.view[name][r] == INSET for r, _ in rows_b)
    box_a = next((r for r, _ in rows_a if a.view[name][r] in BOX_CODES), None)
    box_b = next((r for r, _ in rows_b if b.view[name][r] in BOX_CODES), None)
    plain_a = next(r for r, v in rows_a if v == "plain")
    plain_b = next(r for r, v in rows_b if v == "plain")
    dihedral = bool(np.isin(a.view[name], DIHEDRAL_CODES).any() or np.isin(b.view[name], DIHEDRAL_CODES).any())

    def apart(x: int, y: int) -> int:
        return int(np.bitwise_count(wa[x] ^ wb[y]).sum())

    mask = _layout.layout_mask(name)
    quality = (int(a.file_quality(name)[i]), int(b.file_quality(name)[j]))
    result = Explanation(str(a.paths[i]), str(b.paths[j]), name, a.bits[name], d, dv, quality)
    for r, va in rows_a:
        for s, vb in rows_b:
            dist = apart(r, s)
            box_x, box_y = va in ("trimmed", "inset"), vb in ("trimmed", "inset")
            geo_x, geo_y = va != "plain" and not box_x, vb != "plain" and not box_y
            if geo_x and geo_y:
                result.rows.append(RowPair(va, vb, dist, None, "not compared: two geometric views (plain "
                                                              "against plain says the same)"))
                continue
            if (geo_x and box_y or geo_y and box_x) and not dihedral:
                result.rows.append(RowPair(va, vb, dist, None, "not compared: a geometric view meets a content "
                                                              "box only with --views dihedral"))
                continue
            if va == "plain" and geo_y:
                result.rows.append(RowPair(va, vb, dist, None, "not compared: only the first file's geometric "
                                                              "views are (one direction says it all)"))
                continue
            if va == "plain" and vb == "plain":
                limit = dv if (framed_a or framed_b) else d
                if dist > limit:
                    why = (f"beyond the view radius {dv}: a framed file's plain row describes mostly its frame"
                           if limit == dv else f"beyond the radius {limit}")
                    result.rows.append(RowPair(va, vb, dist, limit, why))
                    continue
                if dist > dv and mask is not None:
                    differ = int(_layout.layout_distance(wa[r][None], wb[s][None], mask)[0])
                    cut = _layout.chance_cutoff(int(np.bitwise_count(mask).sum()))
                    if differ > cut:
                        result.rows.append(RowPair(va, vb, dist, limit, f"blocked by the layout check: {differ} "
                                                   f"layout bits differ (at most {cut} beyond the view radius)"))
                        continue
                if dist > dv and box_a is not None and box_b is not None and min(
                        apart(box_a, box_b), apart(box_a, plain_b), apart(plain_a, box_b)) > d:
                    result.rows.append(RowPair(va, vb, dist, limit, "blocked: both files are framed and their "
                                               f"pictures (content boxes) are more than {d} apart: the frames "
                                               "match, not the pictures"))
                    continue
                result.rows.append(RowPair(va, vb, dist, limit, "match"))
            else:
                result.rows.append(RowPair(va, vb, dist, dv, "match" if dist <= dv else
                                           f"beyond the view radius {dv}"))
    best = result.best
    if best is not None and best.distance > 0 and min(quality) < QUALITY_CUTOFF:
        result.rows = [RowPair(r.view_a, r.view_b, r.distance, r.radius,
                               "blocked: a flat image (quality below "
                               f"{QUALITY_CUTOFF}) matches only at distance 0") if r.matched else r
                       for r in result.rows]
    two_a, two_b = a.take([i]), b.take([j])
    found = find_pairs(two_a, name, max_distance=d, b=two_b)
    result.matched = bool(len(found.i))
    distance = int(found.distance[0]) if result.matched else None
    result.distance = distance
    best = result.best
    if distance is not None:
        how = f" ({best.view_a} x {best.view_b})" if best is not None else ""
        result.verdict = f"match at distance {distance}{how}, {1 - distance / result.bits:.1%} similar"
    else:
        blocked = [r for r in result.rows if r.decided.startswith("blocked")]
        result.verdict = ("no match: " + blocked[0].decided) if blocked else \
            f"no match: no row pair within its radius (nearest {min(r.distance for r in result.rows)})"
    return result
