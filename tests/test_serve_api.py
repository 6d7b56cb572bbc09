"""finder serve's API through Starlette's test client: every security rule, the review actions, and that
decisions persist for the next start and for cluster."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from starlette.testclient import TestClient

from finder.cli.app import cli
from finder.web.app import COOKIE, create_app
from finder.web.review import Review
from tests.review_data import make_collection

PORT = 8765
ORIGIN = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def served(tmp_path):
    made = make_collection(tmp_path)
    review = Review(str(tmp_path / "hashes.npz"))
    app, token = create_app(review, port=PORT, max_upload=2_000_000)
    client = TestClient(app, base_url=ORIGIN)
    return client, token, review, made, tmp_path


def logged_in(client: TestClient, token: str) -> dict:
    assert client.get(f"/?token={token}", follow_redirects=False).status_code == 303
    state = client.get("/api/state")
    assert state.status_code == 200
    return {"X-CSRF-Token": state.json()["csrf"], "Origin": ORIGIN}


def file_index(review: Review, path: Path) -> int:
    index = review.keys.index_of(str(path))
    assert index is not None
    return index


# ------------------------------------------------------------------------------------------- the token


@pytest.mark.parametrize("url", ["/", "/api/state", "/api/groups", "/thumb/0", "/image/0", "/static/app.js"])
def test_every_request_without_the_token_or_cookie_is_refused(served, url):
    client, token, *_ = served
    assert client.get(url).status_code == 403
    assert client.get(url + ("&" if "?" in url else "?") + "token=wrong").status_code == 403
    client.cookies.set(COOKIE, "wrong")
    assert client.get(url).status_code == 403


def test_the_token_becomes_an_httponly_samesite_strict_cookie_and_leaves_the_address(served):
    client, token, *_ = served
    assert len(token) >= 22  # 128 bits and more, URL-safe base64
    response = client.get(f"/?token={token}&limit=2", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?limit=2"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}={token}" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert client.get("/api/state").status_code == 200


@pytest.mark.parametrize("path", ["//evil.example/x", "///evil.example", "/\\evil.example"])
def test_the_token_exchange_never_redirects_off_this_server(served, path):
    client, token, *_ = served
    response = client.get(f"{ORIGIN}{path}?token={token}", follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location


# --------------------------------------------------------------------------------------------- Host


@pytest.mark.parametrize("host, allowed", [(f"127.0.0.1:{PORT}", True), (f"localhost:{PORT}", True),
                                           (f"[::1]:{PORT}", True), (f"evil.example:{PORT}", False),
                                           ("127.0.0.1:9999", False), ("localhost", False),
                                           (f"attacker.localhost.evil:{PORT}", False)])
def test_the_host_header_must_name_this_server(served, host, allowed):
    client, token, *_ = served
    logged_in(client, token)
    response = client.get("/api/state", headers={"Host": host})
    assert (response.status_code == 200) is allowed


def test_another_host_is_allowed_only_when_named():
    from finder.web.app import loopback_hosts

    assert "192.168.1.5:80" not in loopback_hosts(80)
    assert "192.168.1.5:80" in loopback_hosts(80, "192.168.1.5")


# ------------------------------------------------------------------------------------- Origin and CSRF


def test_the_token_in_the_address_does_not_stand_in_for_origin_and_csrf(served):
    client, token, review, made, root = served
    response = client.post(f"/api/decide?token={token}", json={"kind": "reviewed", "group": 0},
                           headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert not os.path.exists(root / "hashes.decisions.json")


def test_a_state_changing_request_needs_the_origin_and_the_csrf_token(served):
    client, token, review, made, root = served
    headers = logged_in(client, token)
    body = {"kind": "reviewed", "group": 0}
    assert client.post("/api/decide", json=body, headers={"X-CSRF-Token": headers["X-CSRF-Token"]}).status_code == 403
    assert client.post("/api/decide", json=body,
                       headers={**headers, "Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/decide", json=body, headers={"Origin": ORIGIN}).status_code == 403
    assert client.post("/api/decide", json=body, headers={**headers, "X-CSRF-Token": "x" * 43}).status_code == 403
    assert not os.path.exists(root / "hashes.decisions.json")  # nothing was decided by the refused requests
    assert client.post("/api/decide", json=body, headers=headers).status_code == 200
    assert os.path.exists(root / "hashes.decisions.json")


def test_no_cors_headers_and_no_preflight(served):
    client, token, *_ = served
    logged_in(client, token)
    response = client.get("/api/state", headers={"Origin": "http://evil.example"})
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    preflight = client.options("/api/decide", headers={"Origin": "http://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert preflight.status_code in (403, 405)
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]


# ----------------------------------------------------------------------------- CSP and no inline script


def test_the_page_has_a_strict_csp_and_no_inline_script_or_handler(served):
    client, token, *_ = served
    logged_in(client, token)
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    script = client.get("/static/app.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script


# -------------------------------------------------------------------------------------- files: traversal


@pytest.mark.parametrize("url", [
    "/thumb/..%2f..%2fetc%2fpasswd", "/image/%2e%2e/%2e%2e/etc/passwd", "/image/..%252f..%252fetc%252fpasswd",
    "/image/-1", "/image/99999", "/image/0%00", "/thumb/0%2500", "/static/..%2fapp.py", "/static/../review.py",
    "/image//etc/passwd", "/diff/0/..%2f1",
])
def test_files_are_addressed_only_by_their_index_in_the_hash_file(served, url):
    client, token, *_ = served
    logged_in(client, token)
    response = client.get(url)
    assert response.status_code == 404
    assert b"root:" not in response.content and b"import" not in response.content


@pytest.mark.parametrize("path, status", [
    ("../../../../etc/passwd", 403), ("/etc/passwd", 403), ("%2e%2e/%2e%2e/etc/passwd", 404),
    ("a/city.jpg\x00.png", 400), ("..%252f..%252fetc%252fpasswd", 404), ("a/../../hashes.npz", 403),
])
def test_search_by_path_stays_inside_the_collection(served, path, status):
    client, token, *_ = served
    headers = logged_in(client, token)
    response = client.post("/api/search-path", json={"path": path}, headers=headers)
    assert response.status_code == status, response.text


def test_a_file_replaced_by_a_link_out_of_the_collection_or_changed_is_not_served(served):
    client, token, review, made, root = served
    logged_in(client, token)
    index = file_index(review, made["lonely"])
    assert client.get(f"/image/{index}").status_code == 200
    secret = root / "secret.jpg"
    secret.write_bytes(made["lonely"].read_bytes())
    stat = made["lonely"].stat()
    made["lonely"].unlink()
    made["lonely"].symlink_to(secret)
    os.utime(secret, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert client.get(f"/image/{index}").status_code == 403
    assert client.get(f"/thumb/{index}").status_code == 403
    outside_link = root / "photos" / "a" / "link.jpg"
    outside_link.symlink_to(secret)
    assert client.post("/api/search-path", json={"path": "a/link.jpg"},
                       headers=logged_in(client, token)).status_code == 403
    made["lonely"].unlink()
    made["lonely"].write_bytes(secret.read_bytes() + b"\0")
    assert client.get(f"/image/{index}").status_code == 409


# ------------------------------------------------------------------------------------------------ uploads


def test_uploads_are_size_limited_and_decoded_with_the_hashing_guards(served):
    client, token, review, made, root = served
    headers = logged_in(client, token)
    big = client.post("/api/search", content=b"\xff" * 2_000_001, headers=headers)
    assert big.status_code == 413
    corrupt = client.post("/api/search", content=b"\xff\xd8\xff\xe0 not really a jpeg", headers=headers)
    assert corrupt.status_code == 422 and "cannot be hashed" in corrupt.json()["error"]
    bomb = io.BytesIO()
    Image.new("1", (40_000, 40_000)).save(bomb, "PNG")  # 1.6 G pixels in ~200 kB
    refused = client.post("/api/search", content=bomb.getvalue(), headers=headers)
    assert refused.status_code == 422
    found = client.post("/api/search", content=made["city-q60"].read_bytes(), headers=headers)
    assert found.status_code == 200
    matches = {r["path"] for r in found.json()["results"] if r["match"]}
    assert {str(made["city"]), str(made["city-q60"])} <= matches
    assert str(made["beach"]) not in matches


def test_search_by_a_path_in_the_collection(served):
    client, token, review, made, root = served
    headers = logged_in(client, token)
    found = client.post("/api/search-path", json={"path": "c/tree-mirror.jpg"}, headers=headers).json()
    near = [r for r in found["results"] if r["match"]]
    assert {r["path"] for r in near} == {str(made["tree"]), str(made["tree-mirror"])}
    assert "mirror" in next(r for r in near if r["path"] == str(made["tree"]))["view"]


# -------------------------------------------------------------------------------------- review actions


def group_of(client: TestClient, made: dict[str, Path], name: str) -> dict:
    page = client.get("/api/groups?limit=50").json()
    return next(g for g in page["groups"] if any(m["path"] == str(made[name]) for m in g["members"]))


def test_decisions_persist_across_a_restart_and_cluster_honours_them(served):
    client, token, review, made, root = served
    headers = logged_in(client, token)
    tree = group_of(client, made, "tree")
    mirror = next(m for m in tree["members"] if m["path"] == str(made["tree-mirror"]))
    assert client.post("/api/decide", json={"kind": "distinct", "group": tree["id"], "file": mirror["file"]},
                       headers=headers).json()["group"]["hidden"] == "not a duplicate"
    beach = group_of(client, made, "beach")
    small = next(m for m in beach["members"] if m["path"] == str(made["beach-small"]))
    changed = client.post("/api/decide", json={"kind": "keeper", "group": beach["id"], "file": small["file"]},
                          headers=headers).json()["group"]
    assert changed["keeper"] == str(made["beach-small"])
    assert client.get("/api/groups").json()["total"] == 2
    # A restart reads the decisions back.
    again = Review(str(root / "hashes.npz"))
    assert {m.path for c in again.cards for m in c.group.members} == {
        str(made[n]) for n in ("beach", "beach-small", "beach-png", "city", "city-q60")}
    assert next(c for c in again.cards if c.group.size == 3).group.keeper == str(made["beach-small"])
    result = CliRunner().invoke(cli, ["cluster", str(root / "hashes.npz")])
    groups = json.loads(result.stdout)
    assert len(groups) == 2 and groups[0]["keeper"] == str(made["beach-small"])


def test_undo_takes_back_the_last_decision(served):
    client, token, review, made, root = served
    headers = logged_in(client, token)
    city = group_of(client, made, "city")
    client.post("/api/decide", json={"kind": "keep_all", "group": city["id"]}, headers=headers)
    assert client.get("/api/groups").json()["total"] == 2
    assert client.post("/api/undo", json={}, headers=headers).status_code == 200
    assert client.get("/api/groups").json()["total"] == 3
    assert json.loads((root / "hashes.decisions.json").read_text())["decisions"] == []


def test_keep_by_rule_for_many_groups(served):
    client, token, review, made, root = served
    headers = logged_in(client, token)
    result = client.post("/api/keep-rule", json={"rule": "path:*/b/*", "groups": "all"}, headers=headers).json()
    assert result["groups"] == 3
    assert group_of(client, made, "beach")["keeper"] in {str(made["beach-small"]), str(made["beach-png"])}
    assert group_of(client, made, "city")["keeper"] == str(made["city"])  # no member under b/: unchanged
    bad = client.post("/api/keep-rule", json={"rule": "nonsense", "groups": "all"}, headers=headers)
    assert bad.status_code == 400


def test_compare_says_why_they_matched_and_differences_are_images(served):
    client, token, review, made, root = served
    logged_in(client, token)
    a, b = file_index(review, made["tree"]), file_index(review, made["tree-mirror"])
    data = client.get(f"/api/compare?a={a}&b={b}").json()
    assert data["why"]["matched"] and "mirror" in data["why"]["view"]
    assert data["a"]["width"] == Image.open(made["tree"]).width
    diff = client.get(f"/diff/{a}/{b}")
    assert diff.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(diff.content)).size[0] > 0
    image = client.get(f"/image/{a}")
    assert image.content == made["tree"].read_bytes()


def test_dedupe_from_the_page_plans_applies_and_undoes_with_dedupes_journal(served):
    client, token, review, made, root = served
    headers = logged_in(client, token)
    beach = group_of(client, made, "beach")
    plan = client.post("/api/dedupe/plan", json={"groups": [beach["id"]], "action": "move", "to": "dupes"},
                       headers=headers).json()
    assert {s["path"] for s in plan["steps"]} == {str(made["beach-small"]), str(made["beach-png"])}
    assert made["beach-small"].exists()  # a dry run changes nothing
    done = client.post("/api/dedupe/apply", json={"plan": plan["plan"]}, headers=headers).json()
    assert len(done["done"]) == 2 and not made["beach-small"].exists()
    assert (root / "dupes").is_dir() and Path(done["journal"]).is_file()
    assert client.get("/api/groups").json()["total"] == 2
    back = client.post("/api/dedupe/undo", json={"plan": plan["plan"]}, headers=headers).json()
    assert len(back["restored"]) == 2 and made["beach-small"].exists() and made["beach-png"].exists()
    trash = client.post("/api/dedupe/plan", json={"groups": [beach["id"]], "action": "trash", "to": "ignored"},
                        headers=headers).json()
    assert len(trash["steps"]) == 2 and trash["to"] is None
    refused = client.post("/api/dedupe/plan", json={"groups": [beach["id"]], "action": "delete"}, headers=headers)
    assert refused.status_code == 400
    outside = client.post("/api/dedupe/plan", json={"groups": [beach["id"]], "action": "move", "to": "a\x00b"},
                          headers=headers)
    assert outside.status_code == 400


def test_bursts_are_marked_and_not_offered(tmp_path):
    """Two different shots one second apart (EXIF) in one group are a burst: neither is proposed."""
    from finder.web.review import offered

    made = make_collection(tmp_path)
    for name, second in (("city", 10), ("city-q60", 11)):
        with Image.open(made[name]) as image:
            exif = image.getexif()
            exif.get_ifd(0x8769)[0x9003] = f"2024:05:01 12:00:{second:02d}"
            picture = image.copy()
        if name == "city-q60":  # another exposure, not a re-encode: brighter, different enough
            picture = picture.point(lambda v: min(255, int(v * 1.6)))
        picture.save(made[name], exif=exif, quality=90)
    CliRunner().invoke(cli, ["hash", str(tmp_path / "photos"), "-o", str(tmp_path / "hashes.npz"), "-q", "-j", "1"])
    review = Review(str(tmp_path / "hashes.npz"))
    card = next(c for c in review.cards if any(m.path == str(made["city"]) for m in c.group.members))
    assert card.bursts == {str(made["city"]), str(made["city-q60"])}
    assert offered(card) == []


def test_serve_warns_when_it_listens_beyond_loopback_and_names_a_missing_store(tmp_path):
    import subprocess
    import sys

    missing = CliRunner().invoke(cli, ["serve", str(tmp_path / "none.npz"), "--no-browser"])
    assert missing.exit_code == 2 and "none.npz" in missing.stderr
    make_collection(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "finder", "serve", str(tmp_path / "hashes.npz"), "--no-browser",
                                "--host", "0.0.0.0", "-j", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stderr is not None
        url = process.stdout.readline().decode()
        assert re.match(r"http://0\.0\.0\.0:\d+/\?token=[\w-]{43}$", url.strip())
        warning = process.stderr.readline().decode()
        assert "other machines can reach this page" in warning
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_stop_signal_landing_in_a_garbage_collector_callback_still_stops_the_server():
    """SIGTERM delivered while a weakref callback runs (the collector runs them at any moment): finder's usual
    handler raises there and Python prints and drops the exception, so the server went on serving (seen as a
    hung test).  While serving, the signal sets uvicorn's flag instead and is remembered."""
    import os
    import signal
    import weakref
    from types import SimpleNamespace

    from finder.cli.serve import stop_signals
    from finder.cli.signals import raise_terminated

    class Thing:
        pass

    def signal_inside_a_callback() -> None:
        thing = Thing()
        weakref.finalize(thing, os.kill, os.getpid(), signal.SIGTERM)
        del thing  # the callback runs now; the handler runs inside it

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        server = SimpleNamespace(should_exit=False)
        with stop_signals(server) as stopped:
            signal_inside_a_callback()
        assert server.should_exit and stopped == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is raise_terminated  # restored on the way out
    finally:
        signal.signal(signal.SIGTERM, previous)
