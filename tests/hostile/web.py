"""The hostile web as the tests start it: every case, plus the canaries and the proxy."""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from . import behaviours as b
from .cases import CASES, SSRF_FRONT, Case
from .server import Behaviour, Conn, HostileWeb

__all__ = ["hostile_web", "case_base", "seed_url"]


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _proxy(conn: Conn) -> None:
    """The recording HTTP proxy of the SSRF crawl: answers for SSRF_FRONT only.

    Anything else that reaches it (a numeric loopback spelling, the metadata
    address, a wildcard-DNS name) is a request the guard should have refused: it
    is recorded like every request, answered 502, and the test names it."""
    if conn.target_host != SSRF_FRONT:
        conn.reply(502, b"forbidden target reached the proxy", "text/plain", reason="Bad Gateway")
        return
    name = conn.path.strip("/").split("/", 1)[0]
    case = conn.web.cases.get(name)
    if case is None or case.serve is None or case.stage != "ssrf":
        b.NOT_FOUND(conn)
        return
    case.serve(conn)


def hostile_web(cases: Iterable[Case] = CASES, cache: pathlib.Path | None = None, first: int = 1) -> HostileWeb:
    """The web with every case's host and the extra hosts the cases point at:

    ``canary`` (plain-crawl canary: XXE entities point there), ``canary_lo`` and
    ``canary_redis`` on 127.0.0.1 and ``canary_v6`` on ::1 (the SSRF redirect
    targets), ``dead_port_other`` (a dead port on dead_port_live's address) and
    ``proxy`` (the recording proxy of the SSRF crawl)."""
    extra: dict[str, tuple[str, Behaviour | None, str | None]] = {
        "canary": ("canary", None, None),
        "canary_lo": ("canary", None, "127.0.0.1"),
        "canary_redis": ("canary", None, "127.0.0.1"),
        "proxy": ("serve", _proxy, None),
    }
    if _ipv6():
        extra["canary_v6"] = ("canary", None, "::1")
    names = {case.name for case in cases}
    if "dead_port_live" in names:
        extra["dead_port_other"] = ("refuse", None, "=dead_port_live")
    return HostileWeb(cases, extra, cache=cache, first=first)


def case_base(web: HostileWeb, case: Case) -> str:
    """The URL prefix of everything that belongs to *case* (no trailing slash)."""
    if case.mode == "virtual":
        return f"http://{SSRF_FRONT}/{case.name}"
    return web[case.name].url


def seed_url(web: HostileWeb, case: Case) -> str:
    return case_base(web, case) + case.seed


def belongs(web: HostileWeb, case: Case, url: str) -> bool:
    base = case_base(web, case)
    if url == base or url.startswith(base + "/"):
        return True
    if case.mode == "virtual":
        return False
    # the same host spelled another way (a default port dropped, upper case)
    parts = urlsplit(url)
    host = web[case.name]
    return (parts.hostname or "") == host.address and (parts.port or 80) == host.port
