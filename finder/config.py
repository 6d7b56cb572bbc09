"""Every ``FINDER_*`` environment switch finder reads, in one place.

No other module reads ``os.environ`` for a ``FINDER_*`` name: each switch has
one function here, which reads the variable when the setting is needed (so a
worker process, or a test that sets the variable, sees the value in force)
and turns a bad value into a one-line :class:`~finder.errors.FinderError`.
Command-line options are the everyday interface; these switches are for
measuring, debugging and testing, and are listed in the docs
(development, "Environment switches").

``FINDER_PAIRS_BACKEND``
    ``cpu``, ``reference`` or ``mih``: the all-pairs backend every search uses
    (default: chosen per search by :func:`finder.pairs.choose_backend`).
``FINDER_POPCOUNT``
    ``vector``, ``bitsliced`` or ``auto``: the popcount loop of the ``cpu``
    backend (default ``auto``: chosen from the CPU's features).
``FINDER_START_METHOD``
    ``fork``, ``spawn`` or ``forkserver``: how local worker processes start
    (default: fork where available).
``FINDER_DASK_TILE_FILES``
    files per side of one Dask search tile (default: the local block size).
``FINDER_DEDUPE_STEP_DELAY``
    seconds to wait after each journaled intent of ``finder dedupe --apply``:
    lets tests and demonstrations stop a run between steps.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

from finder.errors import FinderError, SchedulerError

PAIRS_BACKEND = "FINDER_PAIRS_BACKEND"
POPCOUNT = "FINDER_POPCOUNT"
START_METHOD = "FINDER_START_METHOD"
DASK_TILE_FILES = "FINDER_DASK_TILE_FILES"
DEDUPE_STEP_DELAY = "FINDER_DEDUPE_STEP_DELAY"

#: Every switch, for documentation and tests.
SWITCHES: tuple[str, ...] = (PAIRS_BACKEND, POPCOUNT, START_METHOD, DASK_TILE_FILES, DEDUPE_STEP_DELAY)


def _text(name: str) -> str:
    return os.environ.get(name, "").strip()


# The backend a command chose for this process (``--device cuda``); it wins over the environment.
_PAIRS_BACKEND_CHOSEN: list[str] = []


def choose_pairs_backend(name: str) -> None:
    """Use pairs backend ``name`` for every search of this process (what ``--device`` sets)."""
    _PAIRS_BACKEND_CHOSEN[:] = [name]


def pairs_backend() -> str:
    """The backend chosen for this process (``--device``), else the one named by ``FINDER_PAIRS_BACKEND``
    ("" when neither); :mod:`finder.pairs` checks the name."""
    return _PAIRS_BACKEND_CHOSEN[0] if _PAIRS_BACKEND_CHOSEN else _text(PAIRS_BACKEND)


def forced_popcount() -> str:
    """The popcount loop named by ``FINDER_POPCOUNT``, lower case ("" when unset); checked by the caller."""
    return _text(POPCOUNT).lower()


def start_method() -> str | None:
    """``FINDER_START_METHOD`` (None when unset): multiprocessing checks the name when a pool starts."""
    return os.environ.get(START_METHOD) or None


# Why forking this process would be unsafe now (libraries that started thread pools in it), if anything.
_FORK_UNSAFE: list[str] = []


def mark_fork_unsafe(why: str) -> None:
    """Record that this process started threads a forked child would inherit half of (e.g. OpenMP's pool:
    libgomp deadlocks in a child forked after it started); worker pools then use ``forkserver``."""
    if why not in _FORK_UNSAFE:
        _FORK_UNSAFE.append(why)


def fork_unsafe() -> list[str]:
    """Why forking this process is unsafe (empty: it is safe)."""
    return list(_FORK_UNSAFE)


def dask_tile_files() -> int | None:
    """``FINDER_DASK_TILE_FILES`` as a number of files >= 1 (None when unset)."""
    text = _text(DASK_TILE_FILES)
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise SchedulerError(f"${DASK_TILE_FILES} must be a number of files >= 1, got {text!r}")
    return int(text)


def dedupe_step_delay() -> float:
    """``FINDER_DEDUPE_STEP_DELAY`` in seconds (0 when unset)."""
    text = _text(DEDUPE_STEP_DELAY)
    if not text:
        return 0.0
    try:
        delay = float(text)
    except ValueError:
        raise FinderError(f"${DEDUPE_STEP_DELAY} must be a number of seconds, got {text!r}") from None
    if not delay >= 0:
        raise FinderError(f"${DEDUPE_STEP_DELAY} must be a number of seconds >= 0, got {text!r}")
    return delay


# --------------------------------------------------------------------------- numba's kernel cache

_numba_cache_checked: set[str] = set()


def _writable_folder(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def prepare_numba_cache(source: str) -> None:
    """Make sure numba can cache the kernels of the module at ``source`` before they are decorated.

    numba caches compiled kernels in ``__pycache__`` beside the source, else in the user's cache folder, and
    refuses to import a ``cache=True`` kernel when it can write to neither (a read-only install run by a user
    whose home is not writable).  Then the kernels are cached in a temporary folder for this run, removed at
    exit, and one warning says how to keep them (``NUMBA_CACHE_DIR``, which is always respected).
    """
    from numba.core import config as numba_config  # CACHE_DIR is set from the environment at import

    if getattr(numba_config, "CACHE_DIR", "") or os.environ.get("NUMBA_CACHE_DIR"):
        return
    folder = os.path.join(os.path.dirname(os.path.abspath(source)), "__pycache__")
    if folder in _numba_cache_checked or _writable_folder(folder):
        _numba_cache_checked.add(folder)
        return
    from numba.misc.appdirs import user_cache_dir

    if _writable_folder(user_cache_dir(appname="numba", appauthor=False)):
        _numba_cache_checked.add(folder)
        return
    temporary = tempfile.mkdtemp(prefix="finder-numba-cache-")
    atexit.register(shutil.rmtree, temporary, ignore_errors=True)
    numba_config.CACHE_DIR = temporary  # type: ignore[attr-defined]
    sys.stderr.write(f"finder: warning: numba cannot cache compiled kernels beside finder ({folder}) or in the "
                     f"user's cache folder; compiling into {temporary} for this run (set NUMBA_CACHE_DIR to a "
                     "writable folder to keep them)\n")
