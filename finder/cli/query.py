"""``finder query``: is this image already in the archive?"""

from __future__ import annotations

import sys

import click

from finder.cli.options import algorithm_option, device_option, output_option

EXIT_MATCHED = 0
EXIT_NO_MATCH = 1
QUERY_HEADER = ("query", "path", "distance", "similarity", "match", "same_file", "view", "blocked")


@click.command("query")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--against", "archive_path", required=True, type=click.Path(dir_okay=False), metavar="HASHES.npz",
              help="The stored set (a finder hash file) to look in.")
@algorithm_option("Algorithm to match with (default: the archive's only one).")
@click.option("-t", "--threshold", type=click.FloatRange(0.0, 1.0), default=None, metavar="F",
              help="Match when distance / bits <= F (default: the algorithm's own, e.g. 0.375 for find).")
@click.option("-d", "--max-distance", type=click.IntRange(min=0), default=None, metavar="D",
              help="Match when the Hamming distance in bits is at most D.")
@click.option("-k", "k", type=click.IntRange(min=1), default=None,
              help="Report each image's K nearest archive images, matching or not (column 'match' says).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@output_option
@device_option
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes for hashing the query images [default: all cores].")
@click.option("-0", "--null", is_flag=True, help="Paths read from '-' are NUL-separated (find -print0).")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr (skipped files are still reported).")
def query_command(paths, archive_path, algorithms, threshold, max_distance, k, fmt, output, jobs, null,
                  quiet) -> None:
    """Look up images in a stored hash file: which archive images match each one?

    \b
      finder query new_photo.jpg more/ --against archive.npz
      finder query upload.jpg --against archive.npz -k 5 --format json
      if finder query x.jpg --against archive.npz -o /dev/null; then echo "already here"; fi

    Each image is hashed exactly as the archive's images were (its algorithm,
    EXIF handling, decode policy and views).  Rows: query, path, distance,
    similarity (1 - distance / bits), match (within the threshold), same_file;
    for each query nearest first.  Exit status 0 when at least one image
    matched, 1 when none did, 2 on error.
    """
    import time

    from finder.cli.options import nothing_found
    from finder.errors import FinderError
    from finder.io.files import Filters, find_images
    from finder.match.search import choose_algorithm
    from finder.output import check_output, open_output
    from finder.progress import Reporter
    from finder.query import hash_queries, match
    from finder.store.hashset import load

    if threshold is not None and max_distance is not None:
        raise click.UsageError("give --threshold or --max-distance, not both")
    if len(algorithms) > 1:
        raise click.UsageError("query matches with one algorithm; give -a once")
    start = time.perf_counter()
    reporter = Reporter(quiet)
    check_output(output)
    archive = load(archive_path)
    name = choose_algorithm(archive, algorithms[0] if algorithms else None, archive_path)
    filters = Filters()
    candidates, walk_errors = find_images(
        paths, stdin=sys.stdin.buffer if "-" in paths and sys.stdin is not None else None, null=null,
        filters=filters)
    for error in walk_errors:
        reporter.error(f"skipped {error}")
    report = hash_queries(candidates, archive, name, jobs=jobs, on_error=lambda e: reporter.error(f"skipped {e}"))
    queries = report.hashset
    if len(queries) == 0:
        raise FinderError(f"nothing to query: {nothing_found(paths, filters.passed_over, report.errors + walk_errors)}")
    found = match(queries, archive, name, threshold=threshold, max_distance=max_distance, k=k)
    with open_output(output) as stream:
        write_matches(stream, found, queries.paths, archive.paths, fmt)
    matched = len(found.matched())
    reporter.info(f"{len(queries):,} image{'s' * (len(queries) != 1)} looked up in {archive_path} "
                  f"({len(archive):,} files, {name} within {found.max_distance} of {found.bits} bits): "
                  f"{matched:,} matched, in {time.perf_counter() - start:.2f} s")
    sys.exit(EXIT_MATCHED if matched else EXIT_NO_MATCH)


def write_matches(stream, found, query_paths, archive_paths, fmt: str) -> None:
    """CSV rows (one per query and archive image), or one JSON object per query image with its matches."""
    from finder.output import write_json_array, write_json_lines, write_rows

    def result(row: int) -> tuple:
        d = int(found.distance[row])
        return (str(archive_paths[found.j[row]]), d, round(1.0 - d / found.bits, 6), bool(found.match[row]),
                bool(found.same_file[row]), found.view[row], found.blocked[row])

    if fmt == "csv":
        rows = ((str(query_paths[found.i[r]]), *result(r)) for r in range(len(found)))
        write_rows(stream, QUERY_HEADER, rows, "csv")
        return
    objects = ({"query": str(query_paths[q]),
                "matches": [dict(zip(QUERY_HEADER[1:], result(int(r)))) for r in rows]}
               for q, rows in found.by_query(len(query_paths)))
    (write_json_array if fmt == "json" else write_json_lines)(stream, objects)
