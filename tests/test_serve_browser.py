"""finder serve in a real browser: Debian's Chromium driven by Playwright against `finder serve` run as a user
runs it.  .ci/run installs Chromium; these tests fail (not skip) in CI when it is missing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Page, expect, sync_playwright

from finder.cli.app import cli
from tests.review_data import make_collection

# A fresh clone's first search compiles the hashing kernels in the server (numba's cache is empty): seconds.
expect.set_options(timeout=60_000)

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@contextlib.contextmanager
def serving(root: Path) -> Iterator[str]:
    """``finder serve`` on ``root/hashes.npz`` in a child process; the address it printed."""
    process = subprocess.Popen([sys.executable, "-m", "finder", "serve", str(root / "hashes.npz"), "--no-browser",
                                "-j", "1"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        assert line.startswith("http://127.0.0.1:"), (line, process.stderr.read().decode() if process.stderr else "")
        yield line
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser, url: str) -> Page:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("pageerror", lambda exc: pytest.fail(f"script error on the page: {exc}"))
    page.goto(url)
    expect(page.locator("body[data-ready='1']")).to_have_count(1)
    return page


def group_names(page: Page) -> list[set[str]]:
    return [set(card.locator(".member .name").all_inner_texts()) for card in page.locator("#groups .group").all()]


def test_review_with_the_keyboard_restart_cluster_search_and_dedupe(tmp_path, browser):
    made = make_collection(tmp_path)
    with serving(tmp_path) as url:
        assert "token=" in url
        page = open_page(browser, url + "&limit=2")
        assert "token" not in page.url  # exchanged for a cookie, gone from the address bar
        cookies = page.context.cookies()
        assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
        expect(page.locator("#pageinfo")).to_contain_text("groups 1–2 of 3")
        first_page = group_names(page)
        page.keyboard.press("]")
        expect(page.locator("#pageinfo")).to_contain_text("groups 3–3 of 3")
        page.keyboard.press("[")
        expect(page.locator("#pageinfo")).to_contain_text("groups 1–2 of 3")
        assert group_names(page) == first_page

        # The beach group (largest to reclaim: first): choose its second image as keeper with the keyboard.
        beach = page.locator("#groups .group").first
        assert "beach.jpg" in beach.locator(".member.keeper .name").inner_text()
        page.keyboard.press("l")
        chosen = beach.locator(".member").nth(1).locator(".name").inner_text()
        page.keyboard.press("Enter")
        expect(page.locator("#groups .group").first.locator(".member.keeper .name")).to_have_text(chosen)
        expect(page.locator("#groups .group").first.locator(".reason")).to_contain_text("chosen in review")

        # Mark the mirrored tree "not a duplicate": its group of two goes.
        tree = page.locator("#groups .group", has_text="tree-mirror.jpg")
        if not tree.count():
            page.keyboard.press("]")
        tree = page.locator("#groups .group", has_text="tree-mirror.jpg")
        tree.locator(".member", has_text="tree-mirror.jpg").locator("button.distinct").click()
        expect(page.locator("#pageinfo")).to_contain_text("of 2")
        page.close()

    # After a restart the decisions hold, and a new `finder cluster` honours them.
    with serving(tmp_path) as url:
        page = open_page(browser, url)
        names = group_names(page)
        assert not any("tree-mirror.jpg" in g for g in names) and len(names) == 2
        expect(page.locator("#groups .group").first.locator(".member.keeper .name")).to_have_text(chosen)
        result = CliRunner().invoke(cli, ["cluster", str(tmp_path / "hashes.npz")])
        clustered = json.loads(result.stdout)
        assert len(clustered) == 2 and not any(str(made["tree-mirror"]) == m["path"]
                                               for g in clustered for m in g["members"])

        # Compare view: both images shown, difference image, flicker, 1:1, metadata, why they matched.
        page.keyboard.press("c")
        expect(page.locator("#compare")).to_be_visible()
        page.wait_for_function("() => document.getElementById('img-a').naturalWidth > 0 && "
                               "document.getElementById('img-b').naturalWidth > 0")
        expect(page.locator("#compare-why")).to_contain_text("match")
        expect(page.locator("#compare-meta")).to_contain_text("pixels")
        page.click("#diff")
        expect(page.locator("#label-b")).to_contain_text("difference")
        page.wait_for_function("() => document.getElementById('img-b').src.includes('/diff/') && "
                               "document.getElementById('img-b').complete && "
                               "document.getElementById('img-b').naturalWidth > 0")
        page.click("#zoom-1")
        assert "scale(1)" in page.locator("#img-a").evaluate("e => e.style.transform")
        page.keyboard.press("Escape")
        expect(page.locator("#compare")).to_be_hidden()

        # Search by upload: the re-encoded city finds its original.
        page.click("#search summary")
        page.set_input_files("#upload", str(made["city-q60"]))
        expect(page.locator("#search-results li.match", has_text="city.jpg")).to_have_count(1)

        # Dedupe the beach group: dry run (nothing moves), apply (moved), undo (back).
        page.locator("#groups .group").first.click()
        page.keyboard.press("x")
        page.click("#act summary")
        page.fill("#to", str(tmp_path / "dupes"))
        page.click("#plan")
        expect(page.locator("#act-result .plan-summary")).to_contain_text("dry run: 2 files")
        keeper_name = chosen
        movers = [p for n, p in made.items() if n.startswith("beach") and p.name != keeper_name]
        assert all(p.exists() for p in movers)
        page.click("#apply")
        expect(page.locator("#act-result .apply-summary")).to_contain_text("done: 2 files")
        assert not any(p.exists() for p in movers) and (tmp_path / "dupes").is_dir()
        page.click("#undo-dedupe")
        expect(page.locator("#act-result .undo-summary")).to_contain_text("restored 2 files")
        assert all(p.exists() for p in movers)


def test_hostile_file_names_are_shown_as_text(tmp_path, browser):
    made = make_collection(tmp_path)
    hostile = made["city"].parent / "<img src=x onerror=document.body.dataset.pwned=1>.jpg"
    shutil.copy(made["city-q60"], hostile)
    assert CliRunner().invoke(cli, ["hash", str(tmp_path / "photos"), "-o", str(tmp_path / "hashes.npz"), "-q",
                                    "-j", "1"]).exit_code == 0
    with serving(tmp_path) as url:
        page = open_page(browser, url)
        expect(page.locator(".member .name", has_text="<img src=x")).to_have_count(1)
        time.sleep(0.3)
        assert page.evaluate("() => document.body.dataset.pwned") is None
        assert page.locator("#groups img[src='x']").count() == 0
