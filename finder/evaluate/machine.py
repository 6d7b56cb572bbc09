"""The machine a figure was measured on: CPU model, SIMD level, popcount loop, library versions.

Every benchmark table names these (a figure holds only for the machine it names):
``finder bench`` in its captions, the scripts in ``benchmarks/`` in their headers.
"""

from __future__ import annotations

import platform


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``, else "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


#: SIMD levels, widest first, as ``/proc/cpuinfo`` spells their flags.
SIMD_LEVELS = ("avx512_vpopcntdq", "avx512bw", "avx2", "sse4_2", "asimd")  # asimd: ARM NEON


def simd_level() -> str:
    """The widest SIMD level of :data:`SIMD_LEVELS` this CPU offers (``/proc/cpuinfo`` flags, Linux), for
    captioning benchmark figures: numba compiles for the host, so the same code runs wider or narrower vectors
    on another CPU.  ``"none"`` when the flags list none of them, ``"unknown (<machine>)"`` without the flags."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    flags = set(value.split())
                    return next((level for level in SIMD_LEVELS if level in flags), "none")
    except OSError:
        pass
    return f"unknown ({platform.machine()})"


def popcount_loop() -> str:
    """The all-pairs popcount loop this CPU gets (:func:`finder.pairs.simd.cpu_loop`)."""
    from finder.pairs.simd import cpu_loop

    return cpu_loop()


def versions() -> dict[str, str]:
    """The versions of finder, Python and the libraries that decide what is measured."""
    import numba
    import numpy as np
    import PIL

    import finder

    try:
        import imagehash

        imagehash_version = imagehash.__version__
    except ImportError:  # pragma: no cover - imagehash is a dependency
        imagehash_version = "?"
    return {
        "finder": finder.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "numba": numba.__version__,
        "imagehash": imagehash_version,
        "python": platform.python_version(),
    }
