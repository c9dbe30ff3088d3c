"""An EndGame-style DDoS-protected site: a real HTTP server that behaves as the
``onionltd/EndGame`` front does (read from its nginx/Lua configuration), in front of a
small real site.

What it does, per request (in EndGame's order):

1. **Rate limits**, nginx ``limit_req`` (leaky bucket, ``nodelay``): ``rate`` requests a
   second with ``burst`` more at once, per circuit (when the onion service exports
   circuit IDs: ``HiddenServiceExportCircuitID haproxy``, a PROXY protocol line at the
   start of every stream) and per cookie.  Over it: the cookie is banned for
   ``ban_seconds``, the circuit is killed (``kill_circuit``: the service tor's
   ``CLOSECIRCUIT``), and the connection is closed without an answer (nginx's 444).
2. **Sanity**: a wrong ``Host``, a method other than GET/POST, no ``User-Agent``, a
   POST without ``Referer``: the circuit is killed, no answer.
3. **A banned cookie** gets EndGame's ban text ("403 DDOS fliter killed your path",
   ``text/plain``, status 200).
4. **No cookie**: a new one (``dcap``) and the queue page ("You have been placed in a
   queue", ``<meta http-equiv="refresh" content="N">``).
5. **A queue cookie** that comes back before ``min_wait`` seconds: banned, circuit
   killed, no answer.  After: the captcha (``captcha=True``), else the site.
6. **The captcha** (a clock to read): POSTing the time shown lets the cookie through.
7. **Behind**: the real site, pages with links, a stylesheet and an image (so the
   render stage has resources to load, with the cookie, at the same rate limits).

Every request is recorded (:class:`Visit`: when, path, cookie, circuit, what it got),
so tests assert that there was no ban and how long the crawl waited.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from tests.harness.http import HttpService, QuietHandler

__all__ = ["BAN_TEXT", "EndGameSite", "Visit", "PAGES"]

COOKIE = "dcap"
BAN_TEXT = ("403 DDOS fliter killed your path. (You probably sent too many requests at once). "
            "Not calling you a bot, bot, but grab a new identity and try again.")
#: outcomes that mean the crawl was banned or killed
BANNED = frozenset({"early", "rate-limited", "banned", "killed"})

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000010000000100802000000909168360000001a49444154789c62fcff"
    "9f8166c08b1818181818180000ffff03005c1b01f1e0b1f0cf0000000049454e44ae426082")


def _page(title: str, body: str) -> bytes:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
            f'<link rel="stylesheet" href="/static/site.css"></head><body><h1>{title}</h1>{body}'
            f'<img src="/static/logo.png" alt="logo"></body></html>').encode()


#: The site behind the gate: path -> (content type, body).
PAGES: dict[str, tuple[str, bytes]] = {
    "/": ("text/html; charset=utf-8", _page(
        "Harbor Market", "<p>Welcome to Harbor Market: listings from vetted vendors, escrow on every order.</p>"
                         '<a href="/listings.html">Listings</a> <a href="/vendors.html">Vendors</a> '
                         '<a href="/about.html">About</a>')),
    "/listings.html": ("text/html; charset=utf-8", _page(
        "Listings", "<ul><li>Item 1041: lab-grade reagent, 2 g</li><li>Item 1042: vintage watch, serviced</li></ul>"
                    '<a href="/">Home</a> <a href="/vendors/alice.html">alice</a>')),
    "/vendors.html": ("text/html; charset=utf-8", _page(
        "Vendors", '<p>Two vendors trade here.</p><a href="/vendors/alice.html">alice</a> '
                   '<a href="/vendors/bob.html">bob</a>')),
    "/vendors/alice.html": ("text/html; charset=utf-8", _page(
        "Vendor alice", "<p>alice ships worldwide; PGP key on request. bc1qalicexmplwallet</p>"
                        '<a href="/vendors.html">Back</a>')),
    "/vendors/bob.html": ("text/html; charset=utf-8", _page(
        "Vendor bob", "<p>bob ships within the EU only, stealth packaging.</p><a href=\"/vendors.html\">Back</a>")),
    "/about.html": ("text/html; charset=utf-8", _page(
        "About Harbor Market", "<p>Founded to give buyers a fair escrow. Contact the staff through the forum.</p>")),
    "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /private/\n"),
    "/static/site.css": ("text/css", b"body{font-family:sans-serif;background:#fafafa}h1{color:#234}"),
    "/static/logo.png": ("image/png", PNG),
}

QUEUE_PAGE = (
    '<!DOCTYPE html><html lang=en><head><title>Harbor Access Queue</title><meta charset=UTF-8>'
    '<meta http-equiv="refresh" content="{delay}"><style>body{{background:#1a1e23;color:#fff}}</style></head>'
    '<body><div class=container><div class=inner><div class=logo>Harbor</div>'
    "<p>You have been placed in a queue, awaiting forwarding to the platform.</p>"
    "<p>Your estimated wait time is <span class=eta>{delay} seconds</span></p>"
    "<p>Please do not refresh the page, you will be automatically redirected.</p></div></div></body></html>")
CAPTCHA_PAGE = (
    "<!DOCTYPE html><html lang=en><head><title>DDOS Protection</title><meta charset=UTF-8></head><body>"
    "<div class=container><p>Prove that you are human. Select the time shown on the clock image.</p>"
    '<form class="ddos_form" method="post"><div class="imgWrap" title="the clock shows {answer}"></div>'
    '<select name="cap">{hours}</select> : <select name="cap">{minutes}</select>'
    '<button type="submit">Verify</button></form></div></body></html>')


@dataclass(frozen=True, slots=True)
class Visit:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    cookie: str | None  # the dcap token sent, if any
    circuit: int | None  # the Tor circuit it came on (PROXY protocol), if known
    outcome: str  # queue, early, rate-limited, banned, killed, captcha, solved, content, not-found
    user_agent: str | None = None
    issued: str | None = None  # the cookie this answer set (a queue page's)


@dataclass
class _Session:
    state: str  # queue, captcha, open
    issued: float
    answer: str = ""


@dataclass
class _Bucket:
    excess: float = 0.0
    last: float = field(default_factory=time.monotonic)


class _Handler(QuietHandler):
    protocol_version = "HTTP/1.0"

    def setup(self) -> None:
        super().setup()
        self.circuit: int | None = None
        site: EndGameSite = self.server.service
        if site.proxy_protocol:
            self.circuit = _circuit_of(self.rfile.readline(256))

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self.server.service.answer(self, "GET")

    def do_POST(self) -> None:  # noqa: N802
        self.server.service.answer(self, "POST")

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.service.answer(self, "HEAD")

    def reply(self, status: int, content_type: str, body: bytes, headers: list[tuple[str, str]] = ()) -> None:
        # one write for head and body: no Nagle + delayed ACK pause through Tor
        lines = [f"HTTP/1.0 {status} {self.responses.get(status, ('',))[0]}", f"Content-Type: {content_type}",
                 f"Content-Length: {len(body)}", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def _circuit_of(line: bytes) -> int | None:
    """The global circuit ID of a ``HiddenServiceExportCircuitID haproxy`` line: tor puts it
    in the last 32 bits of the source address (``PROXY TCP6 fc00:dead:beef:4dad::a:b ::1 ...``)."""
    parts = line.decode("latin-1").split()
    if len(parts) < 3 or parts[0] != "PROXY":
        return None
    try:
        return int(ipaddress.IPv6Address(parts[2])) & 0xFFFFFFFF
    except ValueError:
        return None


class EndGameSite(HttpService):
    """The site on ``host:port`` (loopback), or behind an onion service."""

    handler_class = _Handler

    def __init__(self, host: str = "127.0.0.1", *, delay: float = 2.0, min_wait: float | None = None,
                 rate: float = 6.0, burst: int = 10, captcha: bool = False, ban_seconds: float = 3600.0,
                 proxy_protocol: bool = False, allowed_hosts: set[str] | None = None,
                 kill_circuit: Callable[[int], None] | None = None, never_open: bool = False,
                 ban_first_cookie: bool = False) -> None:
        super().__init__(host)
        self.delay = delay
        self.min_wait = delay if min_wait is None else min_wait
        self.rate, self.burst = rate, burst
        self.captcha = captcha
        self.ban_seconds = ban_seconds
        self.proxy_protocol = proxy_protocol
        self.allowed_hosts = allowed_hosts
        self.kill_circuit = kill_circuit
        self.never_open = never_open
        self.ban_first_cookie = ban_first_cookie
        self.visits: list[Visit] = []
        self.killed_circuits: list[int] = []
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._banned: dict[str, float] = {}
        self._buckets: dict[tuple[str, object], _Bucket] = {}
        self._issued = 0

    # -- what tests read ------------------------------------------------------------------

    def bans(self) -> list[Visit]:
        with self._lock:
            return [visit for visit in self.visits if visit.outcome in BANNED]

    def served(self, outcome: str) -> list[Visit]:
        with self._lock:
            return [visit for visit in self.visits if visit.outcome == outcome]

    def returns(self) -> list[tuple[Visit, Visit]]:
        """Each queue page that set a cookie, and the first request that came back with it."""
        with self._lock:
            visits = list(self.visits)
        pairs = []
        for index, queue in enumerate(visits):
            if queue.issued:
                back = next((v for v in visits[index + 1:] if v.cookie == queue.issued), None)
                if back is not None:
                    pairs.append((queue, back))
        return pairs

    def solved_cookie(self) -> str:
        """A cookie whose captcha is solved, as a person's Tor Browser would hold it."""
        token = secrets.token_hex(16)
        with self._lock:
            self._sessions[token] = _Session("open", time.monotonic())
        return token

    # -- the front --------------------------------------------------------------------------

    def answer(self, handler: _Handler, method: str) -> None:
        now = time.monotonic()
        token = _cookie(handler.headers.get("Cookie"))
        path = urlsplit(handler.path).path or "/"
        with self._lock:
            outcome, reply = self._decide(handler, method, path, token, now)
            issued = next((value.split(";", 1)[0].split("=", 1)[1] for name, value in (reply or (0, 0, 0, []))[3]
                           if name == "Set-Cookie"), None)
            self.visits.append(Visit(now, method, path, token, handler.circuit, outcome,
                                     handler.headers.get("User-Agent"), issued))
        if reply is None:  # nginx's 444: the connection closed, nothing said
            handler.close_connection = True
            if outcome in ("early", "rate-limited", "killed") and handler.circuit is not None:
                self._kill(handler.circuit)
            return
        status, content_type, body, headers = reply
        handler.reply(status, content_type, b"" if method == "HEAD" else body, headers)

    def _decide(self, handler: _Handler, method: str, path: str, token: str | None,
                now: float) -> tuple[str, tuple[int, str, bytes, list[tuple[str, str]]] | None]:
        if not self._within_rate(("circuit", handler.circuit), now) or not self._within_rate(("cookie", token), now):
            if token:
                self._banned[token] = now + self.ban_seconds
            return "rate-limited", None
        if not self._sane(handler, method):
            return "killed", None
        if token and self._banned.get(token, 0) > now:
            return "banned", (200, "text/plain", BAN_TEXT.encode(), [])
        session = self._sessions.get(token) if token else None
        if session is None:
            if token:  # a cookie it never issued (EndGame cannot decrypt it)
                return "banned", (200, "text/plain", BAN_TEXT.encode(), [])
            return "queue", self._queue(now)
        if session.state == "queue":
            if now - session.issued < self.min_wait or self.never_open:
                if not self.never_open:
                    self._banned[token] = now + self.ban_seconds  # type: ignore[index]
                    return "early", None
                return "queue", self._queue(now)
            session.state = "captcha" if self.captcha else "open"
        if session.state == "captcha":
            return self._captcha(handler, method, path, session)
        body = PAGES.get(path)
        if body is None:
            return "not-found", (404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>", [])
        return "content", (200, body[0], body[1], [])

    def _queue(self, now: float) -> tuple[int, str, bytes, list[tuple[str, str]]]:
        token = secrets.token_hex(16)
        self._issued += 1
        self._sessions[token] = _Session("queue", now)
        if self.ban_first_cookie and self._issued == 1:
            self._banned[token] = now + self.ban_seconds
        cookie = f"{COOKIE}={token}; Path=/; Max-Age=120; HttpOnly; SameSite=Lax"
        return 200, "text/html", QUEUE_PAGE.format(delay=f"{self.delay:g}").encode(), [("Set-Cookie", cookie)]

    def _captcha(self, handler: _Handler, method: str, path: str,
                 session: _Session) -> tuple[str, tuple[int, str, bytes, list[tuple[str, str]]]]:
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            sent = "".join(parse_qs(handler.rfile.read(length).decode("latin-1")).get("cap", []))
            if sent and sent == session.answer:
                session.state = "open"
                return "solved", (302, "text/html", b"", [("Location", path)])
        session.answer = f"{secrets.randbelow(12):02}{secrets.randbelow(60):02}"
        page = CAPTCHA_PAGE.format(answer=session.answer,
                                   hours="".join(f"<option>{h:02}</option>" for h in range(12)),
                                   minutes="".join(f"<option>{m:02}</option>" for m in range(60)))
        return "captcha", (200, "text/html", page.encode(), [])

    def _sane(self, handler: _Handler, method: str) -> bool:
        if method not in ("GET", "POST", "HEAD"):
            return False
        if not handler.headers.get("User-Agent"):
            return False
        if method == "POST" and not handler.headers.get("Referer"):
            return False
        host = (handler.headers.get("Host") or "").lower()
        return self.allowed_hosts is None or host in self.allowed_hosts

    def _within_rate(self, key: tuple[str, object], now: float) -> bool:
        """nginx's ``limit_req ... burst=N nodelay``: a leaky bucket per key."""
        if key[1] is None:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = _Bucket(0.0, now)
            return True
        excess = max(0.0, bucket.excess - self.rate * (now - bucket.last)) + 1
        if excess > self.burst:
            return False
        bucket.excess, bucket.last = excess, now
        return True

    def _kill(self, circuit: int) -> None:
        self.killed_circuits.append(circuit)
        if self.kill_circuit is not None:
            threading.Thread(target=self.kill_circuit, args=(circuit,), daemon=True).start()


def _cookie(header: str | None) -> str | None:
    if not header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None
