"""``finder decisions``: list, undo or clear what was decided in review (``finder serve``)."""

from __future__ import annotations

import click

from finder.cli.options import DEFAULT_HASHES

KIND_NAMES = {"distinct": "not a duplicate", "keep_all": "keep all", "keeper": "keeper", "reviewed": "reviewed"}


@click.group("decisions")
def decisions_command() -> None:
    """What was decided in review, kept in NAME.decisions.json beside the hash file.

    \b
      finder decisions list                      # every decision, oldest first
      finder decisions undo                      # take back the last one
      finder decisions clear --kind distinct     # forget every "not a duplicate"

    cluster, report, dedupe and serve honour them: a pair marked not a
    duplicate is never grouped again, a group kept whole is not offered
    again unless a new file joins it, a chosen keeper is kept.  Files are
    named by identity (hash and size), so a rename or a move keeps them.
    """


def _open(hashfile: str):
    from finder.groups.decisions import Decisions, decisions_path

    return Decisions.load(decisions_path(hashfile))


@decisions_command.command("list")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default="csv", show_default=True)
def list_command(hashfile, fmt) -> None:
    """Every decision: id, kind, when, and the files' names when it was made."""
    from finder.output import check_output, open_output, write_rows

    check_output(None)
    decisions = _open(hashfile)
    rows = ((r["id"], KIND_NAMES[r["kind"]], r["at"], len(r["files"]), " | ".join(r.get("paths", ())),
             dict(zip(r["files"], r.get("paths", ()))).get(r.get("keeper", ""), ""))
            for r in decisions.records)
    with open_output(None) as stream:
        write_rows(stream, ("id", "kind", "at", "files", "paths", "keeper"), rows, fmt)


@decisions_command.command("undo")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
def undo_command(hashfile) -> None:
    """Take back the last decision."""
    from finder.progress import Reporter

    record = _open(hashfile).undo()
    Reporter().info(f"took back decision {record['id']} ({KIND_NAMES[record['kind']]})" if record
                    else "no decision to take back")


@decisions_command.command("clear")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@click.option("--kind", type=click.Choice(sorted(KIND_NAMES)), default=None, help="Only decisions of this kind.")
@click.option("--id", "ids", type=click.IntRange(min=1), multiple=True, help="Only this decision; repeatable.")
@click.option("--all", "everything", is_flag=True, help="Every decision (needed when neither --kind nor --id).")
def clear_command(hashfile, kind, ids, everything) -> None:
    """Forget decisions."""
    from finder.progress import Reporter

    if not (kind or ids or everything):
        raise click.UsageError("say what to clear: --kind KIND, --id N or --all")
    removed = _open(hashfile).clear(kind, ids)
    Reporter().info(f"cleared {removed:,} decisions")
