"""The ``finder`` command line: a thin layer of click commands over the library."""

from __future__ import annotations

import os
import sys

import click

from finder import __version__
from finder import algorithms as _algorithms
from finder.files import find_images
from finder.hashing import hash_paths
from finder.groups import LINKAGES
from finder.hashset import HashSetError, load
from finder.matching import MatchError, cluster, find_pairs, choose_algorithm
from finder.output import PAIR_HEADER, open_output, pair_rows, write_groups, write_rows
from finder.progress import Reporter

DEFAULT_HASHES = "hashes.npz"
EXIT_SKIPPED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class FinderError(click.ClickException):
    """A one-line error for bad input files or arguments: exit status 2, no traceback."""

    exit_code = EXIT_USAGE


class FinderGroup(click.Group):
    """Turns library errors, Ctrl-C and closed pipes into messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (HashSetError, MatchError) as exc:
            raise FinderError(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("finder: interrupted; no output was changed", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`finder compare | head`): stop quietly.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            ctx.exit(0)


def algorithm_option(multiple: bool, help: str):
    return click.option(
        "-a",
        "--algorithm",
        "algorithms" if multiple else "algorithm",
        type=click.Choice(list(_algorithms.ALGORITHMS), case_sensitive=False),
        multiple=multiple,
        help=help,
    )


@click.group(cls=FinderGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="finder")
def cli() -> None:
    """Find near-duplicate images with perceptual hashes.

    \b
      finder hash photos/                  # hash every image -> hashes.npz
      finder cluster --threshold 0.39      # groups of similar images
      finder compare new.npz archive.npz   # matches across two sets

    Results go to stdout; progress and diagnostics to stderr.
    """


@cli.command("hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@algorithm_option(True, "Hash algorithm; repeat for several (each image is decoded once). Default: find.")
@click.option("-o", "--output", default=DEFAULT_HASHES, show_default=True, type=click.Path(dir_okay=False),
              help="Hash file to write (atomically).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores]; 1 hashes in this process.")
@click.option("--update/--rehash", default=True,
              help="Reuse unchanged entries of an existing output (default), or hash everything again.")
@click.option("--follow-symlinks", is_flag=True, help="Walk into symbolic links to directories.")
@click.option("--hidden", is_flag=True, help="Include hidden files and directories (names starting with '.').")
@click.option("-0", "--null", is_flag=True, help="Paths read from '-' are NUL-separated (find -print0).")
@click.option("--no-exif-transpose", is_flag=True,
              help="Hash pixels in stored order; by default EXIF orientation is applied first.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any file was skipped.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary (skipped files are still reported).")
def hash_command(paths, algorithms, output, jobs, update, follow_symlinks, hidden, null, no_exif_transpose,
                 strict, quiet) -> None:
    """Hash every image under PATH... into a hash file.

    PATH is a file or a directory (walked recursively); '-' reads a list of
    files, one per line, from stdin:  find photos -newer stamp | finder hash -

    Re-running onto an existing output reuses every entry whose path, size and
    mtime are unchanged; files no longer found are dropped from it.
    """
    reporter = Reporter(quiet)
    previous = None
    if os.path.exists(output):
        try:
            previous = load(output)
        except HashSetError as exc:
            raise FinderError(f"refusing to overwrite {output}: {exc}") from None
    candidates, walk_errors = find_images(
        paths, stdin=sys.stdin.buffer if "-" in paths else None, null=null,
        follow_symlinks=follow_symlinks, hidden=hidden,
    )
    for error in walk_errors:
        reporter.error(f"skipped {error}")
    with reporter.bar(len(candidates), "hashing") as advance:
        report = hash_paths(
            candidates, algorithms or ("find",), jobs=jobs, exif_transpose=not no_exif_transpose,
            previous=previous, rehash=not update, progress=advance,
            on_error=lambda e: reporter.error(f"skipped {e}"), errors=walk_errors,
        )
    try:
        report.hashset.save(output)
    except OSError as exc:
        raise FinderError(f"cannot write {output}: {exc.strerror or exc}") from None
    reporter.info(f"{report.summary()} -> {output}")
    if strict and report.errors:
        sys.exit(EXIT_SKIPPED)


@cli.command("show")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@algorithm_option(True, "Only these algorithms (default: all in the file).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@click.option("--errors", is_flag=True, help="List the skipped files and reasons (path,reason) instead.")
def show_command(hashfile, algorithms, fmt, errors) -> None:
    """Print a hash file as path,algorithm,hex rows (hex = imagehash's text form)."""
    hashset = load(hashfile)
    with open_output(None) as stream:
        if errors:
            write_rows(stream, ("path", "reason"), ((e.path, e.reason) for e in hashset.errors), fmt)
            return
        names = [a.lower() for a in algorithms] or hashset.algorithms
        missing = [a for a in names if a not in hashset.bits]
        if missing:
            raise FinderError(f"{hashfile} has no {', '.join(missing)} hashes (it has {', '.join(hashset.algorithms)})")
        rows = ((str(p), a, hashset.hex(a, i)) for i, p in enumerate(hashset.paths) for a in names)
        write_rows(stream, ("path", "algorithm", "hex"), rows, fmt)


def radius_options(function):
    """--threshold / --max-distance, shared by compare and cluster."""
    function = click.option("-d", "--max-distance", type=click.IntRange(min=0), default=None,
                            help="Match when the Hamming distance in bits is at most D.")(function)
    return click.option("-t", "--threshold", type=float, default=None,
                        help="Match when distance / bits <= F (default: the algorithm's, e.g. 0.39 for find).")(function)


def output_option(function):
    return click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, allow_dash=True),
                        help="Write to FILE (atomically) instead of stdout.")(function)


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise click.BadParameter(f"{threshold} is not in [0, 1]", param_hint="'--threshold'")


@cli.command("compare")
@click.argument("hashfiles", nargs=-1, type=click.Path(dir_okay=False))
@algorithm_option(False, "Algorithm to compare (default: the file's only one).")
@radius_options
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@output_option
def compare_command(hashfiles, algorithm, threshold, max_distance, fmt, output) -> None:
    """Matching pairs: within one hash file, or from A to B across two.

    \b
      finder compare                        # pairs within hashes.npz
      finder compare today.npz archive.npz  # today's images already in the archive

    Rows: path_a, path_b, distance, similarity (1 - distance / bits), ordered by path_a, path_b.
    """
    if len(hashfiles) > 2:
        raise click.UsageError("give at most two hash files")
    check_threshold(threshold)
    a = load(hashfiles[0] if hashfiles else DEFAULT_HASHES)
    b = load(hashfiles[1]) if len(hashfiles) == 2 else None
    name = choose_algorithm(a, algorithm, "first hash file" if b is not None else "hash file")
    pairs = find_pairs(a, name, threshold=threshold, max_distance=max_distance, b=b)
    with open_output(output) as stream:
        rows = pair_rows(pairs.i, pairs.j, pairs.distance, a.paths, (b or a).paths, a.bits[name])
        write_rows(stream, PAIR_HEADER, rows, fmt)


@cli.command("cluster")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@algorithm_option(False, "Algorithm to cluster by (default: the file's only one).")
@radius_options
@click.option("--linkage", type=click.Choice(LINKAGES), default="single", show_default=True,
              help="single: connected components (chains join); star: every member within the threshold "
                   "of its group's representative.")
@click.option("--min-size", type=click.IntRange(min=1), default=2, show_default=True,
              help="Smallest group to print; 1 includes singletons.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="json", show_default=True)
@output_option
def cluster_command(hashfile, algorithm, threshold, max_distance, linkage, min_size, fmt, output) -> None:
    """Groups of similar images, largest first.

    \b
      finder hash photos/ && finder cluster --threshold 0.39 > groups.json

    JSON: [{"group", "size", "representative", "members": [{"path", "distance"}]}];
    CSV: group, path, distance_to_representative.
    """
    check_threshold(threshold)
    hashset = load(hashfile)
    groups = cluster(hashset, algorithm, threshold=threshold, max_distance=max_distance,
                     linkage=linkage, min_size=min_size)
    with open_output(output) as stream:
        write_groups(stream, groups, fmt)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="finder")
