"""``finder dedupe``: act on the duplicates of a groups file — dry run first, journaled, undoable."""

from __future__ import annotations

import os

import click

from finder.cli.options import DEFAULT_HASHES, honour_decisions, load_decisions
from finder.dedupe import ACTIONS

DONE_VERBS = {"move": "moved", "trash": "trashed", "hardlink": "hard-linked", "symlink": "symlinked",
              "delete": "deleted"}
DRY_VERBS = {"move": "would move", "trash": "would trash", "hardlink": "would hard-link",
             "symlink": "would symlink", "delete": "would delete"}


KEPT_LABELS = {"keeper": "keepers", "reference": "reference images", "RAW+JPEG companion": "RAW+JPEG companions",
               "hard link of a kept file":
               "hard links of kept files", "already a link to the keeper": "already links to their keeper"}


def _line(verb: str, step, human_bytes, back: bool = False) -> bytes:
    """One stdout line: the verb, the path (its own bytes, like find prints it), where it goes, its size.

    ``-> DEST`` where a file is moved; ``=> KEEPER`` for the keeper a link points to; ``<- FROM`` for a restore.
    """
    if back:
        source = step.dest or ("the trash" if step.action in ("trash", "hardlink", "symlink") else None)
        arrow = b" <- " + os.fsencode(source) if source else b""
    elif step.action == "move":
        arrow = b" -> " + os.fsencode(step.dest)
    elif step.action in ("hardlink", "symlink"):
        arrow = b" => " + os.fsencode(step.keeper) + (b" (original -> " + os.fsencode(step.dest) + b")"
                                                      if step.dest else b" (original -> the trash)")
    else:
        arrow = b""
    return (verb.encode() + b" " + os.fsencode(step.path) + arrow + f" ({human_bytes(step.size)})".encode() + b"\n")


@click.command("dedupe")
@click.argument("groups_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--action", type=click.Choice(ACTIONS), default=None,
              help="move (to --to DIR), trash, hardlink/symlink (the path becomes a link to the keeper; the file "
                   "itself goes to --to DIR or the trash), or delete (irreversible).")
@click.option("--to", "to", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Where move puts the duplicates (the folder structure is kept; nothing is overwritten).")
@click.option("--hashes", "hashfile", default=DEFAULT_HASHES, show_default=True, type=click.Path(dir_okay=False),
              help="The hash file the groups came from: only files in it, still the images it recorded, are "
                   "acted on.")
@click.option("--apply", "do_apply", is_flag=True, help="Act. Without it: a dry run that only prints the plan.")
@click.option("--yes-delete", is_flag=True, help="Confirm --action delete: deleted files cannot be restored.")
@click.option("--journal", default=None, type=click.Path(dir_okay=False),
              help="Journal file (JSON lines) [default: a new finder-dedupe-DATE-TIME.jsonl here]; an existing "
                   "journal of the same run is continued.")
@click.option("--undo", "undo_journal", default=None, type=click.Path(exists=True, dir_okay=False),
              metavar="JOURNAL", help="Reverse everything JOURNAL records as done (moves, links, trash).")
@click.option("-q", "--quiet", is_flag=True, help="No per-file lines; the summary and refusals only.")
def dedupe_command(groups_file, action, to, hashfile, do_apply, yes_delete, journal, undo_journal, quiet) -> None:
    """Act on the duplicates in GROUPS_FILE (from finder cluster --format json).

    \b
      finder cluster > groups.json
      finder dedupe groups.json --action move --to dupes/          # dry run: what would happen
      finder dedupe groups.json --action move --to dupes/ --apply  # do it (journaled)
      finder dedupe --undo finder-dedupe-20260101-120000.jsonl     # put everything back

    Acts only on files in the hash file (--hashes) that are still the
    images it recorded: same size, mtime, device and inode, and, checked
    just before each step, the same hash.  Never touches a group's keeper,
    a reference image, or a hard link of either; leaves a group alone when
    its keeper is missing or changed.
    """
    import sys

    from finder import config
    from finder.dedupe.hashed import Hashed
    from finder.dedupe.journal import default_journal_name
    from finder.dedupe.plan import freed_by
    from finder.dedupe.run import apply_session, dry_run, undo_session
    from finder.errors import ActionError
    from finder.groups.file import read_groups
    from finder.progress import Reporter
    from finder.report.page import human_bytes, text

    reporter = Reporter()  # -q drops the per-file lines only: the summary and the journal's name stay
    out = sys.stdout.buffer

    def event(kind, step, extra):
        if kind in ("refused", "failed", "lost"):
            reporter.error(f"{kind} {text(step.path)}: {extra.get('reason', 'not found where the journal left it')}")
        elif kind == "irreversible":
            reporter.error(f"cannot restore {text(step.path)}: it was deleted (delete is irreversible)")
        elif not quiet:
            out.write(_line("restored", step, human_bytes, back=True) if kind == "restored"
                      else _line(DONE_VERBS[step.action], step, human_bytes))
            out.flush()

    def refused(path, reason):
        reporter.error(f"refused {text(path)}: {reason}")

    if undo_journal:
        if groups_file or action or do_apply:
            raise click.UsageError("--undo JOURNAL takes no groups file, --action or --apply")
        result = undo_session(undo_journal, event)
        reporter.info(f"restored {len(result.restored):,} files"
                      + (f"; {len(result.irreversible):,} deleted files cannot be restored" if result.irreversible
                         else "")
                      + (f"; {len(result.refused):,} refused (above)" if result.refused else ""))
        if result.refused or result.irreversible:
            sys.exit(1)
        return

    if not groups_file or not action:
        raise click.UsageError("give a groups file and --action (or --undo JOURNAL)")
    if action == "move" and not to:
        raise click.UsageError("--action move needs --to DIR")
    if action == "delete" and do_apply and not yes_delete:
        raise ActionError("--action delete is irreversible (--undo cannot bring deleted files back); "
                          "add --yes-delete to confirm, or use --action trash or move")
    if to and os.path.exists(to) and not os.path.isdir(to):
        raise ActionError(f"--to {to}: not a folder")
    groups = read_groups(groups_file, sys.stdin.buffer if groups_file == "-" else None)
    hashed = Hashed.load(hashfile)
    # What was decided in review since the groups file was made: groups kept whole are left alone, a chosen
    # keeper is kept, a file marked "not a duplicate" of its keeper is not acted on.
    groups, _ = honour_decisions(groups, hashed.store, load_decisions(hashfile), reporter, hashed.keys)
    journal = journal or default_journal_name()

    if not do_apply:
        the_plan = dry_run(groups, groups_file, action, to, journal, hashed)
        for step in the_plan.steps if not quiet else ():
            out.write(_line(DRY_VERBS[action], step, human_bytes))
        for path, reason in the_plan.refused:
            refused(path, reason)
        reporter.info(f"dry run: {DRY_VERBS[action]} {len(the_plan.steps):,} files, {summary(the_plan, human_bytes)}"
                      "; nothing was changed: add --apply to act"
                      + ("; delete is irreversible" if action == "delete" else ""))
        return

    the_plan, outcome = apply_session(groups, groups_file, action, to, journal, hashed=hashed, on_event=event,
                                      on_info=reporter.info, on_refused=refused,
                                      step_delay=config.dedupe_step_delay())
    reporter.info(f"{DONE_VERBS[action]} {len(outcome.done):,} files, "
                  f"{summary(the_plan, human_bytes, freed_by(outcome.done))}"
                  + (f"; {len(outcome.refused):,} refused at the last moment (above)" if outcome.refused else "")
                  + (f"; {len(outcome.failed):,} failed (above)" if outcome.failed else "")
                  + (f"; undo: finder dedupe --undo {journal}" if action != "delete"
                     else "; deleted files cannot be restored"))


def summary(the_plan, human_bytes, freed_bytes: int | None = None) -> str:
    """Bytes (``freed_bytes`` when steps were taken, else what the plan would free) and what was kept or
    refused, for the closing line."""
    freed = human_bytes(the_plan.freed if freed_bytes is None else freed_bytes)
    where = {"move": f"{freed} moved out", "trash": f"{freed} freed once the trash is emptied",
             "delete": f"{freed} freed",
             "hardlink": f"{freed} freed once the originals are removed from {the_plan.to or 'the trash'}",
             "symlink": f"{freed} freed once the originals are removed from {the_plan.to or 'the trash'}"}
    kept = ", ".join(f"{n:,} {KEPT_LABELS.get(why, why) if n != 1 else why}" for why, n in the_plan.kept.items() if n)
    parts = [where[the_plan.action], f"kept: {kept}"]
    if the_plan.refused:
        parts.append(f"refused {len(the_plan.refused):,} (above)")
    if the_plan.done_before:
        parts.append(f"{the_plan.done_before:,} done before")
    return "; ".join(parts)
