"""The ``finder`` command line: a thin layer of click commands over the library."""

from __future__ import annotations

import io
import os
import shutil
import sys

import click

from finder import __version__
from finder import algorithms as _algorithms
from finder.bench import render_tables as render_bench
from finder.bench import run_bench
from finder.evaluate import (CURVE_HEADER, DEFAULT_GROUP_PATTERN, TruthError, curve_rows, evaluate, render_tables,
                             truth_from_csv, truth_from_pattern)
from finder.files import find_images
from finder.groups import LINKAGES
from finder.hashing import hash_paths
from finder.hashset import HashSetError, load
from finder.matching import MatchError, choose_algorithm, cluster, find_pairs, make_rules, vote_pairs
from finder.output import (PAIR_HEADER, open_output, pair_rows, voted_pair_header, voted_pair_rows, write_groups,
                           write_json, write_rows)
from finder.plot import PlotUnavailable, plot_evaluation
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
        except (HashSetError, MatchError, TruthError, PlotUnavailable) as exc:
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


def algorithm_option(help: str):
    """-a/--algorithm, repeatable, into the ``algorithms`` parameter."""
    return click.option("-a", "--algorithm", "algorithms", multiple=True, help=help,
                        type=click.Choice(list(_algorithms.ALGORITHMS), case_sensitive=False))


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
@algorithm_option("Hash algorithm; repeat for several (each image is decoded once). Default: find.")
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
@algorithm_option("Only these algorithms (default: all in the file).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@click.option("--errors", is_flag=True, help="List the skipped files and reasons (path,reason) instead.")
def show_command(hashfile, algorithms, fmt, errors) -> None:
    """Print a hash file as path,algorithm,hex rows (hex = imagehash's text form)."""
    hashset = load(hashfile)
    with open_output(None) as stream:
        if errors:
            write_rows(stream, ("path", "reason"), ((e.path, e.reason) for e in hashset.errors), fmt)
            return
        names = [choose_algorithm(hashset, a, hashfile) for a in algorithms] or hashset.algorithms
        rows = ((str(p), a, hashset.hex(a, i)) for i, p in enumerate(hashset.paths) for a in names)
        write_rows(stream, ("path", "algorithm", "hex"), rows, fmt)


def parse_radii(values: tuple[str, ...], kind: type, option: str) -> dict[str | None, float | int]:
    """``-t 0.39`` / ``-t find=0.39`` values: {algorithm or None: value}."""
    parsed: dict[str | None, float | int] = {}
    for text in values:
        name, _, number = text.rpartition("=")
        try:
            value = kind(number)
        except ValueError:
            raise click.BadParameter(f"{text!r} is not {'a number' if kind is float else 'an integer'} or ALGO=VALUE",
                                     param_hint=option) from None
        if name and name.lower() not in _algorithms.ALGORITHMS:
            raise click.BadParameter(f"unknown algorithm {name!r} in {text!r}", param_hint=option)
        if kind is float and not 0.0 <= value <= 1.0:
            raise click.BadParameter(f"{value} is not in [0, 1]", param_hint=option)
        if kind is int and value < 0:
            raise click.BadParameter(f"{value} is negative", param_hint=option)
        parsed[name.lower() or None] = value
    return parsed


def matching_options(function):
    """-a / -t / -d / --vote, shared by compare and cluster."""
    options = [
        algorithm_option("Algorithm(s) to match with (default: the file's only one). Several vote."),
        click.option("-t", "--threshold", "thresholds", multiple=True, metavar="[ALGO=]F",
                     help="Match when distance / bits <= F, for all or one algorithm "
                          "(default: each algorithm's own, e.g. 0.375 for find)."),
        click.option("-d", "--max-distance", "max_distances", multiple=True, metavar="[ALGO=]D",
                     help="Match when the Hamming distance in bits is at most D."),
        click.option("--vote", type=click.IntRange(min=1), default=None,
                     help="With several algorithms: a pair matches when at least K of them match [default: majority]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def rules_from_options(hashset, algorithms, thresholds, max_distances):
    return make_rules(hashset, algorithms, parse_radii(thresholds, float, "'--threshold'"),
                      parse_radii(max_distances, int, "'--max-distance'"))


def output_option(function):
    return click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, allow_dash=True),
                        help="Write to FILE (atomically) instead of stdout.")(function)


@cli.command("compare")
@click.argument("hashfiles", nargs=-1, type=click.Path(dir_okay=False))
@matching_options
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@output_option
def compare_command(hashfiles, algorithms, thresholds, max_distances, vote, fmt, output) -> None:
    """Matching pairs: within one hash file, or from A to B across two.

    \b
      finder compare                        # pairs within hashes.npz
      finder compare today.npz archive.npz  # today's images already in the archive
      finder compare -t find=0.39 -t dhash=0.16 --vote 2

    Rows: path_a, path_b, distance, similarity (1 - distance / bits), ordered
    by path_a, path_b.  With several algorithms: path_a, path_b, votes, one
    distance_ALGO column each, and similarity averaged over them.
    """
    if len(hashfiles) > 2:
        raise click.UsageError("give at most two hash files")
    a = load(hashfiles[0] if hashfiles else DEFAULT_HASHES)
    b = load(hashfiles[1]) if len(hashfiles) == 2 else None
    rules = rules_from_options(a, algorithms, thresholds, max_distances)
    paths_b = (b or a).paths
    if len(rules) == 1:
        rule = rules[0]
        pairs = find_pairs(a, rule.algorithm, max_distance=rule.max_distance, b=b)
        header, rows = PAIR_HEADER, pair_rows(pairs.i, pairs.j, pairs.distance, a.paths, paths_b, rule.bits)
    else:
        voted = vote_pairs(a, rules, vote, b=b)
        header, rows = voted_pair_header(rules), voted_pair_rows(voted, rules, a.paths, paths_b)
    with open_output(output) as stream:
        write_rows(stream, header, rows, fmt)


@cli.command("cluster")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@matching_options
@click.option("--linkage", type=click.Choice(LINKAGES), default="single", show_default=True,
              help="single: connected components (chains join); star: every member within the threshold "
                   "of its group's representative.")
@click.option("--min-size", type=click.IntRange(min=1), default=2, show_default=True,
              help="Smallest group to print; 1 includes singletons.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="json", show_default=True)
@output_option
def cluster_command(hashfile, algorithms, thresholds, max_distances, vote, linkage, min_size, fmt, output) -> None:
    """Groups of similar images, largest first.

    \b
      finder hash photos/ && finder cluster --threshold 0.39 > groups.json

    JSON: [{"group", "size", "representative", "members": [{"path", "distance"}]}];
    CSV: group, path, distance_to_representative.  With several algorithms
    voting, distances are those of the first.
    """
    hashset = load(hashfile)
    rules = rules_from_options(hashset, algorithms, thresholds, max_distances)
    pairs = vote_pairs(hashset, rules, vote) if len(rules) > 1 else None
    groups = cluster(hashset, rules[0].algorithm, max_distance=rules[0].max_distance, linkage=linkage,
                     min_size=min_size, pairs=pairs)
    with open_output(output) as stream:
        write_groups(stream, groups, fmt)


@cli.command("evaluate")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@click.option("--truth", type=click.Path(exists=True, dir_okay=False),
              help="CSV with path,group columns (others, e.g. transform, are kept).")
@click.option("--group-pattern", default=None, metavar="REGEX",
              help=f"Group id = first (group) of REGEX in each file name [default: {DEFAULT_GROUP_PATTERN}].")
@matching_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table: summary on the terminal; csv: every threshold of every algorithm; json: everything.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG of distance histograms and precision-recall curves (needs matplotlib).")
@output_option
def evaluate_command(hashfile, truth, group_pattern, algorithms, thresholds, max_distances, vote, fmt, plot,
                     output) -> None:
    """Accuracy of each hash against labelled groups, over all pairs.

    For every threshold: TP, FP, TN, FN, precision, recall, F1, accuracy; the
    best-F1 threshold; average precision; recall per transform; the scores of
    the groups `finder cluster` would make; and, with several algorithms, voting.

    \b
      finder evaluate corpus.npz --truth corpus/images/ground_truth.csv
      finder evaluate corpus.npz -t find=0.39 -t dhash=0.16 --vote 2
    """
    if truth and group_pattern:
        raise click.UsageError("give --truth or --group-pattern, not both")
    hashset = load(hashfile)
    labels = (truth_from_csv(hashset.paths, truth) if truth
              else truth_from_pattern(hashset.paths, group_pattern or DEFAULT_GROUP_PATTERN))
    # Algorithms: those named (-a, or ALGO= in -t/-d), else all in the file.  Those with a
    # threshold of their own or a global one are scored there, the others at their best F1.
    per_threshold = parse_radii(thresholds, float, "'--threshold'")
    per_distance = parse_radii(max_distances, int, "'--max-distance'")
    named = [a.lower() for a in algorithms] + [k for k in (*per_threshold, *per_distance) if k]
    names = list(dict.fromkeys(named)) or hashset.algorithms
    given = {**per_threshold, **per_distance}
    fixed = [n for n in names if n in given or None in given]
    rules = {r.algorithm: r for r in make_rules(hashset, fixed, per_threshold, per_distance)} if fixed else {}
    result = evaluate(hashset, labels, names, rules, vote)
    if plot:
        plot_evaluation(result, plot)
    with open_output(output) as stream:
        if fmt == "csv":
            write_rows(stream, CURVE_HEADER, curve_rows(result), "csv")
        elif fmt == "json":
            write_json(stream, result.to_dict())
        else:
            print_tables(stream, render_tables(result))


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"{text!r} needs positive integers")
    return values


@cli.command("bench")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@algorithm_option("Algorithms to measure (default: all five).")
@click.option("--jobs", "jobs", default=None, metavar="1,2,...",
              help="Worker counts for the throughput test [default: 1 and all cores].")
@click.option("--sizes", default="1000,10000,100000", show_default=True, metavar="N,N,...",
              help="Collection sizes for the growth test (compare beyond the folder's size uses synthetic hashes).")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True, help="Runs per measurement.")
@click.option("--sample", type=click.IntRange(min=1), default=200, show_default=True,
              help="Images (evenly spaced) for the per-image and memory measurements.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of tables.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
def bench_command(paths, algorithms, jobs, sizes, repeat, sample, as_json, quiet) -> None:
    """What hashing and matching cost on your images: time per stage, memory, scaling.

    Per algorithm: median per-image time split into decode, prepare
    (resize/convert) and hash, FINd stage by stage, and peak memory per worker.
    Scaling: throughput per --jobs value; hashing and all-pairs compare time per
    --sizes value with the fitted growth exponent (about 1 and 2).
    """
    reporter = Reporter(quiet)
    job_counts = int_list(jobs) if jobs else sorted({1, os.cpu_count() or 1})
    result = run_bench(list(paths), [a.lower() for a in algorithms] or list(_algorithms.ALGORITHMS), job_counts,
                       int_list(sizes), repeat=repeat, sample=sample, progress=reporter.info)
    with open_output(None) as stream:
        if as_json:
            write_json(stream, result)
        else:
            print_tables(stream, render_bench(result))


def print_tables(stream, tables) -> None:
    """Render rich tables to a byte stream (plain text when it is not a terminal)."""
    from rich.console import Console

    text = io.TextIOWrapper(stream, encoding="utf-8", errors="backslashreplace", write_through=True)
    console = Console(file=text, width=max(100, shutil.get_terminal_size().columns))
    for table in tables:
        console.print(table)
    text.detach()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="finder")
