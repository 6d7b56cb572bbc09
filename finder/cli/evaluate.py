"""``finder evaluate``: accuracy of each hash against labelled groups."""

from __future__ import annotations

import click

from finder.cli.options import DEFAULT_HASHES, matching_options, output_option, parse_radii, print_tables


@click.command("evaluate")
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

    First what `finder cluster` does by default (its views, at each
    algorithm's default threshold, unless -t/-d say otherwise); then for
    every threshold: TP, FP, TN, FN, precision, recall, F1, accuracy; the
    best-F1 threshold; average precision; recall per transform; the scores of
    the groups `finder cluster` would make; how often its keeper is the
    original (where the truth marks originals); and, with several algorithms,
    voting.  Truth rows that match no image are listed on stderr.

    \b
      finder evaluate corpus.npz --truth corpus/images/ground_truth.csv
      finder evaluate corpus.npz -t find=0.39 -t dhash=0.16 --vote 2
    """
    from finder.evaluate.metrics import (
        CURVE_HEADER,
        DEFAULT_GROUP_PATTERN,
        curve_rows,
        evaluate,
        render_tables,
        truth_from_csv,
        truth_from_pattern,
    )
    from finder.match.search import make_rules
    from finder.output import check_output, open_output, write_json, write_rows
    from finder.store.hashset import load

    if truth and group_pattern:
        raise click.UsageError("give --truth or --group-pattern, not both")
    check_output(output)
    if plot:
        check_output(plot)
    hashset = load(hashfile)
    labels = (truth_from_csv(hashset.paths, truth) if truth
              else truth_from_pattern(hashset.paths, group_pattern or DEFAULT_GROUP_PATTERN))
    if labels.unmatched:  # a truth that does not describe this hash file scores the wrong thing silently
        from finder.progress import Reporter

        shown = ", ".join(labels.unmatched[:5]) + (", ..." if len(labels.unmatched) > 5 else "")
        Reporter().warning(f"{len(labels.unmatched):,} truth rows match no image in {hashfile}: {shown}")
    # Algorithms: those named (-a, or ALGO= in -t/-d), else all in the file.  Those with a
    # threshold of their own or a global one are scored there, the others at their default threshold
    # (what finder cluster does), with the best-F1 threshold beside it.
    per_threshold = parse_radii(thresholds, float, "'--threshold'")
    per_distance = parse_radii(max_distances, int, "'--max-distance'")
    named = [a.lower() for a in algorithms] + [k for k in (*per_threshold, *per_distance) if k]
    names = list(dict.fromkeys(named)) or hashset.algorithms
    given = {**per_threshold, **per_distance}
    fixed = [n for n in names if n in given or None in given]
    rules = {r.algorithm: r for r in make_rules(hashset, fixed, per_threshold, per_distance)} if fixed else {}
    result = evaluate(hashset, labels, names, rules, vote)
    modes = evaluation_modes(hashset, hashfile, labels, result.chosen, verify)
    keepers = keeper_evaluation(hashset, hashfile, labels, names[0])
    if plot:
        from finder.evaluate.plot import plot_evaluation

        plot_evaluation(result, plot)
    with open_output(output) as stream:
        if fmt == "csv":
            write_rows(stream, CURVE_HEADER, curve_rows(result), "csv")
        elif fmt == "json":
            write_json(stream, {**result.to_dict(), **({"modes": modes[1]} if modes else {}),
                                **({"keepers": keepers[1]} if keepers else {}),
                                "truth_rows_without_image": labels.unmatched})
        else:  # first what finder cluster does by default (views at the default threshold), then the detail
            print_tables(stream, (modes[0] if modes else []) + render_tables(result) + (keepers[0] if keepers else []))


def keeper_evaluation(hashset, hashfile, labels, algorithm):
    """(tables, JSON) of how often ``finder cluster``'s defaults keep the original (evaluate.keepers), or None
    when the truth marks no originals."""
    from finder.evaluate.keepers import has_originals, keeper_scores, render_keeper_table
    from finder.groups.build import find_groups
    from finder.groups.keep import decide_groups, describe_rules, parse_rules
    from finder.match.search import make_rules
    from finder.store.sidecar import path_beside

    if not has_originals(labels):
        return None
    rules = parse_rules([])
    groups, _ = decide_groups(find_groups(hashset, make_rules(hashset, [algorithm])), rules,
                              looks=path_beside(hashfile, "looks"))  # the looks cluster reads and keeps
    scores = keeper_scores(groups, hashset.paths, labels)
    return render_keeper_table(scores, describe_rules(rules)), {"algorithm": algorithm, **scores.to_dict()}


def evaluation_modes(hashset, hashfile, labels, chosen, verify):
    """(tables, JSON) of the plain / views / verified modes (evaluate.modes), or None when there is only plain."""
    from finder.evaluate.modes import evaluate_modes, has_views, modes_to_dict, render_mode_tables
    from finder.progress import Reporter
    from finder.verify.features import sidecar_path

    if not verify and not any(has_views(hashset, name) for name in chosen):
        return None
    modes = {name: evaluate_modes(hashset, labels, rule, verify=verify, cache_path=sidecar_path(hashfile),
                                  reporter=Reporter()) for name, rule in chosen.items()}
    return render_mode_tables(modes, chosen), modes_to_dict(modes, chosen)
