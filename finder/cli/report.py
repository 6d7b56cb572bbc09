"""``finder report``: the groups as one self-contained HTML page, thumbnails and keepers included."""

from __future__ import annotations

import time

import click

from finder.cli.options import (
    DEFAULT_HASHES,
    LINKAGES,
    VERIFY_HELP,
    dask_search,
    device_option,
    honour_decisions,
    keep_options,
    load_decisions,
    matching_options,
    scheduler_option,
)

DEFAULT_REPORT = "report.html"


@click.command("report")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@matching_options
@click.option("--linkage", type=click.Choice(LINKAGES), default="single", show_default=True,
              help="single: connected components; star: every member within the threshold of its representative.")
@click.option("--min-size", type=click.IntRange(min=2), default=2, show_default=True, help="Smallest group shown.")
@keep_options
@click.option("-o", "--output", default=DEFAULT_REPORT, show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True),
              help="The HTML file (written atomically); - for stdout.")
@click.option("--thumb-size", type=click.IntRange(min=32, max=512), default=160, show_default=True, metavar="PX",
              help="Thumbnail box in pixels (JPEG, embedded).")
@click.option("--page-size", type=click.IntRange(min=1), default=100, show_default=True,
              help="Groups per page.")
@click.option("--title", default="finder report", show_default=True, help="The page's title.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
@scheduler_option
@device_option
@click.option("--verify", is_flag=True, help=VERIFY_HELP)
def report_command(hashfile, algorithms, thresholds, max_distances, vote, linkage, min_size, keep, references, jobs,
                   ignore_decisions, output, thumb_size, page_size, title, quiet, scheduler, verify) -> None:
    """An HTML page of the groups to look at: thumbnails, facts and the copy to keep.

    \b
      finder report -o report.html                 # groups of hashes.npz, default keep rules
      finder report photos.npz --keep 'path:~/Pictures/originals/*' --reference ~/Archive

    One file, thumbnails embedded, no network: open it from disk.  Each group
    is a card: every image with its name, folder, pixel size, file size, date
    (EXIF when present), format, distance to the representative, and a badge
    on the file the --keep rules choose.
    """
    import datetime as dt
    import os
    from dataclasses import replace

    from finder import __version__
    from finder.cli.options import rules_from_options
    from finder.groups.build import find_groups
    from finder.groups.facts import LookCache, gather
    from finder.groups.guards import warnings as guard_warnings
    from finder.groups.keep import decide, describe_rules, parse_rules, proposed, resolve_folders
    from finder.match.search import check_vote
    from finder.output import check_output, open_output
    from finder.progress import Reporter
    from finder.report.page import Report, human_bytes, render
    from finder.report.thumbs import make_thumbs
    from finder.store.hashset import load
    from finder.store.sidecar import path_beside

    start = time.perf_counter()
    reporter = Reporter(quiet)
    check_output(output)
    keep_rules, reference_dirs = parse_rules(keep), resolve_folders(references)
    hashset = load(hashfile)
    decisions = load_decisions(hashfile, ignore_decisions)
    rules = rules_from_options(hashset, algorithms, thresholds, max_distances)
    vote = check_vote(vote, len(rules))
    with dask_search(scheduler) as search:  # only the pair search runs on the cluster
        groups = find_groups(hashset, rules, vote=vote, linkage=linkage, min_size=min_size, search=search,
                             verify=verify, hashfile=hashfile, jobs=jobs, reporter=reporter, decisions=decisions)
    files = [(m.path, m.size or 0, m.mtime_ns or 0) for g in groups for m in g.members]
    with reporter.bar(len(files), "thumbnails") as advance:
        thumbs = make_thumbs(files, thumb_size, jobs, advance)
    facts = {p: t.facts for p, t in thumbs.items()}
    cache = None
    if any(rule.looks for rule in keep_rules):  # the keep rules that look at the pictures: one reduced decode each
        cache = LookCache.load(path_beside(hashfile, "looks"))
        with reporter.bar(len(files), "looking at the grouped images") as advance:
            looks = gather(files, jobs, advance, look=True, cache=cache)
        facts = {p: replace(f, look=looks[p].look) if p in looks else f for p, f in facts.items()}
    groups = decide(groups, facts, keep_rules, reference_dirs, cache, jobs)  # the pair tests keep their residuals there
    if cache is not None:
        cache.save()
    groups, _ = honour_decisions(groups, hashset, decisions, reporter)
    for caution in guard_warnings(groups, len(hashset), rules, linkage):
        reporter.warning(caution)
    drop = [m for g in groups for m in proposed(g, distinct=True)]
    seconds = time.perf_counter() - start
    match = ", ".join(f"{r.algorithm} <= {r.max_distance} of {r.bits} bits (threshold {r.threshold:.4g})"
                      for r in rules)
    report = Report(
        groups=groups, thumbs=thumbs, title=title, bits=rules[0].bits,
        figures=[("groups", f"{len(groups):,}"), ("images in groups", f"{len(files):,}"),
                 ("files in the hash file", f"{len(hashset):,}"),
                 ("duplicates proposed", f"{sum(len(proposed(g)) for g in groups):,}"),
                 ("to reclaim", human_bytes(sum(m.size or 0 for m in drop))),
                 ("unreadable now", f"{sum(t.data is None for t in thumbs.values()):,}")],
        settings=[("hash file", os.path.abspath(hashfile)), ("match", match),
                  *([("vote", f"at least {vote} of {len(rules)}")] if len(rules) > 1 else []),
                  *([("verified", "geometric verification (--verify)")] if verify else []),
                  ("linkage", linkage), ("min size", str(min_size)), ("keep", describe_rules(keep_rules)),
                  ("reference folders", ", ".join(reference_dirs) or "none"),
                  ("hashed with", f"finder {hashset.settings.get('finder_version', '?')}, "
                                  f"{hashset.settings.get('created', '?')}"),
                  ("report", f"finder {__version__}, {dt.datetime.now().astimezone().isoformat(timespec='seconds')}, "
                             f"{seconds:.1f} s, thumbnails {thumb_size} px, {page_size} groups a page")],
    )
    page = render(report, page_size).encode("utf-8")
    with open_output(output) as stream:
        stream.write(page)
    proposals = sum(len(proposed(g)) for g in groups)
    reporter.info(f"report of {len(groups):,} groups ({len(files):,} images, {proposals:,} duplicates proposed) in "
                  f"{time.perf_counter() - start:.1f} s -> {output} ({human_bytes(len(page))})")
