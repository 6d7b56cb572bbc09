"""A review of one hash file's groups: what ``finder serve`` shows and changes, as a library without a web server.

:class:`Review` groups the store as ``finder cluster`` does by default (the same rules, keep rules and
review decisions), then lets a person page through the groups, change keepers, mark "not a duplicate",
"keep all" or "reviewed" (each written to ``NAME.decisions.json`` at once, :mod:`finder.groups.decisions`),
compare two members, search by image, and act on the duplicates through ``finder dedupe``'s own plan,
journal and undo.  Every file it reads or serves is one the hash file holds, inside the collection, and still
the file that was hashed.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from finder.dedupe.hashed import Hashed
from finder.dedupe.plan import Plan, Step
from finder.errors import FinderError
from finder.groups.decisions import Decisions, decisions_path, honour
from finder.groups.facts import FileFacts
from finder.groups.keep import choose, member_facts, parse_rules, proposed
from finder.groups.linkage import Group, Member
from finder.store.hashset import HashSet, load

#: Two members whose EXIF capture times are this close are shots of one burst, unless near-identical.
BURST_SECONDS = 2.0
#: Near-identical: at most this share of the hash's bits apart (8 of FINd's 256).  Closer than any two
#: different exposures of a scene in the corpus's re-encodes (docs/serve.md, "Bursts").
NEAR_IDENTICAL = 1 / 32
#: Browsers show these formats themselves; others (HEIF, TIFF, RAW, ...) are converted to JPEG to be shown.
BROWSER_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
SHOWN_MAX_SIDE = 4096
DIFF_MAX_SIDE = 1024
THUMB_BOX = 200
THUMB_CACHE = 4096
SORTS = ("reclaim", "size", "distance", "folder")


class ReviewError(FinderError):
    """A request the review cannot carry out; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Card:
    """One group under review, with what a page shows about it and what was decided."""

    id: int
    group: Group
    keys: dict[str, str | None]
    bursts: set[str] = field(default_factory=set)
    reviewed: bool = False
    hidden: str | None = None  # why it is no longer offered (kept whole, not a duplicate, acted on)

    @property
    def folder(self) -> str:
        return os.path.commonpath([os.path.dirname(m.path) for m in self.group.members])

    _reclaim: tuple[Group, int] | None = field(default=None, repr=False)

    @property
    def reclaim(self) -> int:
        """Bytes a dedupe of this group would free (kept until the group changes: pages sort by it)."""
        if self._reclaim is None or self._reclaim[0] is not self.group:
            self._reclaim = (self.group, sum(m.size or 0 for m in offered(self)))
        return self._reclaim[1]

    @property
    def distance(self) -> int:
        return max(m.distance for m in self.group.members)


def offered(card: Card) -> list[Member]:
    """The members a dedupe from the page would act on: not kept (keeper, reference, companion, hard link of
    one), not a shot of a burst."""
    return [m for m in proposed(card.group, distinct=True) if m.path not in card.bursts]


@dataclass
class Acted:
    """A dedupe started from the page: its groups file and journal (``finder dedupe``'s own)."""

    groups: list[int]
    action: str
    to: str | None
    groups_file: str
    journal: str
    applied: bool = False
    undone: bool = False


class Review:
    """The groups of ``hashfile`` for a person to review (see the module docstring)."""

    def __init__(self, hashfile: str, *, jobs: int | None = None, keep: Sequence[str] = (),
                 threshold: float | None = None, reporter: Any = None) -> None:
        from finder.groups.build import find_groups
        from finder.groups.keep import decide_groups
        from finder.match.search import make_rules
        from finder.store.sidecar import path_beside

        self.hashfile = os.path.abspath(hashfile)
        self.hashset: HashSet = load(hashfile)
        self.decisions = Decisions.load(decisions_path(hashfile))
        self.hashed = Hashed(self.hashset, self.hashfile)
        self.keys = self.hashed.keys  # one path -> index map for decisions and the dedupe check
        self.rules = make_rules(self.hashset, [self.keys.algorithm],
                                thresholds={None: threshold} if threshold is not None else None)
        self.keep_rules = parse_rules(keep)
        self.jobs = jobs
        self.lock = threading.RLock()
        folders = sorted({os.path.dirname(os.path.abspath(str(p))) for p in self.hashset.paths})
        self.root = os.path.realpath(os.path.commonpath(folders)) if folders else os.path.dirname(self.hashfile)
        self.work = f"{self.hashfile[:-4] if self.hashfile.endswith('.npz') else self.hashfile}.review"
        groups = find_groups(self.hashset, self.rules, hashfile=hashfile, jobs=jobs, reporter=reporter,
                             decisions=self.decisions)
        groups, self.facts = decide_groups(groups, self.keep_rules, (), jobs, None,
                                           looks=path_beside(hashfile, "looks"))
        done = honour(groups, self.keys, self.decisions)
        self.hidden_at_start = done.hidden
        self.cards = [self._card(k, g) for k, g in enumerate(done.groups)]
        self.undo_stack: list[tuple[int, list[tuple[int, Card]]]] = []  # (decision id, cards before it)
        self.acted: dict[str, Acted] = {}
        self._thumbs: OrderedDict[int, tuple[bytes, str]] = OrderedDict()

    # ------------------------------------------------------------------------------------------- cards

    def _card(self, k: int, group: Group) -> Card:
        keys = {m.path: self.keys.of_path(m.path) for m in group.members}
        card = Card(k, group, keys)
        card.bursts = self._bursts(group)
        known = [v for v in keys.values() if v]
        card.reviewed = bool(known) and self.decisions.reviewed(known)
        return card

    def _bursts(self, group: Group) -> set[str]:
        """Members taken within :data:`BURST_SECONDS` of another member and not near-identical to it."""
        taken = [(m.path, self.facts[m.path].taken_ns) for m in group.members
                 if m.path in self.facts and self.facts[m.path].taken_ns is not None]
        if len(taken) < 2:
            return set()
        name, bits = self.keys.algorithm, self.hashset.bits[self.keys.algorithm]
        plain = self.hashset.plain(name)
        found: set[str] = set()
        for x in range(len(taken)):
            for y in range(x + 1, len(taken)):
                (pa, ta), (pb, tb) = taken[x], taken[y]
                if abs(int(ta or 0) - int(tb or 0)) > BURST_SECONDS * 1e9:
                    continue
                ia, ib = self.keys.index_of(pa), self.keys.index_of(pb)
                if ia is None or ib is None:
                    continue
                apart = int(np.bitwise_count(plain[ia] ^ plain[ib]).sum())
                if apart > NEAR_IDENTICAL * bits:
                    found.update((pa, pb))
        return found

    def card(self, group_id: int) -> Card:
        if not 0 <= group_id < len(self.cards):
            raise ReviewError(f"no group {group_id}", 404)
        return self.cards[group_id]

    def member_json(self, card: Card, m: Member) -> dict[str, Any]:
        f: FileFacts = self.facts.get(m.path) or FileFacts(m.path, m.size or 0, m.mtime_ns or 0)
        return {"file": self.keys.index_of(m.path), "path": m.path, "name": os.path.basename(m.path),
                "folder": os.path.dirname(m.path), "distance": m.distance, "view": m.view,
                "keeper": m.path == card.group.keeper, "kept_with": m.kept_with, "reference": m.reference,
                "same_file_as": m.same_file_as, "burst": m.path in card.bursts, "bytes": m.size,
                "width": f.width, "height": f.height, "format": f.format, "taken": f.taken, "camera": f.camera,
                "problem": f.problem, "mtime": _iso(m.mtime_ns)}

    def card_json(self, card: Card) -> dict[str, Any]:
        g = card.group
        return {"id": card.id, "size": g.size, "keeper": g.keeper, "keeper_reason": g.keeper_reason,
                "reclaim": card.reclaim, "distance": card.distance, "folder": card.folder,
                "reviewed": card.reviewed, "hidden": card.hidden, "bits": self.hashset.bits[self.keys.algorithm],
                "members": [self.member_json(card, m)
                            for m in sorted(g.members, key=lambda m: m.path != g.keeper)]}

    def page(self, offset: int = 0, limit: int = 20, sort: str = "reclaim", folder: str = "",
             reviewed: str = "all") -> dict[str, Any]:
        """One page of the groups still offered, sorted and filtered; with the total that match."""
        if sort not in SORTS:
            raise ReviewError(f"sort must be one of {', '.join(SORTS)}")
        if reviewed not in ("all", "yes", "no"):
            raise ReviewError("reviewed must be all, yes or no")
        limit = max(1, min(int(limit), 200))
        with self.lock:
            cards = [c for c in self.cards if c.hidden is None
                     and (reviewed == "all" or c.reviewed == (reviewed == "yes"))
                     and (not folder or any(folder in m.path for m in c.group.members))]
            keys = {"reclaim": lambda c: (-c.reclaim, c.id), "size": lambda c: (-c.group.size, c.id),
                    "distance": lambda c: (-c.distance, c.id), "folder": lambda c: (c.folder, c.id)}
            cards.sort(key=keys[sort])
            shown = cards[max(0, int(offset)):max(0, int(offset)) + limit]
            return {"total": len(cards), "offset": int(offset), "limit": limit,
                    "reclaim": sum(c.reclaim for c in cards), "groups": [self.card_json(c) for c in shown]}

    def summary(self) -> dict[str, Any]:
        with self.lock:
            live = [c for c in self.cards if c.hidden is None]
            rule = self.rules[0]
            return {"hashfile": self.hashfile, "files": len(self.hashset), "groups": len(live),
                    "hidden": len(self.cards) - len(live) + self.hidden_at_start,
                    "reviewed": sum(c.reviewed for c in live), "decisions": len(self.decisions.records),
                    "algorithm": rule.algorithm, "max_distance": rule.max_distance, "bits": rule.bits,
                    "keep_rules": ", ".join(r.text for r in self.keep_rules), "root": self.root,
                    "default_to": os.path.join(os.path.dirname(self.hashfile), "duplicates")}

    # --------------------------------------------------------------------------------------- decisions

    def _member(self, card: Card, index: int | None) -> Member:
        for m in card.group.members:
            if index is not None and self.keys.index_of(m.path) == index:
                return m
        raise ReviewError("that file is not a member of this group", 404)

    def decide(self, kind: str, group_id: int, file: int | None = None) -> dict[str, Any]:
        """Record one decision about a group and apply it to the review at once.

        ``kind``: ``keeper`` (``file`` becomes the keeper), ``distinct`` (``file`` is not a duplicate of the
        keeper), ``distinct_group`` (no two members are duplicates), ``keep_all``, ``reviewed``.
        """
        with self.lock:
            card = self.card(group_id)
            if card.hidden is not None:
                raise ReviewError(f"group {group_id} is no longer offered ({card.hidden})", 409)
            ids = {p: k for p, k in card.keys.items() if k}
            if len(ids) < len(card.keys):
                raise ReviewError("a member of this group is not in the hash file", 409)
            keys = list(ids.values())
            paths = [m.path for m in card.group.members]
            before = [(card.id, replace(card))]
            if kind == "keeper":
                member = self._member(card, file)
                record = self.decisions.add("keeper", keys, keeper=ids[member.path], paths=paths)
                card.group = honour([card.group], card.keys, Decisions(self.decisions.path, [record])).groups[0]
            elif kind == "distinct":
                member = self._member(card, file)
                if member.path == card.group.keeper:
                    raise ReviewError("the keeper cannot be marked as not its own duplicate; mark another member")
                pair = [ids[member.path], ids[card.group.keeper or ""]]
                if pair[0] == pair[1]:
                    raise ReviewError("these two are byte-identical copies (one identity): keep all instead", 409)
                record = self.decisions.add("distinct", pair, paths=[member.path, card.group.keeper or ""])
                members = [m for m in card.group.members if m.path != member.path]
                if len(members) < 2:
                    card.hidden = "not a duplicate"
                else:
                    card.group = replace(card.group, members=members)
            elif kind == "distinct_group":
                if len(set(keys)) < len(keys):
                    raise ReviewError("the group holds byte-identical copies (one identity): keep all instead", 409)
                records = [self.decisions.add("distinct", [a, b], paths=[pa, pb], save=False)
                           for n, (pa, a) in enumerate(ids.items()) for pb, b in list(ids.items())[n + 1:]]
                self.decisions.save()
                record = records[-1]
                card.hidden = "not a duplicate"
            elif kind == "keep_all":
                record = self.decisions.add("keep_all", keys, paths=paths)
                card.hidden = "kept whole"
            elif kind == "reviewed":
                record = self.decisions.add("reviewed", keys, paths=paths)
                card.reviewed = True
            else:
                raise ReviewError(f"unknown decision {kind!r}")
            n_records = len(self.decisions.records) - (len(card.keys) * (len(card.keys) - 1) // 2
                                                       if kind == "distinct_group" else 1)
            self.undo_stack.append((n_records, before))
            return {"decision": record, "group": self.card_json(card)}

    def undo(self) -> dict[str, Any]:
        """Take back the last decision made in this review (its records removed from the decisions file)."""
        with self.lock:
            if not self.undo_stack:
                raise ReviewError("nothing to undo in this review", 409)
            n_records, before = self.undo_stack.pop()
            self.decisions.records = self.decisions.records[:n_records]
            self.decisions.save()
            for k, card in before:
                self.cards[k] = card
            return {"groups": [self.card_json(card) for _, card in before]}

    def keep_by_rule(self, rule: str, group_ids: Sequence[int] | None) -> dict[str, Any]:
        """Choose the keeper of many groups (``None``: every group offered) by one keep rule (``oldest``,
        ``largest``/``pixels``, ``format:HEIF``, ``path:GLOB``...); each choice is recorded as a decision."""
        text = {"largest": "pixels"}.get(rule, rule)
        try:
            rules = parse_rules([text], cwd=self.root)
        except Exception as exc:
            raise ReviewError(f"keep rule {rule!r}: {exc}") from None
        with self.lock:
            ids = [c.id for c in self.cards if c.hidden is None] if group_ids is None else list(group_ids)
            before, changed = [], 0
            n_records = len(self.decisions.records)
            for gid in ids:
                card = self.card(gid)
                if card.hidden is not None or not all(card.keys.values()):
                    continue
                facts = [member_facts(m, self.facts) for m in card.group.members]
                best, _ = choose(facts, rules, facts)
                keeper = card.group.members[best].path
                before.append((card.id, replace(card)))
                record = self.decisions.add("keeper", [k for k in card.keys.values() if k],
                                            keeper=card.keys[keeper] or "", paths=[m.path for m in card.group.members],
                                            save=False)
                changed += keeper != card.group.keeper
                card.group = honour([card.group], card.keys, Decisions(self.decisions.path, [record])).groups[0]
            self.decisions.save()
            if before:
                self.undo_stack.append((n_records, before))
            return {"groups": len(before), "changed": changed}

    # ------------------------------------------------------------------------------------------- files

    def checked_path(self, index: int) -> str:
        """The path of hashed file ``index`` if it may be read now: in the hash file, inside the collection
        (after following links), a regular file, and unchanged since it was hashed."""
        if not 0 <= index < len(self.hashset):
            raise ReviewError("no such file", 404)
        path = str(self.hashset.paths[index])
        real = os.path.realpath(path)
        if not _inside(real, self.root):
            raise ReviewError("outside the collection", 403)
        try:
            st = os.stat(real)
        except OSError:
            raise ReviewError("the file is gone", 404) from None
        if not stat.S_ISREG(st.st_mode):
            raise ReviewError("not a regular file", 403)
        if st.st_size != int(self.hashset.size[index]) or st.st_mtime_ns != int(self.hashset.mtime_ns[index]):
            raise ReviewError("the file changed since it was hashed", 409)
        return real

    def thumb(self, index: int) -> bytes:
        """A JPEG thumbnail of hashed file ``index`` (made on demand, the last :data:`THUMB_CACHE` kept)."""
        from finder.report.thumbs import make_thumb

        path = self.checked_path(index)
        with self.lock:
            hit = self._thumbs.get(index)
            if hit is not None:
                self._thumbs.move_to_end(index)
                return hit[0]
        made = make_thumb(path, int(self.hashset.size[index]), int(self.hashset.mtime_ns[index]), THUMB_BOX)
        if made.data is None:
            raise ReviewError(f"cannot show it: {made.facts.problem}", 415)
        with self.lock:
            self._thumbs[index] = (made.data, "image/jpeg")
            while len(self._thumbs) > THUMB_CACHE:
                self._thumbs.popitem(last=False)
        return made.data

    def image(self, index: int) -> tuple[bytes, str]:
        """Hashed file ``index`` to show at full size: its own bytes where a browser shows its format, else
        converted to JPEG (at most :data:`SHOWN_MAX_SIDE` pixels a side)."""
        from finder.groups.facts import open_header
        from finder.report.thumbs import flatten

        path = self.checked_path(index)
        try:
            with open_header(path) as image:
                kind = BROWSER_FORMATS.get(image.format or "")
                if kind is not None and not _rotated(image):
                    with open(path, "rb") as handle:
                        return handle.read(), kind
                shown = _upright(image)
                shown.thumbnail((SHOWN_MAX_SIDE, SHOWN_MAX_SIDE))
                buffer = io.BytesIO()
                flatten(shown).save(buffer, "JPEG", quality=92)
                return buffer.getvalue(), "image/jpeg"
        except ReviewError:
            raise
        except Exception as exc:
            raise ReviewError(f"cannot show it: {exc}", 415) from None

    def difference(self, a: int, b: int) -> bytes:
        """A PNG of where files ``a`` and ``b`` differ: ``b`` scaled onto ``a``'s frame, the absolute
        difference per channel, amplified 4x (black: the same)."""
        from PIL import Image, ImageChops

        from finder.groups.facts import open_header
        from finder.report.thumbs import flatten

        pictures = []
        for index in (a, b):
            path = self.checked_path(index)
            try:
                with open_header(path) as image:
                    shown = _upright(image)
                    shown.thumbnail((DIFF_MAX_SIDE, DIFF_MAX_SIDE))
                    pictures.append(flatten(shown))
            except Exception as exc:
                raise ReviewError(f"cannot decode {os.path.basename(path)}: {exc}", 415) from None
        first, second = pictures
        second = second.resize(first.size, Image.Resampling.BILINEAR)
        diff = ImageChops.difference(first, second).point(lambda v: min(255, 4 * v))
        buffer = io.BytesIO()
        diff.save(buffer, "PNG")
        return buffer.getvalue()

    def compare(self, a: int, b: int) -> dict[str, Any]:
        """Two hashed files side by side: their facts and why they match (or not), row pair by row pair."""
        from finder.groups.facts import read_facts
        from finder.match.explain import explain

        out: dict[str, Any] = {}
        for label, index in (("a", a), ("b", b)):
            path = self.checked_path(index)
            f = read_facts(path, int(self.hashset.size[index]), int(self.hashset.mtime_ns[index]))
            out[label] = {"file": index, "path": str(self.hashset.paths[index]), "width": f.width,
                          "height": f.height, "bytes": f.size, "format": f.format, "taken": f.taken,
                          "camera": f.camera, "mtime": _iso(f.mtime_ns)}
        rule = self.rules[0]
        if a == b:
            raise ReviewError("compare two different files")
        out["why"] = explain(self.hashset, a, self.hashset, b, rule.algorithm, rule.max_distance).to_dict()
        distinct = self.decisions.distinct_pairs()
        out["why"]["marked_distinct"] = frozenset((self.keys(a), self.keys(b))) in distinct
        return out

    # ------------------------------------------------------------------------------------------ search

    def search_bytes(self, content: bytes, k: int = 12) -> dict[str, Any]:
        """Matches of an uploaded image: hashed exactly as the store was (the same decoder and guards)."""
        with tempfile.TemporaryDirectory(prefix="finder-serve-") as folder:
            path = os.path.join(folder, "upload")
            with open(path, "wb") as handle:
                handle.write(content)
            return self._search(path, "the upload", k)

    def search_path(self, text: str, k: int = 12) -> dict[str, Any]:
        """Matches of an image at a server path inside the collection (resolved; links may not leave it)."""
        if not text or "\x00" in text:
            raise ReviewError("give a path without NUL characters")
        path = os.path.realpath(os.path.join(self.root, os.path.expanduser(text)))
        if not _inside(path, self.root):
            raise ReviewError("only paths inside the collection can be searched", 403)
        if not os.path.isfile(path):
            raise ReviewError("no such file in the collection", 404)
        return self._search(path, os.path.relpath(path, self.root), k)

    def _search(self, path: str, label: str, k: int) -> dict[str, Any]:
        from finder.query import hash_queries, match

        rule = self.rules[0]
        problems: list[str] = []
        report = hash_queries([path], self.hashset, rule.algorithm, jobs=1,
                              on_error=lambda e: problems.append(e.reason))
        if not len(report.hashset):
            raise ReviewError(f"{label} cannot be hashed: {problems[0] if problems else 'not an image'}", 422)
        found = match(report.hashset, self.hashset, rule.algorithm, max_distance=rule.max_distance, k=k)
        results = [{"file": int(j), "path": str(self.hashset.paths[j]), "distance": int(d), "match": bool(ok),
                    "view": found.view[n] if found.view else None,
                    "blocked": found.blocked[n] if found.blocked else ""}
                   for n, (j, d, ok) in enumerate(zip(found.j.tolist(), found.distance.tolist(),
                                                      found.match.tolist()))]
        return {"query": label, "max_distance": rule.max_distance, "bits": rule.bits, "results": results}

    # ------------------------------------------------------------------------------------------- act

    def plan(self, group_ids: Sequence[int], action: str, to: str | None) -> tuple[str, Plan]:
        """A dedupe of these groups' offered duplicates (:func:`offered`): its groups file written beside the
        hash file (``NAME.review/``), then ``finder dedupe``'s dry run.  Returns the plan's id and the plan."""
        from finder.dedupe import ACTIONS
        from finder.dedupe.run import dry_run
        from finder.groups.file import write_groups
        from finder.io.atomic import atomic_write

        if action not in ACTIONS or action == "delete":
            raise ReviewError("the page offers move, trash, hardlink and symlink (delete only on the command line)")
        if action == "trash":
            to = None  # the trash is where it goes: a folder means nothing here
        if to is not None:
            if "\x00" in to or not to.strip():
                raise ReviewError("give a folder for --to")
            to = os.path.abspath(os.path.join(os.path.dirname(self.hashfile), os.path.expanduser(to)))
        with self.lock:
            cards = [self.card(g) for g in dict.fromkeys(group_ids)]
            if not cards or any(c.hidden is not None for c in cards):
                raise ReviewError("choose groups that are still offered", 409)
            groups = []
            for n, card in enumerate(cards):
                skip = card.bursts - {card.group.keeper}
                members = [m for m in card.group.members if m.path not in skip]
                groups.append(replace(card.group, id=n, members=members))
            os.makedirs(self.work, exist_ok=True)
            plan_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
            groups_file = os.path.join(self.work, f"groups-{plan_id}.json")
            with atomic_write(groups_file, "wb") as handle:
                write_groups(handle, groups, "json")
            journal = os.path.join(self.work, f"dedupe-{plan_id}.jsonl")
            try:
                the_plan = dry_run(groups, groups_file, action, to, journal, self.hashed)
            except FinderError as exc:
                raise ReviewError(str(exc)) from None
            self.acted[plan_id] = Acted([c.id for c in cards], action, to, groups_file, journal)
            return plan_id, the_plan

    def apply(self, plan_id: str) -> dict[str, Any]:
        """Carry out a planned dedupe with ``finder dedupe --apply``'s session (journaled, undoable)."""
        from finder.dedupe.run import apply_session
        from finder.groups.file import read_groups

        with self.lock:
            acted = self._acted(plan_id)
            if acted.applied:
                raise ReviewError("this plan was applied already", 409)
            groups = read_groups(acted.groups_file)
            try:
                the_plan, outcome = apply_session(groups, acted.groups_file, acted.action, acted.to, acted.journal,
                                                  hashed=self.hashed)
            except FinderError as exc:
                raise ReviewError(str(exc)) from None
            acted.applied = True
            for gid in acted.groups:
                self.cards[gid].hidden = f"acted on ({acted.action})"
            return {"done": [step_json(s) for s in outcome.done], "refused": [list(r) for r in outcome.refused],
                    "failed": [list(r) for r in outcome.failed], "journal": acted.journal,
                    "undo": f"finder dedupe --undo {acted.journal}"}

    def undo_dedupe(self, plan_id: str) -> dict[str, Any]:
        """Put back everything an applied dedupe did (``finder dedupe --undo`` on its journal)."""
        from finder.dedupe.run import undo_session

        with self.lock:
            acted = self._acted(plan_id)
            if not acted.applied or acted.undone:
                raise ReviewError("nothing of this plan to undo", 409)
            result = undo_session(acted.journal)
            acted.undone = True
            for gid in acted.groups:
                self.cards[gid].hidden = None
            return {"restored": [step_json(s) for s in result.restored],
                    "refused": [list(r) if isinstance(r, tuple) else str(r) for r in result.refused],
                    "irreversible": len(result.irreversible)}

    def _acted(self, plan_id: str) -> Acted:
        acted = self.acted.get(plan_id)
        if acted is None:
            raise ReviewError("no such plan in this review", 404)
        return acted


def plan_json(plan_id: str, the_plan: Plan) -> dict[str, Any]:
    return {"plan": plan_id, "action": the_plan.action, "to": the_plan.to,
            "steps": [step_json(s) for s in the_plan.steps], "freed": the_plan.freed,
            "kept": dict(the_plan.kept), "refused": [list(r) for r in the_plan.refused]}


def step_json(step: Step | Any) -> dict[str, Any]:
    step = getattr(step, "step", step)
    return {"path": step.path, "keeper": step.keeper, "dest": step.dest, "bytes": step.size}


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _iso(ns: int | None) -> str | None:
    return dt.datetime.fromtimestamp(ns / 1e9).isoformat(timespec="seconds") if ns else None


def _rotated(image: Any) -> bool:
    """Whether the file's EXIF orientation turns it (browsers honour it for JPEG, but not everywhere)."""
    try:
        return int(image.getexif().get(0x0112, 1)) not in (0, 1)
    except Exception:
        return False


def _upright(image: Any) -> Any:
    from PIL import ImageOps

    image.draft("RGB", (SHOWN_MAX_SIDE, SHOWN_MAX_SIDE))
    return ImageOps.exif_transpose(image)


__all__ = ["Review", "ReviewError", "Card", "plan_json"]
