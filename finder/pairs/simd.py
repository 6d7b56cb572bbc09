"""Which popcount loop the ``cpu`` pairs backend runs, chosen from what the CPU offers.

Hamming search spends nearly all its time counting the bits of XORed words,
and the fastest way to do that depends on the CPU's SIMD instructions, so
:mod:`finder.pairs.cpu` has two inner loops for :func:`~finder.pairs.pairs_within`
and :func:`~finder.pairs.pairs_across`:

``"vector"``
    Word-major XOR + ``llvm.ctpop`` over a block of candidates, vectorised by
    LLVM: ``vpopcntq`` where AVX-512 VPOPCNTDQ exists, a ``vpshufb``
    nibble-table popcount on AVX2, scalar ``popcnt`` elsewhere
    (:mod:`finder.pairs.cpu`).
``"bitsliced"``
    Candidates stored as bit planes; each query's distances to 256 candidates
    at a time are summed with carry-save adders (Harley-Seal) into bit-sliced
    counters and compared with the radius in the same registers: only AND,
    OR and XOR, no popcount instruction (:mod:`finder.pairs.bitsliced`).

:func:`choose_loop` picks ``"bitsliced"`` on CPUs with AVX2 but without
AVX-512 VPOPCNTDQ, where it measured fastest (docs/performance.md, the all-pairs table), and
``"vector"`` everywhere else: with VPOPCNTDQ a single instruction counts eight
words, and on CPUs this project has not measured the long-tested loop stays.
The environment variable ``FINDER_POPCOUNT`` (``vector`` or ``bitsliced``;
empty or ``auto`` = choose) overrides the choice, e.g. to compare the two or
to test both on one machine.

The features are those numba compiles for: the host CPU's, as LLVM reports
them, unless ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` tell numba otherwise.
This module imports only llvmlite (on first use), not numba.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

from finder import config
from finder.errors import MatchError

__all__ = ["LOOPS", "POPCOUNT_ENV", "choose_loop", "forced_loop", "host_features", "cpu_loop"]

#: Environment variable forcing the loop (``vector`` or ``bitsliced``).
POPCOUNT_ENV = config.POPCOUNT
#: The loops there are, in the order the docs list them.
LOOPS = ("vector", "bitsliced")


@functools.cache
def host_features() -> frozenset[str]:
    """CPU features numba compiles for, as LLVM names them (``"avx2"``, ``"avx512vpopcntdq"``, ...).

    With ``NUMBA_CPU_NAME`` or ``NUMBA_CPU_FEATURES`` set (numba then compiles
    for that CPU, not this one), the ``+feature`` entries of
    ``NUMBA_CPU_FEATURES``; otherwise LLVM's host features.  Cached: they do
    not change while the process runs.
    """
    if os.environ.get("NUMBA_CPU_NAME") or os.environ.get("NUMBA_CPU_FEATURES"):
        given = os.environ.get("NUMBA_CPU_FEATURES", "").split(",")
        return frozenset(f.strip()[1:] for f in given if f.strip().startswith("+"))
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # LLVM cannot tell on this platform
        return frozenset()
    return frozenset(name for name, on in features.items() if on)


def choose_loop(features: Iterable[str]) -> str:
    """The popcount loop for a CPU with ``features`` (LLVM names): ``"bitsliced"`` or ``"vector"``.

    ``"bitsliced"`` where AVX2 exists without AVX-512 VPOPCNTDQ, ``"vector"``
    otherwise (see the module docstring for why).
    """
    have = set(features)
    if "avx2" in have and "avx512vpopcntdq" not in have:
        return "bitsliced"
    return "vector"


def forced_loop() -> str | None:
    """The loop ``$FINDER_POPCOUNT`` forces, or None when it is unset, empty or ``auto``.

    Read on every call, so a test or a benchmark can switch loops with the
    environment variable.

    Raises
    ------
    MatchError
        If ``FINDER_POPCOUNT`` names no loop.
    """
    forced = config.forced_popcount()
    if forced in ("", "auto"):
        return None
    if forced not in LOOPS:
        raise MatchError(f"unknown popcount loop {forced!r} in ${POPCOUNT_ENV}; use one of: {', '.join(LOOPS)}, auto")
    return forced


def cpu_loop() -> str:
    """The loop for this CPU: :func:`forced_loop` when set, else :func:`choose_loop` of :func:`host_features`."""
    return forced_loop() or choose_loop(host_features())

