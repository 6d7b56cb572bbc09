"""``finder serve``'s web application: a thin Starlette layer over :class:`finder.web.review.Review`.

Security (it serves a person's files and can move them), every rule tested in ``tests/test_serve_api.py``:

- a random token (256 bits) in the URL it prints is exchanged for an HttpOnly, SameSite=Strict cookie and
  stripped from the address (Jupyter's model); any request without the cookie gets 403;
- the Host header must be one of the addresses it listens on (localhost, 127.0.0.1, [::1] with the port, or
  the ``--host`` named) against DNS rebinding;
- a state-changing request (POST) needs an Origin of that list and the page's CSRF token in ``X-CSRF-Token``;
  no CORS headers are ever sent;
- files are addressed by their index in the hash file, never by path, and each is checked to be inside the
  collection and unchanged before it is read (:meth:`Review.checked_path`); uploads are size-limited and
  hashed with the store's own decoder and guards;
- the page is static HTML with its script and style as files: a Content-Security-Policy without inline
  script, ``nosniff``, no referrer, no framing.  The page escapes every name (it only sets ``textContent``).
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from finder.web.review import Review, ReviewError, plan_json

COOKIE = "finder_session"
MAX_JSON = 1 << 20
DEFAULT_MAX_UPLOAD = 50 << 20
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def loopback_hosts(port: int, host: str | None = None) -> set[str]:
    """The Host header values a request may carry: the loopback names with ``port``, and ``host`` with it."""
    names = {"localhost", "127.0.0.1", "[::1]"}
    if host and host not in ("127.0.0.1", "localhost", "::1"):
        names.add(f"[{host}]" if ":" in host else host)
    return {f"{name}:{port}" for name in names}


class Security:
    """The token, cookie, Host, Origin and CSRF rules of the module docstring, as ASGI middleware."""

    def __init__(self, app: Any, token: str, csrf: str, hosts: set[str]) -> None:
        self.app, self.token, self.csrf, self.hosts = app, token, csrf, hosts
        self.origins = {f"http://{h}" for h in hosts}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response = self.refusal(request)
        if response is None and request.method in ("GET", "HEAD") and self._token_ok(request.query_params.get("token")):
            # The token is exchanged for the cookie and taken out of the address bar and history.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            path = request.url.path
            if not path.startswith("/") or path.startswith("//") or "\\" in path:
                path = "/"  # never a redirect off this server ("//host" is another site to a browser)
            response = RedirectResponse(path + (f"?{urlencode(rest)}" if rest else ""), 303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
        if response is not None:
            await _secured(response)(scope, receive, send)
            return

        async def send_secured(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(b"access-control-")]
                headers.extend((k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items())
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_secured)

    def _token_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(str(value).encode(), self.token.encode())

    def refusal(self, request: Request) -> Response | None:
        """The response that refuses ``request``, or None when it may go on."""
        if request.headers.get("host", "") not in self.hosts:
            return PlainTextResponse("unknown host", 403)
        if request.method not in ("GET", "HEAD") and request.method not in UNSAFE_METHODS:
            return PlainTextResponse("method not allowed", 405)
        if request.method in ("GET", "HEAD") and self._token_ok(request.query_params.get("token")):
            return None  # the address finder serve printed: exchanged for the cookie (__call__)
        if not self._token_ok(request.cookies.get(COOKIE)):
            return PlainTextResponse("forbidden: open the address finder serve printed (with its token)", 403)
        if request.method in UNSAFE_METHODS:
            if request.headers.get("origin") not in self.origins:
                return PlainTextResponse("forbidden: cross-origin request", 403)
            sent = request.headers.get("x-csrf-token", "")
            if not hmac.compare_digest(sent.encode(), self.csrf.encode()):
                return PlainTextResponse("forbidden: missing or wrong CSRF token", 403)
        return None


SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "Cross-Origin-Resource-Policy": "same-origin"}


def _secured(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers[key] = value
    return response


def _static(name: str) -> bytes:
    return resources.files("finder.web").joinpath("static", name).read_bytes()


def create_app(review: Review, *, port: int, host: str | None = None, token: str | None = None,
               max_upload: int = DEFAULT_MAX_UPLOAD) -> tuple[Any, str]:
    """The ASGI application over ``review`` and its token (random unless given)."""
    token = token or secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)

    def api(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                result = await handler(request)
            except ReviewError as exc:
                return JSONResponse({"error": str(exc)}, exc.status)
            if isinstance(result, Response):
                return result
            return JSONResponse(result, headers={"Cache-Control": "no-store"})
        return endpoint

    async def body_json(request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ReviewError("send JSON (Content-Type: application/json)", 415)
        content = await _read_limited(request, MAX_JSON)
        try:
            data = json.loads(content)
        except ValueError:
            raise ReviewError("not JSON") from None
        if not isinstance(data, dict):
            raise ReviewError("send a JSON object")
        return data

    def integer(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ReviewError(f"{name} must be an integer")
        try:
            return int(value)
        except ValueError:
            raise ReviewError(f"{name} must be an integer") from None

    def page_file(name: str, kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return Response(_static(name), media_type=kind, headers={"Cache-Control": "no-store"})
        return endpoint

    async def state(request: Request) -> dict[str, Any]:
        return dict(review.summary(), csrf=csrf, max_upload=max_upload)

    async def groups(request: Request) -> dict[str, Any]:
        q = request.query_params
        return await run_in_threadpool(review.page, integer(q.get("offset", 0), "offset"),
                                       integer(q.get("limit", 20), "limit"), q.get("sort", "reclaim"),
                                       q.get("folder", ""), q.get("reviewed", "all"))

    async def one_group(request: Request) -> dict[str, Any]:
        return review.card_json(review.card(request.path_params["group"]))

    async def decide(request: Request) -> dict[str, Any]:
        data = await body_json(request)
        file = data.get("file")
        return await run_in_threadpool(review.decide, str(data.get("kind")), integer(data.get("group"), "group"),
                                       None if file is None else integer(file, "file"))

    async def undo(request: Request) -> dict[str, Any]:
        await body_json(request)
        return await run_in_threadpool(review.undo)

    async def keep_rule(request: Request) -> dict[str, Any]:
        data = await body_json(request)
        ids = data.get("groups")
        chosen = None if ids == "all" else [integer(g, "group") for g in (ids if isinstance(ids, list) else [])]
        return await run_in_threadpool(review.keep_by_rule, str(data.get("rule", "")), chosen)

    async def compare(request: Request) -> dict[str, Any]:
        q = request.query_params
        return await run_in_threadpool(review.compare, integer(q.get("a"), "a"), integer(q.get("b"), "b"))

    def picture(kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            p = request.path_params
            if kind == "thumb":
                data, media = await run_in_threadpool(review.thumb, p["file"]), "image/jpeg"
            elif kind == "image":
                data, media = await run_in_threadpool(review.image, p["file"])
            else:
                data, media = await run_in_threadpool(review.difference, p["a"], p["b"]), "image/png"
            return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=600"})
        return endpoint

    async def search(request: Request) -> dict[str, Any]:
        content = await _read_limited(request, max_upload)
        if not content:
            raise ReviewError("the upload is empty")
        return await run_in_threadpool(review.search_bytes, content)

    async def search_path(request: Request) -> dict[str, Any]:
        data = await body_json(request)
        path = data.get("path")
        if not isinstance(path, str):
            raise ReviewError("give a path")
        return await run_in_threadpool(review.search_path, path)

    async def dedupe_plan(request: Request) -> dict[str, Any]:
        data = await body_json(request)
        ids = data.get("groups")
        if not isinstance(ids, list) or not ids:
            raise ReviewError("choose one or more groups")
        to = data.get("to")
        plan_id, the_plan = await run_in_threadpool(review.plan, [integer(g, "group") for g in ids],
                                                    str(data.get("action")), to if isinstance(to, str) else None)
        return plan_json(plan_id, the_plan)

    async def dedupe_apply(request: Request) -> dict[str, Any]:
        data = await body_json(request)
        return await run_in_threadpool(review.apply, str(data.get("plan")))

    async def dedupe_undo(request: Request) -> dict[str, Any]:
        data = await body_json(request)
        return await run_in_threadpool(review.undo_dedupe, str(data.get("plan")))

    routes = [
        Route("/", page_file("index.html", "text/html; charset=utf-8")),
        *[Route(f"/static/{name}", page_file(name, kind)) for name, kind in STATIC.items()],
        Route("/api/state", api(state)),
        Route("/api/groups", api(groups)),
        Route("/api/groups/{group:int}", api(one_group)),
        Route("/api/decide", api(decide), methods=["POST"]),
        Route("/api/undo", api(undo), methods=["POST"]),
        Route("/api/keep-rule", api(keep_rule), methods=["POST"]),
        Route("/api/compare", api(compare)),
        Route("/api/search", api(search), methods=["POST"]),
        Route("/api/search-path", api(search_path), methods=["POST"]),
        Route("/api/dedupe/plan", api(dedupe_plan), methods=["POST"]),
        Route("/api/dedupe/apply", api(dedupe_apply), methods=["POST"]),
        Route("/api/dedupe/undo", api(dedupe_undo), methods=["POST"]),
        Route("/thumb/{file:int}", api(picture("thumb"))),
        Route("/image/{file:int}", api(picture("image"))),
        Route("/diff/{a:int}/{b:int}", api(picture("diff"))),
    ]
    app = Starlette(routes=routes)
    return Security(app, token, csrf, loopback_hosts(port, host)), token


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes before more is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ReviewError(f"larger than {limit:,} bytes", 413)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ReviewError(f"larger than {limit:,} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)
