"""``finder explain``: why two images match or not, row pair by row pair."""

from __future__ import annotations

import click

from finder.cli.options import DEFAULT_HASHES, EXIT_FOUND, algorithm_option


@click.command("explain")
@click.argument("image_a", type=click.Path(exists=True, dir_okay=False))
@click.argument("image_b", type=click.Path(exists=True, dir_okay=False))
@click.option("--against", "hashfile", default=DEFAULT_HASHES, show_default=True, type=click.Path(dir_okay=False),
              help="The hash file whose rows and settings explain the pair; an image not in it is hashed with "
                   "its settings (without one: finder's defaults).")
@algorithm_option("Algorithm (default: the file's only one, or find).")
@click.option("-t", "--threshold", type=float, default=None, help="Match when distance / bits <= T "
                                                                   "(default: the algorithm's own).")
@click.option("-d", "--max-distance", type=int, default=None, help="Match when the distance is at most D bits.")
@click.option("--verify", is_flag=True, help="Also check the pair geometrically (finder[verify]): inliers, "
                                             "model, mirrored.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def explain_command(image_a, image_b, hashfile, algorithms, threshold, max_distance, verify, fmt) -> None:
    """Why IMAGE_A and IMAGE_B match or not: every pair of their rows (plain,
    mirror, content box, ...), its distance and radius, the rule that decided
    it (radius, layout check, framed files, quality), and the verdict.

    \b
      finder explain photos/a.jpg photos/a-copy.jpg
      finder explain new.jpg photos/old.jpg --against hashes.npz --verify

    Exit status 0 when they match, 1 when they do not (like grep).
    """
    import os
    import sys

    from finder.io.files import resolve
    from finder.match.explain import explain
    from finder.match.search import choose_algorithm, radius
    from finder.output import open_output, write_json
    from finder.progress import Reporter
    from finder.store.hashset import load

    reporter = Reporter()
    paths = [resolve(image_a), resolve(image_b)]
    store = load(hashfile) if os.path.exists(hashfile) else None
    name = choose_algorithm(store, algorithms[0] if algorithms else None, hashfile) if store is not None else (
        algorithms[0].lower() if algorithms else "find")
    sides = _sides(paths, store, name, reporter)
    (a, i), (b, j) = sides
    d = radius(a.bits[name], threshold, max_distance, name)
    result = explain(a, i, b, j, name, d)
    checked = _verify(paths, a.exif_transpose) if verify else None
    with open_output(None) as stream:
        if fmt == "json":
            write_json(stream, {**result.to_dict(), **({"verify": checked} if checked is not None else {})})
        else:
            stream.write(_text(result, checked, [a is store, b is store], hashfile).encode())
    if not result.matched:
        sys.exit(EXIT_FOUND)


def _sides(paths, store, name, reporter):
    """(HashSet, index) for each path: its rows in ``store``, or hashed now with the store's settings."""
    from finder.errors import FinderError
    from finder.query import hash_queries
    from finder.store.update import hash_paths

    index = {str(p): k for k, p in enumerate(store.paths)} if store is not None else {}
    missing = [p for p in paths if p not in index]
    fresh = None
    fresh_index: dict[str, int] = {}

    def skipped(error) -> None:
        reporter.error(f"{error.path}: {error.reason}")

    if missing:
        report = (hash_queries(missing, store, name, jobs=1, on_error=skipped) if store is not None
                  else hash_paths(missing, [name], jobs=1, views="default", on_error=skipped))
        fresh = report.hashset
        fresh_index = {str(p): k for k, p in enumerate(fresh.paths)}
    sides = []
    for path in paths:
        if path in index:
            sides.append((store, index[path]))
        elif fresh is not None and path in fresh_index:
            sides.append((fresh, fresh_index[path]))
        else:
            raise FinderError(f"{path}: cannot be hashed (above)")
    return sides


def _verify(paths, exif_transpose):
    """The geometric check of the two images (finder.verify), as a dict."""
    from PIL import ImageOps

    from finder.io.decode import open_file
    from finder.verify.features import extract
    from finder.verify.geometry import check

    features = []
    for path in paths:
        with open_file(path, path) as image:
            features.append(extract(ImageOps.exif_transpose(image) if exif_transpose else image))
    result = check(*features)
    return {"ok": result.ok, "decided": result.decided, "matches": result.matches, "inliers": result.inliers,
            "overlap": round(result.overlap, 3), "mirrored": result.mirrored, "model": result.model}


def _text(result, checked, stored, hashfile) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    from finder.report.page import text

    lines = [f"A: {text(result.path_a)}" + ("" if stored[0] else " (hashed now)"),
             f"B: {text(result.path_b)}" + ("" if stored[1] else " (hashed now)"),
             f"{result.algorithm}, {result.bits} bits: radius {result.radius} "
             f"(threshold {result.radius / result.bits:.3f}), view radius {result.view_radius}; "
             f"quality {result.quality[0]} and {result.quality[1]}" + (f"; rows from {hashfile}" if any(stored)
                                                                          else "")]
    table = Table(box=None, pad_edge=False)
    for column in ("A", "B", "distance", "radius", "decided"):
        table.add_column(column, justify="right" if column in ("distance", "radius") else "left")
    for r in sorted(result.rows, key=lambda r: (not r.matched, r.radius is None, r.distance)):
        table.add_row(r.view_a, r.view_b, str(r.distance), "-" if r.radius is None else str(r.radius), r.decided)
    buffer = io.StringIO()
    Console(file=buffer, width=120, color_system=None).print(table)
    body = "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())
    tail = [f"verdict: {result.verdict}"]
    if checked is not None:
        tail.append("verify: " + ("confirmed" if checked["ok"] else "not confirmed" if checked["decided"]
                                  else "undecided (too few keypoints)")
                    + f", {checked['inliers']} inliers of {checked['matches']} matches"
                    + (f", {checked['model']}" if checked["model"] else "")
                    + (", mirrored" if checked["mirrored"] else ""))
    return "\n".join(lines) + "\n" + body + "\n".join(tail) + "\n"
