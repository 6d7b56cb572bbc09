"""Peak memory of one fresh worker process hashing some files (run by ``finder bench`` as a subprocess).

    python -m finder.evaluate.memory_probe < {"algorithms": [...], "paths": [...]}

prints one JSON line: baseline, import peak and peak resident memory in MiB
(``/proc/self/status`` on Linux, ``ru_maxrss`` elsewhere).  A process of its
own, because peak memory is per process.
"""

from __future__ import annotations

import json
import re
import resource
import sys


def maxrss_mib() -> float:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 2**20 if sys.platform == "darwin" else value / 1024  # bytes on macOS, KiB elsewhere


def status_mib(field: str) -> float | None:
    """``/proc/self/status`` (Linux): VmRSS now, VmHWM peak of this process image since exec."""
    try:
        with open("/proc/self/status") as f:
            found = re.search(field + r":\s+(\d+) kB", f.read())
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def main() -> None:
    from finder.store.rows import warm_up
    from finder.store.update import hash_paths

    job = json.load(sys.stdin)
    warm_up(job["algorithms"])
    baseline = status_mib("VmRSS")
    import_peak = status_mib("VmHWM")
    report = hash_paths(job["paths"], job["algorithms"], jobs=1)
    peak = status_mib("VmHWM")
    result: dict = {"ru_maxrss_mib": maxrss_mib(), "source": "VmHWM" if peak is not None else "ru_maxrss"}
    if peak is None:  # no /proc: ru_maxrss, which may include the parent's size at fork
        baseline = import_peak = None
        peak = result["ru_maxrss_mib"]
    result.update(baseline_mib=baseline, import_peak_mib=import_peak, peak_mib=peak, hashed=len(report.hashset))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
