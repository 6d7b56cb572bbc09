"""Ctrl-C and SIGTERM as exceptions, installed before anything heavy is imported."""

from __future__ import annotations

import os
import signal


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: stop cleanly, keep a checkpoint, exit 143."""


def raise_terminated(signum, frame) -> None:
    """Ctrl-C and SIGTERM as exceptions, except inside llvmlite's ctypes callbacks (numba loading a
    kernel), where Python could only print and drop them: there the signal is delivered again shortly."""
    import threading

    if not threading.main_thread().is_alive():
        return  # the interpreter is already shutting down (waiting for threads): let it finish
    while frame is not None:
        if "llvmlite" in frame.f_code.co_filename:
            threading.Timer(0.05, _deliver_again, (signum,)).start()
            return
        frame = frame.f_back
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _deliver_again(signum: int) -> None:
    """Send ``signum`` to this process again, unless the main thread has finished meanwhile (the process is
    exiting, and a KeyboardInterrupt raised while it waits for threads would only print a traceback)."""
    import threading

    if threading.main_thread().is_alive():
        os.kill(os.getpid(), signum)
