"""Building blocks of the hostile cases: what a host writes on its socket.

Each function returns a behaviour, ``(Conn) -> None``.  Payloads that cost
something to build (bombs, the big sitemap) are built once per process and kept.
"""

from __future__ import annotations

import functools
import gzip
import io
import random
import zlib
from collections.abc import Callable, Iterable, Iterator

from .server import Behaviour, Conn

HTML = "text/html; charset=utf-8"
XML = "application/xml"
_MB = 1 << 20


def html(*links: str, text: str = "", title: str = "hostile", head: str = "") -> bytes:
    anchors = "".join(f'<a href="{href}">{href}</a>\n' for href in links)
    return f"<html><head><title>{title}</title>{head}</head><body><p>{text}</p>\n{anchors}</body></html>".encode()


def page(body: bytes, ctype: str | None = HTML, status: int = 200, headers: Iterable[tuple[str, str]] = (),
         reason: str = "OK") -> Behaviour:
    headers = tuple(headers)

    def serve(conn: Conn) -> None:
        conn.reply(status, body, ctype, headers, reason=reason)

    return serve


NOT_FOUND = page(b"not found", "text/plain", status=404, reason="Not Found")


def routes(table: dict[str, Behaviour], default: Behaviour | None = None,
           prefixes: dict[str, Behaviour] | None = None) -> Behaviour:
    """Dispatch on the request path: exact first, then the longest prefix, then *default*.

    robots.txt is a 404 unless the table says otherwise, so every host's bootstrap
    costs one quick request."""
    fallback = default or NOT_FOUND
    ordered = sorted((prefixes or {}).items(), key=lambda kv: -len(kv[0]))

    def serve(conn: Conn) -> None:
        path = conn.path
        behaviour = table.get(path)
        if behaviour is None:
            behaviour = next((b for p, b in ordered if path.startswith(p)), None)
        (behaviour or fallback)(conn)

    return serve


# -- transport ----------------------------------------------------------------------


def silent(conn: Conn) -> None:
    """Accept, read the request, never answer."""
    conn.hang()


def close_at_once(conn: Conn) -> None:
    """Close without a byte (the crawler sees a clean close before any response)."""


def reset_at_once(conn: Conn) -> None:
    conn.reset()


def drip_body(every: float = 1.0, size: int = 10_000) -> Behaviour:
    """Headers at once, then one byte of body a second: a slot held for hours."""

    def serve(conn: Conn) -> None:
        if conn.head(200, [("Content-Type", HTML), ("Content-Length", str(size))]):
            conn.drip(b"<" + b"x" * (size - 1), every)

    return serve


def drip_headers(every: float = 1.0) -> Behaviour:
    """The status line and headers one byte a second, never reaching the body."""

    def serve(conn: Conn) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n" + b"X-Slow: " + b"y" * 10_000
        conn.drip(head, every)

    return serve


def drip_chunked(every: float = 1.0) -> Behaviour:
    """A chunked body with one tiny chunk a second, for ever."""

    def serve(conn: Conn) -> None:
        if not conn.head(200, [("Content-Type", HTML), ("Transfer-Encoding", "chunked")]):
            return
        while conn.send(b"1\r\nx\r\n") and not conn.sleep(every):
            pass

    return serve


def steady(rate: int, size: int, links: tuple[str, ...] = ()) -> Behaviour:
    """A slow but honest host: *rate* bytes a second, *size* bytes (a control case)."""

    def serve(conn: Conn) -> None:
        body = html(*links, text="slow but steady").ljust(size, b" ")
        step = max(1, rate // 10)
        if conn.head(200, [("Content-Type", HTML), ("Content-Length", str(len(body)))]):
            conn.drip(body, 0.1, step)

    return serve


def stall_after_headers(conn: Conn) -> None:
    if conn.head(200, [("Content-Type", HTML), ("Content-Length", "5000")]):
        conn.hang()


def length_lie(sent: int = 100, claimed: int = 10_000, then: str = "close") -> Behaviour:
    """Content-Length larger than the body; then close, hang, or reset."""

    def serve(conn: Conn) -> None:
        if conn.head(200, [("Content-Type", HTML), ("Content-Length", str(claimed))]):
            conn.send(html(text="truncated")[:sent].ljust(sent, b" "))
            if then == "hang":
                conn.hang()
            elif then == "reset":
                conn.reset()

    return serve


def raw(data: bytes, then: str = "close") -> Behaviour:
    """Exactly *data* on the wire (bad status lines, bad chunking, HTTP/0.9)."""

    def serve(conn: Conn) -> None:
        if conn.send(data) and then == "hang":
            conn.hang()
        elif then == "reset":
            conn.reset()

    return serve


def bad_chunked(chunks: bytes) -> Behaviour:
    return raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n" + chunks)


# -- compression bombs -----------------------------------------------------------------


@functools.cache
def _deflate_blocks(wbits: int) -> tuple[bytes, bytes, bytes]:
    """Start, repeating 1 MB block, end of a deflate stream of zeros.

    After a full flush the compressor starts afresh byte-aligned, so every further
    megabyte of zeros compresses to the same ~1 KB: a stream of any length costs
    nothing to build.  The trailer's checksum is wrong, but no bounded client
    ever reads that far."""
    zeros = bytes(_MB)
    comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    return first, block, comp.flush()


def deflate_bomb_chunks(wbits: int, megabytes: int) -> Iterator[bytes]:
    first, block, end = _deflate_blocks(wbits)
    yield first
    batch = block * 64
    for _ in range((megabytes - 1) // 64):
        yield batch
    yield end


@functools.cache
def brotli_bomb_bytes(megabytes: int = 256) -> bytes:
    import brotli

    compressor = brotli.Compressor(quality=5)
    zeros = bytes(_MB)
    out = b"".join(compressor.process(zeros) for _ in range(megabytes))
    return out + compressor.finish()


@functools.cache
def nested_gzip_bytes(megabytes: int = 64) -> bytes:
    inner = b"".join(deflate_bomb_chunks(31, megabytes))
    return gzip.compress(inner, 9)


def bomb(encoding: str, megabytes: int = 10_240, ctype: str = HTML) -> Behaviour:
    """A compressed body that inflates to *megabytes* of zeros (10 GB by default)."""

    def serve(conn: Conn) -> None:
        if encoding == "br":
            body: Iterable[bytes] = [brotli_bomb_bytes()]
        elif encoding == "gzip, gzip":
            body = [nested_gzip_bytes()]
        else:
            body = deflate_bomb_chunks({"gzip": 31, "deflate": 15, "raw-deflate": -15}[encoding], megabytes)
        header = "deflate" if encoding == "raw-deflate" else encoding
        if conn.head(200, [("Content-Type", ctype), ("Content-Encoding", header)]):
            conn.stream(body)  # no Content-Length: the client reads to the close

    return serve


def huge_plain(megabytes: int, ctype: str = HTML) -> Behaviour:
    def serve(conn: Conn) -> None:
        block = b"<p>" + b"A" * (_MB - 3)
        if conn.head(200, [("Content-Type", ctype), ("Content-Length", str(megabytes * _MB))]):
            conn.stream(block for _ in range(megabytes))

    return serve


# -- header and cookie bombs -------------------------------------------------------------


def many_headers(count: int, name: str = "X-Bomb-{i}", value: str = "v{i}") -> Behaviour:
    def serve(conn: Conn) -> None:
        body = html(text=f"{count} headers")
        conn.reply(200, body, HTML, [(name.format(i=i), value.format(i=i)) for i in range(count)])

    return serve


def long_header_line(size: int) -> Behaviour:
    def serve(conn: Conn) -> None:
        conn.reply(200, html(text="one long header"), HTML, [("X-Long", "L" * size)])

    return serve


def cookie_bomb(count: int, size: int, next_page: str | None = "/next") -> Behaviour:
    """*count* Set-Cookie headers of *size* bytes each; the page links to one more page,
    whose request shows what the crawler sends back."""

    def serve(conn: Conn) -> None:
        cookies = [("Set-Cookie", f"c{i}={'v' * size}; Path=/") for i in range(count)]
        conn.reply(200, html(*([next_page] if next_page else []), text="cookies"), HTML, cookies)

    return serve


def growing_cookies(conn: Conn) -> None:
    """Every page sets one more 3 KB cookie and links to the next."""
    n = int(conn.path.rsplit("/", 1)[-1] or 0) if conn.path.startswith("/grow/") else 0
    cookie = ("Set-Cookie", f"g{n}={'g' * 3000}; Path=/")
    links = (f"/grow/{n + 1}",) if n < 15 else ()
    conn.reply(200, html(*links, text=f"grow {n}"), HTML, [cookie])


# -- redirects and refreshes ---------------------------------------------------------------


def redirect(location: str | Callable[[Conn], str], status: int = 302) -> Behaviour:
    def serve(conn: Conn) -> None:
        target = location(conn) if callable(location) else location
        conn.reply(status, b"", None, [("Location", target)], reason="Found")

    return serve


def growing_redirect(conn: Conn) -> None:
    """/r?x -> /r?xx -> /r?xxx ...: an ever longer URL, never the same twice."""
    conn.reply(302, b"", None, [("Location", f"/r?{conn.query}{'x' * 64}")], reason="Found")


def deeper_redirect(conn: Conn) -> None:
    conn.reply(302, b"", None, [("Location", conn.path.rstrip("/") + f"/{random.randrange(10**6)}")],
               reason="Found")


def meta_refresh(target: str | Callable[[Conn], str], delay: int = 0) -> Behaviour:
    def serve(conn: Conn) -> None:
        url = target(conn) if callable(target) else target
        head = f'<meta http-equiv="refresh" content="{delay};url={url}">'
        conn.reply(200, html(text="please wait, checking your browser", head=head), HTML)

    return serve


def counter_query(conn: Conn) -> str:
    """The next URL of a loop that never repeats: ?n+1."""
    n = int(conn.query.split("=", 1)[-1]) if conn.query.startswith("n=") else 0
    return f"{conn.path}?n={n + 1}"


def script_page(script: str, text: str = "javascript") -> Behaviour:
    return page(html(text=text, head=f"<script>{script}</script>"))


# -- traps ---------------------------------------------------------------------------------


def calendar_query(conn: Conn) -> None:
    """/cal?y=2024&m=1 links to the month before and after, for ever."""
    params = dict(p.split("=", 1) for p in conn.query.split("&") if "=" in p)
    y, m = int(params.get("y", 2024)), int(params.get("m", 1))
    prev_y, prev_m = (y - 1, 12) if m == 1 else (y, m - 1)
    next_y, next_m = (y + 1, 1) if m == 12 else (y, m + 1)
    conn.reply(200, html(f"/cal?y={prev_y}&m={prev_m}", f"/cal?y={next_y}&m={next_m}", text=f"{y}-{m:02}"), HTML)


def calendar_path(conn: Conn) -> None:
    """/day/2024/01/01/ links to yesterday and tomorrow."""
    import datetime

    try:
        y, m, d = (int(p) for p in conn.path.strip("/").split("/")[1:4])
        day = datetime.date(y, m, d)
    except (ValueError, TypeError):
        day = datetime.date(2024, 1, 1)
    links = [f"/day/{x:%Y/%m/%d}/" for x in (day - datetime.timedelta(days=1), day + datetime.timedelta(days=1))]
    conn.reply(200, html(*links, text=f"{day}"), HTML)


def session_ids(conn: Conn) -> None:
    """Three real pages; every link carries a fresh session id."""
    def sid() -> str:
        return "%032x" % random.getrandbits(128)

    links = [f"/{p}?PHPSESSID={sid()}" for p in ("a", "b", "c")] + [f"/a?sid={sid()}&jsessionid={sid()}"]
    conn.reply(200, html(*links, text="session"), HTML, [("Set-Cookie", f"PHPSESSID={sid()}")])


def query_variants(conn: Conn) -> None:
    """/search?q=N links to 30 fresh query variants of the same path."""
    base = random.randrange(10**9)
    conn.reply(200, html(*(f"/search?q={base + i}" for i in range(30)), text="results"), HTML)


def many_links(count: int) -> Behaviour:
    """One page of *count* distinct links; the targets are small leaves."""
    body = b"<html><body>" + b"".join(b'<a href="/l/%d">%d</a>' % (i, i) for i in range(count)) + b"</body></html>"

    def serve(conn: Conn) -> None:
        if conn.path.startswith("/l/"):
            conn.reply(200, html(text="leaf"), HTML)
        else:
            conn.reply(200, body, HTML)

    return serve


def deep_nesting(levels: int, target: str = "/deep-target") -> Behaviour:
    """A link under *levels* nested elements (lxml stops at 255/2047 by default)."""
    body = (b"<html><body>" + b"<div>" * levels + f'<a href="{target}">deep</a>'.encode()
            + b"</div>" * levels + b"</body></html>")
    return routes({"/": page(body), target: page(html(text="reached the deep link"))})


def ever_deeper(conn: Conn) -> None:
    """/d/1/ -> /d/1/2/ -> ...: every page one segment deeper, all distinct."""
    segments = conn.path.strip("/").split("/")[1:]
    nxt = "/d/" + "/".join([*segments, str(len(segments) + 1)]) + "/"
    conn.reply(200, html(nxt, text=f"depth {len(segments)}"), HTML)


def repeated_segment(conn: Conn) -> None:
    conn.reply(200, html(conn.path.rstrip("/") + "/x/", text="x"), HTML)


def pagination(conn: Conn) -> None:
    n = int(conn.path.strip("/").split("/")[-1]) if conn.path.startswith("/page/") else 0
    conn.reply(200, html(f"/page/{n + 1}", text=f"page {n}"), HTML)


# -- sitemaps ------------------------------------------------------------------------------


def sitemap_xml(urls: Iterable[str]) -> bytes:
    body = "".join(f"<url><loc>{u}</loc></url>" for u in urls)
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{body}</urlset>").encode()


def sitemap_index(urls: Iterable[str]) -> bytes:
    body = "".join(f"<sitemap><loc>{u}</loc></sitemap>" for u in urls)
    return (f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{body}</sitemapindex>").encode()


def robots_with_sitemap(path: str) -> Callable[[Conn], None]:
    def serve(conn: Conn) -> None:
        conn.reply(200, f"User-agent: *\nAllow: /\nSitemap: {conn.host.url_for(path)}\n".encode(), "text/plain")

    return serve


def write_big_sitemap(path: str, base: str, count: int) -> None:
    """A gzip sitemap of *count* URLs on *base*, streamed to *path* (never all in memory)."""
    with open(path, "wb") as raw_file, gzip.GzipFile(fileobj=raw_file, mode="wb", compresslevel=6) as out:
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>'
                  b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
        batch = io.BytesIO()
        for i in range(count):
            batch.write(b"<url><loc>%s/s/%d</loc></url>" % (base.encode(), i))
            if i % 10_000 == 9_999:
                out.write(batch.getvalue())
                batch = io.BytesIO()
        out.write(batch.getvalue() + b"</urlset>")


def big_sitemap(count: int) -> Behaviour:
    """robots.txt names /sitemap.xml.gz, *count* URLs, built on first request and kept
    (in the web's cache folder: one build per test session)."""

    def serve(conn: Conn) -> None:
        if conn.path == "/robots.txt":
            robots_with_sitemap("/sitemap.xml.gz")(conn)
        elif conn.path == "/sitemap.xml.gz":
            path = conn.web.cached_file(f"sitemap-{conn.host.name}.xml.gz",
                                        lambda p: write_big_sitemap(p, conn.host.url, count))
            with open(path, "rb") as handle:
                data = handle.read()
            conn.reply(200, data, "application/x-gzip")
        elif conn.path.startswith("/s/"):
            conn.reply(200, html(text="from the sitemap"), HTML)
        else:
            conn.reply(200, html(text="home of a big sitemap"), HTML)

    return serve
