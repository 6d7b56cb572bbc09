"""``finder synth``: a labelled near-duplicate set made from the user's own photos."""

from __future__ import annotations

import os
import time

import click

from finder.cli.options import emit_summary, summary_option


@click.command("synth")
@click.argument("photos", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the images and ground_truth.csv (created; must be empty if it exists).")
@click.option("--per-image", type=click.IntRange(min=0), default=6, show_default=True,
              help="Edited copies per photo, each with a different transform.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed: the same photos and seed give byte-identical files.")
@click.option("--transforms", default=None, metavar="NAME,...",
              help="Transforms to draw from [default: all]: jpeg, webp, png, downscale, upscale, aspect, crop, pad, "
                   "rotate, rot90, rot180, hflip, vflip, perspective, screenshot, text, bright_contrast, gamma, "
                   "saturation, grayscale, blur, noise.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: all cores].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
@summary_option
def synth_command(photos, out_dir, per_image, seed, transforms, jobs, quiet, summary) -> None:
    """Build a labelled near-duplicate set from your own photos, to measure finder on them.

    \b
      finder synth ~/Pictures/best -o synth/ --per-image 8 --seed 1
      finder hash synth -o synth.npz && finder evaluate synth.npz --truth synth/ground_truth.csv --verify

    Every photo (files, or folders walked for images) becomes one group: its
    original (long side at most 1024 px, JPEG) and --per-image edited copies
    (resize, re-encode, crop, pad, rotate, flip, screenshot frame, text,
    colour, blur, noise, perspective...), named GGGG_NNNNNNNN.ext.
    ground_truth.csv lists path,group,transform,params.
    """
    from finder.errors import FinderError
    from finder.evaluate.synth import TRANSFORMS, resolve_transforms, synthesise
    from finder.io.files import find_images
    from finder.progress import Reporter

    start = time.perf_counter()
    try:
        names = resolve_transforms(transforms)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--transforms'") from None
    if per_image > len(names):
        raise click.BadParameter(f"{per_image} is more than the {len(names)} transforms to draw from "
                                 f"(each copy of a photo gets a different one; {len(TRANSFORMS)} exist)",
                                 param_hint="'--per-image'")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise FinderError(f"{out_dir} is not empty: synth writes a new set into a new or empty folder")
    reporter = Reporter(quiet)
    sources, errors = find_images(photos)
    for error in errors:
        reporter.error(f"skipped {error}")
    if not sources:
        raise FinderError(f"no photos found in {', '.join(photos)}")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise FinderError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    if not os.access(out_dir, os.W_OK):
        raise FinderError(f"cannot write into {out_dir}: permission denied")
    failed: list[str] = []

    def skipped(path: str, reason: str) -> None:
        failed.append(path)
        reporter.error(f"skipped {path}: {reason}")

    with reporter.bar(len(sources), "synthesising") as advance:
        rows = synthesise(sources, out_dir, per_image=per_image, seed=seed, transforms=names, jobs=jobs,
                          progress=advance, on_error=skipped)
    groups = len(sources) - len(failed)
    if not groups:
        raise FinderError(f"none of the {len(sources)} photos could be read")
    seconds = time.perf_counter() - start
    reporter.info(f"wrote {len(rows):,} images in {groups:,} groups ({len(failed)} photos skipped) in {seconds:.1f} s "
                  f"-> {os.path.join(out_dir, 'ground_truth.csv')}")
    emit_summary(summary, {"photos": len(sources), "groups": groups, "images": len(rows), "skipped": len(failed),
                           "seconds": round(seconds, 3)})
