"""``finder bench``: what hashing and matching cost on the user's images."""

from __future__ import annotations

import os

import click

from finder.cli.options import ALGORITHM_NAMES, algorithm_option, int_list, print_tables


@click.command("bench")
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
    from finder.evaluate.bench import run_bench
    from finder.evaluate.bench_tables import render_tables as render_bench
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
