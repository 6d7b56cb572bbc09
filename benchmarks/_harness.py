"""What the benchmark scripts share: starting finder as a user would, and timing a whole run.

Imported by the scripts in this folder (``from _harness import ...``: a script's own folder is on
``sys.path``); not part of the package.  The machine a figure holds for comes from
:mod:`finder.evaluate.machine`.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def finder_command() -> list[str]:
    """How benchmarks start ``finder`` as a user would: the console script next to this interpreter, else the
    one on PATH, else ``python -m finder``."""
    import shutil
    import sys
    from pathlib import Path

    beside = Path(sys.executable).parent / "finder"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("finder")
    return [found] if found else [sys.executable, "-m", "finder"]


def timed_run(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``command`` as benchmarks time whole runs: its wall seconds, its CPU seconds (user + system of it and
    the worker processes it waited for, from ``getrusage`` of children) and its stderr; stdout is read from a
    pipe and dropped.  A non-zero exit ends the benchmark with the command and the end of its stderr."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stderr = done.stderr.decode(errors="replace")
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), stderr


def emit_json_or_machine(rows: list[dict], as_json: bool, note: str = "") -> bool:
    """``--json``: print ``{"machine", "results": rows}`` and say so (True); else print the machine line a
    table starts with (CPU model, cores, ``note``) and return False for the caller to print its table."""
    import json
    import os
    import sys

    from finder.evaluate.machine import cpu_model

    machine = {"cpu": cpu_model(), "cores": os.cpu_count()}
    if as_json:
        json.dump({"machine": machine, "results": rows}, sys.stdout, indent=1)
        print()
        return True
    print(f"# {machine['cpu']}, {machine['cores']} cores" + (f"; {note}" if note else ""))
    return False


def corpus_sample(cache: Path, corpus: Path, count: int = 500) -> Path:
    """The first ``count`` files of ``corpus`` (sorted by name), copied once into ``cache/mixed-COUNT``."""
    import shutil

    folder = cache / f"mixed-{count}"
    if not folder.is_dir():
        images = sorted(p for p in corpus.iterdir() if p.is_file())[:count]
        if len(images) < count:
            raise SystemExit(f"{corpus}: fewer than {count} images")
        tmp = cache / f".mixed-{count}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for p in images:
            shutil.copy2(p, tmp / p.name)
        tmp.rename(folder)
    return folder


def print_table(columns: list[str], rows: list[list]) -> None:
    """A Markdown table: the header, its rule, one line per row (cells as given, or ``str()`` of them)."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
