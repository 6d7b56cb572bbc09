"""A labelled near-duplicate set from the user's own photos: the edits that happen to re-shared pictures.

For every source photo, ``finder synth`` writes one group: the ``original``
(the photo with its EXIF orientation applied, downscaled to a long side of at
most :data:`ORIGINAL_SIDE` pixels, JPEG quality 90) and ``per_image`` edited
copies of it, each made from the original *as published* (its decoded JPEG),
so that a copy differs from its original only by its own edit.  The edits and
their parameter ranges follow the shared corpus (``corpus/README.md``) plus
the right-angle rotations, the vertical flip and a perspective view:

``jpeg`` (quality 30-95), ``webp`` (lossy, 50-90), ``png`` (RGB, RGBA or
palette), ``downscale`` (0.3-0.8), ``upscale`` (1.2-2.0), ``aspect`` (one side
0.7-0.9 or 1.1-1.3), ``crop`` (5-20 % off the edges), ``pad`` (border,
letterbox, pillarbox), ``rotate`` (2-10 degrees, expanded with a fill colour or
cropped to the inner rectangle), ``rot90`` (90 or 270 degrees), ``rot180``,
``hflip``, ``vflip``, ``perspective`` (corners moved 4-12 % inwards),
``screenshot`` (pasted on a phone or desktop frame with bars and text),
``text`` (caption bar, meme text, watermark, corner tag),
``bright_contrast``, ``gamma``, ``saturation``, ``grayscale`` (stored as L or
RGB), ``blur`` (Gaussian, radius 0.8-2.5), ``noise`` (Gaussian, sigma 3-12).

Files are named ``GGGG_NNNNNNNN.ext`` (group number, 8-digit random id) and
``ground_truth.csv`` lists ``path,group,transform,params`` (params: compact
JSON with the edit's parameters, ``out_wh`` and ``out_mode``; the original
names its ``source``), which ``finder evaluate --truth`` reads.

Every group draws from its own random generator, seeded by ``(seed, group
number)``: the output is byte-identical for the same photos, seed and library
versions (Pillow and its codecs), whatever the number of worker processes.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

#: Long side of a group's original, in pixels (larger photos are downscaled).
ORIGINAL_SIDE = 1024
ORIGINAL_QUALITY = 90
#: Edited copies per photo by default (as in the shared corpus).
DEFAULT_PER_IMAGE = 6
TRUTH_NAME = "ground_truth.csv"
TRUTH_HEADER = ("path", "group", "transform", "params")
WORDS = ("LOL", "Monday mood", "#nofilter", "when you see it", "repost", "so true", "wow", "best day ever",
         "@photos", "sample", "do not copy", "2024")

Params = dict[str, Any]
Edit = Callable[[Image.Image, np.random.Generator], tuple[Image.Image, Params, str]]


def _u(rng: np.random.Generator, lo: float, hi: float, digits: int = 3) -> float:
    return round(float(rng.uniform(lo, hi)), digits)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _jpeg(rng: np.random.Generator) -> tuple[str, Params]:
    """The default output: JPEG at a typical re-share quality."""
    return "jpg", {"q": int(rng.integers(80, 96))}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


# --------------------------------------------------------------------------
# Edits: image, rng -> (edited image, params, extension); params hold what was drawn
# --------------------------------------------------------------------------


def edit_jpeg(image, rng):
    q = int(rng.integers(30, 96))
    return image, {"q": q}, "jpg"


def edit_webp(image, rng):
    return image, {"q": int(rng.integers(50, 91))}, "webp"


def edit_png(image, rng):
    mode = str(rng.choice(["RGB", "RGBA", "P"]))
    rgb = image.convert("RGB")
    if mode == "RGBA":
        out = rgb.convert("RGBA")
    elif mode == "P":
        out = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    else:
        out = rgb
    return out, {"png_mode": mode}, "png"


def _resize(image, factor: float, resample: Image.Resampling):
    size = (max(8, round(image.width * factor)), max(8, round(image.height * factor)))
    return image.resize(size, resample)


def edit_downscale(image, rng):
    factor = _u(rng, 0.3, 0.8)
    name = str(rng.choice(["BILINEAR", "BICUBIC", "LANCZOS"]))
    ext, p = _jpeg(rng)
    return _resize(image, factor, Image.Resampling[name]), {"factor": factor, "resample": name, **p}, ext


def edit_upscale(image, rng):
    factor = _u(rng, 1.2, 2.0)
    ext, p = _jpeg(rng)
    return _resize(image, factor, Image.Resampling.BICUBIC), {"factor": factor, **p}, ext


def edit_aspect(image, rng):
    factor = _u(rng, 0.7, 0.9) if rng.random() < 0.5 else _u(rng, 1.1, 1.3)
    axis = str(rng.choice(["width", "height"]))
    w, h = image.size
    size = (max(8, round(w * factor)), h) if axis == "width" else (w, max(8, round(h * factor)))
    ext, p = _jpeg(rng)
    return image.resize(size, Image.Resampling.BICUBIC), {"factor": factor, "axis": axis, **p}, ext


def edit_crop(image, rng):
    frac = _u(rng, 0.05, 0.20, 4)
    edges = str(rng.choice(["all", "one_corner", "top_bottom", "left_right"]))
    w, h = image.size
    dx, dy = round(w * frac), round(h * frac)
    if edges == "all":
        ax, ay = int(rng.integers(0, dx + 1)), int(rng.integers(0, dy + 1))
        box = (ax, ay, w - (dx - ax), h - (dy - ay))
    elif edges == "one_corner":
        corner = int(rng.integers(0, 4))
        x0, y0 = (dx if corner in (1, 2) else 0), (dy if corner in (2, 3) else 0)
        box = (x0, y0, x0 + w - dx, y0 + h - dy)
    elif edges == "top_bottom":
        a = int(rng.integers(0, dy + 1))
        box = (0, a, w, h - (dy - a))
    else:
        a = int(rng.integers(0, dx + 1))
        box = (a, 0, w - (dx - a), h)
    ext, p = _jpeg(rng)
    return image.crop(box), {"frac": frac, "edges": edges, "box": list(box), **p}, ext


def edit_pad(image, rng):
    kind = str(rng.choice(["border", "letterbox", "pillarbox"]))
    frac = _u(rng, 0.05, 0.25)
    colour = _colour(rng) if rng.random() < 0.5 else ((0, 0, 0) if rng.random() < 0.5 else (255, 255, 255))
    w, h = image.size
    pw = round(w * frac / 2) if kind in ("border", "pillarbox") else 0
    ph = round(h * frac / 2) if kind in ("border", "letterbox") else 0
    canvas = Image.new("RGB", (w + 2 * pw, h + 2 * ph), colour)
    canvas.paste(image.convert("RGB"), (pw, ph))
    ext, p = _jpeg(rng)
    return canvas, {"kind": kind, "frac": frac, "color": list(colour), **p}, ext


def _inner_rectangle(w: int, h: int, degrees: float) -> tuple[int, int]:
    """Width and height of the largest axis-aligned rectangle inside a w x h rectangle rotated by ``degrees``."""
    a = abs(math.radians(degrees))
    sin, cos = math.sin(a), math.cos(a)
    long_side, short_side = max(w, h), min(w, h)
    if short_side <= 2 * sin * cos * long_side or abs(sin - cos) < 1e-10:
        x = 0.5 * short_side
        wr, hr = (x / sin, x / cos) if w >= h else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        wr, hr = (w * cos - h * sin) / cos2, (h * cos - w * sin) / cos2
    return max(8, int(wr)), max(8, int(hr))


def edit_rotate(image, rng):
    angle = _u(rng, 2.0, 10.0, 2) * (1 if rng.random() < 0.5 else -1)
    how = str(rng.choice(["expand_fill", "crop_inner"]))
    rgb = image.convert("RGB")
    params: Params = {"angle": angle, "how": how}
    if how == "expand_fill":
        colour = _colour(rng)
        out = rgb.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=colour)
        params["color"] = list(colour)
    else:
        rotated = rgb.rotate(angle, Image.Resampling.BICUBIC, expand=True)
        iw, ih = _inner_rectangle(rgb.width, rgb.height, angle)
        cx, cy = rotated.width / 2, rotated.height / 2
        out = rotated.crop((round(cx - iw / 2), round(cy - ih / 2), round(cx - iw / 2) + iw, round(cy - ih / 2) + ih))
    ext, p = _jpeg(rng)
    return out, {**params, **p}, ext


def edit_rot90(image, rng):
    angle = int(rng.choice([90, 270]))
    ext, p = _jpeg(rng)
    return image.rotate(angle, expand=True), {"angle": angle, **p}, ext


def edit_rot180(image, rng):
    ext, p = _jpeg(rng)
    return image.rotate(180), {"angle": 180, **p}, ext


def edit_hflip(image, rng):
    ext, p = _jpeg(rng)
    return ImageOps.mirror(image), p, ext


def edit_vflip(image, rng):
    ext, p = _jpeg(rng)
    return ImageOps.flip(image), p, ext


def _perspective_coefficients(out_points: np.ndarray, in_points: np.ndarray) -> list[float]:
    """The 8 coefficients Pillow's PERSPECTIVE transform needs to map ``out_points`` to ``in_points``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(out_points, in_points):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float)).tolist()


def edit_perspective(image, rng):
    strength = _u(rng, 0.04, 0.12)
    w, h = image.size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    # one side of the picture recedes: its two corners move inwards, as when a print is photographed at an angle
    side = int(rng.integers(0, 4))
    inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], float)
    moved = corners.copy()
    for c in (side, (side + 1) % 4):
        moved[c] += inward[c] * np.array([w, h]) * strength * rng.uniform(0.6, 1.0, 2)
    colour = _colour(rng)
    out = image.convert("RGB").transform((w, h), Image.Transform.PERSPECTIVE,
                                         _perspective_coefficients(moved, corners), Image.Resampling.BICUBIC,
                                         fillcolor=colour)
    ext, p = _jpeg(rng)
    return out, {"strength": strength, "side": side, "color": list(colour), **p}, ext


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[float, float]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return x1 - x0, y1 - y0


def edit_text(image, rng):
    style = str(rng.choice(["caption_bar", "meme", "watermark", "corner_tag"]))
    text = str(rng.choice(WORDS))
    out = image.convert("RGB")
    w, h = out.size
    if style == "watermark":
        layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        font = _font(h // 8)
        tw, th = _text_size(draw, text, font)
        draw.text(((w - tw) / 2, (h - th) / 2), text, font=font, fill=(255, 255, 255, 110))
        out = Image.alpha_composite(out.convert("RGBA"), layer).convert("RGB")
    else:
        draw = ImageDraw.Draw(out)
        if style == "caption_bar":
            bar = max(10, round(h * _u(rng, 0.1, 0.18)))
            draw.rectangle((0, h - bar, w, h), fill=(0, 0, 0) if rng.random() < 0.5 else (255, 255, 255))
            font = _font(round(bar * 0.6))
            fill = (255, 255, 255) if out.getpixel((0, h - 1)) == (0, 0, 0) else (0, 0, 0)
            draw.text((bar // 4, h - bar + bar // 5), text, font=font, fill=fill)
        elif style == "meme":
            font = _font(h // 7)
            tw, th = _text_size(draw, text.upper(), font)
            draw.text(((w - tw) / 2, h // 30), text.upper(), font=font, fill=(255, 255, 255),
                      stroke_width=max(1, h // 150), stroke_fill=(0, 0, 0))
        else:
            font = _font(max(10, h // 18))
            tw, th = _text_size(draw, text, font)
            pad = max(2, th // 3)
            draw.rectangle((w - tw - 3 * pad, h - th - 3 * pad, w - pad, h - pad), fill=_colour(rng))
            draw.text((w - tw - 2 * pad, h - th - 2 * pad), text, font=font, fill=(255, 255, 255))
    ext, p = _jpeg(rng)
    return out, {"style": style, "text": text, **p}, ext


def edit_screenshot(image, rng):
    kind = str(rng.choice(["phone", "desktop"]))
    dark = bool(rng.random() < 0.5)
    background = (24, 24, 28) if dark else (242, 242, 246)
    ink = (230, 230, 230) if dark else (30, 30, 30)
    grey = (90, 90, 96) if dark else (200, 200, 206)
    w, h = image.size
    margin = round(w * _u(rng, 0.03, 0.12)) if kind == "desktop" else round(w * _u(rng, 0.0, 0.04))
    status = max(12, round(w * 0.06))
    title = max(14, round(w * 0.08))
    below = round(h * _u(rng, 0.15, 0.45))
    canvas = Image.new("RGB", (w + 2 * margin, status + title + h + below), background)
    draw = ImageDraw.Draw(canvas)
    small = _font(round(status * 0.7))
    draw.text((margin + 4, 1), f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}", font=small, fill=ink)
    for k in range(3):  # battery, signal, wifi
        x1 = canvas.width - margin - 4 - k * status
        draw.rectangle((x1 - status * 0.7, status * 0.25, x1, status * 0.75), fill=ink)
    draw.rectangle((0, status, canvas.width, status + title), fill=grey)
    draw.text((margin + 4, status + title // 6), str(rng.choice(WORDS)), font=_font(round(title * 0.6)), fill=ink)
    canvas.paste(image.convert("RGB"), (margin, status + title))
    y = status + title + h + max(4, below // 8)
    line = max(6, below // 8)
    while y + line < canvas.height - 2:
        length = round((canvas.width - 2 * margin) * _u(rng, 0.3, 0.95))
        draw.rectangle((margin + 4, y, margin + 4 + length, y + line * 0.6), fill=grey)
        y += line
    fmt = str(rng.choice(["jpg", "png"]))
    params: Params = {"kind": kind, "dark": dark, "box": [margin, status + title, margin + w, status + title + h]}
    if fmt == "jpg":
        return canvas, {**params, "q": int(rng.integers(80, 96))}, "jpg"
    return canvas, params, "png"


def edit_bright_contrast(image, rng):
    b, c = _u(rng, 0.7, 1.3), _u(rng, 0.7, 1.3)
    out = ImageEnhance.Contrast(ImageEnhance.Brightness(image).enhance(b)).enhance(c)
    ext, p = _jpeg(rng)
    return out, {"brightness": b, "contrast": c, **p}, ext


def edit_gamma(image, rng):
    gamma = _u(rng, 0.6, 0.85) if rng.random() < 0.5 else _u(rng, 1.2, 1.6)
    table = [round(255 * (v / 255) ** gamma) for v in range(256)]
    out = image.point(table * len(image.getbands()))
    ext, p = _jpeg(rng)
    return out, {"gamma": gamma, **p}, ext


def edit_saturation(image, rng):
    s = _u(rng, 0.0, 0.5) if rng.random() < 0.5 else _u(rng, 1.5, 2.0)
    ext, p = _jpeg(rng)
    return ImageEnhance.Color(image.convert("RGB")).enhance(s), {"saturation": s, **p}, ext


def edit_grayscale(image, rng):
    stored = str(rng.choice(["L", "RGB"]))
    out = image.convert("L")
    ext, p = _jpeg(rng)
    return (out if stored == "L" else out.convert("RGB")), {"stored_mode": stored, **p}, ext


def edit_blur(image, rng):
    radius = _u(rng, 0.8, 2.5, 2)
    ext, p = _jpeg(rng)
    return image.filter(ImageFilter.GaussianBlur(radius)), {"radius": radius, **p}, ext


def edit_noise(image, rng):
    sigma = _u(rng, 3.0, 12.0, 2)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    noisy = np.clip(pixels + rng.normal(0.0, sigma, pixels.shape), 0, 255).round().astype(np.uint8)
    ext, p = _jpeg(rng)
    return Image.fromarray(noisy, "RGB"), {"sigma": sigma, **p}, ext


#: Every edit by name, in a fixed order (the order the random choice draws from).
TRANSFORMS: dict[str, Edit] = {
    "jpeg": edit_jpeg, "webp": edit_webp, "png": edit_png, "downscale": edit_downscale, "upscale": edit_upscale,
    "aspect": edit_aspect, "crop": edit_crop, "pad": edit_pad, "rotate": edit_rotate, "rot90": edit_rot90,
    "rot180": edit_rot180, "hflip": edit_hflip, "vflip": edit_vflip, "perspective": edit_perspective,
    "screenshot": edit_screenshot, "text": edit_text, "bright_contrast": edit_bright_contrast,
    "gamma": edit_gamma, "saturation": edit_saturation, "grayscale": edit_grayscale, "blur": edit_blur,
    "noise": edit_noise,
}


def resolve_transforms(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """Names of the edits to draw from (``None``: all), in :data:`TRANSFORMS` order; ValueError for unknown ones."""
    if spec is None:
        return tuple(TRANSFORMS)
    names = [n.strip() for n in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown or not names:
        raise ValueError(f"unknown transform(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(TRANSFORMS)}")
    return tuple(n for n in TRANSFORMS if n in names)


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def encode(image: Image.Image, ext: str, params: Params) -> bytes:
    """The file bytes of an edited image (no timestamps or other metadata: deterministic)."""
    buffer = io.BytesIO()
    if ext == "jpg":
        rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
        rgb.save(buffer, "JPEG", quality=int(params["q"]))
    elif ext == "webp":
        rgb = image if image.mode in ("RGB", "RGBA") else image.convert("RGB")
        rgb.save(buffer, "WEBP", quality=int(params["q"]), method=4)
    else:
        image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def _original(path: str) -> tuple[bytes, Params]:
    """The group's original: EXIF orientation applied, long side <= ORIGINAL_SIDE, JPEG quality 90."""
    from finder.io.decode import open_image

    image = open_image(path, exif_transpose=True)
    if not isinstance(image, Image.Image):
        raise OSError(image.reason)
    with image:
        mode = "L" if image.mode in ("L", "LA", "I", "I;16", "1") else "RGB"
        picture = image.convert(mode)
    scale = ORIGINAL_SIDE / max(picture.size)
    if scale < 1:
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.Resampling.LANCZOS)
    params: Params = {"q": ORIGINAL_QUALITY}
    return encode(picture, "jpg", params), {"source": os.path.basename(path), **params}


@dataclass(frozen=True)
class GroupTask:
    """One source photo's work: everything a worker needs (picklable)."""

    source: str
    group: int
    seed: int
    per_image: int
    transforms: tuple[str, ...]
    out_dir: str


def _name(group: int, ident: int, ext: str) -> str:
    return f"{group:04d}_{ident:08d}.{ext}"


def make_group(task: GroupTask) -> tuple[str, list[tuple[str, str, str, str]], str]:
    """Write one group's files: (source, its ground-truth rows, an error reason or '')."""
    rng = np.random.default_rng([task.seed, task.group])
    try:
        data, params = _original(task.source)
    except OSError as exc:
        return task.source, [], str(exc)
    original = Image.open(io.BytesIO(data))
    original.load()
    used: set[int] = set()

    def fresh_id() -> int:
        while True:
            ident = int(rng.integers(0, 10**8))
            if ident not in used:
                used.add(ident)
                return ident

    group = f"{task.group:04d}"
    outputs = [(_name(task.group, fresh_id(), "jpg"), data, "original",
                {**params, "out_wh": list(original.size), "out_mode": original.mode})]
    chosen = rng.choice(len(task.transforms), min(task.per_image, len(task.transforms)), replace=False)
    for index in sorted(int(c) for c in chosen):
        name = task.transforms[index]
        edited, p, ext = TRANSFORMS[name](original.copy(), rng)
        outputs.append((_name(task.group, fresh_id(), ext), encode(edited, ext, p), name,
                        {**p, "out_wh": list(edited.size), "out_mode": edited.mode}))
    rows = []
    for filename, payload, name, p in outputs:
        with open(os.path.join(task.out_dir, filename), "wb") as handle:
            handle.write(payload)
        rows.append((filename, group, name, json.dumps(p, sort_keys=True, separators=(",", ":"))))
    return task.source, rows, ""


def synthesise(
    sources: Sequence[str],
    out_dir: str,
    *,
    per_image: int = DEFAULT_PER_IMAGE,
    seed: int = 0,
    transforms: Sequence[str] | None = None,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> list[tuple[str, str, str, str]]:
    """Write a labelled set from ``sources`` into the existing folder ``out_dir``; the ground-truth rows.

    Parameters
    ----------
    sources : photo paths, one group each, numbered 1, 2, ... in the given order.
    out_dir : folder for the images and :data:`TRUTH_NAME`.
    per_image : edited copies per photo (at most the number of transforms).
    seed : the random seed; the same seed gives byte-identical files.
    transforms : names from :data:`TRANSFORMS` to draw from (default: all).
    jobs : worker processes (default: all cores).
    progress : called with 1 after each group.
    on_error : called with (path, reason) for a photo that cannot be read.

    Returns
    -------
    list of (path, group, transform, params) rows, sorted by path (also written as CSV).
    """
    from finder.engine import local_executor
    from finder.io.atomic import atomic_write
    from finder.output import write_rows

    names = resolve_transforms(transforms)
    tasks = [GroupTask(str(path), k + 1, int(seed), int(per_image), names, out_dir) for k, path in enumerate(sources)]
    rows: list[tuple[str, str, str, str]] = []
    workers = min(jobs or os.cpu_count() or 1, max(1, len(tasks)))
    with local_executor(workers) as executor:
        for source, task_rows, reason in executor.map(make_group, tasks):
            if reason and on_error is not None:
                on_error(source, reason)
            rows.extend(task_rows)
            if progress is not None:
                progress(1)
    rows.sort()
    with atomic_write(os.path.join(out_dir, TRUTH_NAME)) as handle:
        write_rows(handle, TRUTH_HEADER, rows, "csv")
    return rows
