"""``finder serve``: review the groups of a hash file in a browser (the ``web`` extra)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import click

from finder.cli.options import DEFAULT_HASHES
from finder.cli.signals import Terminated

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("serve")
@click.argument("hashfile", default=DEFAULT_HASHES, type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback lets other machines on the network reach your "
                   "photos (with the token): a warning says so.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port (0: a free one, printed).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; only print the address.")
@click.option("-t", "--threshold", type=click.FloatRange(0, 1), default=None, metavar="F",
              help="Group when distance / bits <= F (as cluster -t) [default: the algorithm's own].")
@click.option("--keep", "keep", multiple=True, metavar="RULE,...",
              help="Keep rules for the keepers proposed (as cluster --keep) [default: cluster's].")
@click.option("--max-upload", type=click.IntRange(min=1), default=50, show_default=True, metavar="MB",
              help="Largest image accepted for search by upload.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes reading the grouped images at start [default: all cores].")
def serve_command(hashfile, host, port, no_browser, threshold, keep, max_upload, jobs) -> None:
    """Review HASHFILE's groups in a browser: keepers, "not a duplicate",
    compare, search by image, and dedupe with dry run and undo.

    \b
      finder hash photos/ && finder serve          # opens the page
      finder serve --no-browser --port 8765        # prints the address only

    Prints the page's address (with its secret token) on stdout.  Decisions
    are saved at once in NAME.decisions.json beside the hash file (cluster,
    report and dedupe honour them); dedupes started from the page write
    their groups file and journal in NAME.review/.  Stop with Ctrl-C.
    """
    import socket
    import sys
    import webbrowser

    from finder.errors import FinderError
    from finder.progress import Reporter

    try:
        import uvicorn

        from finder.web.app import create_app
    except ImportError as exc:
        raise FinderError(f"finder serve needs the web extra: pip install 'finder[web]' ({exc.name} is missing)"
                          ) from None
    from finder.web.review import Review

    reporter = Reporter()
    review = Review(hashfile, jobs=jobs, keep=keep, threshold=threshold, reporter=reporter)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise FinderError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(64)
    bound = sock.getsockname()[1]
    if host not in LOOPBACK:
        reporter.warning(f"listening on {host}: other machines can reach this page and your photos (anyone with "
                         "the token can move your files); use the default 127.0.0.1 unless you mean it")
    app, token = create_app(review, port=bound, host=host, max_upload=max_upload << 20)
    shown = "127.0.0.1" if host in LOOPBACK else (f"[{host}]" if ":" in host else host)
    url = f"http://{shown}:{bound}/?token={token}"
    summary = review.summary()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    with stop_signals(server) as stopped:
        reporter.info(f"{summary['groups']:,} groups of {summary['files']:,} files; decisions in "
                      f"{review.decisions.path}; Ctrl-C stops")
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        if not no_browser:
            webbrowser.open(url)
        server.run(sockets=[sock])
    if stopped:
        raise Terminated() if stopped[0] == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def stop_signals(server: Any) -> Iterator[list[int]]:
    """While serving, Ctrl-C and SIGTERM ask ``server`` (uvicorn's) to stop, and are listed in what this yields.

    finder's own handlers raise an exception wherever the signal lands; one that lands in a weakref or
    ``__del__`` callback -- the garbage collector runs them at any moment -- is printed and dropped, and the
    server would go on serving.  A flag cannot be lost: uvicorn polls ``should_exit``, installs its own
    handlers while it runs, and on the way out restores these and raises again what it caught.  A caller's
    ignored Ctrl-C stays ignored.
    """
    stopped: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopped.append(signum)
        server.should_exit = True

    wanted = [signal.SIGTERM] + ([] if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else [signal.SIGINT])
    previous = {signum: signal.signal(signum, stop) for signum in wanted}
    try:
        yield stopped
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
