"""The ``finder`` command line: a thin layer of click commands over the library.

:mod:`finder.cli.app` holds the click group, :mod:`finder.cli.options` what
the commands share, and each command lives in a module of its own named after
it (``finder/cli/hash.py`` is ``finder hash``).  This module only starts the
program: it installs the signal handlers before click or the command modules
are imported, so Ctrl-C during start-up ends quietly.
"""

from __future__ import annotations

import gc
import signal
import sys

from finder.cli.signals import Terminated, raise_terminated


class NumbaWithoutScipyBlas:
    """An import hook that keeps SciPy's linear algebra out of numba's start-up, in the command line only.

    Importing numba runs ``numba.np.arraymath``, which imports ``scipy.linalg`` (when SciPy is installed) to
    find BLAS for jitted ``np.dot`` and friends: about 80 ms of every ``finder`` run that loads a kernel.
    finder's kernels use no BLAS, so while that module is still initialising (it has not yet set
    ``_HAVE_BLAS``), importing ``scipy.linalg`` fails here and numba carries on without BLAS.  Any later
    import of ``scipy.linalg`` (the ``verify`` extra's) works as usual.  The library does not install this:
    a program that uses finder and numba's BLAS itself keeps it.
    """

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "scipy.linalg" or name.startswith("scipy.linalg."):
            starting = sys.modules.get("numba.np.arraymath")
            if starting is not None and not hasattr(starting, "_HAVE_BLAS"):
                raise ImportError("finder's kernels use no BLAS: scipy.linalg is not imported for numba")
        return None


def main() -> None:
    """Console-script entry point.

    Ctrl-C or SIGTERM before a command has started (while Python and finder
    import) ends quietly with 130 or 143 instead of a traceback.
    """
    signal.signal(signal.SIGTERM, raise_terminated)
    sys.meta_path.insert(0, NumbaWithoutScipyBlas())
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when the caller ignores Ctrl-C
        signal.signal(signal.SIGINT, raise_terminated)
    try:
        from finder.cli.app import cli

        cli(prog_name="finder")
    except KeyboardInterrupt as exc:
        from finder.cli.options import EXIT_INTERRUPTED, EXIT_TERMINATED

        terminated = isinstance(exc, Terminated)
        sys.stderr.write(f"finder: {'terminated' if terminated else 'interrupted'}\n")
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    finally:
        # At exit Python tears down every module; with numba loaded the garbage collector then walks its
        # large object graph, ~0.3 s of every run (benchmarks/phone_breakdown.py). Nothing that runs at exit
        # needs the collector; atexit handlers and buffered output are unaffected.
        gc.freeze()
        gc.disable()
