"""``finder compare``: matching pairs within one hash file or across two."""

from __future__ import annotations

import sys
import time

import click

from finder.cli.options import (
    DEFAULT_HASHES,
    EXIT_FOUND,
    dask_search,
    emit_summary,
    matching_options,
    rules_from_options,
    search_run_options,
)


@click.command("compare")
@click.argument("hashfiles", nargs=-1, type=click.Path(dir_okay=False))
@matching_options
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
@search_run_options
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
    from finder.match.search import check_vote, match_share
    from finder.output import check_output, open_output, write_pairs
    from finder.store.hashset import load

    if len(hashfiles) > 2:
        raise click.UsageError("give at most two hash files")
    start = time.perf_counter()
    check_output(output)
    a = load(hashfiles[0] if hashfiles else DEFAULT_HASHES)
    b = load(hashfiles[1]) if len(hashfiles) == 2 else None
    rules = rules_from_options(a, algorithms, thresholds, max_distances)
    check_vote(vote, len(rules))
    warn_if_loose(rules, a, b, match_share)
    if verify:  # a second, geometric stage: finder.verify.verified (the verify extra)
        from finder.match.search import find_pairs
        from finder.output import write_rows
        from finder.progress import Reporter
        from finder.verify.verified import VERIFIED_HEADER, single_rule, verified_for_files, verified_rows

        rule = single_rule(rules)
        with dask_search(scheduler) as search:
            matches = find_pairs(a, rule.algorithm, max_distance=rule.max_distance, b=b, search=search)
        names = tuple(hashfiles) or (DEFAULT_HASHES,)
        found = verified_for_files(a, rule, matches, names[0], b, names[-1], reporter=Reporter())
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
    from finder.algorithms import get

    if (len(a) * (len(a) - 1) // 2 if b is None else len(a) * len(b)) <= 1_000_000:
        return  # too few pairs for a million rows: no sample to search
    for rule in rules:
        share, total = match_share(a, rule, b)
        if share > 0.01 and share * total > 1_000_000:
            default = get(rule.algorithm).default_threshold
            click.echo(f"finder: warning: threshold {rule.threshold:.3g} ({rule.max_distance} of {rule.bits} bits) "
                       f"matches about {share:.0%} of all {total:,} {rule.algorithm} pairs "
                       f"(~{share * total:,.0f} rows) - did you mean the default, {default}?", err=True)
