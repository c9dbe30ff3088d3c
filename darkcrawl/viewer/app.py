"""The viewer's aiohttp application: HTML pages, the JSON API, files and the guards.

Guards, on every response: the viewer's own pages carry a strict CSP (scripts and
styles from ``/static`` only), crawled HTML is served only to a sandboxed frame,
made inert first (defang.py) and with :data:`FRAME_CSP` (no script, no network), files carry their safe type and
``nosniff``.  With a token, a request carries it (``?token=`` once, then the
cookie, or ``Authorization: Bearer``); without one the viewer is on loopback and
answers only to a loopback ``Host`` (a DNS-rebound name is refused).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
from functools import partial
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from darkcrawl.catalog import liveness_queries as live_queries
from darkcrawl.catalog import queries
from darkcrawl.viewer import clusters, files, pages
from darkcrawl.viewer.defang import defang

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from darkcrawl.catalog.db import CatalogDB

logger = logging.getLogger(__name__)

VIEWER_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
              "frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
              "form-action 'self'; frame-ancestors 'none'")
#: the response of a crawled document: a sandbox with no scripts, no requests
FRAME_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
COOKIE = "darkcrawl-view-token"  # not a request meta key (darkcrawl/meta.py)
#: bytes of a document shown in the frame
FRAME_LIMIT = 4 * 1024 * 1024
STATIC = {"viewer.css": "text/css; charset=utf-8", "viewer.js": "text/javascript; charset=utf-8"}
VIEW_KEY = web.AppKey("view", pages.View)
TOKEN_KEY = web.AppKey("token", str)
_BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)

def make_app(db: CatalogDB, path_data: str | Path, token: str | None = None) -> web.Application:
    """The viewer over *db*, reading files under *path_data*; *token* required when set."""
    app = web.Application(middlewares=[_headers, _guard])
    app[VIEW_KEY] = pages.View(db, Path(path_data))
    app[TOKEN_KEY] = token or ""
    app.add_routes([
        web.get("/", _html(lambda view, request: pages.overview_page(view))),
        web.get("/hosts", _html(lambda view, request: pages.hosts_page(view, _params(request)))),
        web.get("/host/{name:.+}", _html(lambda view, request: pages.host_page(
            view, request.match_info["name"], _params(request)))),
        web.get(r"/snapshot/{id:\d+}", _html(lambda view, request: pages.snapshot_page(
            view, int(request.match_info["id"])))),
        web.get("/search", _html(lambda view, request: pages.search_page(view, _params(request)))),
        web.get("/entities", _html(lambda view, request: pages.entities_page(view, _params(request)))),
        web.get(r"/entity/{id:\d+}", _html(lambda view, request: pages.entity_page(
            view, int(request.match_info["id"]), _params(request)))),
        web.get("/clusters", _html(lambda view, request: clusters.clusters_page(view, _params(request)))),
        web.get("/cluster/{id}", _html(lambda view, request: clusters.cluster_page(view, request.match_info["id"]))),
        web.get(r"/file/{id:\d+}/{kind:screenshot|raw|rendered}", _file),
        web.get(r"/frame/{id:\d+}/{kind:raw|rendered}", _frame),
        web.get("/static/{name}", _static),
        web.get("/api/overview", _api(_api_overview)),
        web.get("/api/hosts", _api(_api_hosts)),
        web.get("/api/hosts.csv", _csv(lambda view, request: live_queries.hosts_csv(view.db), "hosts.csv")),
        web.get("/api/host/{name:.+}/attempts.csv", _csv(lambda view, request: live_queries.attempts_csv(
            view.db, request.match_info["name"]), "attempts.csv")),
        web.get("/api/host/{name:.+}/attempts", _api_host_attempts),
        web.get("/api/search", _api(_api_search)),
        web.get("/api/entities", _api(_api_entities)),
        web.get("/api/clusters", _api(clusters.api_clusters)),
    ])
    return app


def _params(request: web.Request) -> dict[str, str]:
    return {key: value for key, value in request.query.items() if key != "token"}


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    """*fn* off the event loop: a query must not stall the other requests."""
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, *args))


def _html(build: Callable[[pages.View, web.Request], str | None]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        document = await _run(build, request.app[VIEW_KEY], request)
        if document is None:
            raise web.HTTPNotFound(text="not in the catalogue")
        return web.Response(text=document, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})
    return handler


# -- guards ---------------------------------------------------------------------------


def _secure(headers: Any) -> None:
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers.setdefault("Content-Security-Policy", VIEWER_CSP)
    headers.setdefault("X-Frame-Options", "DENY")


@web.middleware
async def _headers(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # errors too: a 404 page is one of the viewer's
        _secure(exc.headers)
        raise
    except Exception:  # a query that failed (a lost PostgreSQL, a locked file): logged, and a 500 of ours
        logger.exception("view: %s %s failed", request.method, request.path)
        error = web.HTTPInternalServerError(text="the catalogue could not answer: see the viewer's log")
        _secure(error.headers)
        raise error from None
    _secure(response.headers)
    return response


def _loopback_host(request: web.Request) -> bool:
    name = (request.url.host or "").strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _offered_token(request: web.Request) -> tuple[str, bool]:
    """The token the request carries, and whether it came in the query string."""
    match = _BEARER.match(request.headers.get("Authorization", ""))
    if match:
        return match.group(1), False
    if "token" in request.query:
        return request.query["token"], True
    return request.cookies.get(COOKIE, ""), False


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    token = request.app[TOKEN_KEY]
    if not token:
        if not _loopback_host(request):
            raise web.HTTPForbidden(text="the viewer answers to a loopback address only (start it with --token "
                                         "to serve other names)")
        return await handler(request)
    offered, in_query = _offered_token(request)
    if not hmac.compare_digest(offered.encode(), token.encode()):
        raise web.HTTPUnauthorized(text="a token is needed: ?token=..., or Authorization: Bearer ...",
                                   headers={"WWW-Authenticate": "Bearer"})
    if in_query and not request.path.startswith("/api/"):
        # once: the cookie carries it from now on, and the address bar forgets it
        response: web.StreamResponse = web.Response(
            status=302, headers={"Location": str(request.rel_url.without_query_params("token"))})
    else:
        response = await handler(request)
    if in_query:
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


# -- files ----------------------------------------------------------------------------


async def _snapshot_file(request: web.Request) -> tuple[Path, str]:
    view = request.app[VIEW_KEY]
    row = await _run(queries.snapshot, view.db, int(request.match_info["id"]))
    kind = request.match_info["kind"]
    path = files.inside(view.path_data, (row or {}).get(f"{kind}_path"))
    if path is None:
        raise web.HTTPNotFound(text="no such file under PATH_DATA")
    return path, kind


async def _file(request: web.Request) -> web.StreamResponse:
    path, kind = await _snapshot_file(request)
    if kind == "screenshot":
        data = await _run(path.read_bytes)
        if not data.startswith(files.PNG_MAGIC):
            raise web.HTTPNotFound(text="the screenshot is not a PNG")
        return web.Response(body=data, content_type="image/png", headers={"Cache-Control": "max-age=3600"})
    # source as text: never interpreted, whatever the document says it is
    return web.Response(body=await _run(path.read_bytes), content_type="text/plain", charset="utf-8",
                        headers={"Content-Disposition": "inline"})


async def _frame(request: web.Request) -> web.StreamResponse:
    path, _kind = await _snapshot_file(request)
    document = await _run(lambda: defang(files.read_text(path, FRAME_LIMIT)[0]))
    return web.Response(text=document, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": FRAME_CSP, "X-Frame-Options": "SAMEORIGIN",
                                 "Cache-Control": "no-store"})


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    data = resources.files("darkcrawl.viewer").joinpath("static", name).read_bytes()
    return web.Response(body=data, headers={"Content-Type": STATIC[name], "Cache-Control": "max-age=300"})


# -- JSON API -------------------------------------------------------------------------


def _api(build: Callable[[pages.View, dict[str, str]], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(await _run(build, request.app[VIEW_KEY], _params(request)),
                                 headers={"Cache-Control": "no-store"})
    return handler


def _api_overview(view: pages.View, params: dict[str, str]) -> dict[str, Any]:
    return view.overview()


def _api_hosts(view: pages.View, params: dict[str, str]) -> dict[str, Any]:
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 50)
    found = queries.hosts(view.db, network=params.get("network", ""), state=params.get("state", ""),
                          q=params.get("q", ""), page=number, limit=limit)
    states = live_queries.liveness_of(view.db, [row["host"] for row in found.rows])
    in_cluster = queries.host_clusters(view.db, [row["host"] for row in found.rows])
    for row in found.rows:
        shot = row.pop("screenshot_id")
        row["screenshot"] = f"/file/{shot}/screenshot" if shot is not None else None
        state = states.get(row["host"]) or {}
        # the state's reason (down: why; gated: the gate), since when, and the share of checks answered
        row.update(reason=state.get("reason"), since=state.get("since"), last_answer=state.get("last_answer"),
                   checks=state.get("checks", 0), uptime=state.get("uptime"), gate=state.get("gate"))
        row["cluster"] = in_cluster.get(row["host"], {}).get("cluster")
    return found.as_json()


async def _api_host_attempts(request: web.Request) -> web.Response:
    params = _params(request)
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 100)
    view = request.app[VIEW_KEY]
    found = await _run(live_queries.host_attempts, view.db, request.match_info["name"], number, limit)
    return web.json_response(found.as_json(), headers={"Cache-Control": "no-store"})


def _csv(build: Callable[[pages.View, web.Request], Iterator[str]],
         filename: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A CSV export, streamed in chunks (a long history is never one string)."""
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{filename}"'})
        _secure(response.headers)  # sent by prepare(): the middleware would be too late
        await response.prepare(request)
        lines = build(request.app[VIEW_KEY], request)
        while True:
            chunk = await _run(_take, lines, 2000)
            if not chunk:
                break
            await response.write(chunk.encode())
        await response.write_eof()
        return response
    return handler


def _take(lines: Iterator[str], count: int) -> str:
    out = []
    for line in lines:
        out.append(line)
        if len(out) >= count:
            break
    return "".join(out)


def _api_search(view: pages.View, params: dict[str, str]) -> dict[str, Any]:
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 20)
    found = queries.search(view.db, params.get("q", ""), number, limit, best=params.get("sort") == "rank")
    for row in found.rows:
        marked = row.pop("snippet") or ""
        row["snippet_html"] = queries.snippet_html(marked)
        row["snippet"] = marked.replace(queries.MARK_START, "").replace(queries.MARK_END, "")
    return {"q": params.get("q", ""), **found.as_json()}


def _api_entities(view: pages.View, params: dict[str, str]) -> dict[str, Any]:
    number, limit = queries.bounded(params.get("page"), params.get("limit"), 50)
    found = queries.entities(view.db, params.get("q", ""), params.get("kind", ""), number, limit)
    urls = queries.entity_urls(view.db, [int(row["id"]) for row in found.rows])
    for row in found.rows:
        row["urls"] = urls[int(row["id"])]
    return {"q": params.get("q", ""), **found.as_json()}
