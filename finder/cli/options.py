"""What the commands share: exit codes, option groups, and small helpers that turn options into library calls."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import click

from finder.algorithms import NAMES as ALGORITHM_NAMES
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


def device_option(function):
    """--device cpu|cuda: where the all-pairs search runs (finder.pairs; cuda needs finder[gpu] and a GPU)."""
    return click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
                        callback=_use_device, expose_value=False, is_eager=False,
                        help="Where the pair search runs: cpu, or cuda (an NVIDIA GPU through numba-cuda: "
                             "pip install 'finder[gpu]').")(function)


def _use_device(ctx, param, value):
    if value == "cuda":
        from finder import config
        from finder.pairs.cuda import require

        require()  # one line when there is no GPU, before any work
        config.choose_pairs_backend("cuda")
    return value


def verify_option(function):
    """--verify: geometric verification of the matches (finder.verify)."""
    return click.option("--verify", is_flag=True, help=VERIFY_HELP)(function)


def search_run_options(function):
    """-o, --exit-code, --summary, --scheduler, --device, --verify: what compare and cluster share, in that
    order (their help lists them so)."""
    for option in reversed((output_option, exit_code_option, summary_option, scheduler_option, device_option,
                            verify_option)):
        function = option(function)
    return function


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
    from finder.match.dask_search import DaskSearch

    with DaskExecutor(scheduler) as executor, DaskSearch(executor) as search:
        yield search


def algorithm_option(help: str):
    """-a/--algorithm, repeatable, into the ``algorithms`` parameter."""
    return click.option("-a", "--algorithm", "algorithms", multiple=True, help=help,
                        type=click.Choice(ALGORITHM_NAMES, case_sensitive=False))


def nothing_found(paths, passed_over, errors) -> str:
    """Why a run found no image: what it passed over, and the likely fix."""
    from finder.io.decode import HEIF_EXTENSIONS, image_extensions

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
    from finder.match.search import make_rules

    return make_rules(hashset, algorithms, parse_radii(thresholds, float, "'--threshold'"),
                      parse_radii(max_distances, int, "'--max-distance'"))


def output_option(function):
    return click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, allow_dash=True),
                        help="Write to FILE (atomically) instead of stdout.")(function)


def keep_options(function):
    """--keep / --reference / -j: which copy of each group is kept (groups.keep); shared by cluster and report."""
    options = [
        click.option("--keep", "keep", multiple=True, metavar="RULE,...",
                     help="Choose each group's keeper by these rules, in order: shape, orientation, noise, "
                          "detail, content, frame, colour, camera, formats, coding, central, pixels, size, oldest, "
                          "newest, shortest-path, format:NAME, path:GLOB (path: takes the rest of its value) "
                          "[default: shape,orientation,noise,detail,content,frame,colour,camera,formats,coding,"
                          "central,oldest,size, then path order: the original, not a resized, framed or edited copy]."),
        click.option("--reference", "references", multiple=True, metavar="DIR",
                     type=click.Path(exists=True, file_okay=False),
                     help="Images under DIR are never proposed for removal (the keeper is one of them); repeatable."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Worker processes reading the grouped images [default: all cores]."),
        click.option("--ignore-decisions", is_flag=True,
                     help="Group as if nothing was decided in review (HASHFILE's NAME.decisions.json: pairs "
                          "marked not a duplicate, groups kept whole, chosen keepers)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def load_decisions(hashfile: str, ignore: bool = False):
    """The review decisions beside ``hashfile`` (``finder serve``, ``finder decisions``), or None when ignored."""
    from finder.groups.decisions import Decisions, decisions_path

    return None if ignore else Decisions.load(decisions_path(hashfile))


def honour_decisions(groups: list, hashset, decisions, reporter=None, keys=None) -> tuple[list, int]:
    """``groups`` with the review decisions applied (:func:`finder.groups.decisions.honour`); and how many
    groups were hidden as kept whole, said on stderr.  ``keys``: the store's :class:`FileKeys` when the caller
    has them already (else made here)."""
    from finder.groups.decisions import FileKeys, honour

    if decisions is None or not decisions.records:
        return groups, 0
    done = honour(groups, keys or FileKeys(hashset), decisions)
    if done.hidden and reporter is not None:
        reporter.info(f"{done.hidden:,} groups kept whole in review left out ({decisions.path})")
    return done.groups, done.hidden


def keep_groups(groups: list, rules: list, references: tuple[str, ...], jobs: int | None,
                hashfile: str | None = None) -> tuple[list, dict]:
    """Groups with keepers chosen (the grouped images read in parallel, a progress bar on a terminal; their
    looks cached in ``HASHFILE.looks.npz``); and the facts."""
    from finder.groups.keep import decide_groups
    from finder.progress import Reporter
    from finder.store.sidecar import path_beside

    with Reporter().bar(sum(g.size for g in groups), "looking at the grouped images") as advance:
        return decide_groups(groups, rules, references, jobs, advance,
                             looks=path_beside(hashfile, "looks") if hashfile else None)


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"{text!r} needs positive integers")
    return values


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
