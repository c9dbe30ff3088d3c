"""A small site for the archive's tests: every byte it sends is written by hand, so a
test can compare the WARC with what went over the wire.

``/`` links (plainly) to the pages below, shows an image, loads a stylesheet and
a script, and has a link only its JavaScript makes.  ``/gzip.html`` is sent
``Content-Encoding: gzip``; ``/chunked.html`` with ``Transfer-Encoding: chunked``
in three chunks; ``/odd.html`` with header spellings Scrapy normalises
(``x-lower:no-space``, two ``Set-Cookie``); ``/copy.html`` is ``/original.html``
byte for byte (a revisit), linked only from ``/original.html`` so that it is always
fetched second (the first of two identical payloads is the response, the later one the
revisit); ``/moved`` redirects to ``/original.html``.
"""

from __future__ import annotations

import gzip
import threading
from collections import Counter

from tests.harness.http import HttpService, QuietHandler

#: a 2x2 PNG, red
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a73"
    "0000001649444154789c63f8cfc0f01f0418c0f01f0418c0000015f203fd1a9e2f"
    "5b0000000049454e44ae426082")

INDEX = b"""<!DOCTYPE html><html><head><title>Archive test index</title>
<link rel="stylesheet" href="/style.css"></head><body>
<h1>Welcome to the archived onion</h1>
<p>The quick brown fox was archived here.</p>
<img id="pic" src="/pixel.png" width="20" height="20" alt="red">
<a href="/gzip.html">gzip</a> <a href="/chunked.html">chunked</a> <a href="/odd.html">odd</a>
<a href="/original.html">original</a> <a href="/moved">moved</a>
<div id="js"></div><script src="/app.js"></script></body></html>"""
APP_JS = b"""var a = document.createElement("a"); a.id = "jslink"; a.href = "/js-made.html";
a.textContent = "made by javascript"; document.getElementById("js").appendChild(a);"""
STYLE = b"body { background: #ffe; } h1 { color: #336; }"
ORIGINAL = (b"<html><head><title>Same bytes</title></head><body><p>twice the same</p>"
            b'<a href="/copy.html">copy</a></body></html>')
GZIP_PAGE = b"<html><head><title>Gzipped</title></head><body><p>sent compressed</p></body></html>"
CHUNKS = [b"<html><head><title>Chunked</title></head>", b"<body><p>in three chunks</p>", b"</body></html>"]


def _response(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    return head.encode("latin-1") + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def _page(ctype: str, body: bytes) -> bytes:
    return _response("200 OK", [("Content-Type", ctype)], body)


def _chunked() -> bytes:
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in CHUNKS) + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n" + framed


#: path -> the whole response, as sent
RESPONSES: dict[str, bytes] = {
    "/": _page("text/html; charset=utf-8", INDEX),
    "/app.js": _page("application/javascript", APP_JS),
    "/style.css": _page("text/css", STYLE),
    "/pixel.png": _page("image/png", PNG),
    "/original.html": _page("text/html", ORIGINAL),
    "/copy.html": _page("text/html", ORIGINAL),
    "/js-made.html": _page("text/html", b"<html><head><title>JS target</title></head><body>found</body></html>"),
    "/gzip.html": _response("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                            gzip.compress(GZIP_PAGE, mtime=0)),
    "/chunked.html": _chunked(),
    "/moved": _response("301 Moved Permanently", [("Location", "/original.html")], b""),
    "/robots.txt": _page("text/plain", b"User-agent: *\nAllow: /\n"),
}
_ODD_BODY = b"<html><body><p>odd headers</p></body></html>"
RESPONSES["/odd.html"] = (b"HTTP/1.1 200 Fine\r\nContent-Type: text/html\r\nx-lower:no-space\r\nSet-Cookie: a=1\r\n"
                          b"Set-Cookie: b=2\r\nContent-Length: %d\r\n\r\n" % len(_ODD_BODY)) + _ODD_BODY


class _Handler(QuietHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        site: ArchiveWeb = self.server.service
        path = self.path.split("://", 1)[-1].split("/", 1)[-1] if "://" in self.path else self.path.lstrip("/")
        path = "/" + path
        with site.lock:
            site.hits[path] += 1
        raw = RESPONSES.get(path) or _response("404 Not Found", [("Content-Type", "text/html")], b"<p>no</p>")
        self.wfile.write(raw)
        self.wfile.flush()


class ArchiveWeb(HttpService):
    handler_class = _Handler

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.bind()
