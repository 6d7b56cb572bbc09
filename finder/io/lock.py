"""One writer per hash file: an advisory lock beside it (``hashes.npz.lock``).

The lock is ``flock`` on a small file that records who holds it (pid, host,
start time).  The kernel releases a ``flock`` when its holder dies, however it
dies (``kill -9`` included), so a lock file left behind by a killed run is
*stale*: the next run takes it over and says so.  A second live run either
waits (``wait=True``) or fails at once with :class:`LockedError` naming the
holder.  (``flock`` is not reliable on some network filesystems; there, runs
must not overlap.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator

from finder.errors import LockedError


def lock_path(output: str) -> str:
    """The lock file that guards ``output``."""
    return f"{output}.lock"


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (ValueError, KeyError, OSError, UnicodeDecodeError):
        return "another process"


@contextlib.contextmanager
def store_lock(output: str, *, wait: bool = False, on_stale: Callable[[str], None] | None = None,
               wait_option: str | None = "--wait") -> Iterator[None]:
    """Hold the lock of ``output`` for the duration of the block.

    Raises LockedError when another live process holds it and ``wait`` is
    False; its message names ``wait_option`` when the command has one.
    ``on_stale`` is told about a lock file left by a run that died.
    """
    path = lock_path(output)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise LockedError(f"cannot create lock file {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            advice = f"wait for it, or use {wait_option}" if wait_option else "run again once it has finished"
            raise LockedError(f"{output} is being written by {holder}; {advice} (lock file {path})") from None
        # The previous holder may have removed the file between our open and our lock: retry on the new one.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    left = os.pread(fd, 4096, 0)
    if left and on_stale is not None:
        on_stale(f"took over a stale lock left by a run that stopped ({_holder(fd)})")
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                         "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode()
    try:
        os.ftruncate(fd, 0)
        if os.pwrite(fd, record, 0) != len(record):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as exc:  # a full disk: no lock file is left behind
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
        raise LockedError(f"cannot write lock file {path}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
