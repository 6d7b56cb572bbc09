"""The ``finder`` command line: a thin layer of click commands over the library."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
from typing import Any

import click

from finder import __version__
from finder.catalog import NAMES as ALGORITHM_NAMES
from finder.errors import FinderError

DEFAULT_HASHES = "hashes.npz"
EXIT_SKIPPED = 1
EXIT_FOUND = 1
EXIT_USAGE = 2
EXIT_NOTHING = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
LINKAGES = ("single", "star")
VERIFY_HELP = ("Check pairs near the threshold, and each image's nearest candidates beyond it (crops, rotations, "
               "screenshots), by matching local features (needs finder[verify]; features are cached in "
               "HASHFILE.features.npz). One algorithm only.")


class OneLineError(click.ClickException):
    """How the CLI shows a FinderError: ``Error: MESSAGE`` on stderr, exit status 2."""

    exit_code = EXIT_USAGE


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: stop cleanly, keep a checkpoint, exit 143."""


def _raise_terminated(signum, frame) -> None:
    """Ctrl-C and SIGTERM as exceptions, except inside llvmlite's ctypes callbacks (numba loading a
    kernel), where Python could only print and drop them: there the signal is delivered again shortly."""
    while frame is not None:
        if "llvmlite" in frame.f_code.co_filename:
            import threading

            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        frame = frame.f_back
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


class FinderGroup(click.Group):
    """Turns library errors, Ctrl-C, SIGTERM and closed pipes into messages and exit codes."""

    def invoke(self, ctx: click.Context):
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return super().invoke(ctx)
        except FinderError as exc:
            raise OneLineError(str(exc)) from None
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            click.echo(f"finder: {'terminated' if terminated else 'interrupted'}; "
                       f"{getattr(exc, 'finder_note', 'no output was changed')}", err=True)
            ctx.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`finder compare | head`): stop quietly.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            ctx.exit(0)
        finally:
            signal.signal(signal.SIGTERM, previous)


def summary_option(function):
    """--summary json: one machine-readable line of the run's figures on stderr (for cron and scripts)."""
    return click.option("--summary", type=click.Choice(["text", "json"]), default="text", show_default=True,
                        help="json: also print the run's figures as one JSON line on stderr.")(function)


def emit_summary(kind: str, figures: dict) -> None:
    if kind == "json":
        import json

        click.echo(json.dumps(figures, sort_keys=True), err=True)


def exit_code_option(function):
    """--exit-code: status 1 when duplicates were found, like grep and diff."""
    return click.option("--exit-code", "exit_code", is_flag=True,
                        help="Exit with status 1 if any match was found, 0 if none (like grep, diff).")(function)


def scheduler_option(function):
    """--scheduler: run the work on a Dask cluster (finder.engine.dask)."""
    return click.option("--scheduler", default=None, metavar="ADDRESS|local:N",
                        help="Run on a Dask cluster: a scheduler address (tcp://HOST:PORT; workers need finder[dask] "
                             "and, for hash, the image paths) or local:N for N worker processes here.")(function)


@contextlib.contextmanager
def dask_search(scheduler):
    """A DaskSearch on ``scheduler`` for matching's ``search`` (None without --scheduler)."""
    if not scheduler:
        yield None
        return
    from finder.engine.dask import DaskExecutor
    from finder.engine.dask_pairs import DaskSearch

    with DaskExecutor(scheduler) as executor, DaskSearch(executor) as search:
        yield search


def algorithm_option(help: str):
    """-a/--algorithm, repeatable, into the ``algorithms`` parameter."""
    return click.option("-a", "--algorithm", "algorithms", multiple=True, help=help,
                        type=click.Choice(ALGORITHM_NAMES, case_sensitive=False))


@click.group(cls=FinderGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="finder")
def cli() -> None:
    """Find near-duplicate images with perceptual hashes.

    \b
      finder hash photos/                  # hash every image -> hashes.npz
      finder cluster                       # groups of similar images (find: threshold 0.375)
      finder compare new.npz archive.npz   # matches across two sets

    Results go to stdout; progress and diagnostics to stderr.
    """


@cli.command("hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@algorithm_option("Hash algorithm; repeat for several (each image is decoded once). "
                  "Default: the output's algorithms if it exists, else find.")
@click.option("-o", "--output", default=DEFAULT_HASHES, show_default=True, type=click.Path(dir_okay=False),
              help="Hash file (store) to add to or create; written atomically.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores]; 1 hashes in this process.")
@click.option("--update/--rehash", default=True,
              help="Reuse unchanged entries of the output (default), or hash every PATH again.")
@click.option("--views", "views", default=None, metavar="SET",
              help="What to hash besides the image as decoded: default (plain, mirror, trimmed content box), "
                   "plain (the image only), dihedral (also the 90/180/270 rotations and flips), or a comma "
                   "list of views. Default: the output's views if it exists, else default.")
@click.option("--exact/--reduced", "exact", default=None,
              help="--exact decodes every pixel (hashes bit-exact with the reference); --reduced decodes JPEGs "
                   "at the smallest scale that keeps twice each hash's working size (several times faster on "
                   "large photos). Default: the output's policy if it exists, else --reduced.")
@click.option("--prune", is_flag=True,
              help="Also drop entries outside the walked folders whose files no longer exist.")
@click.option("--checkpoint", "checkpoint_seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="Save progress into the output at least this often; a killed run resumes.")
@click.option("--wait", is_flag=True, help="If another run is writing the same output, wait for it (default: exit 2).")
@click.option("--follow-symlinks", is_flag=True, help="Walk into symbolic links to directories.")
@click.option("--hidden", is_flag=True, help="Include hidden files and directories (names starting with '.').")
@click.option("--exclude", "exclude", multiple=True, metavar="GLOB",
              help="Skip files and folders whose name (or, for a GLOB with '/', whose path) matches; repeatable.")
@click.option("--no-default-excludes", is_flag=True,
              help="Also walk the thumbnail, cache and recycle-bin folders skipped by default (@eaDir, #recycle, "
                   "$RECYCLE.BIN, .thumbnails, .picasaoriginals, ...).")
@click.option("-0", "--null", is_flag=True, help="Paths read from '-' are NUL-separated (find -print0).")
@click.option("--no-exif-transpose", is_flag=True,
              help="Hash pixels in stored order; by default EXIF orientation is applied first.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any file was skipped.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary (skipped files are still reported).")
@summary_option
@scheduler_option
def hash_command(paths, algorithms, output, jobs, update, views, exact, prune, checkpoint_seconds, wait,
                 follow_symlinks, hidden, exclude, no_default_excludes, null, no_exif_transpose, strict, quiet, summary,
                 scheduler) -> None:
    """Hash every image under PATH... into a hash file (a store that runs add to).

    PATH is a file or a directory (walked recursively); '-' reads a list of
    files, one per line, from stdin:  find photos -newer stamp | finder hash -

    The output is added to and updated: an entry whose file is unchanged
    (size, mtime, inode) is reused, a changed file is hashed again, entries
    under a walked folder whose file has gone are dropped, and every other
    entry is kept.  Progress is saved every --checkpoint seconds, so a run
    that is killed resumes where it stopped.
    """
    from finder.engine.dask import maybe_dask
    from finder.files import Filters, find_images, walked_roots
    from finder.hashing import hash_paths
    from finder.hashset import load
    from finder.lock import store_lock
    from finder.progress import Reporter

    if jobs is not None and scheduler:
        raise click.UsageError("give -j (local worker processes) or --scheduler, not both")
    reporter = Reporter(quiet)
    check_writable(output)
    with maybe_dask(scheduler) as executor, store_lock(output, wait=wait, on_stale=reporter.info):
        previous = None
        if os.path.exists(output):
            try:
                previous = load(output)
            except FinderError as exc:
                raise FinderError(f"refusing to overwrite {output}: {exc}") from None
        names = [a.lower() for a in algorithms] or (previous.algorithms if previous is not None else ["find"])
        if views is None:
            views = tuple(previous.settings.get("views", ["plain"])) if previous is not None else "default"
        try:
            from finder.views import resolve_views

            views = resolve_views(views)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--views'") from None
        if exact is None:
            decode = str(previous.settings.get("decode") or "full") if previous is not None else "reduced"
        else:
            decode = "full" if exact else "reduced"
        filters = Filters(hidden=hidden, exclude=tuple(exclude), default_excludes=not no_default_excludes)
        candidates, walk_errors = find_images(
            paths, stdin=sys.stdin.buffer if "-" in paths and sys.stdin is not None else None, null=null,
            follow_symlinks=follow_symlinks, filters=filters,
        )
        for error in walk_errors:
            reporter.error(f"skipped {error}")
        with reporter.bar(len(candidates), "hashing") as advance:
            try:
                report = hash_paths(
                    candidates, names, jobs=jobs, exif_transpose=not no_exif_transpose,
                    previous=previous, rehash=not update, walked=walked_roots(paths), prune=prune,
                    progress=advance, on_error=lambda e: reporter.error(f"skipped {e}"), errors=walk_errors,
                    on_warning=lambda w: reporter.error(f"warning {w}"),
                    checkpoint=lambda store: save_store(store, output), checkpoint_seconds=checkpoint_seconds,
                    views=views, decode=decode, executor=executor,
                )
            except KeyboardInterrupt as exc:
                note = (f"progress so far is saved in {output}; run the same command again to resume"
                        if os.path.exists(output) else "no output was written")
                setattr(exc, "finder_note", note)  # noqa: B010  (read by FinderGroup)
                raise
        save_store(report.hashset, output)
    reporter.info(f"{report.summary()} -> {output}")
    emit_summary(summary, report.as_dict())
    if report.hashed + report.reused == 0:
        reporter.error(nothing_found(paths, filters.passed_over, report.errors))
        sys.exit(EXIT_NOTHING)
    if strict and report.errors:
        sys.exit(EXIT_SKIPPED)


def nothing_found(paths, passed_over, errors) -> str:
    """Why a run found no image: what it passed over, and the likely fix."""
    from finder.decode import HEIF_EXTENSIONS, image_extensions

    known = image_extensions()
    parts = []
    for ext, count in passed_over.most_common(4):
        hint = ""
        if ext in HEIF_EXTENSIONS and ext not in known:
            hint = " (install finder[heif] to read HEIC/HEIF)"
        elif ext == ".avif" and ext not in known:
            hint = " (this Pillow cannot read AVIF)"
        elif ext == "(none)":
            hint = " (finder recognises images by extension)"
        parts.append(f"{count:,} {ext} file{'s' * (count != 1)} skipped{hint}")
    if errors:
        parts.append(f"{len(errors):,} could not be read (reported above)")
    where = ", ".join(paths)
    return f"0 images hashed from {where}" + (": " + "; ".join(parts) if parts else ": no files there")


def check_writable(output: str) -> None:
    """Fail before any work when ``output``'s folder is missing or not writable."""
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise FinderError(f"cannot write {output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise FinderError(f"cannot write {output}: folder {folder} is not writable")


def save_store(store, output: str) -> None:
    """Save a HashSet to ``output``, turning OS errors into a one-line FinderError."""
    try:
        store.save(output)
    except OSError as exc:
        raise FinderError(f"cannot write {output}: {exc.strerror or exc}") from None


@cli.command("show")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@algorithm_option("Only these algorithms (default: all in the file).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@click.option("--errors", is_flag=True, help="List the skipped files and reasons (path,reason) instead.")
@click.option("--info", is_flag=True, help="Print the file's settings record (format, versions, algorithms, "
                                           "decode policy, views, EXIF handling) and counts as JSON.")
def show_command(hashfile, algorithms, fmt, errors, info) -> None:
    """Print a hash file as path,algorithm,hex rows (hex = imagehash's text form)."""
    from finder.hashset import load
    from finder.matching import choose_algorithm
    from finder.output import check_output, open_output, write_json, write_rows

    check_output(None)
    hashset = load(hashfile)
    with open_output(None) as stream:
        if info:
            record = dict(hashset.settings)
            record.update(files=len(hashset), errors=len(hashset.errors),
                          rows={a: len(hashset.hashes[a]) for a in hashset.algorithms})
            write_json(stream, record)
            return
        if errors:
            write_rows(stream, ("path", "reason"), ((e.path, e.reason) for e in hashset.errors), fmt)
            return
        names = [choose_algorithm(hashset, a, hashfile) for a in algorithms] or hashset.algorithms
        rows = ((str(p), a, hashset.hex(a, i)) for i, p in enumerate(hashset.paths) for a in names)
        write_rows(stream, ("path", "algorithm", "hex"), rows, fmt)


def parse_radii(values: tuple[str, ...], kind: type, option: str) -> dict[str | None, Any]:
    """``-t 0.39`` / ``-t find=0.39`` values: {algorithm or None: value}."""
    parsed: dict[str | None, Any] = {}
    for text in values:
        name, _, number = text.rpartition("=")
        try:
            value = kind(number)
        except ValueError:
            raise click.BadParameter(f"{text!r} is not {'a number' if kind is float else 'an integer'} or ALGO=VALUE",
                                     param_hint=option) from None
        if name and name.lower() not in ALGORITHM_NAMES:
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
    from finder.matching import make_rules

    return make_rules(hashset, algorithms, parse_radii(thresholds, float, "'--threshold'"),
                      parse_radii(max_distances, int, "'--max-distance'"))


def output_option(function):
    return click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, allow_dash=True),
                        help="Write to FILE (atomically) instead of stdout.")(function)


def keep_options(function):
    """--keep / --reference / -j: which copy of each group is kept (finder.keep); shared by cluster and report."""
    options = [
        click.option("--keep", "keep", multiple=True, metavar="RULE,...",
                     help="Choose each group's keeper by these rules, in order: pixels, size, oldest, newest, "
                          "shortest-path, format:NAME, path:GLOB (path: takes the rest of its value) "
                          "[default: pixels,size,oldest, then path order]."),
        click.option("--reference", "references", multiple=True, metavar="DIR",
                     type=click.Path(exists=True, file_okay=False),
                     help="Images under DIR are never proposed for removal (the keeper is one of them); repeatable."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Worker processes reading image headers [default: all cores]."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def keep_groups(groups: list, rules: list, references: tuple[str, ...], jobs: int | None) -> tuple[list, dict]:
    """Groups with keepers chosen (image headers read in parallel, a progress bar on a terminal); and the facts."""
    from finder.keep import decide_groups
    from finder.progress import Reporter

    with Reporter().bar(sum(g.size for g in groups), "reading headers") as advance:
        return decide_groups(groups, rules, references, jobs, advance)


@cli.command("compare")
@click.argument("hashfiles", nargs=-1, type=click.Path(dir_okay=False))
@matching_options
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@output_option
@exit_code_option
@summary_option
@scheduler_option
@click.option("--verify", is_flag=True, help=VERIFY_HELP)
def compare_command(hashfiles, algorithms, thresholds, max_distances, vote, fmt, output, exit_code, summary,
                    scheduler, verify) -> None:
    """Matching pairs: within one hash file, or from A to B across two.

    \b
      finder compare                        # pairs within hashes.npz
      finder compare today.npz archive.npz  # today's images already in the archive
      finder compare -t find=0.375 -t dhash=0.22 --vote 2

    Rows: path_a, path_b, distance, similarity (1 - distance / bits), ordered
    by path_a, path_b.  With several algorithms: path_a, path_b, votes, one
    distance_ALGO column each, and similarity averaged over them.
    """
    from finder.hashset import load
    from finder.matching import check_vote, match_share
    from finder.output import check_output, open_output, write_pairs

    if len(hashfiles) > 2:
        raise click.UsageError("give at most two hash files")
    start = time.perf_counter()
    check_output(output)
    a = load(hashfiles[0] if hashfiles else DEFAULT_HASHES)
    b = load(hashfiles[1]) if len(hashfiles) == 2 else None
    rules = rules_from_options(a, algorithms, thresholds, max_distances)
    check_vote(vote, len(rules))
    warn_if_loose(rules, a, b, match_share)
    if verify:  # a second, geometric stage: finder.verified (the verify extra)
        from finder.output import write_rows
        from finder.progress import Reporter
        from finder.verified import VERIFIED_HEADER, verified_for_files, verified_rows

        found = verified_for_files(a, rules, tuple(hashfiles) or (DEFAULT_HASHES,), b, reporter=Reporter())
        with open_output(output) as stream:
            write_rows(stream, VERIFIED_HEADER, verified_rows(found, a, b, rules[0].bits), fmt)
        count = len(found)
    else:
        with dask_search(scheduler) as search, open_output(output) as stream:
            count = write_pairs(stream, a, b, rules, vote, fmt, search)
    emit_summary(summary, {"files": len(a), "files_b": len(b) if b is not None else None, "pairs": count,
                           "seconds": round(time.perf_counter() - start, 3)})
    if exit_code and count:
        sys.exit(EXIT_FOUND)


def warn_if_loose(rules, a, b, match_share) -> None:
    """A loud hint on stderr when a threshold would match a large share of all pairs (a likely typo)."""
    from finder.catalog import entry

    if (len(a) * (len(a) - 1) // 2 if b is None else len(a) * len(b)) <= 1_000_000:
        return  # too few pairs for a million rows: no sample to search
    for rule in rules:
        share, total = match_share(a, rule, b)
        if share > 0.01 and share * total > 1_000_000:
            default = entry(rule.algorithm).default_threshold
            click.echo(f"finder: warning: threshold {rule.threshold:.3g} ({rule.max_distance} of {rule.bits} bits) "
                       f"matches about {share:.0%} of all {total:,} {rule.algorithm} pairs "
                       f"(~{share * total:,.0f} rows) - did you mean the default, {default}?", err=True)


@cli.command("cluster")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@matching_options
@click.option("--linkage", type=click.Choice(LINKAGES), default="single", show_default=True,
              help="single: connected components (chains join); star: every member within the threshold "
                   "of its group's representative.")
@click.option("--min-size", type=click.IntRange(min=1), default=2, show_default=True,
              help="Smallest group to print; 1 includes singletons.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="json", show_default=True)
@keep_options
@output_option
@exit_code_option
@summary_option
@scheduler_option
@click.option("--verify", is_flag=True, help=VERIFY_HELP)
def cluster_command(hashfile, algorithms, thresholds, max_distances, vote, linkage, min_size, keep, references, jobs,
                    fmt, output, exit_code, summary, scheduler, verify) -> None:
    """Groups of similar images, largest first.

    \b
      finder hash photos/ && finder cluster > groups.json
      finder cluster --threshold 0.375 --format csv      # 0.375: find's default

    JSON: [{"group", "size", "representative", "keeper", "members": [{"path",
    "distance", "same_file_as", "reference", "size", "mtime_ns"}]}]; CSV: group,
    path, distance_to_representative, representative, same_file_as, keeper,
    reference.  The representative is the member with the
    most matches in the group (see README); with several algorithms voting,
    distances are those of the first.  The keeper is the member the --keep
    rules choose (image headers are read for that: pixel size, EXIF date).
    """
    from finder.hashset import load
    from finder.keep import parse_rules, resolve_folders
    from finder.matching import check_vote, cluster, find_pairs, vote_pairs
    from finder.output import check_output, open_output, write_groups

    start = time.perf_counter()
    check_output(output)
    keep_rules, reference_dirs = parse_rules(keep), resolve_folders(references)
    hashset = load(hashfile)
    rules = rules_from_options(hashset, algorithms, thresholds, max_distances)
    check_vote(vote, len(rules))
    with dask_search(scheduler) as search:  # grouping happens here; only the pair search runs on the cluster
        pairs = (vote_pairs(hashset, rules, vote, search=search) if len(rules) > 1 else
                 find_pairs(hashset, rules[0].algorithm, max_distance=rules[0].max_distance, search=search)
                 if search else None)
    if verify:  # the geometric second stage decides the pairs (finder.verified)
        from finder.progress import Reporter
        from finder.verified import verified_for_files

        pairs = verified_for_files(hashset, rules, (hashfile,), jobs=jobs, reporter=Reporter()).pairs()
    groups = cluster(hashset, rules[0].algorithm, max_distance=rules[0].max_distance, linkage=linkage,
                     min_size=min_size, pairs=pairs)
    groups, _ = keep_groups(groups, keep_rules, reference_dirs, jobs)
    with open_output(output) as stream:
        write_groups(stream, groups, fmt)
    emit_summary(summary, {"files": len(hashset), "groups": len(groups),
                           "grouped_files": sum(g.size for g in groups),
                           "seconds": round(time.perf_counter() - start, 3)})
    if exit_code and groups:
        sys.exit(EXIT_FOUND)


@cli.command("evaluate")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@click.option("--truth", type=click.Path(exists=True, dir_okay=False),
              help="CSV with path,group columns (others, e.g. transform, are kept).")
@click.option("--group-pattern", default=None, metavar="REGEX",
              help="Group id = first (group) of REGEX in each file name [default: ^(\\d+)_].")
@matching_options
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table: summary on the terminal; csv: every threshold of every algorithm; json: everything.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG of distance histograms and precision-recall curves (needs matplotlib).")
@click.option("--verify", is_flag=True,
              help="Also score verified matching (compare --verify) beside plain hashes and views "
                   "(needs finder[verify]).")
@output_option
def evaluate_command(hashfile, truth, group_pattern, algorithms, thresholds, max_distances, vote, fmt, plot,
                     verify, output) -> None:
    """Accuracy of each hash against labelled groups, over all pairs.

    For every threshold: TP, FP, TN, FN, precision, recall, F1, accuracy; the
    best-F1 threshold; average precision; recall per transform; the scores of
    the groups `finder cluster` would make; and, with several algorithms, voting.

    \b
      finder evaluate corpus.npz --truth corpus/images/ground_truth.csv
      finder evaluate corpus.npz -t find=0.39 -t dhash=0.16 --vote 2
    """
    from finder.evaluate import (
        CURVE_HEADER,
        DEFAULT_GROUP_PATTERN,
        curve_rows,
        evaluate,
        render_tables,
        truth_from_csv,
        truth_from_pattern,
    )
    from finder.hashset import load
    from finder.matching import make_rules
    from finder.output import check_output, open_output, write_json, write_rows

    if truth and group_pattern:
        raise click.UsageError("give --truth or --group-pattern, not both")
    check_output(output)
    if plot:
        check_output(plot)
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
    modes = evaluation_modes(hashset, hashfile, labels, result.chosen, verify)
    if plot:
        from finder.plot import plot_evaluation

        plot_evaluation(result, plot)
    with open_output(output) as stream:
        if fmt == "csv":
            write_rows(stream, CURVE_HEADER, curve_rows(result), "csv")
        elif fmt == "json":
            write_json(stream, {**result.to_dict(), **({"modes": modes[1]} if modes else {})})
        else:
            print_tables(stream, render_tables(result) + (modes[0] if modes else []))


def evaluation_modes(hashset, hashfile, labels, chosen, verify):
    """(tables, JSON) of the plain / views / verified modes (finder.modes), or None when there is only plain."""
    from finder.features import sidecar_path
    from finder.modes import evaluate_modes, has_views, modes_to_dict, render_mode_tables
    from finder.progress import Reporter

    if not verify and not any(has_views(hashset, name) for name in chosen):
        return None
    modes = {name: evaluate_modes(hashset, labels, rule, verify=verify, cache_path=sidecar_path(hashfile),
                                  reporter=Reporter()) for name, rule in chosen.items()}
    return render_mode_tables(modes, chosen), modes_to_dict(modes, chosen)


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
    from finder.bench import render_tables as render_bench
    from finder.bench import run_bench
    from finder.output import open_output, write_json
    from finder.progress import Reporter

    reporter = Reporter(quiet)
    job_counts = int_list(jobs) if jobs else sorted({1, os.cpu_count() or 1})
    result = run_bench(list(paths), [a.lower() for a in algorithms] or list(ALGORITHM_NAMES), job_counts,
                       int_list(sizes), repeat=repeat, sample=sample, progress=reporter.info)
    with open_output(None) as stream:
        if as_json:
            write_json(stream, result)
        else:
            print_tables(stream, render_bench(result))


def print_tables(stream, tables) -> None:
    """Render rich tables to a byte stream (plain text when it is not a terminal)."""
    import io
    import shutil

    from rich.console import Console

    # Rendered to text first and written by us: rich exits with status 1 on a closed pipe,
    # where finder ends quietly with 0 like every other command.
    buffer = io.StringIO()
    terminal = bool(getattr(stream, "isatty", lambda: False)())
    console = Console(file=buffer, force_terminal=terminal, width=max(100, shutil.get_terminal_size().columns))
    for table in tables:
        console.print(table)
    stream.write(buffer.getvalue().encode("utf-8", "backslashreplace"))


def _add_commands() -> None:
    """Commands defined in finder/commands/ (one module each), added to the group."""
    import importlib

    for module, name in COMMAND_MODULES:
        cli.add_command(getattr(importlib.import_module(f"finder.commands.{module}"), name))


# (module in finder/commands/, click command object in it) — one line per command.
COMMAND_MODULES: list[tuple[str, str]] = [
    ("query", "query_command"),
    ("report", "report_command"),
    ("dedupe", "dedupe_command"),
    ("synth", "synth_command"),
]
_add_commands()


def main() -> None:
    """Console-script entry point.

    Ctrl-C or SIGTERM before a command has started (while Python and finder
    import) ends quietly with 130 or 143 instead of a traceback.
    """
    signal.signal(signal.SIGTERM, _raise_terminated)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when the caller ignores Ctrl-C
        signal.signal(signal.SIGINT, _raise_terminated)
    try:
        cli(prog_name="finder")
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        click.echo(f"finder: {'terminated' if terminated else 'interrupted'}", err=True)
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    finally:
        # At exit Python tears down every module; with numba loaded the garbage collector then walks its
        # large object graph, ~0.3 s of every run (benchmarks/phone_breakdown.py). Nothing that runs at exit
        # needs the collector; atexit handlers and buffered output are unaffected.
        gc.freeze()
        gc.disable()
