"""The synthetic site of the render benchmark: pages, images, stylesheet and script, served from memory."""

from __future__ import annotations

import random
import struct
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"

# Marker colours. Each one is used by exactly one thing on the page, so
# finding it in a screenshot proves that thing was rendered.
MARK_HEADER = (0x1A, 0x23, 0x7E)  # header band, from the external stylesheet
MARK_IMG = (0x00, 0xC8, 0x53)  # fill of every content image (PNG)
MARK_JS = (0xFF, 0x6D, 0x00)  # link box inserted by the inline script
MARK_APP = (0x6A, 0x1B, 0x9A)  # link box inserted by the deferred /static/app.js
MARK_FOOTER = (0xB7, 0x1C, 0x1C)  # footer band, the last thing on the page


def _hex(c: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % c


# --------------------------------------------------------------------------
# 1. The synthetic site
# --------------------------------------------------------------------------


def _png(width: int, height: int, pixel_rows: list[bytes]) -> bytes:
    """Encode RGB rows as a PNG (no Pillow here)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in pixel_rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _content_image(seed: int, w: int = 240, h: int = 160) -> bytes:
    """A 'photo': marker-green fill, a coloured disc and bars, a noisy band."""
    rng = random.Random(seed)
    g = bytes(MARK_IMG)
    disc = bytes(rng.choice([(250, 220, 40), (40, 120, 240), (240, 240, 240), (30, 30, 30)]))
    cx, cy, r = rng.randint(50, 190), rng.randint(40, 80), rng.randint(18, 34)
    rows = []
    for y in range(h):
        row = bytearray()
        noisy = y >= h - 36
        for x in range(w):
            if noisy:
                v = rng.randrange(256)
                row += bytes((v, (v * 7) & 255, 255 - v))
            elif (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                row += disc
            elif y % 31 == 0 or x % 47 == 0:
                row += b"\xff\xff\xff"
            else:
                row += g
        rows.append(bytes(row))
    return _png(w, h, rows)


def _logo() -> bytes:
    w, h = 120, 40
    rows = []
    for y in range(h):
        row = bytearray()
        for x in range(w):
            row += b"\xff\xc1\x07" if (x // 10 + y // 10) % 2 else b"\xff\xff\xff"
        rows.append(bytes(row))
    return _png(w, h, rows)


_WORDS = (
    "market vendor escrow listing shipping stealth package order review feedback trust "
    "wallet address deposit withdraw fee support ticket forum thread reply moderator rules "
    "mirror onion link verify signature key pgp message encrypted account login register "
    "price quality batch sample refund dispute finalize early days weeks tracking domestic "
    "international product category digital service guide tutorial security privacy tor "
    "bridge relay circuit hidden service uptime status announcement update changelog "
    "the a of and to in is for on with as by at from that this be are was it or an not "
    "will can all new more one about your our we you they their which has have been"
).split()


def _sentence(rng: random.Random) -> str:
    n = rng.randint(8, 22)
    words = [rng.choice(_WORDS) for _ in range(n)]
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(".....?!")


def _paragraph(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        s = _sentence(rng)
        out.append(s)
        size += len(s) + 1
    return " ".join(out)


_SITE_CSS = f"""\
/* site.css: shared stylesheet */
@font-face {{ font-family: "Brand"; src: url("/static/brand.ttf") format("truetype"); font-display: swap; }}
* {{ box-sizing: border-box; }}
html {{ font-family: "Liberation Sans", Arial, sans-serif; font-size: 17px; line-height: 1.65; color: #222; background: #fafafa; }}
body {{ margin: 0; }}
a {{ color: #0645ad; text-decoration: none; }}
a:hover {{ text-decoration: underline; }}
header.top {{ background: {_hex(MARK_HEADER)}; color: #fff; height: 120px; padding: 12px 32px; overflow: hidden; }}
header.top img {{ float: left; margin: 8px 20px 0 0; }}
header.top h1 {{ font-family: "Brand", serif; font-size: 26px; margin: 4px 0 6px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
header.top nav a {{ color: #c5cae9; margin-right: 14px; font-size: 14px; }}
.badge {{ display: inline-block; padding: 2px 8px; border-radius: 10px; background: #e0e0e0; font-size: 12px; animation: pulse 1.2s ease-in-out infinite alternate; }}
@keyframes pulse {{ from {{ opacity: 1; }} to {{ opacity: .35; }} }}
.wrap {{ display: flex; gap: 40px; max-width: 1140px; margin: 24px auto; padding: 0 20px; }}
main {{ flex: 0 0 760px; }}
aside {{ flex: 1 1 auto; font-size: 14px; border-left: 1px solid #ddd; padding-left: 20px; }}
aside li {{ margin-bottom: 6px; }}
h2 {{ font-family: "Brand", serif; font-size: 22px; margin: 28px 0 8px; color: #333; }}
p {{ margin: 0 0 14px; text-align: justify; }}
figure {{ margin: 18px 0; }}
figure img {{ display: block; border: 1px solid #ccc; }}
figcaption {{ font-size: 13px; color: #666; }}
table {{ border-collapse: collapse; width: 100%; margin: 16px 0; font-size: 14px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: left; }}
th {{ background: #eeeeee; }}
tr:nth-child(even) td {{ background: #f6f6f6; }}
.jsbox {{ display: block; width: 320px; height: 48px; line-height: 48px; margin: 18px 0; padding: 0 14px; background: {_hex(MARK_JS)}; color: #fff; font-weight: bold; }}
.appbox {{ display: block; width: 320px; height: 48px; line-height: 48px; margin: 18px 0; padding: 0 14px; background: {_hex(MARK_APP)}; color: #fff; font-weight: bold; }}
footer.bottom {{ background: {_hex(MARK_FOOTER)}; color: #fff; min-height: 90px; padding: 20px 32px; margin-top: 40px; font-size: 14px; }}
footer.bottom a {{ color: #ffcdd2; margin-right: 12px; }}
form.search input {{ width: 100%; padding: 6px; border: 1px solid #bbb; }}
.pager a {{ display: inline-block; padding: 4px 10px; border: 1px solid #ccc; margin-right: 4px; }}
""" + "".join(  # bulk, as real stylesheets have: rules that mostly match nothing
    f".u-{i} {{ margin: {i % 7}px {i % 5}px; padding: {i % 3}px; color: #{(i * 2654435761) & 0xFFFFFF:06x}; }}\n"
    for i in range(120)
)

_APP_JS = """\
// app.js (deferred): runs before DOMContentLoaded, adds a 'related' link.
(function () {
  var slot = document.getElementById('app-slot');
  if (!slot) return;
  var n = parseInt(document.body.getAttribute('data-page'), 10) || 0;
  var total = parseInt(document.body.getAttribute('data-total'), 10) || 1;
  var a = document.createElement('a');
  a.id = 'app-related';
  a.className = 'appbox';
  a.href = '/page/' + ((n * 7 + 3) % total) + '.html';
  a.textContent = 'Related listing #' + ((n * 7 + 3) % total);
  slot.appendChild(a);
  var badges = document.querySelectorAll('.badge');
  for (var i = 0; i < badges.length; i++) badges[i].title = 'online';
})();
"""


@dataclass
class PageSpec:
    n: int
    url_path: str
    tall: bool
    js_href: str  # href of the link the inline script inserts
    app_href: str  # href of the link app.js inserts
    html_bytes: int


def _page_html(n: int, total: int, n_images: int, rng: random.Random, tall: bool) -> tuple[str, str, str]:
    title = f"{_sentence(rng)[:-1].title()[:60]} | Listing {n}"
    nav = " ".join(f'<a href="/page/{rng.randrange(total)}.html">{rng.choice(_WORDS).title()}</a>' for _ in range(10))
    text_chars = rng.randint(40_000, 65_000) if tall else rng.randint(6_000, 10_500)
    n_par = max(6, text_chars // 700)
    per_par = text_chars // n_par
    imgs = [rng.randrange(n_images) for _ in range(3)]
    js_href = f"/page/{(n + 1) % total}.html"
    app_href = f"/page/{(n * 7 + 3) % total}.html"
    body: list[str] = []
    for i in range(n_par):
        if i % 3 == 0:
            body.append(f"<h2>{_sentence(rng)[:-1][:70]}</h2>")
        link = f'<a href="/page/{rng.randrange(total)}.html">{rng.choice(_WORDS)}</a>'
        body.append(f"<p>{_paragraph(rng, per_par)} See {link}.</p>")
        if i in (1, 4, 8):
            k = imgs[(1, 4, 8).index(i)]
            body.append(
                f'<figure><img src="/img/{k}.png" width="240" height="160" alt="photo {k}">'
                f"<figcaption>Photo {k}: {_sentence(rng)}</figcaption></figure>"
            )
        if i == 2:
            # Inserted by an inline script while the parser runs.
            body.append(
                '<div id="js-slot"></div><script>(function(){var a=document.createElement("a");'
                f'a.id="js-link";a.className="jsbox";a.href="{js_href}";'
                f'a.textContent="Next listing ({(n + 1) % total})";'
                'document.getElementById("js-slot").appendChild(a);})();</script>'
            )
        if i == 3:
            body.append('<div id="app-slot"></div>')
        if i == 5:
            rows = "".join(
                f"<tr><td>{rng.choice(_WORDS)}</td><td>{rng.randint(1, 999)}.{rng.randint(0, 99):02d}</td>"
                f"<td>{rng.choice(_WORDS)} {rng.choice(_WORDS)}</td><td>{rng.randint(1, 5)}/5</td></tr>"
                for _ in range(8)
            )
            body.append(f"<table><tr><th>Item</th><th>Price</th><th>Vendor</th><th>Rating</th></tr>{rows}</table>")
    aside = "".join(
        f'<li><a href="/page/{rng.randrange(total)}.html">{_sentence(rng)[:40]}</a> '
        f'<span class="badge">{rng.randint(1, 99)}</span></li>'
        for _ in range(12)
    )
    pager = " ".join(f'<a href="/page/{(n + d) % total}.html">{(n + d) % total}</a>' for d in range(-3, 4) if d)
    html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/site.css">
<link rel="icon" href="data:,">
<script src="/static/app.js" defer></script>
<style>.p{n} h2 {{ letter-spacing: .{n % 5}px; }}</style>
</head>
<body class="p{n}" data-page="{n}" data-total="{total}">
<header class="top"><img src="/static/logo.png" width="120" height="40" alt="logo">
<h1>{title}</h1>
<nav>{nav}</nav></header>
<div class="wrap">
<main><article>
{chr(10).join(body)}
<div class="pager">{pager}</div>
</article></main>
<aside><form class="search" action="/search"><input name="q" placeholder="Search listings"></form>
<h3>Recent</h3><ul>{aside}</ul></aside>
</div>
<footer class="bottom"><p>Listing {n} &middot; page served by the bench &middot;
<a href="/page/0.html">Home</a><a href="/rules.html">Rules</a><a href="/pgp.txt">PGP</a></p>
<p>{_sentence(rng)}</p></footer>
</body>
</html>
"""
    return html, js_href, app_href


@dataclass
class Site:
    files: dict[str, tuple[bytes, str, str]]  # path -> (body, content-type, cache-control)
    pages: list[PageSpec]
    has_font: bool


def build_site(n_pages: int, seed: int = 20240521, n_images: int = 40) -> Site:
    rng = random.Random(seed)
    static_cc = "public, max-age=3600"
    files: dict[str, tuple[bytes, str, str]] = {
        "/static/site.css": (_SITE_CSS.encode(), "text/css", static_cc),
        "/static/app.js": (_APP_JS.encode(), "application/javascript", static_cc),
        "/static/logo.png": (_logo(), "image/png", static_cc),
    }
    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf")
    has_font = font.is_file()
    if has_font:
        files["/static/brand.ttf"] = (font.read_bytes(), "font/ttf", static_cc)
    for k in range(n_images):
        files[f"/img/{k}.png"] = (_content_image(seed * 31 + k), "image/png", static_cc)
    pages: list[PageSpec] = []
    for n in range(n_pages):
        tall = n % 20 == 7  # 5% very long pages (forum threads, big listings)
        html, js_href, app_href = _page_html(n, n_pages, n_images, rng, tall)
        body = html.encode()
        path = f"/page/{n}.html"
        files[path] = (body, "text/html; charset=utf-8", "no-cache")
        pages.append(PageSpec(n, path, tall, js_href, app_href, len(body)))
    return Site(files, pages, has_font)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real server
    server: _SiteServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        entry = self.server.site.files.get(path)
        kind = path.split("/")[1] if path.count("/") >= 2 else "other"
        with self.server.lock:
            self.server.counts[kind] = self.server.counts.get(kind, 0) + 1
        if entry is None:
            body, ctype, cc = b"not found\n", "text/plain", "no-cache"
            self.send_response(404)
        else:
            body, ctype, cc = entry
            self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cc)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default 5 drops connections under a browser's burst

    def __init__(self, site: Site) -> None:
        self.site = site
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        super().__init__((LOOPBACK, 0), _Handler)

    def take_counts(self) -> dict[str, int]:
        with self.lock:
            out, self.counts = self.counts, {}
        return out

