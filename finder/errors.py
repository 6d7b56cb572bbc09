"""finder's one error hierarchy.

Every error a user can cause (a bad argument, a foreign or damaged hash file,
an output that cannot be written, a locked store) is a :class:`FinderError`.
The command line turns any of them into one line on stderr and exit status 2;
a traceback is a bug.  Library callers catch ``FinderError`` (or a subclass).

Subclasses also derive from ``ValueError`` where they did before, so existing
``except ValueError`` code keeps working.
"""

from __future__ import annotations


class FinderError(Exception):
    """An error the user can act on; its message is one line."""

    exit_code = 2


class HashSetError(FinderError, ValueError):
    """A hash file that is missing, malformed, or not a finder hash file."""


class MatchError(FinderError, ValueError):
    """Arguments that cannot be matched: unknown algorithm, bad radius, incompatible sets."""


class TruthError(FinderError, ValueError):
    """Ground truth that cannot be read or does not fit the hash file."""


class OutputError(FinderError, OSError):
    """An output file that cannot be written (missing folder, read-only, full disk)."""


class LockedError(FinderError):
    """Another finder run holds the lock of the same output."""


class SettingsError(FinderError, ValueError):
    """A run whose settings (algorithms, EXIF, decode policy, views) differ from its store's."""


class KeepRuleError(FinderError, ValueError):
    """A --keep rule or --reference folder that cannot be used."""


class ActionError(FinderError):
    """A dedupe plan, journal or undo that cannot go ahead (bad groups file, foreign journal, ...)."""


class SchedulerError(FinderError):
    """A Dask scheduler that cannot be reached or used (bad address, no workers, Dask not installed, task lost)."""
