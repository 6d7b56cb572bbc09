"""The HTML report: one self-contained page, made with the standard library only.

Everything that comes from a file — its name, folder, EXIF text — is passed
through :func:`text` (undecodable bytes and control characters shown as
``\\xNN``) and :func:`html.escape`, so a file named ``<script>…`` is shown as
text, never parsed as markup.  A Content-Security-Policy allows only this
page's own script and style (by hash) and ``data:`` images, and nothing
from the network.

Groups are cut into pages (``page_size`` groups each).  The first page is in
the document; the others are inert ``<template>`` elements (their images are
neither decoded nor laid out) that a small script swaps in (``#page=N``), so
the page stays responsive with thousands of groups.  Images use
``loading="lazy"``, and members after ``collapse_after`` are folded into a
``<details>`` element.  The script also records on ``<body>`` how many groups
and images are shown and how many images loaded (``data-groups``,
``data-images``, ``data-loaded``), and how long the page took: ``data-ready-ms`` from navigation
to the first page shown (the whole file parsed), ``data-show-ms`` to put the current page in place.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from finder.groups.facts import FileFacts
from finder.groups.keep import proposed
from finder.groups.linkage import Group, Member
from finder.report.thumbs import Thumb

PAGE_SIZE = 100
COLLAPSE_AFTER = 12

STYLE = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6575; --line: #d9dee6; --keep: #1a7f37; --ref: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #f4f6f9; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 16px 24px; }
h1 { margin: 0 0 8px; font-size: 20px; }
dl.figures { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 0; }
dl.figures div { display: flex; flex-direction: column-reverse; }
dl.figures dd { margin: 0; font-size: 20px; font-weight: 600; }
dl.figures dt { color: var(--muted); font-size: 12px; }
details.settings { margin-top: 10px; color: var(--muted); }
details.settings dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 6px 0 0; }
details.settings dt { font-weight: 600; }
details.settings dd { margin: 0; overflow-wrap: anywhere; }
nav.pager { padding: 10px 24px; display: flex; flex-wrap: wrap; gap: 6px; }
nav.pager a { padding: 2px 8px; border: 1px solid var(--line); border-radius: 4px; background: #fff;
              color: var(--ink); text-decoration: none; }
nav.pager a[aria-current] { background: var(--ink); color: #fff; }
main { padding: 0 24px 24px; }
section.group { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 14px 0;
                padding: 12px 14px; }
section.group h2 { margin: 0 0 10px; font-size: 15px; }
section.group h2 span { color: var(--muted); font-weight: 400; margin-left: 8px; }
div.members { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure.member { margin: 0; width: 184px; border: 2px solid var(--line); border-radius: 6px; padding: 6px;
                background: #fff; }
figure.member.keeper { border-color: var(--keep); }
figure.member.reference { border-color: var(--ref); }
div.thumb { height: 160px; display: flex; align-items: center; justify-content: center; background: #eef1f5; }
div.thumb img { display: block; max-width: 160px; max-height: 160px; }
div.thumb.missing { color: #a40e26; font-size: 12px; padding: 8px; text-align: center; }
figcaption { font-size: 12px; margin-top: 6px; }
figcaption span { display: block; overflow-wrap: anywhere; }
span.name { font-weight: 600; }
span.folder, span.facts, span.date, span.camera { color: var(--muted); }
span.badges b { display: inline-block; font-size: 11px; border-radius: 3px; padding: 0 5px; margin: 0 3px 3px 0;
                color: #fff; background: var(--muted); }
span.badges b.keep { background: var(--keep); }
span.badges b.drop { background: #9a6700; }
span.badges b.ref { background: var(--ref); }
details.more { flex-basis: 100%; }
details.more > summary { cursor: pointer; color: var(--ref); margin-bottom: 8px; }
details.more > div.members { margin-top: 8px; }
"""

SCRIPT = """
"use strict";
(function () {
  var view = document.getElementById("view");
  var nav = document.getElementById("pager");
  var pages = Array.prototype.slice.call(document.querySelectorAll("template.page"));
  var first = document.createElement("template");
  while (view.firstChild) { first.content.appendChild(view.firstChild); }
  pages.unshift(first);
  function status() {
    var images = view.querySelectorAll("img");
    var loaded = 0;
    for (var k = 0; k < images.length; k++) {
      if (images[k].complete && images[k].naturalWidth > 0) { loaded++; }
    }
    var data = document.body.dataset;
    data.groups = view.querySelectorAll("section.group").length;
    data.images = images.length;
    data.loaded = loaded;
  }
  function current() {
    var match = /^#page=(\\d+)$/.exec(location.hash);
    var k = match ? parseInt(match[1], 10) - 1 : 0;
    return Math.min(Math.max(k, 0), pages.length - 1);
  }
  function show() {
    var start = performance.now();
    var k = current();
    view.replaceChildren(document.importNode(pages[k].content, true));
    document.body.dataset.page = k + 1;
    document.body.dataset.showMs = Math.round(performance.now() - start);
    if (!document.body.dataset.readyMs) { document.body.dataset.readyMs = Math.round(performance.now()); }
    var links = nav.querySelectorAll("a");
    for (var j = 0; j < links.length; j++) {
      if (j === k) { links[j].setAttribute("aria-current", "page"); } else { links[j].removeAttribute("aria-current"); }
    }
    status();
  }
  if (pages.length > 1) {
    for (var k = 0; k < pages.length; k++) {
      var link = document.createElement("a");
      link.href = "#page=" + (k + 1);
      link.textContent = String(k + 1);
      nav.appendChild(link);
    }
    nav.hidden = false;
  }
  view.addEventListener("load", status, true);
  view.addEventListener("error", status, true);
  window.addEventListener("hashchange", function () { show(); window.scrollTo(0, 0); });
  show();
})();
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


CSP = (f"default-src 'none'; img-src data:; style-src {_csp_hash(STYLE)}; script-src {_csp_hash(SCRIPT)}; "
       "base-uri 'none'; form-action 'none'")


@dataclass
class Report:
    """What the page shows.

    Attributes
    ----------
    groups : list of Group
        Groups with keepers decided (:func:`finder.groups.keep.decide`).
    thumbs : mapping of path -> Thumb
        Thumbnail and facts of every member.
    figures : list of (label, value)
        The run's figures, shown large in the header.
    settings : list of (label, value)
        The settings used, shown under "settings".
    bits : int
        Width of the hash the distances are counted in.
    title : str
    """

    groups: Sequence[Group]
    thumbs: Mapping[str, Thumb]
    figures: list[tuple[str, str]] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)
    bits: int = 256
    title: str = "finder report"


def text(value: str) -> str:
    """Any string (a path with undecodable bytes, EXIF text) as printable text: odd bytes and controls as ``\\xNN``."""
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "replace")
    shown = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in shown)


def esc(value: object) -> str:
    """Printable, HTML-escaped text (quotes too: safe inside attributes)."""
    return html.escape(text(str(value)), quote=True)


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _local(ns: int) -> str:
    try:
        return _dt.datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "?"


def date_text(facts: FileFacts) -> str:
    """The date the keep rules use: EXIF date taken, else the file's modification time (labelled)."""
    if facts.taken:
        return f"taken {facts.taken.replace('T', ' ')[:16]}"
    return f"modified {_local(facts.mtime_ns)}"


def _member(member: Member, group: Group, thumb: Thumb | None, bits: int, drop: set[str]) -> str:
    facts = thumb.facts if thumb is not None else FileFacts(member.path, member.size or 0, member.mtime_ns or 0)
    folder, name = os.path.split(member.path)
    badges = []
    if member.path == group.keeper:
        badges.append('<b class="keep">keep</b>')
    elif member.path in drop:
        badges.append('<b class="drop">duplicate</b>')
    if member.reference:
        badges.append('<b class="ref">reference</b>')
    if member.kept_with:
        badges.append(f'<b class="ref" title="{esc(member.kept_with)}">kept with its RAW+JPEG companion</b>')
    if member.path == group.representative:
        badges.append("<b>representative</b>")
    if member.same_file_as:
        badges.append(f'<b title="{esc(member.same_file_as)}">same file as {esc(os.path.basename(member.same_file_as))}'
                      "</b>")
    if thumb is not None and thumb.data is not None:
        picture = (f'<img src="data:image/jpeg;base64,{base64.b64encode(thumb.data).decode()}" '
                   f'width="{thumb.width}" height="{thumb.height}" loading="lazy" decoding="async" alt="{esc(name)}">')
        box = f'<div class="thumb">{picture}</div>'
    else:
        box = f'<div class="thumb missing">no thumbnail: {esc(facts.problem or "not read")}</div>'
    dims = f"{facts.width} × {facts.height}" if facts.width is not None else "? × ?"
    parts = [dims, esc(facts.format or "?"), human_bytes(facts.size)]
    similarity = 1 - member.distance / bits if bits else 0.0
    how = f"{esc(member.view)}, " if member.view and member.view != "plain" else ""  # the row pair that matched
    classes = "member" + (" keeper" if member.path == group.keeper else "") + (" reference" if member.reference else "")
    lines = [
        f'<span class="badges">{"".join(badges)}</span>',
        f'<span class="name" title="{esc(member.path)}">{esc(name)}</span>',
        f'<span class="folder">{esc(folder)}</span>',
        f'<span class="facts">{" · ".join(parts)}</span>',
        f'<span class="date">{esc(date_text(facts))}</span>',
        f'<span class="distance">distance {member.distance} ({how}{similarity:.1%} similar)</span>',
    ]
    if facts.camera:
        lines.append(f'<span class="camera">{esc(facts.camera)}</span>')
    if member.path == group.keeper and group.keeper_reason:
        lines.append(f'<span class="why">kept: {esc(group.keeper_reason)}</span>')
    return (f'<figure class="{classes}" data-path="{esc(member.path)}">{box}'
            f'<figcaption>{"".join(lines)}</figcaption></figure>')


def card_order(group: Group) -> list[Member]:
    """The keeper first, then the others in the group's order (representative first, by distance)."""
    return sorted(group.members, key=lambda m: m.path != group.keeper)


def group_card(group: Group, thumbs: Mapping[str, Thumb], bits: int, collapse_after: int = COLLAPSE_AFTER) -> str:
    """One group as a ``<section>``: a heading with its figures and one figure per member."""
    drop = {m.path for m in proposed(group)}
    members = card_order(group)
    total = sum(m.size or 0 for m in group.members)
    freed = sum(m.size or 0 for m in proposed(group, distinct=True))
    figures = [_member(m, group, thumbs.get(m.path), bits, drop) for m in members]
    shown, folded = figures[:collapse_after], figures[collapse_after:]
    body = "".join(shown)
    if folded:
        body += (f'<details class="more"><summary>{len(folded)} more</summary>'
                 f'<div class="members">{"".join(folded)}</div></details>')
    heading = (f"Group {group.id}<span>{group.size} images · {human_bytes(total)} · "
               f"{len(drop)} duplicate{'s' * (len(drop) != 1)}, {human_bytes(freed)} to reclaim</span>")
    return f'<section class="group" id="g{group.id}"><h2>{heading}</h2><div class="members">{body}</div></section>'


def _pairs(items: list[tuple[str, str]], tag: str) -> str:
    if tag == "figures":
        return "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items)
    return "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)


def render(report: Report, page_size: int = PAGE_SIZE, collapse_after: int = COLLAPSE_AFTER) -> str:
    """The whole page as text (encode it as UTF-8)."""
    cards = [group_card(g, report.thumbs, report.bits, collapse_after) for g in report.groups]
    pages = [cards[k:k + page_size] for k in range(0, len(cards), page_size)] or [[]]
    first = "".join(pages[0]) or "<p>No groups: no two images matched.</p>"
    rest = "".join(f'<template class="page">{"".join(p)}</template>' for p in pages[1:])
    notice = (f"<noscript><p>Page 1 of {len(pages)}; the other pages need JavaScript.</p></noscript>"
              if len(pages) > 1 else "")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(report.title)}</title><style>{STYLE}</style></head>"
        f'<body data-total-groups="{len(cards)}" data-pages="{len(pages)}">'
        f"<header><h1>{esc(report.title)}</h1>"
        f'<dl class="figures">{_pairs(report.figures, "figures")}</dl>'
        f'<details class="settings"><summary>settings</summary><dl>{_pairs(report.settings, "settings")}</dl>'
        "</details></header>"
        f'<nav class="pager" id="pager" hidden></nav>{notice}'
        f'<main id="view">{first}</main>{rest}'
        f"<script>{SCRIPT}</script></body></html>\n"
    )
