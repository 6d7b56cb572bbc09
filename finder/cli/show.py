"""``finder show``: print a hash file's rows, skipped files or settings."""

from __future__ import annotations

import click

from finder.cli.options import DEFAULT_HASHES, algorithm_option


@click.command("show")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@algorithm_option("Only these algorithms (default: all in the file).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@click.option("--errors", is_flag=True, help="List the skipped files and reasons (path,reason) instead.")
@click.option("--info", is_flag=True, help="Print the file's settings record (format, versions, algorithms, "
                                           "decode policy, views, EXIF handling) and counts as JSON.")
def show_command(hashfile, algorithms, fmt, errors, info) -> None:
    """Print a hash file as path,algorithm,hex rows (hex = imagehash's text form)."""
    from finder.match.search import choose_algorithm
    from finder.output import check_output, open_output, write_json, write_rows
    from finder.store.hashset import load

    check_output(None)
    if info:
        from finder.store.hashset import read_info

        record = read_info(hashfile)
        with open_output(None) as stream:
            write_json(stream, record)
        return
    hashset = load(hashfile)
    with open_output(None) as stream:
        if errors:
            write_rows(stream, ("path", "reason"), ((e.path, e.reason) for e in hashset.errors), fmt)
            return
        names = [choose_algorithm(hashset, a, hashfile) for a in algorithms] or hashset.algorithms
        rows = ((str(p), a, hashset.hex(a, i)) for i, p in enumerate(hashset.paths) for a in names)
        write_rows(stream, ("path", "algorithm", "hex"), rows, fmt)
