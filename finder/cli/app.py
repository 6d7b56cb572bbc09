"""The ``finder`` click group: library errors, Ctrl-C, SIGTERM and closed pipes become messages and exit codes."""

from __future__ import annotations

import os
import signal
import sys

import click

from finder import __version__
from finder.cli.options import EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE
from finder.cli.signals import Terminated, raise_terminated
from finder.errors import FinderError


class OneLineError(click.ClickException):
    """How the CLI shows a FinderError: ``Error: MESSAGE`` on stderr, exit status 2."""

    exit_code = EXIT_USAGE


class FinderGroup(click.Group):
    """Turns library errors, Ctrl-C, SIGTERM and closed pipes into messages and exit codes, and imports a
    command's module only when that command is asked for (click's lazy-loading pattern: ``list_commands`` and
    ``get_command``), so ``finder cluster`` does not build the options of twelve other commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *(module for module, _ in COMMANDS)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            attribute = dict(COMMANDS).get(cmd_name)
            if attribute is None:
                return None
            import importlib

            self.add_command(getattr(importlib.import_module(f"finder.cli.{cmd_name}"), attribute))
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context):
        previous = signal.signal(signal.SIGTERM, raise_terminated)
        try:
            return super().invoke(ctx)
        except FinderError as exc:
            raise OneLineError(str(exc)) from None
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            click.echo(f"finder: {'terminated' if terminated else 'interrupted'}; "
                       f"{getattr(exc, 'finder_note', 'no output was changed')}", err=True)
            ctx.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`finder compare | head`): stop quietly.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            ctx.exit(0)
        finally:
            signal.signal(signal.SIGTERM, previous)


@click.group(cls=FinderGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="finder")
def cli() -> None:
    """Find near-duplicate images with perceptual hashes.

    \b
      finder hash photos/                  # hash every image -> hashes.npz
      finder cluster                       # groups of similar images (find: threshold 0.375)
      finder compare new.npz archive.npz   # matches across two sets

    Results go to stdout; progress and diagnostics to stderr.
    """


# One line per command: (module in finder/cli/, named after the command; the click command object in it).
# ``finder --help`` lists them by name (click sorts them).
COMMANDS: tuple[tuple[str, str], ...] = (
    ("hash", "hash_command"),
    ("show", "show_command"),
    ("compare", "compare_command"),
    ("cluster", "cluster_command"),
    ("evaluate", "evaluate_command"),
    ("bench", "bench_command"),
    ("query", "query_command"),
    ("explain", "explain_command"),
    ("report", "report_command"),
    ("dedupe", "dedupe_command"),
    ("decisions", "decisions_command"),
    ("serve", "serve_command"),
    ("synth", "synth_command"),
)
