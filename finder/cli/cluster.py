"""``finder cluster``: groups of similar images with their keepers."""

from __future__ import annotations

import sys
import time

import click

from finder.cli.options import (
    DEFAULT_HASHES,
    EXIT_FOUND,
    LINKAGES,
    dask_search,
    emit_summary,
    honour_decisions,
    keep_groups,
    keep_options,
    load_decisions,
    matching_options,
    rules_from_options,
    search_run_options,
)


@click.command("cluster")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@matching_options
@click.option("--linkage", type=click.Choice(LINKAGES), default="single", show_default=True,
              help="single: connected components (chains join); star: every member within the threshold "
                   "of its group's representative.")
@click.option("--min-size", type=click.IntRange(min=1), default=2, show_default=True,
              help="Smallest group to print; 1 includes singletons.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="json", show_default=True)
@keep_options
@search_run_options
def cluster_command(hashfile, algorithms, thresholds, max_distances, vote, linkage, min_size, keep, references, jobs,
                    ignore_decisions, fmt, output, exit_code, summary, scheduler, verify) -> None:
    """Groups of similar images, largest first.

    \b
      finder hash photos/ && finder cluster > groups.json
      finder cluster --threshold 0.375 --format csv      # 0.375: find's default

    JSON: [{"group", "size", "representative", "keeper", "members": [{"path",
    "distance", "same_file_as", "reference", "size", "mtime_ns"}]}]; CSV: group,
    path, distance_to_representative, representative, same_file_as, keeper,
    reference.  The representative is the member with the
    most matches in the group (see docs/commands/cluster.md); with several algorithms voting,
    distances are those of the first.  The keeper is the member the --keep
    rules choose (image headers are read for that: pixel size, EXIF date).
    """
    from finder.groups.build import find_groups
    from finder.groups.file import write_groups
    from finder.groups.guards import warnings as guard_warnings
    from finder.groups.keep import parse_rules, resolve_folders
    from finder.match.search import check_vote
    from finder.output import check_output, open_output
    from finder.progress import Reporter
    from finder.store.hashset import load

    start = time.perf_counter()
    check_output(output)
    keep_rules, reference_dirs = parse_rules(keep), resolve_folders(references)
    hashset = load(hashfile)
    decisions = load_decisions(hashfile, ignore_decisions)
    rules = rules_from_options(hashset, algorithms, thresholds, max_distances)
    check_vote(vote, len(rules))
    with dask_search(scheduler) as search:  # only the pair search runs on the cluster
        groups = find_groups(hashset, rules, vote=vote, linkage=linkage, min_size=min_size, search=search,
                             verify=verify, hashfile=hashfile, jobs=jobs, reporter=Reporter(), decisions=decisions)
    groups, _ = keep_groups(groups, keep_rules, reference_dirs, jobs, hashfile)
    groups, hidden = honour_decisions(groups, hashset, decisions, Reporter())
    with open_output(output) as stream:
        write_groups(stream, groups, fmt)
    cautions = guard_warnings(groups, len(hashset), rules, linkage)
    for caution in cautions:
        Reporter().warning(caution)
    emit_summary(summary, {"files": len(hashset), "groups": len(groups),
                           "grouped_files": sum(g.size for g in groups), "kept_whole_in_review": hidden,
                           "warnings": cautions,
                           "seconds": round(time.perf_counter() - start, 3)})
    if exit_code and groups:
        sys.exit(EXIT_FOUND)
