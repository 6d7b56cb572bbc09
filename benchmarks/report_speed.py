"""What deciding and acting cost: header reads for the keep rules, thumbnails, a big report in Chromium, dedupe.

    python benchmarks/report_speed.py [IMAGES_DIR] [--groups 5000] [--repeat 3] [--dedupe-files 2000]

* **keep rules**: reading each grouped file's header (pixel size, format, EXIF
  date) — what ``finder cluster`` now adds — ms per file in one process, and
  the wall time of the parallel pool;
* **thumbnails**: ``finder report``'s thumbnail pass (one open per file),
  images per second with 1 and all workers, bytes per thumbnail;
* **a page of --groups groups** (3 images each, the thumbnails above cycled):
  HTML size, time to write it; headless Chromium's wall time to start, load
  it and take a screenshot, against the same for a one-group page (Chromium's
  start-up); and the page's own clock (``data-ready-ms``, ``data-show-ms``):
  navigation to its last page shown, and the part spent putting that page's
  100 groups in place (what switching pages costs);
* **dedupe**: ``--apply`` of a move of --dedupe-files files, and its undo
  (two fsynced journal records per file), files per second.

Figures are medians of --repeat runs; every table names the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finder.evaluate.machine import cpu_model, simd_level
from finder.groups.facts import facts_chunk, gather
from finder.groups.linkage import Group, Member
from finder.report.page import Report, render
from finder.report.thumbs import make_thumbs

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "images"
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chromium(page: Path, fragment: str = "", screenshot: bool = False) -> tuple[float, dict[str, str]]:
    """Headless Chromium on ``page``: wall seconds, and the page's own ``<body data-*>`` figures (dump-dom)."""
    import re

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return float("nan"), {}
    with tempfile.TemporaryDirectory() as profile:
        mode = [f"--screenshot={profile}/shot.png"] if screenshot else ["--dump-dom"]
        start = time.perf_counter()
        out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                              "--disable-component-update", "--disable-sync", "--no-first-run",
                              f"--user-data-dir={profile}", "--window-size=1280,900", *mode,
                              page.as_uri() + fragment], capture_output=True, check=True, timeout=600)
        seconds = time.perf_counter() - start
    body = re.search(rb"<body([^>]*)>", out.stdout)
    return seconds, dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1).decode())) if body else {}


def browser_figures(big: Path, small: Path, pages: int, repeat: int) -> dict[str, float]:
    """Screenshot wall time of the big page and of a one-group page; in-page times of the big page at its last page."""
    shots_big = [chromium(big, screenshot=True)[0] for _ in range(repeat)]
    shots_small = [chromium(small, screenshot=True)[0] for _ in range(repeat)]
    inside = [chromium(big, f"#page={pages}")[1] for _ in range(repeat)]
    return {"shot_big": statistics.median(shots_big), "shot_small": statistics.median(shots_small),
            "ready_ms": statistics.median(float(f.get("ready-ms", "nan")) for f in inside),
            "show_ms": statistics.median(float(f.get("show-ms", "nan")) for f in inside)}


def dedupe_rate(n: int, repeat: int) -> tuple[float, float]:
    """Files per second of dedupe --apply (move) and of --undo, n small files in one group."""
    applied, undone = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "p").mkdir()
            members = []
            for k in range(n):
                path = root / "p" / f"{k:06d}.jpg"
                path.write_bytes(b"x" * (100 + k % 7))
                st = path.stat()
                members.append({"path": str(path), "distance": 0, "same_file_as": None, "reference": False,
                                "size": st.st_size, "mtime_ns": st.st_mtime_ns})
            (root / "g.json").write_text(json.dumps([{"group": 0, "size": n, "representative": members[0]["path"],
                                                      "keeper": members[0]["path"], "members": members}]))
            base = [sys.executable, "-m", "finder", "dedupe", "-q"]
            start = time.perf_counter()
            subprocess.run([*base, "g.json", "--action", "move", "--to", "dupes", "--apply", "--journal", "j.jsonl"],
                           cwd=root, check=True, capture_output=True)
            applied.append((n - 1) / (time.perf_counter() - start))
            start = time.perf_counter()
            subprocess.run([*base, "--undo", "j.jsonl"], cwd=root, check=True, capture_output=True)
            undone.append((n - 1) / (time.perf_counter() - start))
    return statistics.median(applied), statistics.median(undone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="?", default=str(CORPUS if CORPUS.is_dir() else ROOT / "examples" / "images"))
    parser.add_argument("--groups", type=int, default=5000, help="groups in the big page (3 images each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dedupe-files", type=int, default=2000)
    args = parser.parse_args()

    paths = sorted(str(p) for p in Path(args.images).rglob("*") if p.suffix.lower() in EXTENSIONS)
    items = [(p, os.path.getsize(p), os.stat(p).st_mtime_ns) for p in paths]
    cores = os.cpu_count() or 1
    header_ms = median_time(lambda: facts_chunk(items), args.repeat) / len(items) * 1000
    header_pool = median_time(lambda: gather(items, jobs=cores), args.repeat)
    thumbs_1 = median_time(lambda: make_thumbs(items, jobs=1), args.repeat)
    thumbs_n = median_time(lambda: make_thumbs(items, jobs=cores), args.repeat)
    thumbs = list(make_thumbs(items, jobs=cores).values())
    usable = [t for t in thumbs if t.data]
    thumb_bytes = statistics.mean(len(t.data or b"") for t in usable)

    def report_of(n_groups: int) -> Report:
        groups, shown = [], {}
        for g in range(n_groups):
            members = []
            for k in range(3):
                thumb = usable[(3 * g + k) % len(usable)]
                path = f"/photos/{g:05d}/{k}-{os.path.basename(thumb.facts.path)}"
                shown[path] = thumb
                members.append(Member(path, 4 * k, size=thumb.facts.size, mtime_ns=thumb.facts.mtime_ns))
            groups.append(Group(g, members[0].path, members, keeper=members[0].path))
        return Report(groups, shown)

    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.html", Path(tmp) / "small.html"
        report = report_of(args.groups)
        render_s = median_time(lambda: big.write_text(render(report), "utf-8"), args.repeat)
        small.write_text(render(report_of(1)), "utf-8")
        browser = browser_figures(big, small, -(-args.groups // 100), args.repeat)
        page_mb = big.stat().st_size / 2**20
    apply_rate, undo_rate = dedupe_rate(args.dedupe_files, args.repeat)

    print(f"CPU: {cpu_model()}, {cores} cores, SIMD {simd_level()}; "
          f"{len(items)} images from {args.images}; median of {args.repeat}")
    print(f"{'measure':58} {'value':>12}")
    rows = [
        ("keep rules: header read per file, 1 process (ms)", f"{header_ms:.3f}"),
        (f"keep rules: headers of all {len(items)} files, {cores} workers (s)", f"{header_pool:.2f}"),
        ("thumbnails, 1 worker (images/s)", f"{len(items) / thumbs_1:.0f}"),
        (f"thumbnails, {cores} workers (images/s)", f"{len(items) / thumbs_n:.0f}"),
        ("thumbnail size, mean (bytes)", f"{thumb_bytes:,.0f}"),
        (f"page of {args.groups:,} groups ({3 * args.groups:,} images): HTML (MiB)", f"{page_mb:.1f}"),
        (f"page of {args.groups:,} groups: render + write (s)", f"{render_s:.2f}"),
        (f"page of {args.groups:,} groups: Chromium start, load, screenshot (s)", f"{browser['shot_big']:.2f}"),
        ("page of 1 group: Chromium start, load, screenshot (s)", f"{browser['shot_small']:.2f}"),
        (f"page of {args.groups:,} groups: navigation to last page shown (ms)", f"{browser['ready_ms']:.0f}"),
        ("  of which putting that page (100 groups) in place (ms)", f"{browser['show_ms']:.0f}"),
        (f"dedupe --apply, move of {args.dedupe_files - 1:,} files (files/s)", f"{apply_rate:.0f}"),
        ("dedupe --undo of them (files/s)", f"{undo_rate:.0f}"),
    ]
    for label, value in rows:
        print(f"{label:58} {value:>12}")


if __name__ == "__main__":
    main()
