"""finder report: the page's content, escaping, thumbnails, and what a real headless browser renders."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from PIL import Image

from finder.cli.app import cli
from finder.groups.facts import FileFacts
from finder.groups.linkage import Group, Member
from finder.report.page import Report, esc, human_bytes, render, text
from finder.report.thumbs import Thumb, make_thumb
from tests.test_keep import photo

NASTY = ["<img src=x onerror=alert(1)>.jpg", "it's \"quoted\" & <b>bold.jpg"]
NON_UTF8 = b"caf\xe9 \xff.jpg"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


class Dom(HTMLParser):
    """What a page shows: elements outside <template>, counted by tag and class, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # inside <template>
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "template":
            self.depth += 1
        if tag == "body":
            self.body = dict(attrs)
        if not self.depth:
            self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "template":
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.text.append(data)

    def count(self, tag, cls=None):
        return sum(t == tag and (cls is None or cls in (a.get("class") or "").split()) for t, a in self.tags)


def parse(page: str) -> Dom:
    dom = Dom()
    dom.feed(page)
    return dom


def test_text_and_escaping():
    assert text(os.fsdecode(b"caf\xe9.jpg")) == "caf\\xe9.jpg"
    assert text("a\nb\tc") == "a\\x0ab\\x09c"
    assert esc('<script>"x"</script>') == "&lt;script&gt;&quot;x&quot;&lt;/script&gt;"
    assert human_bytes(1536) == "1.5 KiB" and human_bytes(12) == "12 B"


def fake_thumb(path):
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buffer, "JPEG")
    return Thumb(FileFacts(path, 2048, 10**18, 400, 300, "JPEG", "2019-06-01T12:00:03", 0, "<i>cam</i>"),
                 buffer.getvalue(), 4, 3)


def groups_of(n, size=3):
    return [Group(g, f"/p/{g}/0.jpg", [Member(f"/p/{g}/{k}.jpg", k, size=2048, mtime_ns=1) for k in range(size)],
                  keeper=f"/p/{g}/1.jpg") for g in range(n)]


def test_pages_templates_and_collapsed_members():
    groups = groups_of(5, size=15)
    thumbs = {m.path: fake_thumb(m.path) for g in groups for m in g.members}
    page = render(Report(groups, thumbs), page_size=2, collapse_after=12)
    dom = parse(page)
    assert dom.body["data-total-groups"] == "5" and dom.body["data-pages"] == "3"
    assert dom.count("section", "group") == 2  # page 1 in the document, pages 2 and 3 inert templates
    assert page.count('<template class="page">') == 2
    assert dom.count("img") == 30 and dom.count("details", "more") == 2  # 3 of 15 members folded per group
    assert all(a.get("loading") == "lazy" for t, a in dom.tags if t == "img")
    shown = "".join(dom.text)
    assert "taken 2019-06-01 12:00" in shown and "400 × 300" in shown and "2.0 KiB" in shown
    first = [a for t, a in dom.tags if t == "figure"][0]
    assert first["data-path"] == "/p/0/1.jpg" and "keeper" in first["class"]  # the keeper's card comes first
    assert "http" not in page.replace("http-equiv", "")  # nothing from the network


def test_file_names_and_exif_text_are_text_never_markup():
    paths = ["/p/" + n for n in NASTY] + [os.fsdecode(b"/p/" + NON_UTF8), "/p/<script>alert(1)</script>.jpg"]
    g = Group(0, paths[0], [Member(p, 0, size=1, mtime_ns=1) for p in paths], keeper=paths[1],
              keeper_reason="why: <b>because</b>")
    page = render(Report([g], {p: fake_thumb(p) for p in paths}, title="<script>t</script>"))
    dom = parse(page)
    assert dom.count("script") == 1 and dom.count("i") == 0
    assert all(set(a) <= {"class", "title"} for t, a in dom.tags if t == "b")  # badges only
    assert sum(t == "img" for t, _ in dom.tags) == len(paths)
    assert all(set(a) == {"src", "width", "height", "loading", "decoding", "alt"} for t, a in dom.tags if t == "img")
    shown = "".join(dom.text)
    # a "/" in a path separates folder and name: both are shown
    for name in NASTY + ["caf\\xe9 \\xff.jpg", "/p/<script>alert(1)<", "script>.jpg", "<i>cam</i>",
                         "kept: why: <b>because</b>"]:
        assert name in shown
    page.encode("utf-8")  # valid UTF-8 throughout


def test_thumbnail_is_a_small_jpeg_of_the_right_shape(tmp_path):
    path = photo(tmp_path / "wide.jpg", size=(640, 320))
    thumb = make_thumb(str(path), 1, 2, box=100)
    assert thumb.data is not None and (thumb.width, thumb.height) == (100, 50)
    assert Image.open(io.BytesIO(thumb.data)).format == "JPEG" and len(thumb.data) < 8000
    assert thumb.facts.width == 640
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    broken = make_thumb(str(tmp_path / "broken.jpg"), 1, 2)
    assert broken.data is None and broken.facts.problem


# --------------------------------------------------------------------------------------- end to end, in a browser


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def browser_dom(page, tmp_path, fragment=""):
    """The DOM after the page's script ran and its images loaded, from headless Chromium."""
    profile = tmp_path / "profile"
    result = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--window-size=1280,12000", "--virtual-time-budget=10000", "--dump-dom", page.as_uri() + fragment],
        capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode("utf-8")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Near-duplicate photos under hostile names (markup, quotes, non-UTF-8 bytes, EXIF markup), hashed."""
    root = tmp_path_factory.mktemp("report")
    photos = root / "photos"
    (photos / "<script>alert(1)<").mkdir(parents=True)
    names = [*NASTY, "plain.jpg"]
    for k, name in enumerate(names):
        photo(photos / name, size=(200 - 20 * k, 150 - 15 * k), seed=k, model="<b onmouseover=alert(1)>cam</b>",
              taken="2019:06:01 12:00:03")
    photo(photos / "<script>alert(1)<" / "script>.jpg", size=(160, 120), seed=9)
    photo(photos / os.fsdecode(NON_UTF8), size=(120, 90), seed=7)
    # a second group: a different picture and its copy
    for k in range(2):
        image = Image.radial_gradient("L").convert("RGB").resize((100 + 10 * k, 100 + 10 * k))
        image.save(photos / f"radial{k}.png")
    assert run("hash", photos, "-o", root / "h.npz", "-j", "1", "-q").exit_code == 0
    return root


def test_report_renders_in_a_real_browser(library, tmp_path):
    out = tmp_path / "r.html"
    result = run("report", library / "h.npz", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    static = parse(out.read_text("utf-8"))
    expected_groups = static.count("section", "group")
    expected_images = static.count("img")
    assert expected_groups == 2 and expected_images == 7
    dom = parse(browser_dom(out, tmp_path))
    assert dom.body["data-groups"] == str(expected_groups)
    assert dom.body["data-images"] == str(expected_images)
    assert dom.body["data-loaded"] == str(expected_images)  # every thumbnail decoded (complete, naturalWidth > 0)
    assert dom.count("section", "group") == expected_groups and dom.count("img") == expected_images
    assert dom.count("script") == 1  # ours; no file name or EXIF field became an element
    assert all(set(a) == {"src", "width", "height", "loading", "decoding", "alt"} for t, a in dom.tags if t == "img")
    assert all(a.get("class") in ("keep", "drop", "ref", None) and "onmouseover" not in a
               for t, a in dom.tags if t == "b")
    shown = "".join(dom.text)
    for name in [*NASTY, "caf\\xe9 \\xff.jpg", "script>.jpg", "<script>alert(1)<", "<b onmouseover=alert(1)>cam</b>"]:
        assert name in shown, name
    assert shown.count("keep") >= 2


def test_report_pages_switch_in_the_browser(library, tmp_path):
    out = tmp_path / "r.html"
    assert run("report", library / "h.npz", "-o", out, "-q", "--page-size", "1").exit_code == 0
    first = parse(browser_dom(out, tmp_path))
    second = parse(browser_dom(out, tmp_path, "#page=2"))
    assert (first.body["data-page"], second.body["data-page"]) == ("1", "2")
    assert first.body["data-groups"] == second.body["data-groups"] == "1"
    assert int(first.body["data-images"]) + int(second.body["data-images"]) == 7
    assert second.body["data-loaded"] == second.body["data-images"]
    assert first.count("a") == 2  # the pager, built by the script


def test_report_output_checked_first_and_data_uris_only(library, tmp_path):
    result = CliRunner().invoke(cli, ["report", str(library / "h.npz"), "-o", str(tmp_path / "no" / "r.html")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = CliRunner().invoke(cli, ["report", str(library / "h.npz"), "-o", str(library / "h.npz")])
    assert result.exit_code == 2 and "finder hash file" in result.output
    page = run("report", library / "h.npz", "-o", "-", "-q").stdout
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    assert all(Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1]))).size[0] <= 160 for s in sources)
