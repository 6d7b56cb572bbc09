"""Views (mirror, content box, dihedral), quality, and matching through them."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import imagehash
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageOps

from finder import algorithms
from finder.algorithms.bits import pack_bits
from finder.cli.app import cli
from finder.groups.build import cluster
from finder.match.search import find_pairs, radius
from finder.store.hashset import load
from finder.store.rows import hash_views
from finder.store.update import hash_paths
from finder.views import QUALITY_CUTOFF, VIEW_NAMES, resolve_views, view_code, view_radius
from finder.views.content import content_box
from finder.views.geometry import GEOMETRIC, transform
from finder.views.quality import quality
from tests.conftest import GOLDEN_DIR, golden_rows

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def photo(seed: int = 0, size: tuple[int, int] = (240, 180)) -> Image.Image:
    """A smooth random 'photo': low-frequency noise, so it has structure at every scale a hash sees."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    big = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    detail = rng.integers(-20, 20, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(big, np.int16) + detail, 0, 255).astype(np.uint8))


def test_resolve_views():
    assert resolve_views("plain") == ("plain",)
    assert resolve_views("default") == ("plain", "mirror", "trimmed")
    assert resolve_views("dihedral") == tuple(n for n in VIEW_NAMES if n != "inset")
    with pytest.raises(ValueError, match="unknown view 'inset'"):  # stored for a framed content box, not asked for
        resolve_views("plain,inset")
    assert resolve_views("trimmed,mirror") == ("plain", "mirror", "trimmed")
    with pytest.raises(ValueError, match="unknown view 'sideways'"):
        resolve_views("plain,sideways")


@pytest.mark.parametrize("view", sorted(GEOMETRIC))
def test_array_transform_matches_pillow(view):
    image = Image.fromarray(np.arange(35, dtype=np.uint8).reshape(5, 7))
    assert np.array_equal(transform(np.asarray(image), view), np.asarray(image.transpose(GEOMETRIC[view])))
    assert transform(image, view).tobytes() == image.transpose(GEOMETRIC[view]).tobytes()


def pdq_quality_loops(grid: np.ndarray) -> int:
    """PDQ's quality score written out with loops (independent of finder.views.quality)."""
    u = [[int(v * 100 / 255) for v in row] for row in grid.tolist()]
    total = 0
    for i in range(63):
        for j in range(64):
            total += abs(u[i + 1][j] - u[i][j])
    for i in range(64):
        for j in range(63):
            total += abs(u[i][j + 1] - u[i][j])
    return min(100, total // 90)


def test_quality_is_pdqs_score():
    rng = np.random.default_rng(1)
    for grid in (np.full((64, 64), 128.0), rng.integers(0, 256, (64, 64)).astype(float),
                 np.tile(np.linspace(0, 255, 64), (64, 1)), rng.normal(128, 3, (64, 64)).clip(0, 255)):
        assert quality(grid) == pdq_quality_loops(grid)
    assert quality(np.full((64, 64), 7.0)) == 0 and quality(rng.integers(0, 256, (64, 64))) == 100


@pytest.mark.parametrize("frame", ["border", "letterbox", "pillarbox"])
def test_content_box_finds_the_picture_inside_a_frame(frame):
    inner = photo(3, (300, 200))
    pads = {"border": (30, 30, 30, 30), "letterbox": (0, 45, 0, 45), "pillarbox": (60, 0, 60, 0)}[frame]
    framed = ImageOps.expand(inner, pads, fill=(12, 200, 40))
    left, top, right, bottom = content_box(framed)
    want = (pads[0], pads[1], pads[0] + 300, pads[1] + 200)
    assert max(abs(a - b) for a, b in zip((left, top, right, bottom), want)) <= 2


def test_content_box_of_a_screenshot_holds_the_photo_and_little_else():
    inner = photo(4, (320, 240))
    canvas = Image.new("RGB", (420, 560), (242, 242, 242))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 420, 30), fill=(220, 220, 220))          # status bar
    draw.text((10, 8), "12:41", fill=(40, 40, 40))
    for k in range(3):                                              # toolbar lines under the picture
        draw.rectangle((20, 470 + 25 * k, 200, 476 + 25 * k), fill=(150, 150, 150))
    canvas.paste(inner, (50, 90))
    left, top, right, bottom = content_box(canvas)
    assert left <= 52 and top <= 92 and right >= 368 and bottom >= 328  # the whole photo ...
    assert (right - left) * (bottom - top) < 1.3 * 320 * 240             # ... and not much more


def _title_bar_screenshot(inner: Image.Image, gap: int) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A phone-style screenshot: a title bar with a wide label, ``inner`` ``gap`` px below it, caption bars."""
    canvas = Image.new("RGB", (inner.width + 120, inner.height + 260), (30, 30, 30))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, 40), fill=(45, 45, 45))               # title bar, not the canvas colour
    rng = np.random.default_rng(7)
    for x in range(10, canvas.width // 3, 9):                                   # a label a third as wide as the bar
        draw.rectangle((x, 10 + int(rng.integers(0, 6)), x + 5, 30), fill=(230, 230, 230))
    for k in range(3):                                                          # caption lines under the picture
        y = 40 + gap + inner.height + 20 + 25 * k
        draw.rectangle((20, y, 20 + 60 * (k + 2), y + 6), fill=(150, 150, 150))
    canvas.paste(inner, (60, 40 + gap))
    return canvas, (60, 40 + gap, 60 + inner.width, 40 + gap + inner.height)


@pytest.mark.parametrize("gap", [4, 60])
def test_content_box_skips_a_labelled_title_bar_however_close_the_photo_is(gap):
    canvas, want = _title_bar_screenshot(photo(6, (300, 220)), gap)
    box = content_box(canvas)
    assert box is not None and max(abs(a - b) for a, b in zip(box, want)) <= 4


def _toolbar_screenshot(inner: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A window: a status bar on the canvas, a toolbar of another colour across the whole window directly
    above the picture (no canvas between them), caption lines under it."""
    canvas = Image.new("RGB", (inner.width + 60, inner.height + 200), (242, 242, 246))
    draw = ImageDraw.Draw(canvas)
    draw.text((34, 3), "09:41", fill=(30, 30, 30))
    draw.rectangle((0, 20, canvas.width, 48), fill=(200, 200, 206))
    draw.text((36, 28), "Photos", fill=(30, 30, 30))
    canvas.paste(inner, (30, 49))
    for k in range(4):
        y = 49 + inner.height + 20 + 22 * k
        draw.rectangle((34, y, 34 + 60 * (k + 2), y + 8), fill=(200, 200, 206))
    return canvas, (30, 49, 30 + inner.width, 49 + inner.height)


def test_content_box_peels_a_toolbar_that_spans_the_window_above_the_picture():
    canvas, want = _toolbar_screenshot(photo(21, (300, 220)))
    box = content_box(canvas)
    assert box is not None and max(abs(a - b) for a, b in zip(box, want)) <= 3


def test_content_box_keeps_flat_parts_of_the_photo_itself():
    # A photo whose top third is a smooth sky and whose bottom is a smooth texture, on a canvas of another
    # colour: only the canvas is frame, the sky and the texture are content.
    inner = np.asarray(photo(8, (300, 240)), dtype=np.int16).copy()
    inner[:80] = np.linspace(150, 180, 300)[None, :, None] + np.array([0, 20, 60])   # gradient sky, per row smooth
    inner[180:] = 200 + (np.arange(300) % 3)[None, :, None]                         # fine, nearly flat texture
    framed = Image.new("RGB", (500, 400), (30, 30, 30))
    framed.paste(Image.fromarray(np.clip(inner, 0, 255).astype(np.uint8)), (150, 80))
    box = content_box(framed)
    assert box is not None and max(abs(a - b) for a, b in zip(box, (150, 80, 450, 320))) <= 3


def test_frame_colour_is_told_apart_by_hue_not_only_by_brightness():
    # A night photo whose dark brown sky has the same luma (~51) as the dark blue border around it: by
    # grey levels the sky looks like more border; by colour it is part of the picture.
    inner = np.asarray(photo(9, (300, 240)), dtype=np.int16).copy()
    inner[:90] = (70, 45, 30) + np.random.default_rng(1).integers(-2, 3, (90, 300, 3))
    framed = ImageOps.expand(Image.fromarray(inner.astype(np.uint8)), 36, fill=(22, 56, 104))
    assert abs(np.asarray(Image.new("RGB", (1, 1), (70, 45, 30)).convert("L"))[0, 0]
               - np.asarray(Image.new("RGB", (1, 1), (22, 56, 104)).convert("L"))[0, 0]) <= 2
    box = content_box(framed)
    assert box is not None and max(abs(a - b) for a, b in zip(box, (36, 36, 336, 276))) <= 3


@pytest.mark.parametrize("quality_", [30, 75])
def test_a_painted_frame_survives_jpeg_and_a_sky_is_not_a_frame(quality_):
    inner = photo(11, (320, 240))
    buffer = io.BytesIO()
    ImageOps.expand(inner, (0, 40, 0, 40), fill=(250, 250, 250)).save(buffer, "JPEG", quality=quality_)
    box = content_box(Image.open(buffer))  # to within one JPEG block: the coder rings next to the photo
    assert box is not None and max(abs(a - b) for a, b in zip(box, (0, 40, 320, 280))) <= 8
    # A clear sky: its top edge is uniform enough to give a frame colour, but the sky drifts (40 levels
    # from the top to the horizon) and has the sensor's grain, as a photographed sky has and a painted bar
    # has not. Within a few levels of the edge colour it stays for a row or two: no trim.
    rng = np.random.default_rng(5)
    sky = np.asarray(photo(12, (320, 240)), dtype=np.float64).copy()
    sky[:90] = np.linspace(150, 190, 90)[:, None, None] + np.array([-60, -20, 40]) + rng.normal(0, 2, (90, 320, 3))
    assert content_box(Image.fromarray(np.clip(sky, 0, 255).round().astype(np.uint8))) is None


def test_no_content_box_for_unframed_or_flat_images():
    assert content_box(photo(5)) is None
    assert content_box(Image.new("RGB", (200, 100), (90, 90, 90))) is None


def test_plain_row_is_the_algorithms_own_hash_and_find_stays_golden():
    for row in golden_rows()[:6]:
        image = Image.open(GOLDEN_DIR / row["file"])
        image.load()
        rows = hash_views(image, ["find", "dhash"], ("plain", "mirror", "trimmed"))
        code, _, words = rows[0]
        assert code == view_code("plain")
        assert words[:4].tolist() == [int(row["find_hex"][k:k + 16], 16) for k in range(0, 64, 16)]
        assert np.array_equal(words[4:], algorithms.get("dhash").hash_image(image))


def test_mirror_rows_match_hashing_the_mirrored_pixels():
    for row in golden_rows()[:8]:
        image = Image.open(GOLDEN_DIR / row["file"]).convert("RGB")
        rows = {code: words for code, _, words in hash_views(image, ["find", "dhash"], ("plain", "mirror"))}
        mirrored = ImageOps.mirror(image)
        find_true = algorithms.get("find").hash_image(mirrored)
        dhash_true = pack_bits(imagehash.dhash(mirrored).hash.ravel())
        find_view, dhash_view = rows[view_code("mirror")][:4], rows[view_code("mirror")][4:]
        # the flip is applied to the 64x64 samples / the reduced image, not to the full pixels
        assert np.bitwise_count(find_view ^ find_true).sum() <= 24
        assert np.bitwise_count(dhash_view ^ dhash_true).sum() <= 6


@pytest.fixture
def edited(tmp_path) -> Path:
    """Example photos and synthetic edits of them: mirrored, framed, rotated by 90/180, flipped vertically."""
    out = tmp_path / "set"
    out.mkdir()
    by_group: dict[str, Path] = {}
    for path in sorted(EXAMPLES.glob("*_*.jpg")):  # one photo from each of three groups
        by_group.setdefault(path.name.split("_")[0], path)
    sources = sorted(by_group.values())[:3]
    for k, source in enumerate(sources):
        image = Image.open(source).convert("RGB")
        image.save(out / f"{k}_original.png")
        ImageOps.mirror(image).save(out / f"{k}_hflip.png")
        bar = image.height // 2
        ImageOps.expand(image, (0, bar, 0, bar), fill=(20, 220, 60)).save(out / f"{k}_pad.png")
        image.transpose(Image.Transpose.ROTATE_90).save(out / f"{k}_rot90.png")
        image.transpose(Image.Transpose.ROTATE_180).save(out / f"{k}_rot180.png")
        image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(out / f"{k}_vflip.png")
    return out


def matched(hs, original: str, edit: str) -> bool:
    names = [Path(p).name for p in hs.paths]
    pairs = find_pairs(hs, "find")
    a, b = sorted((names.index(original), names.index(edit)))
    return bool(np.any((pairs.i == a) & (pairs.j == b)))


def test_views_find_mirrors_and_frames_that_plain_hashes_miss(edited):
    paths = sorted(str(p) for p in edited.iterdir())
    plain = hash_paths(paths, ["find"], jobs=1, views="plain").hashset
    default = hash_paths(paths, ["find"], jobs=1, views="default").hashset
    dihedral = hash_paths(paths, ["find"], jobs=1, views="dihedral").hashset
    assert default.settings["views"] == ["plain", "mirror", "trimmed"]
    for k in range(3):
        for edit in ("hflip", "pad"):
            assert not matched(plain, f"{k}_original.png", f"{k}_{edit}.png")
            assert matched(default, f"{k}_original.png", f"{k}_{edit}.png")
        for edit in ("rot90", "rot180", "vflip"):
            assert matched(dihedral, f"{k}_original.png", f"{k}_{edit}.png"), edit
    groups = cluster(dihedral, "find", linkage="single")
    assert sorted(g.size for g in groups) == [6, 6, 6]


def test_a_mirrored_copy_of_a_framed_picture_matches_the_picture_with_dihedral_views(tmp_path):
    # The picture's mirror row against the framed copy's content box: only that pair of rows matches, and
    # geometric rows meet content boxes with --views dihedral (not with the default views).
    for k, source in enumerate(sorted(EXAMPLES.glob("*_*.jpg"))[:2]):
        image = Image.open(source).convert("RGB")
        image.save(tmp_path / f"{k}_original.png")
        ImageOps.expand(ImageOps.mirror(image), (0, image.height // 2), fill=(20, 220, 60)).save(
            tmp_path / f"{k}_hflip_pad.png")
    paths = sorted(str(p) for p in tmp_path.iterdir())
    default = hash_paths(paths, ["find"], jobs=1, views="default").hashset
    hs = hash_paths(paths, ["find"], jobs=1, views="dihedral").hashset
    for k in range(2):
        assert matched(hs, f"{k}_original.png", f"{k}_hflip_pad.png")
        assert not matched(default, f"{k}_original.png", f"{k}_hflip_pad.png")
        f, g = (sorted(Path(p).name for p in hs.paths).index(name) for name in
                (f"{k}_original.png", f"{k}_hflip_pad.png"))
        rows = {(int(hs.owner["find"][r]), int(hs.view["find"][r])): hs.hashes["find"][r]
                for r in range(len(hs.owner["find"]))}
        dv = view_radius(radius(256, 0.375))
        others = [(x, y) for x in ((f, 0), (f, view_code("mirror"))) for y in ((g, 0), (g, view_code("mirror")))
                  if (x[1], y[1]) != (view_code("mirror"), view_code("mirror"))]
        assert all(int(np.bitwise_count(rows[x] ^ rows[y]).sum()) > dv for x, y in others)
        box = next(v for (o, v) in rows if o == g and v in (view_code("trimmed"), view_code("inset")))
        assert int(np.bitwise_count(rows[(f, view_code("mirror"))] ^ rows[(g, box)]).sum()) <= dv


def _app_screenshot(inner: Image.Image) -> Image.Image:
    """``inner`` on one app's screen layout (title bar, caption lines): the frame is most of the picture."""
    canvas = Image.new("RGB", (480, 800), (30, 30, 30))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 480, 50), fill=(60, 60, 60))
    for k in range(6):
        draw.rectangle((30, 420 + 40 * k, 30 + 50 * (k % 3 + 3), 432 + 40 * k), fill=(200, 200, 200))
    canvas.paste(inner, (40, 120))
    return canvas


def test_screenshots_of_one_app_match_by_their_pictures_not_their_frames(tmp_path):
    find = algorithms.get("find")
    photos = [photo(4, (300, 225)), photo(14, (300, 225))]
    shots = [_app_screenshot(p) for p in photos]
    d = int(np.bitwise_count(find.hash_image(shots[0]) ^ find.hash_image(shots[1])).sum())
    dv = view_radius(radius(256, 0.375))
    assert dv < d <= radius(256, 0.375)  # the two frames alone put different pictures within the plain radius
    for k, image in enumerate(photos + shots):
        image.save(tmp_path / f"{k}.png")
    paths = [str(tmp_path / f"{k}.png") for k in range(4)]
    hs = hash_paths(paths, ["find"], jobs=1, views="default").hashset
    assert sorted(hs.view["find"][hs.owner["find"] >= 2].tolist()) == [0, 0, view_code("mirror"),
                                                                        view_code("mirror"), view_code("inset"),
                                                                        view_code("inset")]
    assert matched(hs, "0.png", "2.png") and matched(hs, "1.png", "3.png")   # each screenshot finds its photo
    assert not matched(hs, "2.png", "3.png")                                 # ... and not the other screenshot


def test_flat_images_stay_out_of_groups_unless_identical(tmp_path):
    rng = np.random.default_rng(9)
    for k in range(4):
        pixels = np.clip(rng.normal(100 + k, 1.5, (80, 80, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"flat{k}.png")
    shutil.copy(tmp_path / "flat0.png", tmp_path / "copy.png")
    hs = hash_paths(sorted(str(p) for p in tmp_path.glob("*.png")), ["find"], jobs=1, views="default").hashset
    assert (hs.file_quality("find") < QUALITY_CUTOFF).all()
    pairs = find_pairs(hs, "find", threshold=1.0)
    names = [Path(p).name for p in hs.paths]
    assert [(names[i], names[j]) for i, j in zip(pairs.i, pairs.j)] == [("copy.png", "flat0.png")]


def test_cli_records_views_and_plain_restores_one_row_per_file(edited, tmp_path):
    out = tmp_path / "h.npz"
    run("hash", edited, "-o", out, "-j", "1")
    info = json.loads(run("show", out, "--info").stdout)
    assert info["views"] == ["plain", "mirror", "trimmed"] and info["rows"]["find"] > info["files"]
    flat = tmp_path / "p.npz"
    run("hash", edited, "-o", flat, "-j", "1", "--views", "plain")
    assert json.loads(run("show", flat, "--info").stdout)["rows"]["find"] == 18
    other = run("hash", edited, "-o", flat, "-j", "1", "--views", "default")
    assert other.exit_code == 2 and "views" in other.stderr
    assert len(load(flat)) == 18


def test_pairs_with_views_do_not_depend_on_block_sizes(edited, monkeypatch):
    import finder.match.search as matching
    from finder.match.search import iter_pairs

    paths = sorted(str(p) for p in edited.iterdir())
    hs = hash_paths(paths, ["find"], jobs=1, views="dihedral").hashset
    whole = find_pairs(hs, "find", threshold=0.42)
    for block, sub in ((1, 4096), (5, 3), (7, 1), (100, 2)):
        monkeypatch.setattr(matching, "SUB_BLOCK_ROWS", sub)
        chunks = list(iter_pairs(hs, "find", threshold=0.42, block=block))
        got = [(int(i), int(j), int(d)) for c in chunks for i, j, d in zip(c.i, c.j, c.distance)]
        assert got == list(zip(whole.i.tolist(), whole.j.tolist(), whole.distance.tolist())), (block, sub)
