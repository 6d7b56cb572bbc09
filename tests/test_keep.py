"""Keep rules and reference folders: facts from image headers, rule parsing, the keeper chosen, cluster's output."""

from __future__ import annotations

import calendar
import csv
import io
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from finder.cli.app import cli
from finder.errors import KeepRuleError
from finder.groups.facts import FileFacts, gather, parse_exif_date, read_facts
from finder.groups.keep import decide, expand_pattern, parse_rules, proposed, rank, split_rules
from finder.groups.linkage import Group, Member

EXIF_IFD, MODEL, ORIENTATION, TAKEN, OFFSET = 0x8769, 0x0110, 0x0112, 0x9003, 0x9011


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def photo(path, size=(64, 48), taken=None, offset=None, model=None, orientation=None, fmt=None, seed=0, quality=90):
    """A small picture with the given EXIF fields (a gradient, so resized copies stay near-duplicates)."""
    w, h = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.putpixel((seed % w, 0), (255, 0, 0))
    exif = Image.Exif()
    if model:
        exif[MODEL] = model
    if orientation:
        exif[ORIENTATION] = orientation
    if taken:
        details = exif.get_ifd(EXIF_IFD)
        details[TAKEN] = taken
        if offset:
            details[OFFSET] = offset
    kwargs = {"exif": exif} if len(exif) or taken else {}
    if (fmt or path.suffix.lstrip(".").upper()) in ("JPG", "JPEG"):
        kwargs["quality"] = quality
    image.save(path, fmt, **kwargs)
    return path


def facts(path="/p/a.jpg", size=100, mtime_ns=10**18, width=10, height=10, fmt="JPEG", taken_ns=None, problem=None):
    return FileFacts(path, size, mtime_ns, width, height, fmt, None, taken_ns, None, problem)


def test_header_facts_match_what_was_written(tmp_path):
    path = photo(tmp_path / "a.jpg", size=(64, 48), taken="2019:06:01 12:00:03", offset="+02:00",
                 model="Camera <X>", orientation=6)
    f = read_facts(str(path), 123, 456)
    assert (f.size, f.mtime_ns) == (123, 456)  # the recorded values, not the file's
    assert (f.width, f.height) == (48, 64)  # orientation 6: shown rotated
    assert f.format == "JPEG" and f.camera == "Camera <X>" and f.problem is None
    assert f.taken_ns == calendar.timegm((2019, 6, 1, 10, 0, 3)) * 10**9  # 12:00:03 at +02:00 is 10:00:03 UTC
    png = read_facts(str(photo(tmp_path / "b.png", size=(30, 20))), 1, 2)
    assert (png.width, png.height, png.format, png.taken) == (30, 20, "PNG", None)
    assert png.date_ns == 2  # no EXIF date: the mtime


def test_header_problems_are_values_not_exceptions(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    assert read_facts(str(tmp_path / "bad.jpg"), 1, 2).problem
    assert read_facts(str(tmp_path / "gone.jpg"), 1, 2).problem == "no such file"
    found = gather([(str(tmp_path / "gone.jpg"), 5, 6), (str(tmp_path / "gone.jpg"), 5, 6)])
    assert list(found) == [str(tmp_path / "gone.jpg")]


@pytest.mark.parametrize("text, expected", [
    ("2020:02:29 23:59:59", "2020-02-29T23:59:59"),
    ("0000:00:00 00:00:00", None), ("", None), ("    :  :     :  :  ", None), ("2020:13:01 00:00:00", None),
    (b"2001:01:02 03:04:05\x00", "2001-01-02T03:04:05"), (12, None),
])
def test_exif_date_parsing(text, expected):
    parsed = parse_exif_date(text)
    assert (parsed[0] if parsed else None) == expected


def test_split_rules_keeps_commas_in_path_patterns():
    assert split_rules(["pixels,size", "path:/a,b/*", "oldest"]) == ["pixels", "size", "path:/a,b/*", "oldest"]
    assert split_rules(["size, path:/x/*,y"]) == ["size", "path:/x/*,y"]


def test_unknown_rules_are_one_line_errors():
    for bad in (["largest"], ["format:nope"], ["path:"], ["pixels:3"]):
        with pytest.raises(KeepRuleError):
            parse_rules(bad)


def test_pixels_then_size_then_oldest_then_path():
    rules = parse_rules(["pixels,size,oldest"])
    assert [r.text for r in rules] == ["pixels", "size", "oldest"]
    candidates = [
        facts("/p/small.jpg", size=900, width=10, height=10),
        facts("/p/big-b.jpg", size=100, width=20, height=20, mtime_ns=5),
        facts("/p/big-a.jpg", size=100, width=20, height=20, mtime_ns=5),
        facts("/p/big-file.jpg", size=200, width=20, height=20, mtime_ns=9),
        facts("/p/old.jpg", size=100, width=20, height=20, mtime_ns=1),
    ]
    order = [candidates[k].path for k in rank(candidates, rules)]
    # largest area first; among those the largest file; then the oldest; then path order
    assert order == ["/p/big-file.jpg", "/p/old.jpg", "/p/big-a.jpg", "/p/big-b.jpg", "/p/small.jpg"]


def test_exif_date_comes_before_mtime_and_breaks_ties_by_mtime():
    rules = parse_rules(["oldest"])
    a = facts("/p/a.jpg", mtime_ns=1, taken_ns=50)  # copied long ago, taken later
    b = facts("/p/b.jpg", mtime_ns=99, taken_ns=40)
    c = facts("/p/c.jpg", mtime_ns=60, taken_ns=40)  # same EXIF date as b, older file
    assert [[a, b, c][k].path for k in rank([a, b, c], rules)] == ["/p/c.jpg", "/p/b.jpg", "/p/a.jpg"]
    assert [[a, b, c][k].path for k in rank([a, b, c], parse_rules(["newest"]))] == ["/p/a.jpg", "/p/b.jpg", "/p/c.jpg"]


def test_format_path_and_shortest_path_rules(tmp_path):
    items = [facts("/p/x/deep/copy.png", fmt="PNG"), facts("/p/a.jpg"), facts("/p/orig/b.tif", fmt=None)]
    pick = lambda *rules: items[rank(items, parse_rules(list(rules)))[0]].path  # noqa: E731
    assert pick("format:png") == "/p/x/deep/copy.png"
    assert pick("format:tif") == "/p/orig/b.tif"  # unknown header: the extension decides
    assert pick("format:gif,format:tiff,format:png") == "/p/orig/b.tif"  # repeated: an order of preference
    assert pick("path:/p/orig/*") == "/p/orig/b.tif"
    assert pick("path:/p/orig") == "/p/orig/b.tif"  # a folder means everything under it
    assert pick("shortest-path") == "/p/a.jpg"
    assert expand_pattern("sub/*", cwd=str(tmp_path)) == f"{os.path.realpath(tmp_path)}/sub/*"
    assert expand_pattern("~/x/*").startswith(os.path.expanduser("~"))


def test_unreadable_files_are_kept_only_when_nothing_else_can_be():
    gone = facts("/p/huge.jpg", width=None, height=None, size=10**9, problem="no such file")
    ok = facts("/p/small.jpg", size=1)
    assert rank([gone, ok], parse_rules(["size"])) == [1, 0]


def group(*paths, same=None):
    same = same or {}
    return Group(0, paths[0], [Member(p, 0, same.get(p), size=10, mtime_ns=1) for p in paths])


def test_reference_members_are_kept_and_one_of_them_is_the_keeper():
    g = group("/photos/big.jpg", "/archive/small.jpg", "/archive/sub/other.jpg", "/photos/copy.jpg")
    known = {"/photos/big.jpg": facts("/photos/big.jpg", width=100, height=100),
             "/archive/small.jpg": facts("/archive/small.jpg", width=10, height=10),
             "/archive/sub/other.jpg": facts("/archive/sub/other.jpg", width=20, height=20),
             "/photos/copy.jpg": facts("/photos/copy.jpg", width=50, height=50)}
    rules = parse_rules(["pixels"])
    (plain,) = decide([g], known, rules)
    assert plain.keeper == "/photos/big.jpg" and not any(m.reference for m in plain.members)
    (with_ref,) = decide([g], known, rules, references=["/archive"])
    assert with_ref.keeper == "/archive/sub/other.jpg"  # the best reference image, not the best overall
    assert [m.reference for m in with_ref.members] == [False, True, True, False]
    assert [m.path for m in proposed(with_ref)] == ["/photos/big.jpg", "/photos/copy.jpg"]
    assert with_ref.keeper_reason == "in a reference folder; pixels: the most pixels"
    (other,) = decide([g], known, rules, references=["/elsewhere", "/archiv"])  # a prefix is not a folder
    assert other.keeper == "/photos/big.jpg"


def test_hard_links_of_the_keeper_are_not_proposed():
    g = group("/p/a.jpg", "/p/a-link.jpg", "/p/b.jpg", "/p/b-link.jpg",
              same={"/p/a-link.jpg": "/p/a.jpg", "/p/b-link.jpg": "/p/b.jpg"})
    kept = Group(0, g.representative, g.members, keeper="/p/a-link.jpg")
    assert [m.path for m in proposed(kept)] == ["/p/b.jpg", "/p/b-link.jpg"]
    assert [m.path for m in proposed(kept, distinct=True)] == ["/p/b.jpg"]


@pytest.fixture
def folder(tmp_path):
    """Three near-duplicates of one picture: big (the original), a smaller copy, a PNG; one in a reference folder."""
    (tmp_path / "photos").mkdir()
    (tmp_path / "archive").mkdir()
    photo(tmp_path / "photos" / "big.jpg", size=(256, 192), taken="2015:01:01 00:00:00")
    photo(tmp_path / "photos" / "small.jpg", size=(128, 96), taken="2010:01:01 00:00:00")
    photo(tmp_path / "archive" / "copy.png", size=(160, 120))
    assert run("hash", tmp_path / "photos", tmp_path / "archive", "-o", tmp_path / "h.npz", "-j", "1",
               "-q").exit_code == 0
    return tmp_path


def keepers(result):
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    return {os.path.relpath(r["path"], r["path"].rsplit("/", 2)[0]): (r["keeper"], r["reference"]) for r in rows}


def test_cluster_shows_the_keeper_and_references(folder):
    h = folder / "h.npz"
    rows = keepers(run("cluster", h, "--format", "csv"))
    assert rows == {"photos/big.jpg": ("True", "False"), "photos/small.jpg": ("False", "False"),
                    "archive/copy.png": ("False", "False")}
    assert keepers(run("cluster", h, "--format", "csv", "--keep", "oldest"))["photos/small.jpg"][0] == "True"
    assert keepers(run("cluster", h, "--format", "csv", "--keep", "format:png"))["archive/copy.png"][0] == "True"
    pattern = f"path:{folder}/archive/*"
    assert keepers(run("cluster", h, "--format", "csv", "--keep", pattern))["archive/copy.png"][0] == "True"
    with_ref = keepers(run("cluster", h, "--format", "csv", "--reference", folder / "archive"))
    assert with_ref["archive/copy.png"] == ("True", "True")
    (g,) = json.loads(run("cluster", h).stdout)
    assert g["keeper"].endswith("photos/big.jpg")
    sizes = {os.path.basename(m["path"]): (m["size"], m["mtime_ns"]) for m in g["members"]}
    st = os.stat(folder / "photos" / "small.jpg")
    assert sizes["small.jpg"] == (st.st_size, st.st_mtime_ns)


def test_cluster_rejects_bad_keep_rules_before_any_work(folder):
    result = CliRunner().invoke(cli, ["cluster", str(folder / "h.npz"), "--keep", "biggest"])
    assert result.exit_code == 2 and "unknown rule 'biggest'" in result.output
    result = CliRunner().invoke(cli, ["cluster", str(folder / "h.npz"), "--reference", str(folder / "nope")])
    assert result.exit_code == 2


# --------------------------------------------------------------------------- the keeper that finds the original

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "images")
ORIGINALS = ("0033_77449721.jpg", "0040_64662649.jpg", "0053_02747386.jpg", "0119_37560215.jpg")


def test_detail_falls_by_the_upsampling_factor_along_that_axis():
    """An upscale by 2 along x holds no detail above half the Nyquist frequency there (independent of finder:
    what resampling does to a spectrum); along y nothing changed."""
    from finder.views.detail import detail

    rng = np.random.default_rng(3)
    noise = Image.fromarray(rng.integers(0, 256, (256, 256), dtype=np.uint8))
    across, down = detail(np.asarray(noise))
    stretched = np.asarray(noise.resize((512, 256), Image.Resampling.BICUBIC))
    s_across, s_down = detail(stretched)
    assert s_across < 0.6 * across and abs(s_down - down) < 0.1 * down
    assert detail(np.full((64, 64), 7, np.uint8)) == (0.0, 0.0)  # flat: no detail


def test_thumbnail_distances_match_a_brute_force_with_mirrors():
    """The distances the orientation and central rules read (Thumbs: members to the group's sample, as they are
    and with the sample mirrored), against numpy's RMS pixel by pixel."""
    from finder.groups.keep import Thumbs

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (3, 32, 32, 3)), rng.integers(0, 256, (4, 32, 32, 3))
    b[1] = a[0][:, ::-1]  # a mirrored copy is at distance 0
    members = [replace_look(facts(f"/p/a{i}.jpg"), _look(thumb=t.astype(np.uint8))) for i, t in enumerate(a)]
    group = [replace_look(facts(f"/p/b{j}.jpg"), _look(thumb=t.astype(np.uint8))) for j, t in enumerate(b)]
    got = Thumbs.of(members, group)
    assert got.sample == tuple(f"/p/b{j}.jpg" for j in range(4))
    for i in range(3):
        for j in range(4):
            plain = np.sqrt(((a[i] - b[j]) ** 2).mean())
            mirrored = np.sqrt(((a[i] - b[j][:, ::-1]) ** 2).mean())
            assert got.plain[i, j] == pytest.approx(plain, abs=1e-2)
            assert got.mirrored[i, j] == pytest.approx(mirrored, abs=1e-2)
    assert got.mirrored[0, 1] == pytest.approx(0, abs=1e-2)


def _look(shape=(100, 100), detail=(0.8, 0.8), colour=True, thumb=None, share=1.0):
    from finder.groups.facts import Look

    return Look(shape, detail, colour, np.zeros((32, 32, 3), np.uint8) if thumb is None else thumb, share)


def test_shape_takes_the_commonest_shape_not_a_chain_of_near_ones():
    """Shapes within 3 % are one shape; the mode is the shape most members are near, and everything near the
    mode passes (a member near two clusters does not win over the mode itself)."""
    from finder.groups.keep import prefer_shape

    group = [replace_look(facts(f"/p/{k}.jpg"), _look((178 * s // 100, 100))) for k, s in
             enumerate([100, 100, 100, 100, 98, 96, 125])]  # 1.78 x4, 1.74, 1.71 (near 1.74 only), 2.22
    kept = {f.path for f in prefer_shape(group, group)}
    assert kept == {"/p/0.jpg", "/p/1.jpg", "/p/2.jpg", "/p/3.jpg", "/p/4.jpg"}


def replace_look(f, look):
    import dataclasses

    return dataclasses.replace(f, look=look)


def test_central_keeps_the_copy_the_edits_move_away_from():
    """Each copy is the original plus its own edit (orthogonal directions in pixels): the original is nearest
    to all; a mirrored copy of it is as near as itself, so the two tie."""
    from finder.groups.keep import prefer_central

    rng = np.random.default_rng(1)
    base = rng.integers(60, 190, (32, 32, 3)).astype(np.int16)
    copies = [base]
    for k in range(4):
        edit = np.zeros_like(base)
        edit.reshape(-1)[k * 700:(k + 1) * 700] = 50
        copies.append(base + edit)
    copies.append(base[:, ::-1])
    group = [replace_look(facts(f"/p/{k}.jpg"), _look(thumb=np.clip(c, 0, 255).astype(np.uint8)))
             for k, c in enumerate(copies)]
    assert {f.path for f in prefer_central(group, group)} == {"/p/0.jpg", "/p/5.jpg"}


def _copies(original: str, folder) -> dict[str, str]:
    """Copies of ``original`` as people make them (Pillow only), each saved as its own file."""
    source = Image.open(original).convert("RGB")
    w, h = source.size
    made = {}

    def save(name, image, fmt="JPEG"):
        path = str(folder / name)
        image.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        made[name.split(".")[0]] = path

    save("upscale.jpg", source.resize((w * 8 // 5, h * 8 // 5), Image.Resampling.LANCZOS))
    padded = Image.new("RGB", (w + w // 5, h + h // 5), (255, 255, 255))
    padded.paste(source, (w // 10, h // 10))
    save("pad.jpg", padded)
    save("grey.jpg", source.convert("L"))
    save("stretch.jpg", source.resize((w * 5 // 4, h), Image.Resampling.LANCZOS))
    save("reencode.png", source, "PNG")
    canvas = Image.new("RGB", (w * 3 // 2, h * 3 // 2), (236, 236, 236))
    canvas.paste((40, 40, 48), (0, 0, canvas.width, h // 8))
    canvas.paste(source, (w // 4, h // 4))
    save("screenshot.png", canvas, "PNG")
    return made


@pytest.mark.parametrize("name", ORIGINALS)
def test_the_default_keeper_is_the_original_and_says_why(tmp_path, name):
    """A real photo and copies made from it: the default rules keep the photo, in the whole group and against
    each copy alone, and every keeper carries its reason."""
    from finder.groups.keep import decide_groups

    original = str(tmp_path / name)
    with open(os.path.join(EXAMPLES, name), "rb") as src, open(original, "wb") as dst:
        dst.write(src.read())
    made = _copies(original, tmp_path)
    everyone = [original, *made.values()]
    groups = [Group(0, original, [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in everyone])]
    groups += [Group(k + 1, original, [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in (copy, original)])
               for k, copy in enumerate(made.values())]
    decided, _ = decide_groups(groups, parse_rules([]), jobs=1)
    assert decided[0].keeper == original, decided[0].keeper_reason
    wrong = {os.path.basename(g.members[0].path): g.keeper_reason for g in decided[1:] if g.keeper != original}
    # a stretch alone against its original is a matter of taste: more pixels across, the same detail
    assert set(wrong) <= {"stretch.jpg"}, wrong
    expected = {"upscale": "detail:", "pad": "frame:", "grey": "colour:", "reencode": "formats:",
                "screenshot": "frame:"}
    greyscale = not read_facts(original, 0, 0, look=True).look.colour  # a grey photo and its grey copy are alike
    for group, kind in zip(decided[1:], made):
        if kind in expected and not (kind == "grey" and greyscale):
            assert expected[kind] in group.keeper_reason, (kind, group.keeper_reason)


def test_looks_are_cached_beside_the_hash_file_and_measured_again_when_a_file_changes(tmp_path, monkeypatch):
    """A second look at unchanged files opens none (NAME.looks.npz keeps the looks and the header facts); a
    changed file is read again; a foreign file at that path is refused and kept; a damaged cache is rebuilt."""
    from finder.errors import KeepRuleError
    from finder.groups import facts as facts_module
    from finder.groups.facts import LookCache

    paths = [photo(tmp_path / f"{k}.jpg", size=(96, 64), seed=k) for k in range(3)]
    items = [(str(p), 0, 0) for p in paths]
    cache_path = str(tmp_path / "h.looks.npz")
    first = gather(items, jobs=1, look=True, cache=(cache := LookCache.load(cache_path)))
    cache.save()
    decoded = []
    real = facts_module.looks_chunk
    monkeypatch.setattr(facts_module, "looks_chunk", lambda chunk: decoded.extend(chunk) or real(chunk))
    monkeypatch.setattr(facts_module, "facts_chunk", lambda chunk: pytest.fail("a header was read"))
    again = gather(items, jobs=1, look=True, cache=LookCache.load(cache_path))
    assert decoded == [] and again == first and first[str(paths[0])].format == "JPEG"
    assert all(np.array_equal(again[p].look.thumb, first[p].look.thumb) for p in again)
    os.utime(paths[1], ns=(1, 10**9))  # changed since: measured again
    gather(items, jobs=1, look=True, cache=LookCache.load(cache_path))
    assert [d[0] for d in decoded] == [str(paths[1])]
    (tmp_path / "foreign.npz").write_bytes(b"not a cache")
    with pytest.raises(KeepRuleError, match="not a finder look cache"):
        LookCache.load(str(tmp_path / "foreign.npz"))
    data = bytearray(open(cache_path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(cache_path, "wb").write(bytes(data))
    rebuilt = LookCache.load(cache_path)
    assert rebuilt.changed and not rebuilt.entries


def test_pair_residuals_are_kept_in_the_look_cache_while_both_files_are_unchanged(tmp_path):
    """The coding and detail rules' pair residuals (re-encoded, mirrored, resampled) survive a save and a load
    (so a second cluster decodes nothing), are given only for pairs of the asked paths, and are dropped for a
    pair once either file changes; a key of no known kind is not kept."""
    from finder.groups.facts import RECODED, RECODED_MIRRORED, RESAMPLED, LookCache

    paths = [str(photo(tmp_path / f"{k}.jpg", size=(96, 64), seed=k)) for k in range(3)]
    items = [(p, 0, 0) for p in paths]
    cache_path = str(tmp_path / "h.looks.npz")
    gather(items, jobs=1, look=True, cache=(cache := LookCache.load(cache_path)))
    kept = {(paths[0], paths[1], RECODED): 0.0, (paths[1], paths[0], RECODED): 2.5,
            (paths[0], paths[1], RECODED_MIRRORED): 7.0, (paths[0], paths[2], RECODED): None,
            (paths[2], paths[1], RESAMPLED): 1.25}
    cache.keep_pairs({**kept, paths[0]: "a decoded picture, not a pair", (paths[0], paths[1], 9): 1.0})
    cache.save()
    again = LookCache.load(cache_path)
    gather(items, jobs=1, look=True, cache=again)
    assert again.pairs_among(paths) == kept
    assert again.pairs_among(paths[:2]) == {k: v for k, v in kept.items() if paths[2] not in k}
    os.utime(paths[1], ns=(1, 10**9))  # changed since: its pairs no longer hold
    gather(items, jobs=1, look=True, cache=again)
    assert again.pairs_among(paths) == {(paths[0], paths[2], RECODED): None}


def test_a_look_cache_with_a_pair_out_of_range_is_rebuilt_not_trusted(tmp_path):
    """A look cache is hostile input: pairs whose indices point past its files, a negative or infinite residual,
    or a kind it does not know make it a damaged cache (read as empty and written again), never a crash or a wrong
    pair."""
    import zipfile

    from finder.groups.facts import LookCache

    paths = [str(photo(tmp_path / f"{k}.jpg", size=(96, 64), seed=k)) for k in range(2)]
    cache_path = str(tmp_path / "h.looks.npz")
    gather([(p, 0, 0) for p in paths], jobs=1, look=True, cache=(cache := LookCache.load(cache_path)))
    cache.keep_pairs({(paths[0], paths[1], 0): 0.0})
    cache.save()
    with np.load(cache_path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    for name, bad in (("pair_files", np.array([[0, 7]], np.int64)), ("pair_residual", np.array([-1.0])),
                      ("pair_residual", np.array([np.inf])), ("pair_kind", np.array([7], np.int64))):
        with zipfile.ZipFile(cache_path, "w") as archive:
            for key, value in {**arrays, name: bad}.items():
                buffer = io.BytesIO()
                np.save(buffer, value, allow_pickle=False)
                archive.writestr(f"{key}.npy", buffer.getvalue())
        loaded = LookCache.load(cache_path)
        assert loaded.changed and not loaded.entries and not loaded.pairs, name


def test_noise_level_estimates_added_gaussian_noise():
    """Immerkær's estimate against known noise: zero on a flat image and on a plane, sigma on noise added to them."""
    from finder.views.detail import noise_level

    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:400, 0:600]
    for base in (np.full((400, 600), 120.0), 40 + 0.2 * x + 0.1 * y):
        assert noise_level(base) < 1e-3
        for sigma in (2.0, 5.0, 12.0):
            assert abs(noise_level(base + rng.normal(0, sigma, base.shape)) - sigma) < 0.05 * sigma
    assert noise_level(np.zeros((2, 50))) == 0.0


def test_a_copy_with_noise_added_is_not_the_keeper(tmp_path):
    """A photo, a copy with Gaussian noise added (which looks more detailed), a re-encode and a mirror: the default
    rules keep the photo, and the noise rule is what rules the noisy copy out (without it, it is kept)."""
    from finder.groups.keep import DEFAULT_RULES, decide_groups

    original = str(tmp_path / "photo.jpg")
    source = Image.open(os.path.join(EXAMPLES, ORIGINALS[0])).convert("RGB")
    source.save(original, quality=92)
    noisy = np.asarray(source, np.float32) + np.random.default_rng(0).normal(0, 12, (source.height, source.width, 3))
    paths = {"noisy": str(tmp_path / "noisy.jpg"), "again": str(tmp_path / "again.jpg"),
             "mirror": str(tmp_path / "mirror.jpg")}
    Image.fromarray(noisy.clip(0, 255).round().astype(np.uint8)).save(paths["noisy"], quality=92)
    source.save(paths["again"], quality=80)
    source.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(paths["mirror"], quality=92)
    members = [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in (original, *paths.values())]
    [with_noise], _ = decide_groups([Group(0, original, members)], parse_rules([]), jobs=1)
    assert with_noise.keeper == original and "noise:" in with_noise.keeper_reason, with_noise.keeper_reason
    others = [r for r in DEFAULT_RULES if r != "noise"]
    [without], _ = decide_groups([Group(0, original, members)], parse_rules([",".join(others)]), jobs=1)
    assert without.keeper == paths["noisy"], without.keeper_reason


def test_content_counts_an_upscales_extra_pixels_only_as_far_as_they_hold_detail():
    """An upscale by 1.25 per side (below what the detail rule sees: 1.4) has 1.56x the pixels and 1/1.56 the detail
    per pixel: its effective resolution is the original's, so it counts the original's area and the two tie; a
    larger copy with the detail to match (a bigger original) still wins; a downscale stays smaller."""
    from finder.groups.keep import prefer_content

    original = replace_look(facts("/p/original.jpg"), _look((800, 600), (0.8, 0.8)))
    upscale = replace_look(facts("/p/upscale.jpg"), _look((1000, 750), (0.64, 0.64)))
    downscale = replace_look(facts("/p/down.jpg"), _look((400, 300), (0.9, 0.9)))
    group = [original, upscale, downscale]
    assert {f.path for f in prefer_content(group, group)} == {"/p/original.jpg", "/p/upscale.jpg"}
    detailed = replace_look(facts("/p/bigger.jpg"), _look((1000, 750), (0.8, 0.8)))
    group = [original, detailed, downscale]
    assert {f.path for f in prefer_content(group, group)} == {"/p/bigger.jpg"}


def test_a_mirrored_copy_is_not_the_keeper(tmp_path):
    """A photo saved coarsely, its mirror saved finer (closer in pixels to the other copies, which were made from the
    same source), a greyscale copy and a downscale: the default rules keep the photo for its orientation; without that
    rule the mirror is kept."""
    from finder.groups.keep import DEFAULT_RULES, decide_groups

    source = Image.open(os.path.join(EXAMPLES, ORIGINALS[2])).convert("RGB")  # in colour
    paths = {name: str(tmp_path / name) for name in ("a-mirror.jpg", "photo.jpg", "grey.jpg", "small.jpg")}
    source.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(paths["a-mirror.jpg"], quality=98)
    source.save(paths["photo.jpg"], quality=60)
    source.convert("L").save(paths["grey.jpg"], quality=92)
    source.resize((source.width * 3 // 4, source.height * 3 // 4)).save(paths["small.jpg"], quality=92)
    members = [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in paths.values()]
    [chosen], _ = decide_groups([Group(0, paths["photo.jpg"], members)], parse_rules([]), jobs=1)
    assert chosen.keeper == paths["photo.jpg"] and "orientation:" in chosen.keeper_reason, chosen.keeper_reason
    others = [r for r in DEFAULT_RULES if r != "orientation"]
    [without], _ = decide_groups([Group(0, paths["photo.jpg"], members)], parse_rules([",".join(others)]), jobs=1)
    assert without.keeper == paths["a-mirror.jpg"], without.keeper_reason


def test_orientation_decides_only_what_its_group_shows():
    """The majority decides: one mirror among copies the same way round loses; an original and its mirror alone, or
    with a copy that is neither (a near-symmetric picture), decide nothing; most copies mirrored makes the
    unmirrored one the odd one out (the rule reads a majority, not which is first)."""
    from finder.groups.keep import prefer_orientation

    rng = np.random.default_rng(5)
    picture = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    flipped = picture[:, ::-1].copy()

    def member(name, thumb):
        return replace_look(facts(f"/p/{name}.jpg"), _look(thumb=thumb))

    def kept(*members):
        return sorted(f.path.rsplit("/", 1)[1][:-4] for f in prefer_orientation(members, members))

    noisy = np.clip(picture + rng.normal(0, 6, picture.shape), 0, 255).astype(np.uint8)
    assert kept(member("o", picture), member("m", flipped), member("x", noisy), member("y", picture)) == ["o", "x",
                                                                                                           "y"]
    assert kept(member("o", picture), member("m", flipped)) == ["m", "o"]
    symmetric = np.concatenate([picture[:, :16], picture[:, :16][:, ::-1]], axis=1)
    assert kept(member("o", picture), member("m", flipped), member("s", symmetric)) == ["m", "o", "s"]
    assert kept(member("o", picture), member("m", flipped), member("n", flipped), member("p", flipped)) == ["m", "n",
                                                                                                             "p"]


def test_detail_judges_against_the_groups_median_not_its_most_detailed_copy():
    """Copies that keep the source's resolution hold its detail per pixel; a grainy copy (too little noise for the
    noise rule) measures more than twice the source's, and judged against that best copy the source would look
    upsampled.  Against the group's median it is not; an upscale by 1.5 per side still is, in a group and in a
    pair (where the better member is the reference)."""
    from finder.groups.keep import prefer_detail

    def member(name, detail):
        return replace_look(facts(f"/p/{name}.jpg"), _look(detail=detail))

    group = [member("original", (0.3, 0.3)), member("again", (0.3, 0.3)), member("crop", (0.32, 0.3)),
             member("grainy", (0.5, 0.5)), member("upscale", (0.2, 0.2))]
    kept = {f.path for f in prefer_detail(group, group)}
    assert kept == {"/p/original.jpg", "/p/again.jpg", "/p/crop.jpg", "/p/grainy.jpg"}
    pair = [group[0], group[-1]]
    assert [f.path for f in prefer_detail(pair, pair)] == ["/p/original.jpg"]


def test_a_reencode_is_reproduced_from_its_source_and_not_the_other_way(tmp_path):
    """JPEG's quantisation is deterministic: re-encoding a photo with a copy's tables gives the copy back exactly
    (whatever the copy's quality), while re-encoding the copy cannot restore the photo -- over the window the
    rule compares (coding units aligned, so it is coded as in the whole picture)."""
    from finder.groups.facts import read_coded, recode_window, reencoding_residual

    photo_path = tmp_path / "photo.jpg"
    Image.open(os.path.join(EXAMPLES, ORIGINALS[2])).convert("RGB").save(photo_path, quality=90)
    for quality in (60, 85, 95):
        copy_path = tmp_path / f"copy{quality}.jpg"
        with Image.open(photo_path) as photo:
            photo.save(copy_path, quality=quality)
        a, b = read_coded(str(photo_path)), read_coded(str(copy_path))
        assert a is not None and b is not None
        assert reencoding_residual(a, b) == 0.0, quality
        assert reencoding_residual(b, a) > 0.05, quality
    mirror_path = tmp_path / "mirror.jpg"  # a mirrored re-encode: the same, once the source is mirrored
    with Image.open(photo_path) as photo:
        photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirror_path, quality=85)
    a, m = read_coded(str(photo_path)), read_coded(str(mirror_path))
    assert a is not None and m is not None
    assert reencoding_residual(a, m, mirrored=True) == 0.0 < reencoding_residual(m, a, mirrored=True)
    assert reencoding_residual(a, m) > 1.0
    x0, y0, x1, y1 = recode_window(1000, 700)
    assert (x1 - x0, y1 - y0) == (256, 256) and x0 % 16 == 0 and y0 % 16 == 0
    assert recode_window(10, 12) == (0, 0, 10, 12)


def test_a_finer_reencode_is_not_the_keeper(tmp_path):
    """A photo, its re-encode at a finer quality (a larger file, the same picture: every other rule ties, and
    size would keep it) and a downscale: the default rules keep the photo with coding in its reason; without
    coding (and central) the re-encode is kept."""
    from finder.groups.keep import DEFAULT_RULES, decide_groups

    source = Image.open(os.path.join(EXAMPLES, ORIGINALS[2])).convert("RGB")
    paths = {name: str(tmp_path / name) for name in ("again.jpg", "photo.jpg", "small.jpg")}
    source.save(paths["photo.jpg"], quality=90)
    with Image.open(paths["photo.jpg"]) as photo:
        photo.save(paths["again.jpg"], quality=95)
        photo.resize((photo.width // 2, photo.height // 2)).save(paths["small.jpg"], quality=90)
    assert os.path.getsize(paths["again.jpg"]) > os.path.getsize(paths["photo.jpg"])
    members = [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in paths.values()]
    [chosen], _ = decide_groups([Group(0, paths["photo.jpg"], members)], parse_rules([]), jobs=1)
    assert chosen.keeper == paths["photo.jpg"] and "coding:" in chosen.keeper_reason, chosen.keeper_reason
    others = [r for r in DEFAULT_RULES if r not in ("coding", "central")]
    [without], _ = decide_groups([Group(0, paths["photo.jpg"], members)], parse_rules([",".join(others)]), jobs=1)
    assert without.keeper == paths["again.jpg"], without.keeper_reason


def test_the_mirrored_reencode_of_a_symmetric_picture_is_not_the_keeper(tmp_path):
    """A near-symmetric picture (orientation cannot tell it from its mirror), its mirror saved finer (a larger
    file) and a downscale: coding finds the mirror is the picture's mirrored re-encode, so the picture is kept;
    without coding (and central) the mirror is."""
    from finder.groups.keep import DEFAULT_RULES, decide_groups

    source = np.asarray(Image.open(os.path.join(EXAMPLES, ORIGINALS[2])).convert("RGB"))
    half = source[:, : source.shape[1] // 2]
    symmetric = np.concatenate([half, half[:, ::-1]], axis=1).copy()
    symmetric[150:180, 30:70] = (250, 20, 20)  # a mark on one side, inside the compared window
    paths = {name: str(tmp_path / name) for name in ("mirror.jpg", "picture.jpg", "small.jpg")}
    Image.fromarray(symmetric).save(paths["picture.jpg"], quality=90)
    with Image.open(paths["picture.jpg"]) as picture:
        picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(paths["mirror.jpg"], quality=95)
        picture.resize((picture.width // 2, picture.height // 2)).save(paths["small.jpg"], quality=90)
    members = [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in paths.values()]
    [chosen], _ = decide_groups([Group(0, paths["picture.jpg"], members)], parse_rules([]), jobs=1)
    assert chosen.keeper == paths["picture.jpg"] and "coding:" in chosen.keeper_reason, chosen.keeper_reason
    assert "orientation:" not in chosen.keeper_reason  # the case orientation cannot decide
    others = [r for r in DEFAULT_RULES if r not in ("coding", "central")]
    [without], _ = decide_groups([Group(0, paths["picture.jpg"], members)], parse_rules([",".join(others)]), jobs=1)
    assert without.keeper == paths["mirror.jpg"], without.keeper_reason


def _resized(path, factor, resample, target, quality=90):
    with Image.open(path) as image:
        size = (round(image.width * factor), round(image.height * factor))
        image.convert("RGB").resize(size, resample).save(target, quality=quality)
    return str(target)


def test_resampling_is_one_sided_an_upscale_comes_back_from_its_source_a_downscale_does_not(tmp_path):
    """A real photo upscaled (bicubic, 1.3x) comes back from the photo resampled up closer than the photo comes back
    from it resampled down (the filter blurred what the photo held near its resolution); a downscale is the other
    way round (upsampling cannot bring back the detail it lost), whatever filter made it."""
    from finder.groups.facts import read_content, resampling_residual
    from finder.groups.keep import UPSCALE_RATIO

    source = os.path.join(EXAMPLES, ORIGINALS[2])
    photo = read_content(source)
    up = read_content(_resized(source, 1.3, Image.Resampling.BICUBIC, tmp_path / "up.jpg"))
    assert photo is not None and up is not None and up.size == (292, 520)
    assert resampling_residual(photo, up) <= UPSCALE_RATIO * resampling_residual(up, photo)
    for name in ("NEAREST", "BILINEAR", "LANCZOS"):
        down = read_content(_resized(source, 0.6, Image.Resampling[name], tmp_path / f"{name}.jpg"))
        assert down is not None
        assert resampling_residual(down, photo) > resampling_residual(photo, down) / UPSCALE_RATIO, name
    assert resampling_residual(photo.resize((20, 12)), photo.resize((24, 14))) is None  # too small to tell


def test_an_upscale_of_the_photo_is_not_the_keeper(tmp_path):
    """A photo, its upscale by 1.25 per side (a larger picture), a re-encode and a downscale: detail finds the
    upscale is the photo resampled and drops it (without the resampling test it passes detail, and content
    weighs it by its detail per pixel alone), and the photo is kept with detail in its reason."""
    from finder.groups import keep
    from finder.groups.keep import Members, decide_groups, prefer_detail

    source = os.path.join(EXAMPLES, ORIGINALS[2])
    photo = str(tmp_path / "photo.jpg")
    Image.open(source).convert("RGB").save(photo, quality=90)
    paths = [photo, _resized(photo, 1.25, Image.Resampling.BICUBIC, tmp_path / "big.jpg"),
             _resized(photo, 1.0, Image.Resampling.BICUBIC, tmp_path / "again.jpg", quality=75),
             _resized(photo, 0.5, Image.Resampling.LANCZOS, tmp_path / "small.jpg")]
    found = [read_facts(p, os.path.getsize(p), 1, look=True) for p in paths]
    assert paths[1] not in [f.path for f in prefer_detail(found, Members(found))]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keep, "UPSCALE_RATIO", 0.0)
        patch.setattr(keep, "UPSCALE_ALIKE", 0.0)
        assert paths[1] in [f.path for f in prefer_detail(found, Members(found))]
    members = [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in paths]
    [chosen], _ = decide_groups([Group(0, photo, members)], parse_rules([]), jobs=1)
    assert chosen.keeper == photo and "detail:" in chosen.keeper_reason, chosen.keeper_reason


def _photo_and_crop(tmp_path, part):
    """A real photo saved as JPEG, and its centre crop of the same shape (1/part cut from each side)."""
    photo, crop = str(tmp_path / "photo.jpg"), str(tmp_path / "crop.jpg")
    Image.open(os.path.join(EXAMPLES, ORIGINALS[2])).convert("RGB").save(photo, quality=90)
    with Image.open(photo) as image:
        w, h = image.size
        image.crop((w // part, h // part, w - w // part, h - h // part)).save(crop, quality=90)
    return photo, crop


def test_a_source_is_not_taken_for_an_upscale_of_its_crop_or_downscales(tmp_path):
    """The larger picture of a group is dropped as an upscale only of a copy that it is the same picture as, in one
    framing: a photo with a centre crop of its own shape (which resamples to it as badly both ways), and
    downscales by three filters: nothing is an upscale, and the photo is kept."""
    from finder.groups.keep import Members, decide_groups, upscaled

    photo, crop = _photo_and_crop(tmp_path, 10)
    paths = [photo, crop] + [_resized(photo, 0.7, Image.Resampling[name], tmp_path / f"{name}.jpg")
                             for name in ("NEAREST", "BILINEAR", "LANCZOS")]
    found = [read_facts(p, os.path.getsize(p), 1, look=True) for p in paths]
    group = Members(found)
    assert upscaled(found, group) == set()
    assert any(key[2] == 2 for key in group.pairs)  # the test ran (the photo against its nearest copies)
    members = [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in paths]
    [chosen], _ = decide_groups([Group(0, photo, members)], parse_rules([]), jobs=1)
    assert chosen.keeper == photo, chosen.keeper_reason


def test_the_resampling_test_compares_one_picture_in_one_framing_only(tmp_path):
    """A crop resamples to its photo about as badly both ways, so only the ratio keeps the photo from being taken
    for the crop's upscale; the thumbnail check keeps it even under a ratio loose enough to take it (and without
    that check, it would be)."""
    from finder.groups import keep
    from finder.groups.keep import Members, upscaled

    photo, crop = _photo_and_crop(tmp_path, 8)
    found = [read_facts(p, os.path.getsize(p), 1, look=True) for p in (photo, crop)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keep, "UPSCALE_RATIO", 1.5)
        assert upscaled(found, Members(found)) == set()
        patch.setattr(keep, "ALIGNED_THUMBS", 1e9)
        assert upscaled(found, Members(found)) == {photo}


def _photo_copies(tmp_path, edits):
    """A real photo saved as JPEG and copies of it made by ``edits`` (name -> function of an RGB array)."""
    photo = str(tmp_path / "photo.jpg")
    source = Image.open(os.path.join(EXAMPLES, ORIGINALS[2])).convert("RGB")
    source.save(photo, quality=90)
    with Image.open(photo) as decoded:
        pixels = np.asarray(decoded.convert("RGB"), np.float32)
    paths = {"photo": photo}
    for name, edit in edits.items():
        paths[name] = str(tmp_path / f"{name}.jpg")
        Image.fromarray(np.clip(edit(pixels), 0, 255).round().astype(np.uint8)).save(paths[name], quality=90)
    return paths


def _blurred(pixels, radius=1.5):
    from PIL import ImageFilter

    return np.asarray(Image.fromarray(pixels.round().astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)),
                      np.float32)


def test_a_blur_and_added_noise_are_told_one_way_and_tone_edits_not_at_all(tmp_path):
    """Against a real photo: its blurred copy is the photo blurred and not the other way round; a copy with Gaussian
    noise (sigma 6) has that noise added over the photo and the photo has none over it; a contrast edit and a
    re-encode are neither."""
    from finder.groups.facts import added_noise, lowpass_residual, read_content
    from finder.groups.keep import LOWPASS_RATIO, NOISE_ADDED

    rng = np.random.default_rng(5)
    paths = _photo_copies(tmp_path, {"blur": _blurred, "noise": lambda p: p + rng.normal(0, 6, p.shape),
                                     "contrast": lambda p: 128 + 1.2 * (p - 128), "again": lambda p: p})
    c = {name: read_content(path) for name, path in paths.items()}
    assert added_noise(c["photo"], c["noise"]) >= NOISE_ADDED
    assert added_noise(c["noise"], c["photo"]) == 0.0
    for name in ("contrast", "again", "blur"):
        assert added_noise(c["photo"], c[name]) < NOISE_ADDED, name
        assert added_noise(c[name], c["photo"]) < NOISE_ADDED, name
    def blurred(a, b):  # the rule's test: b is a blurred
        forward, back = lowpass_residual(a, b), lowpass_residual(b, a)
        return back > 0 and forward <= LOWPASS_RATIO * back

    assert blurred(c["photo"], c["blur"]) and not blurred(c["blur"], c["photo"])
    for name in ("contrast", "again", "noise"):
        assert not blurred(c["photo"], c[name]) and not blurred(c[name], c["photo"]), name
    assert lowpass_residual(c["photo"], c["photo"].resize((100, 100))) is None


def test_a_blurred_copy_and_a_noisy_copy_are_not_central(tmp_path, monkeypatch):
    """A photo, its blurred copy, a noisy copy, and three copies edited from the blurred one (brighter, darker, a
    coarse re-encode), which put the blurred copy in the middle of the group: central drops the blurred and the
    noisy copy and keeps the photo; without the pair tests it keeps the blurred copy."""
    from finder.groups import keep
    from finder.groups.keep import Members, edited, prefer_central

    rng = np.random.default_rng(8)
    paths = _photo_copies(tmp_path, {"blur": _blurred, "noise": lambda p: p + rng.normal(0, 8, p.shape),
                                     "blur-bright": lambda p: _blurred(p) + 8, "blur-dark": lambda p: _blurred(p) - 8,
                                     "blur-again": lambda p: _blurred(p) + rng.normal(0, 1, p.shape)})
    found = [read_facts(p, os.path.getsize(p), 1, look=True) for p in paths.values()]
    pool = found[:3]  # the photo, the blurred and the noisy copy: what is left for central
    assert edited(pool, Members(found)) == {paths["blur"], paths["noise"]}
    assert [f.path for f in prefer_central(pool, Members(found))] == [paths["photo"]]
    monkeypatch.setattr(keep, "edited", lambda pool, group: set())
    assert [f.path for f in prefer_central(pool, Members(found))] == [paths["blur"]]


def test_keepers_chosen_in_the_process_pool_are_the_ones_chosen_in_process(tmp_path, monkeypatch):
    """Many groups are decided in the local process pool: the same keepers and reasons, in the same order, as in
    this process, and the pair residuals measured there reach the look cache; the rules travel to the workers
    (format: and path: keys included)."""
    import pickle

    from finder.groups import keep
    from finder.groups.facts import LookCache
    from finder.groups.keep import decide_groups

    rules = parse_rules(["format:png,path:*/g1/*,shape,coding,central"])
    assert [r.text for r in pickle.loads(pickle.dumps(rules))] == [r.text for r in rules]
    source = Image.open(os.path.join(EXAMPLES, ORIGINALS[1])).convert("RGB")
    groups = []
    for g in range(6):
        folder = tmp_path / f"g{g}"
        folder.mkdir()
        paths = []
        for k, quality in enumerate((90, 70 + g, 95)):
            paths.append(str(folder / f"{k}.jpg"))
            source.rotate(g * 3).save(paths[-1], quality=quality)
        groups.append(Group(g, paths[0], [Member(p, 0, size=os.path.getsize(p), mtime_ns=1) for p in paths]))
    default = parse_rules([])
    here, _ = decide_groups(groups, default, jobs=1)
    monkeypatch.setattr(keep, "DECIDE_POOL_MIN_GROUPS", 2)
    monkeypatch.setattr(keep, "DECIDE_CHUNK", 2)
    cache_path = str(tmp_path / "h.looks.npz")
    pooled, _ = decide_groups(groups, default, jobs=2, looks=cache_path)
    assert [(g.id, g.keeper, g.keeper_reason) for g in pooled] == [(g.id, g.keeper, g.keeper_reason) for g in here]
    assert any("coding:" in g.keeper_reason for g in pooled)
    assert LookCache.load(cache_path).pairs  # what the workers measured was kept
    with_keys, _ = decide_groups(groups, rules, jobs=2)
    assert [g.keeper for g in with_keys][1] == groups[1].members[0].path  # path:*/g1/* first, then the rest


def test_the_noise_rule_flags_faint_added_noise_in_a_smooth_group():
    """In a smooth group (noise levels around 0.6 grey levels) a copy at 2.0 -- faint grain, coded -- is more
    than twice the median plus half a level and is flagged; a member at twice the median is not; under the
    allowance of one grey level the faint copy passed."""
    import dataclasses

    from finder.groups import keep
    from finder.groups.keep import prefer_quiet

    levels = {"a": 0.6, "b": 0.55, "c": 0.65, "twice": 1.2, "faint": 2.0}
    group = [replace_look(facts(f"/p/{name}.jpg"), dataclasses.replace(_look(), noise=level))
             for name, level in levels.items()]
    assert {f.path for f in prefer_quiet(group, group)} == {f"/p/{n}.jpg" for n in levels if n != "faint"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keep, "NOISE_LEVELS", 1.0)
        assert "/p/faint.jpg" in {f.path for f in prefer_quiet(group, group)}


def test_content_caps_copies_of_one_size_alike():
    """A smaller copy (a perspective copy) holding more than 0.9 of the original's effective resolution caps the
    original's area, and a same-size copy whose coding noise measures a little more detail would escape the cap
    and win: copies of one size (areas within 2 %) hold one resolution, so they are capped alike -- by the best
    detail among them --, and a box two pixels taller is not capped by its twin instead (all tie with the
    perspective copy, which ``frame`` then tells apart)."""
    from finder.groups import keep
    from finder.groups.keep import prefer_content

    def member(name, size, sharpness):
        return replace_look(facts(f"/p/{name}.jpg"), _look(size, (sharpness ** 0.5, sharpness ** 0.5)))

    group = [member("original", (1000, 750), 0.40), member("webp", (1000, 751), 0.44),
             member("taller", (1000, 752), 0.40), member("perspective", (940, 705), 0.48)]
    kept = {f.path for f in prefer_content(group, group)}
    assert kept == {"/p/original.jpg", "/p/webp.jpg", "/p/taller.jpg", "/p/perspective.jpg"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keep, "SAME_SIZE", 0.0)  # each member capped on its own measure
        assert "/p/original.jpg" not in {f.path for f in prefer_content(group, group)}


def test_the_upscale_of_a_smooth_picture_is_told_by_the_size_its_copies_share(tmp_path):
    """A smooth picture (a photo blurred) holds nothing near its resolution for a filter to blur, so its upscale
    and it resample into each other alike both ways; the copies made from it (a re-encode, a brightened copy)
    share its size, the upscale stands alone: detail drops the upscale.  Without that tie-break it passes."""
    from PIL import ImageFilter

    from finder.groups import keep
    from finder.groups.facts import read_content, resampling_residual
    from finder.groups.keep import Members, upscaled

    photo = str(tmp_path / "photo.jpg")
    Image.open(os.path.join(EXAMPLES, ORIGINALS[2])).convert("RGB").filter(ImageFilter.GaussianBlur(2)).save(
        photo, quality=90)
    paths = [photo, _resized(photo, 1.3, Image.Resampling.BICUBIC, tmp_path / "big.jpg", quality=80),
             _resized(photo, 1.0, Image.Resampling.BICUBIC, tmp_path / "again.jpg", quality=75)]
    with Image.open(photo) as image:
        Image.eval(image, lambda v: min(255, v + 6)).save(str(tmp_path / "bright.jpg"), quality=90)
    paths.append(str(tmp_path / "bright.jpg"))
    found = [read_facts(p, os.path.getsize(p), 1, look=True) for p in paths]
    group = Members(found)
    assert upscaled(found, group) == {paths[1]}
    small, big = read_content(photo), read_content(paths[1])
    up, down = resampling_residual(small, big), resampling_residual(big, small)
    assert keep.UPSCALE_RATIO * down < up <= keep.UPSCALE_ALIKE * down  # alike both ways: the tie-break decided
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keep, "UPSCALE_ALIKE", keep.UPSCALE_RATIO)
        assert upscaled(found, Members(found)) == set()
