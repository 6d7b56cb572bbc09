"""Carrying a plan out, step by step in the journal; settling a killed run; undoing a journal."""

from __future__ import annotations

import datetime as _dt
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from finder.dedupe.fileops import Twins, drop_torn_trash, finish, mark_destination, perform, state
from finder.dedupe.fileops import restore as _restore
from finder.dedupe.hashed import Hashed
from finder.dedupe.journal import History, Journal, journal_header, journal_lock, open_history, read_journal, replay
from finder.dedupe.plan import Plan, Step, check_request, identity, lstat, plan, unchanged
from finder.errors import ActionError
from finder.groups.linkage import Group

Event = Callable[[str, Step, dict[str, Any]], None]


@dataclass
class Outcome:
    """What a run did: steps done (and bytes), refused at the last moment, failed with an OS error."""

    done: list[Step] = field(default_factory=list)
    resumed: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def resume(history: History, journal: Journal, on_event: Event | None = None) -> int:
    """Settle the step(s) a killed run left in flight: record what had happened, finish a half step.

    Returns how many were completed.
    """
    finished = 0
    for record in history.pending():
        where = state(record)
        op = record["op"]
        if where == "half":
            extra = finish(record)
            where = "done"
        else:
            extra = {}
        if where == "done":
            journal.write({"type": "done", "op": op, "resumed": True, **extra})
            history.done[op] = record
            finished += 1
        else:  # todo (it never happened: the plan does it again) or lost (reported)
            if where == "todo":
                drop_torn_trash(record)
            journal.write({"type": "skipped", "op": op, "reason": f"found {where} on resume"})
            record["closed"] = True
            if where == "lost" and on_event is not None:
                on_event("lost", _step_of(record), {})
    return finished


def _step_of(record: dict[str, Any]) -> Step:
    return Step(record["action"], record["path"], record["keeper"], int(record.get("group", -1)), record["size"],
                record["mtime_ns"], record.get("dest"), int(record.get("device", 0)), int(record.get("inode", 0)),
                int(record.get("nlink", 1)))


def apply(the_plan: Plan, journal: Journal, history: History | None = None,
          on_event: Event | None = None, step_delay: float = 0.0, *, hashed: Hashed) -> Outcome:
    """Carry out ``the_plan``, journaling an intent before and an outcome after each step.

    Just before each step acts, its file and its keeper are checked again: both still where and as the
    plan found them, and both still the image ``hashed`` recorded, pixels included
    (:meth:`~finder.dedupe.hashed.Hashed.still_the_image`).

    ``step_delay`` seconds pass between each intent and its step (``FINDER_DEDUPE_STEP_DELAY``, for tests
    and demonstrations that stop a run between the two)."""
    outcome = Outcome()
    twins: Twins = {}  # where names of one file went (hard links stay hard links across filesystems)
    op = history.next_op if history is not None else 0
    if the_plan.to and the_plan.steps:
        mark_destination(the_plan.to)
    for step in the_plan.steps:
        record = {"type": "intent", "op": op, **asdict(step)}
        journal.write(record)
        if step_delay:
            time.sleep(step_delay)
        # Checked again just before acting: the file and its keeper are still as planned.
        st, keeper_st = lstat(step.path), lstat(step.keeper)
        reason = None
        if st is None or not unchanged(st, step.size, step.mtime_ns) or identity(st) != (step.device, step.inode):
            reason = "changed or gone since the plan was made"
        elif keeper_st is None or not stat.S_ISREG(keeper_st.st_mode):
            reason = f"its keeper {step.keeper} is gone"
        elif step.dest and os.path.lexists(step.dest):
            reason = f"destination {step.dest} exists; nothing is overwritten"
        elif (why := hashed.still_the_image(step.keeper)) is not None:
            reason = f"its keeper {step.keeper} is {why}"
        else:
            reason = hashed.still_the_image(step.path)
        if reason is None:
            try:
                extra = perform(record, twins)
            except OSError as exc:
                reason = f"{exc.strerror or exc}"
                kind = "failed"
            else:
                journal.write({"type": "done", "op": op, **extra})
                outcome.done.append(step)
                if on_event is not None:
                    on_event("done", step, extra)
        else:
            kind = "refused"
        if reason is not None:
            journal.write({"type": "skipped", "op": op, "reason": reason})
            (outcome.failed if kind == "failed" else outcome.refused).append((step.path, reason))
            if on_event is not None:
                on_event(kind, step, {"reason": reason})
        op += 1
    return outcome


@dataclass
class UndoOutcome:
    restored: list[Step] = field(default_factory=list)
    irreversible: list[Step] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def undo(journal_path: str, on_event: Event | None = None) -> UndoOutcome:
    """Reverse every step a journal records (done, or caught half-way), newest first; recorded in the journal."""
    history = replay(read_journal(journal_path))
    outcome = UndoOutcome()
    twins: Twins = {}
    with Journal(journal_path) as journal:
        journal.write({"type": "undo", "time": _dt.datetime.now().astimezone().isoformat(timespec="seconds")})
        for op in sorted(history.intents, reverse=True):
            record = history.intents[op]
            if op in history.undone or (record.get("closed") and op not in history.done):
                continue
            step = _step_of(record)
            try:
                result = _restore(record, twins)
            except OSError as exc:
                reason = (f"a file is at {record['path']} again; nothing is overwritten"
                          if isinstance(exc, FileExistsError) else f"{exc.strerror or exc}")
                outcome.refused.append((record["path"], reason))
                if on_event is not None:
                    on_event("refused", step, {"reason": reason})
                continue
            if result == "irreversible":
                outcome.irreversible.append(step)
                if on_event is not None:
                    on_event("irreversible", step, {})
                continue
            journal.write({"type": "undone", "op": op, "result": result})
            if result == "restored":
                outcome.restored.append(step)
                if on_event is not None:
                    on_event("restored", step, {})
    return outcome


# ---------------------------------------------------------------------------------------------- sessions


def dry_run(groups: Sequence[Group], groups_file: str, action: str, to: str | None, journal: str,
            hashed: Hashed) -> Plan:
    """What ``finder dedupe`` without ``--apply`` shows: the plan, less what ``journal`` (if it exists, and
    belongs to this groups file, action and ``--to``) records as done.  Nothing is changed (and nothing is
    decoded: the pixels are checked when a step acts)."""
    history = open_history(journal, groups_file, action, to)
    return plan(groups, action, to, history.done_paths() if history else frozenset(), hashed=hashed)


def apply_session(groups: Sequence[Group], groups_file: str, action: str, to: str | None, journal: str, *,
                  hashed: Hashed, on_event: Event | None = None, on_info: Callable[[str], None] | None = None,
                  on_refused: Callable[[str, str], None] | None = None,
                  step_delay: float = 0.0) -> tuple[Plan, Outcome]:
    """``finder dedupe --apply``: a new journal, or the run an existing one records continued (its step in
    flight settled first), then the plan carried out step by step, all under the journal's lock.

    Acts only on files in ``hashed`` (the hash store the groups came from) that are still the images it
    recorded.  ``on_info`` hears which journal is written or continued, ``on_refused`` each file the plan refuses,
    ``on_event`` each step as it happens.  A Ctrl-C leaves a journal that continues or undoes the run; the
    exception carries a note saying how (``finder_note``).
    """
    check_request(action, to, groups)  # before a journal is made for a run that cannot start
    folder = os.path.dirname(os.path.abspath(journal))
    if not os.access(folder, os.W_OK):
        raise ActionError(f"cannot write journal {journal}: folder {folder} is not writable")
    history = open_history(journal, groups_file, action, to)
    with journal_lock(journal), Journal(journal) as writer:
        if history is None:
            writer.write(journal_header(groups_file, action, to))
            if on_info is not None:
                on_info(f"journal: {journal}")
        else:
            finished = resume(history, writer, on_event)
            if on_info is not None:
                on_info(f"continuing {journal}: {len(history.done):,} steps done before"
                        + (f" ({finished} finished now)" if finished else ""))
        the_plan = plan(groups, action, to, history.done_paths() if history else frozenset(), hashed=hashed)
        if on_refused is not None:
            for path, reason in the_plan.refused:
                on_refused(path, reason)
        try:
            outcome = apply(the_plan, writer, history, on_event, step_delay, hashed=hashed)
        except KeyboardInterrupt as exc:
            setattr(exc, "finder_note",  # noqa: B010  (read by the CLI)
                    f"every step so far is in {journal}; run the same command with --journal {journal} to "
                    f"continue, or finder dedupe --undo {journal} to put everything back")
            raise
        writer.write({"type": "end", "done": len(outcome.done), "refused": len(outcome.refused),
                      "failed": len(outcome.failed)})
    return the_plan, outcome


def undo_session(journal: str, on_event: Event | None = None) -> UndoOutcome:
    """``finder dedupe --undo JOURNAL``: everything the journal records as done put back, under its lock;
    a one-line error for a file that is not a journal, before anything is touched."""
    if not read_journal(journal, started=False):
        return UndoOutcome()  # a run killed before its first record: nothing was done
    with journal_lock(journal):
        return undo(journal, on_event)
