"""``finder hash``: hash a folder tree into a hash file (store)."""

from __future__ import annotations

import os
import sys

import click

from finder.cli.options import (
    DEFAULT_HASHES,
    EXIT_NOTHING,
    EXIT_SKIPPED,
    algorithm_option,
    check_writable,
    emit_summary,
    nothing_found,
    save_store,
    scheduler_option,
    summary_option,
)
from finder.errors import FinderError

#: ``finder.io.decode.DECODE_POLICIES``, spelled out so the CLI does not import Pillow to build its options.
DECODE_CHOICES = ("reduced-1x", "reduced", "full")


@click.command("hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@algorithm_option("Hash algorithm; repeat for several (each image is decoded once). "
                  "Default: the output's algorithms if it exists, else find.")
@click.option("-o", "--output", default=DEFAULT_HASHES, show_default=True, type=click.Path(dir_okay=False),
              help="Hash file (store) to add to or create; written atomically.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores]; 1 hashes in this process.")
@click.option("--update/--rehash", default=True,
              help="Reuse unchanged entries of the output (default), or hash every PATH again.")
@click.option("--views", "views", default=None, metavar="SET",
              help="What to hash besides the image as decoded: default (plain, mirror, trimmed content box), "
                   "plain (the image only), dihedral (also the 90/180/270 rotations and flips), or a comma "
                   "list of views. Default: the output's views if it exists, else default.")
@click.option("--exact/--reduced", "exact", default=None,
              help="--exact decodes every pixel (hashes bit-exact with the reference); --reduced decodes JPEGs "
                   "at the smallest scale that keeps each hash's working size (several times faster on "
                   "large photos). Default: the output's policy if it exists, else --reduced.")
@click.option("--decode", "decode_policy", type=click.Choice(DECODE_CHOICES), default=None,
              help="The decode policy by name: reduced-1x (what --reduced means for a new store), reduced "
                   "(twice each working size: stores made before 2026-12 keep it), full (--exact).")
@click.option("--prune", is_flag=True,
              help="Also drop entries outside the walked folders whose files no longer exist.")
@click.option("--checkpoint", "checkpoint_seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="Save progress into the output at least this often; a killed run resumes.")
@click.option("--wait", is_flag=True, help="If another run is writing the same output, wait for it (default: exit 2).")
@click.option("--follow-symlinks", is_flag=True, help="Walk into symbolic links to directories.")
@click.option("--hidden", is_flag=True, help="Include hidden files and directories (names starting with '.').")
@click.option("--exclude", "exclude", multiple=True, metavar="GLOB",
              help="Skip files and folders whose name (or, for a GLOB with '/', whose path) matches; repeatable.")
@click.option("--no-default-excludes", is_flag=True,
              help="Also walk the thumbnail, cache and recycle-bin folders skipped by default (@eaDir, #recycle, "
                   "$RECYCLE.BIN, .thumbnails, .picasaoriginals, ...).")
@click.option("-0", "--null", is_flag=True, help="Paths read from '-' are NUL-separated (find -print0).")
@click.option("--no-exif-transpose", is_flag=True,
              help="Hash pixels in stored order; by default EXIF orientation is applied first.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any file was skipped.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary (skipped files are still reported).")
@summary_option
@scheduler_option
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where FINd's stages run once an image is decoded: cpu, or cuda (an NVIDIA GPU through "
                   "numba-cuda, pip install 'finder[gpu]'; decoding stays in this process). The hashes are the same.")
def hash_command(paths, algorithms, output, jobs, update, views, exact, decode_policy, prune, checkpoint_seconds, wait,
                 follow_symlinks, hidden, exclude, no_default_excludes, null, no_exif_transpose, strict, quiet, summary,
                 scheduler, device) -> None:
    """Hash every image under PATH... into a hash file (a store that runs add to).

    PATH is a file or a directory (walked recursively); '-' reads a list of
    files, one per line, from stdin:  find photos -newer stamp | finder hash -

    The output is added to and updated: an entry whose file is unchanged
    (size, mtime, inode) is reused, a changed file is hashed again, entries
    under a walked folder whose file has gone are dropped, and every other
    entry is kept.  Progress is saved every --checkpoint seconds, so a run
    that is killed resumes where it stopped.
    """
    from finder.engine.dask import maybe_dask
    from finder.io.files import Filters, find_images, walked_roots
    from finder.io.lock import store_lock
    from finder.progress import Reporter
    from finder.store.hashset import load
    from finder.store.update import hash_paths, run_settings

    if jobs is not None and scheduler:
        raise click.UsageError("give -j (local worker processes) or --scheduler, not both")
    if exact is not None and decode_policy is not None:
        raise click.UsageError("give --exact/--reduced or --decode, not both")
    reporter = Reporter(quiet)
    if device == "cuda":
        from finder.engine.gpu import require

        require()  # one line when there is no GPU, before any work
    check_writable(output)
    with maybe_dask(scheduler) as executor, store_lock(output, wait=wait, on_stale=reporter.info):
        previous = None
        if os.path.exists(output):
            try:
                previous = load(output)
            except FinderError as exc:
                raise FinderError(f"refusing to overwrite {output}: {exc}") from None
        try:
            names, views, decode = run_settings(previous, algorithms, views, exact, decode_policy)
        except ValueError as exc:  # the only value not checked by click: --views
            raise click.BadParameter(str(exc), param_hint="'--views'") from None
        filters = Filters(hidden=hidden, exclude=tuple(exclude), default_excludes=not no_default_excludes)
        candidates, walk_errors = find_images(
            paths, stdin=sys.stdin.buffer if "-" in paths and sys.stdin is not None else None, null=null,
            follow_symlinks=follow_symlinks, filters=filters,
        )
        for error in walk_errors:
            reporter.error(f"skipped {error}")
        with reporter.bar(len(candidates), "hashing") as advance:
            try:
                report = hash_paths(
                    candidates, names, jobs=jobs, exif_transpose=not no_exif_transpose,
                    previous=previous, rehash=not update, walked=walked_roots(paths), prune=prune,
                    progress=advance, on_error=lambda e: reporter.error(f"skipped {e}"), errors=walk_errors,
                    on_warning=lambda w: reporter.error(f"warning {w}"),
                    checkpoint=lambda store: save_store(store, output), checkpoint_seconds=checkpoint_seconds,
                    views=views, decode=decode, executor=executor, device=device,
                )
            except KeyboardInterrupt as exc:
                note = (f"progress so far is saved in {output}; run the same command again to resume"
                        if os.path.exists(output) else "no output was written")
                setattr(exc, "finder_note", note)  # noqa: B010  (read by FinderGroup)
                raise
        save_store(report.hashset, output)
    reporter.info(f"{report.summary()} -> {output}")
    emit_summary(summary, report.as_dict())
    if report.hashed + report.reused == 0:
        reporter.error(nothing_found(paths, filters.passed_over, report.errors))
        sys.exit(EXIT_NOTHING)
    if strict and report.errors:
        sys.exit(EXIT_SKIPPED)
