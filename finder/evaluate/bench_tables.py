"""``finder bench``'s results as rich tables for the terminal (the measurements are in :mod:`finder.evaluate.bench`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from finder.evaluate.bench import FIND_STAGES, PER_IMAGE_STAGES
from finder.evaluate.machine import cpu_model, popcount_loop, simd_level

if TYPE_CHECKING:
    from rich.table import Table




def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render_tables(result: dict) -> list[Table]:
    """Rich tables of a :func:`run_bench` result, in the order they were measured.

    One table each for per-image stage times (a row per algorithm), FINd's
    stages (a row per stage plus a total; left out when FINd was not run),
    memory (a row per algorithm), worker scaling (a row per jobs value) and
    size scaling (a row per size plus two exponent rows); a section that is
    missing or empty (as in a :func:`per_image_bench` result) is left out.
    Every table's caption names the CPU model and count.

    Returns
    -------
    list of ``rich.table.Table``.
    """
    machine = _machine(result["meta"])
    builders = (_per_image_table, _find_table, _memory_table, _jobs_table, _sizes_table)
    tables = [table for build in builders if (table := build(result)) is not None]
    for table in tables:
        table.caption = machine if table.caption is None else f"{table.caption}\n{machine}"
    return tables


def _machine(meta: dict) -> str:
    """"<CPU model>, <n> CPUs, SIMD <level>, popcount loop <loop>" for a result's meta.

    Older results without a model or SIMD level: this machine's.
    """
    cpus = f"{meta.get('cpu_model') or cpu_model()}, {meta.get('cpu_count') or '?'} CPUs"
    simd = meta.get("simd_level") or simd_level()
    return f"{cpus}, SIMD {simd}, popcount loop {meta.get('popcount_loop') or popcount_loop()}"


def _table(title: str, columns: Sequence[str], caption: str | None = None, label: bool = True) -> Table:
    """A rich table, right-aligned but for the first column when it is a ``label`` (a name, not a number)."""
    from rich.table import Table  # imported here: only the terminal output needs rich

    table = Table(title=title, caption=caption)
    for k, column in enumerate(columns):
        table.add_column(column, justify="left" if k == 0 and label else "right")
    return table


def _per_image_table(result: dict) -> Table:
    meta = result["meta"]
    t = _table(f"Per image, ms (median of {meta['measured']} images x {meta['repeat']} runs)",
               ("algorithm", *PER_IMAGE_STAGES))
    for name, row in result["per_image"].items():
        t.add_row(name, *(_fmt(row[s]) for s in PER_IMAGE_STAGES))
    return t


def _find_table(result: dict) -> Table | None:
    stages = result.get("find_stages")
    if not stages:
        return None
    t = _table("FINd stages, ms (median)", ("stage", "ms", "share"))
    total = stages["total"] or float("nan")
    for stage in FIND_STAGES:
        t.add_row(stage, _fmt(stages[stage]), f"{100 * stages[stage] / total:.0f}%")
    t.add_row("total", _fmt(stages["total"]), "100%", style="bold")
    return t


def _memory_table(result: dict) -> Table | None:
    if not result.get("memory"):
        return None
    t = _table(f"Memory per worker, MiB (RSS of a fresh process hashing {result['meta']['measured']} images)",
               ("algorithm", "baseline", "import peak", "peak", "peak - baseline"))
    for name, row in result["memory"].items():
        t.add_row(name, *(_fmt(row[k], 1) for k in ("baseline_mib", "import_peak_mib", "peak_mib", "delta_mib")))
    return t


def _jobs_table(result: dict) -> Table | None:
    if not result.get("jobs"):
        return None
    meta = result["meta"]
    t = _table(f"Throughput, {'+'.join(meta['algorithms'])} together ({meta['cpu_count']} CPUs)",
               ("jobs", "seconds", "images/s", "speed-up"), label=False)
    for row in result["jobs"]:
        t.add_row(str(row["jobs"]), _fmt(row["seconds"]), _fmt(row["images_per_s"], 1), f"{row['speedup']:.2f}x")
    return t


def _sizes_table(result: dict) -> Table | None:
    sizes = result.get("sizes")
    if not sizes or not sizes["rows"]:
        return None
    names = list(sizes["radius"])
    t = _table(
        f"Growth with collection size (hashing with --jobs {sizes['jobs']}; compare = all pairs)",
        ("n", "hash s", "images/s", *(f"{name} compare ms" for name in names)),
        caption="radius: " + ", ".join(f"{n} {r}" for n, r in sizes["radius"].items())
        + f"; beyond {max(sizes['real'].values(), default=0):,} real hashes of the folder, seeded random ones",
        label=False,
    )
    for row in sizes["rows"]:
        t.add_row(f"{row['n']:,}", _fmt(row["hash_s"]), _fmt(row["hash_images_per_s"], 0),
                  *(_fmt(1e3 * row["compare_s"][n], 3) for n in names))
    exponent = sizes["exponent"]
    t.add_row("exponent", _fmt(exponent["hash"], 2), "",
              *(_fmt(exponent["compare"][n], 2) for n in names), style="bold")
    last = sizes["exponent_last_two"]
    t.add_row("last two", _fmt(last["hash"], 2), "", *(_fmt(last["compare"][n], 2) for n in names), style="bold")
    return t
