"""Render-stage benchmark: darkcrawl's render stage vs. a naive scrapy-playwright set-up.

``python -m bench.render`` does, in one run (see ``bench/README.md``):

1. generates ``--pages`` (200) local pages that look like real ones (~15 KB of
   HTML, a stylesheet, a web font, a deferred script, 4 PNG images, a CSS
   animation, links inserted by JavaScript; 1 page in 20 is a very long one)
   and serves them from memory with a stdlib ``ThreadingHTTPServer``;
2. renders all of them with the **naive** set-up (a minimal Scrapy spider on
   scrapy-playwright's download handler, full-page PNG + ``page.content()`` in
   the callback, scrapy-playwright's default concurrency);
3. crawls them with **darkcrawl** (``scrapy crawl darkweb`` over the 200 URLs:
   its plain stage, then its render stage, rendered DOM and PNG saved under
   ``PATH_DATA``), and with the naive set-up at darkcrawl's viewport;
   ``--only``/``--all`` add the other variants (darkcrawl with other settings,
   and the scrapy-playwright experiments that led to darkcrawl's render stage),
   each in its own subprocess;
4. checks what every variant produced (the rendered DOM of every page, and
   the screenshots decoded in Chromium: CSS, images, JS-made links, footer)
   and prints one table with the speed-up of each variant over the naive one.

Internal entry points (used by the runner): ``--worker CONFIG.json`` runs one
crawl, ``--verify DIR`` checks the output of one crawl.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import json
import math
import os
import random
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_BIN = "/usr/lib/chromium/chromium"
# apt-get install chromium-headless-shell; called directly, because its
# /usr/bin wrapper does not exec (killing it would orphan the browser).
HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
# Chromium as root needs --no-sandbox; the rest stop the background
# connections that this machine's closed network refuses (and that a crawler
# behind Tor must not make anyway).
BASE_CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
)
PROJECT_ROOT = Path(__file__).resolve().parent.parent

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


# --------------------------------------------------------------------------
# 2. Variants
# --------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    desc: str
    # Scrapy concurrency; None = Scrapy/scrapy-playwright defaults (16 / 8 per
    # domain / PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = CONCURRENT_REQUESTS).
    concurrency: int | None = None
    max_pages_per_context: int | None = None
    contexts: str = "one"  # "one" | "per-page" | "N" (round-robin over N) | "persist-N" (N browsers)
    shot_in: str = "callback"  # "callback" | "pagemethod"
    engine: str = "playwright"  # "playwright" (page.screenshot) | "cdp" (Page.captureScreenshot)
    fmt: str = "png"  # png | jpeg | webp (webp: cdp only)
    quality: int | None = None
    shot_opts: dict[str, Any] = field(default_factory=dict)  # scale / animations / caret
    optimize_for_speed: bool = False  # cdp only
    scale: float = 1.0  # cdp only: clip scale (< 1 = fewer pixels, smaller text)
    cap: int | None = None  # max screenshot height in CSS px
    wait_until: str = "load"
    settle_ms: int = 0
    abort: str | None = None  # None | "media-font"
    disable_gpu: bool = True
    extra_args: tuple[str, ...] = ()
    viewport: tuple[int, int] | None = None  # None = Playwright's 1280x720
    dsf: float | None = None
    content: str = "callback"  # "callback": await page.content() | "response": response.text
    reuse_html: bool = False  # plain fetch first, then route.fulfill the document
    unroute: bool = False  # drop scrapy-playwright's "**" route (every request via Python)
    pause_animations: bool = False  # CDP Animation.setPlaybackRate 0 before navigating
    page_pool: bool = False  # reuse `concurrency` (8) pages: navigate each to the next URL
    pool_recycle: int = 50  # ... and replace a page after this many URLs
    shot_mode: str = "full"  # "full" (captureBeyondViewport) | "tallvp" (viewport = page height)
    frame_wait: bool = False  # tallvp: wait 2 animation frames after resizing
    env: dict[str, str] = field(default_factory=dict)  # extra environment (read by Playwright's driver)
    # The real crawler instead of the bench worker: `scrapy crawl darkweb` over the
    # same URLs (plain stage, then its render stage), with these extra `-s` settings.
    darkcrawl: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    # /usr/bin/chromium is Debian's shell wrapper: it adds --enable-gpu-rasterization and
    # other flags from /etc/chromium.d before exec'ing /usr/lib/chromium/chromium.
    executable: str = CHROMIUM


def _v(name: str, desc: str, **kw: Any) -> Variant:
    return Variant(name, desc, **kw)


_FAST = {  # CDP PNG optimizeForSpeed as a PageMethod, DOM from the response, no per-request route
    "engine": "cdp",
    "optimize_for_speed": True,
    "shot_in": "pagemethod",
    "content": "response",
    "unroute": True,
}
_FAST_POOL_HS = {**_FAST, "page_pool": True, "executable": HEADLESS_SHELL}

#: darkcrawl's crawl as `bench.run` runs it (no politeness delay: the naive spider has
#: none), with the screenshot cap raised above the tallest page (26,797 px), so that
#: it shows every page whole, as the naive set-up does.
DARKCRAWL_BENCH_SETTINGS = {
    "DARC_REBOOT": "1",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "DARKCRAWL_RENDER": "1",
    "DARKCRAWL_SCREENSHOT_MAX_HEIGHT": "32000",
    "DARC_TOR": "0",
    "DARC_I2P": "0",
    "DARC_ZERONET": "0",
    "DARC_FREENET": "0",
    "LOG_LEVEL": "INFO",
}


def _darkcrawl_launch(*extra_args: str, executable: str = CHROMIUM) -> str:
    """darkcrawl's PLAYWRIGHT_LAUNCH_OPTIONS with more Chromium flags, as a `-s` value."""
    from darkcrawl.addon import DEFAULTS, playwright_settings

    launch = dict(playwright_settings(executable, DEFAULTS["USER_AGENT"])["PLAYWRIGHT_LAUNCH_OPTIONS"])  # type: ignore[arg-type]
    launch["args"] = [*launch["args"], *extra_args]
    return json.dumps(launch)


def _dc(name: str, desc: str, **settings: str) -> Variant:
    return Variant(name, desc, darkcrawl=True, settings={**DARKCRAWL_BENCH_SETTINGS, **settings})


VARIANTS: list[Variant] = [
    _v("naive", "defaults (16/8), one context, PNG + page.content() in the callback"),
    _dc("darkcrawl", "scrapy crawl darkweb: plain stage + render stage, darkcrawl's settings "
        "(screenshot cap raised to 32,000 px)"),
    _v("naive-1024", "naive at darkcrawl's viewport (1024x800, device scale factor 1)",
       viewport=(1024, 800), dsf=1),
    _dc("darkcrawl-cap", "darkcrawl with its default cap (12,000 px: the very long pages are cut)",
        DARKCRAWL_SCREENSHOT_MAX_HEIGHT="12000"),
    # darkcrawl's render stage, tried with other settings
    _dc("darkcrawl-p2", "darkcrawl, 2 pages per context", PLAYWRIGHT_MAX_PAGES_PER_CONTEXT="2"),
    _dc("darkcrawl-p6", "darkcrawl, 6 pages per context", PLAYWRIGHT_MAX_PAGES_PER_CONTEXT="6"),
    _dc("darkcrawl-p8", "darkcrawl, 8 pages per context", PLAYWRIGHT_MAX_PAGES_PER_CONTEXT="8"),
    _dc("darkcrawl-rpl2", "darkcrawl + --renderer-process-limit=2",
        PLAYWRIGHT_LAUNCH_OPTIONS=_darkcrawl_launch("--renderer-process-limit=2")),
    replace(_dc("darkcrawl-hs", "darkcrawl on chromium-headless-shell", DARKCRAWL_CHROMIUM=HEADLESS_SHELL),
            executable=HEADLESS_SHELL),
    # concurrency
    _v("conc2", "naive, 2 pages at a time", concurrency=2),
    _v("conc4", "naive, 4 pages at a time", concurrency=4),
    _v("conc8", "naive, 8 pages at a time", concurrency=8),
    _v("conc16", "naive, 16 pages at a time", concurrency=16),
    # contexts / browsers
    _v("ctx-per-page", "naive, a new context per page (closed after it)", contexts="per-page"),
    _v("ctx-4", "naive, 4 contexts round-robin (4 pages each)", contexts="4"),
    _v("browsers-2", "naive, 2 browsers (persistent contexts, 8 pages each)", contexts="persist-2"),
    _v("page-pool", "naive, but 8 pages reused (each navigates to the next URL; new page every 50)",
       page_pool=True),
    _v("renderer-limit-2", "naive + --renderer-process-limit=2", extra_args=("--renderer-process-limit=2",)),
    # where the screenshot is taken
    _v("pagemethod", "screenshot as a PageMethod, DOM = response.text", shot_in="pagemethod", content="response"),
    _v("no-2nd-content", "naive but the DOM from response.text (no 2nd page.content())", content="response"),
    # how
    _v("png-opts", 'naive + scale="css", animations="disabled", caret="hide"',
       shot_opts={"scale": "css", "animations": "disabled", "caret": "hide"}),
    _v("jpeg80", "naive, JPEG quality 80", fmt="jpeg", quality=80),
    _v("cdp-png", "PNG via CDP Page.captureScreenshot", engine="cdp"),
    _v("cdp-png-fast", "PNG via CDP with optimizeForSpeed", engine="cdp", optimize_for_speed=True),
    _v("cap10k", "naive, full page clipped at 10,000 px", cap=10_000),
    _v("tallvp-raf", "naive, but viewport resized to the page height, 2 frames, viewport shot",
       shot_mode="tallvp", frame_wait=True),
    # loading
    _v("dcl", 'wait_until="domcontentloaded", no settle', wait_until="domcontentloaded"),
    _v("dcl-settle", 'wait_until="domcontentloaded" + 250 ms', wait_until="domcontentloaded", settle_ms=250),
    _v("abort-media-font", "PLAYWRIGHT_ABORT_REQUEST for media and fonts", abort="media-font"),
    _v("unroute", "naive minus scrapy-playwright's '**' route (HTTP cache on)", unroute=True),
    _v("reuse-html", "plain fetch, then route.fulfill the document in the browser", reuse_html=True),
    # browser
    _v("gpu-default", "naive without --disable-gpu", disable_gpu=False),
    _v("vp1024", "viewport 1024x768, device scale factor 1", viewport=(1024, 768), dsf=1),
    _v("vp1280x800", "viewport 1280x800, device scale factor 1", viewport=(1280, 800), dsf=1),
    _v("headless-shell", "naive on chromium-headless-shell (old headless; Playwright's default)",
       executable=HEADLESS_SHELL),
    # combinations
    _v("fast-png", "CDP PNG optimizeForSpeed as a PageMethod, DOM from response, unroute", **_FAST),
    _v("fast-png-pool", "fast-png + 8 reused pages", **_FAST, page_pool=True),
    _v("fast-png-pool-hs", "fast-png-pool on chromium-headless-shell", **_FAST_POOL_HS),
    _v("fast-png-pool-hs-c4", "fast-png-pool-hs with 4 pages", **_FAST_POOL_HS, concurrency=4),
    _v("fast-png-pool-hs-1024", "fast-png-pool-hs at 1024x768", **_FAST_POOL_HS, viewport=(1024, 768), dsf=1),
    _v("fast-png-pool-hs-reuse", "fast-png-pool-hs + the plain stage's HTML (route.fulfill)", **_FAST_POOL_HS,
       reuse_html=True),
    _v("fast-tallvp-pool-hs", "fast-png-pool-hs with the tall-viewport shot + 2 frames", **_FAST_POOL_HS,
       shot_mode="tallvp", frame_wait=True),
    _v("fast-jpeg-pool-hs", "fast-png-pool-hs but JPEG 80", **_FAST_POOL_HS, fmt="jpeg", quality=80),
    # these give something up: resolution, or the bottom of very long pages
    _v("fast-png-pool-hs-cap10k", "fast-png-pool-hs, clipped at 10,000 px (LOSSY: long pages cut)",
       **_FAST_POOL_HS, cap=10_000),
    _v("fast-png-pool-hs-x0.75", "fast-png-pool-hs at 0.75 scale (LOSSY: 960 px wide, smaller text)",
       **_FAST_POOL_HS, scale=0.75),
]
VARIANTS_BY_NAME = {v.name: v for v in VARIANTS}
#: what `python -m bench.render` runs without --only/--all: the issue's comparison
DEFAULT_VARIANTS = ("naive", "darkcrawl", "naive-1024")


def chromium_args(v: Variant) -> list[str]:
    args = [a for a in BASE_CHROMIUM_ARGS if v.disable_gpu or a != "--disable-gpu"]
    return args + list(v.extra_args)


# --------------------------------------------------------------------------
# 3. The crawl worker (runs in a subprocess, one per variant)
# --------------------------------------------------------------------------


def abort_media_fonts(request: Any) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST: drop media and fonts."""
    return request.resource_type in ("media", "font")


_PAGE_SIZE_JS = (
    "[document.documentElement.scrollWidth, Math.max(document.documentElement.scrollHeight,"
    " document.body ? document.body.scrollHeight : 0)]"
)
_TWO_FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


async def _cdp_capture(page: Any, v: Variant, *, beyond_viewport: bool, height: int | None = None) -> bytes:
    cdp = await page.context.new_cdp_session(page)
    try:
        if height is None:
            size = (await cdp.send("Page.getLayoutMetrics"))["cssContentSize"]
            width, height = math.ceil(size["width"]), math.ceil(size["height"])
            if v.cap:
                height = min(height, v.cap)
        else:
            width = (page.viewport_size or {"width": 1280})["width"]
        params: dict[str, Any] = {
            "format": v.fmt,
            "captureBeyondViewport": beyond_viewport,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": v.scale},
        }
        if v.optimize_for_speed:
            params["optimizeForSpeed"] = True
        if v.quality is not None and v.fmt != "png":
            params["quality"] = v.quality
        result = await cdp.send("Page.captureScreenshot", params)
    finally:
        with contextlib.suppress(Exception):
            await cdp.detach()
    return base64.b64decode(result["data"])


async def take_screenshot(page: Any, v: Variant) -> bytes:
    if v.settle_ms:
        await page.wait_for_timeout(v.settle_ms)
    if v.shot_mode == "tallvp":
        # Resize the viewport to the whole page and take a plain viewport shot,
        # instead of captureBeyondViewport (whose frame can come back stale:
        # the top of the page tiled down the whole image).
        size = await page.evaluate(_PAGE_SIZE_JS)
        vp = page.viewport_size or {"width": 1280, "height": 720}
        height = min(size[1], v.cap) if v.cap else size[1]
        await page.set_viewport_size({"width": vp["width"], "height": max(vp["height"], height)})
        try:
            if v.frame_wait:
                # Two animation frames: a frame at the new size has been produced.
                await page.evaluate(_TWO_FRAMES_JS)
            if v.engine == "cdp":
                return await _cdp_capture(page, v, beyond_viewport=False, height=height)
            kwargs: dict[str, Any] = {"type": v.fmt, **v.shot_opts}
            if v.quality is not None:
                kwargs["quality"] = v.quality
            if height < vp["height"]:
                kwargs["clip"] = {"x": 0, "y": 0, "width": vp["width"], "height": height}
            return await page.screenshot(**kwargs)
        finally:
            if v.page_pool:  # the page lives on: back to the normal viewport
                await page.set_viewport_size(vp)
    if v.engine == "cdp":
        return await _cdp_capture(page, v, beyond_viewport=True)
    kwargs = {"full_page": True, "type": v.fmt, **v.shot_opts}
    if v.quality is not None:
        kwargs["quality"] = v.quality
    if v.cap:
        width, height = await page.evaluate(_PAGE_SIZE_JS)
        if height > v.cap:
            kwargs["clip"] = {"x": 0, "y": 0, "width": width, "height": v.cap}
    return await page.screenshot(**kwargs)


def _worker(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    v = Variant(**{**cfg["variant"], "viewport": tuple(cfg["variant"]["viewport"]) if cfg["variant"]["viewport"]
                   else None, "extra_args": tuple(cfg["variant"]["extra_args"])})
    out = Path(cfg["out_dir"])
    urls: list[str] = cfg["urls"]

    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy_playwright.page import PageMethod

    ext = {"png": "png", "jpeg": "jpg", "webp": "webp"}[v.fmt]
    context_kwargs: dict[str, Any] = {}
    if v.viewport:
        context_kwargs["viewport"] = {"width": v.viewport[0], "height": v.viewport[1]}
    if v.dsf is not None:
        context_kwargs["device_scale_factor"] = v.dsf

    launch: dict[str, Any] = {"executable_path": v.executable, "headless": True, "args": chromium_args(v)}
    state: dict[str, Any] = {"ok": 0, "errors": [], "shot_bytes": 0, "html_bytes": 0, "t_first_done": None}

    async def page_init(page: Any, request: Any) -> None:
        if v.unroute:
            await page.unroute("**")
        if v.pause_animations:
            cdp = await page.context.new_cdp_session(page)
            await cdp.send("Animation.enable")
            await cdp.send("Animation.setPlaybackRate", {"playbackRate": 0})
        body = request.meta.get("raw_body")
        if body is not None:
            headers = {"content-type": request.meta.get("raw_ctype") or "text/html"}

            async def fulfill(route: Any) -> None:
                await route.fulfill(status=200, headers=headers, body=body)

            await page.route(request.url, fulfill, times=1)

    phases: dict[str, list[float]] = {"download": [], "shot": [], "content": [], "close": []}

    async def timed_shot(page: Any) -> bytes:
        t = time.perf_counter()
        data = await take_screenshot(page, v)
        phases["shot"].append(time.perf_counter() - t)
        return data

    async def shot_method(page: Any) -> bytes:
        return await timed_shot(page)

    todo = list(enumerate(urls))
    todo.reverse()  # pop() from the end = in URL order
    pool_size = v.concurrency or 8

    class RenderSpider(scrapy.Spider):
        name = "render"

        async def start(self):  # type: ignore[override]
            # page_pool: only `pool_size` chains; each callback starts the
            # next URL on the page it just finished with.
            for _ in range(pool_size if v.page_pool else len(todo)):
                if todo:
                    yield self.next_request(None, 0)

        def next_request(self, page: Any, uses: int) -> scrapy.Request:
            i, url = todo.pop()
            if v.reuse_html:
                return scrapy.Request(url, callback=self.parse_plain, errback=self.on_error,
                                      cb_kwargs={"i": i, "page": page, "uses": uses}, dont_filter=True)
            return self.render_request(i, url, page=page, uses=uses)

        def render_request(self, i: int, url: str, raw: Any = None, page: Any = None, uses: int = 0) -> scrapy.Request:
            meta: dict[str, Any] = {"playwright": True, "i": i, "uses": uses}
            if v.shot_in == "callback" or v.page_pool:
                meta["playwright_include_page"] = True
            if v.shot_in == "pagemethod":
                meta["playwright_page_methods"] = [PageMethod(shot_method)]
            if page is not None:
                meta["playwright_page"] = page
            if v.wait_until != "load":
                meta["playwright_page_goto_kwargs"] = {"wait_until": v.wait_until}
            ctx_kwargs = dict(context_kwargs)
            if v.contexts == "per-page":
                meta["playwright_context"] = f"p{i}"
            elif v.contexts.startswith("persist-"):
                # A persistent context is a browser of its own; scrapy-playwright
                # launches it with these kwargs only (not the launch options).
                k = i % int(v.contexts.split("-")[1])
                meta["playwright_context"] = f"b{k}"
                ctx_kwargs.update(launch, user_data_dir=str(out / f"profile-{k}"))
            elif v.contexts != "one":
                meta["playwright_context"] = f"c{i % int(v.contexts)}"
            if ctx_kwargs:
                meta["playwright_context_kwargs"] = ctx_kwargs
            if raw is not None:
                meta["raw_body"] = raw.body
                meta["raw_ctype"] = raw.headers.get(b"Content-Type", b"text/html").decode("latin-1")
            if v.unroute or v.pause_animations or raw is not None:
                meta["playwright_page_init_callback"] = page_init
            return scrapy.Request(url, callback=self.parse, errback=self.on_error, meta=meta, dont_filter=True)

        async def parse_plain(self, response: Any, i: int, page: Any = None, uses: int = 0):
            # The plain stage's response: only HTML with status < 400 is rendered.
            if response.status < 400 and b"html" in response.headers.get(b"Content-Type", b""):
                yield self.render_request(i, response.url, raw=response, page=page, uses=uses)
            else:
                state["errors"].append(f"{response.url}: plain fetch {response.status}")
                if page is not None:
                    await page.close()
                    if todo:
                        yield self.next_request(None, 0)

        async def parse(self, response: Any):
            i = response.meta["i"]
            page = response.meta.get("playwright_page")
            # download_latency: page creation, goto, page methods, scrapy-playwright's page.content()
            phases["download"].append(response.meta.get("download_latency") or 0.0)
            keep = False
            try:
                if v.shot_in == "callback":
                    shot = await timed_shot(page)
                else:
                    shot = response.meta["playwright_page_methods"][0].result
                t = time.perf_counter()
                html = await page.content() if v.content == "callback" else response.text
                phases["content"].append(time.perf_counter() - t)
                keep = v.page_pool and response.meta["uses"] + 1 < v.pool_recycle and bool(todo)
            finally:
                if page is not None and not keep:
                    t = time.perf_counter()
                    await page.close()
                    if v.contexts == "per-page":
                        await page.context.close()
                    phases["close"].append(time.perf_counter() - t)
            (out / f"{i}.{ext}").write_bytes(shot)
            (out / f"{i}.html").write_text(html, encoding="utf-8")
            state["ok"] += 1
            state["shot_bytes"] += len(shot)
            state["html_bytes"] += len(html)
            if state["t_first_done"] is None:
                state["t_first_done"] = time.time()
            state["t_last_done"] = time.time()
            if v.page_pool and todo:
                yield self.next_request(page if keep else None, response.meta["uses"] + 1 if keep else 0)

        async def on_error(self, failure: Any):
            page = failure.request.meta.get("playwright_page") or failure.request.cb_kwargs.get("page")
            if page is not None:
                with contextlib.suppress(Exception):
                    await page.close()
                    if v.contexts == "per-page":
                        await page.context.close()
            state["errors"].append(f"{failure.request.url}: {failure.type.__name__}: {failure.value}"[:300])
            if v.page_pool and todo:
                yield self.next_request(None, 0)  # a fresh page carries the chain on

        def closed(self, reason: str) -> None:
            state["reason"] = reason

    settings: dict[str, Any] = {
        "ROBOTSTXT_OBEY": False,
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOAD_HANDLERS": {
            "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
            "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        },
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch,
    }
    if v.concurrency is not None:
        settings["CONCURRENT_REQUESTS"] = v.concurrency
        settings["CONCURRENT_REQUESTS_PER_DOMAIN"] = v.concurrency
        if v.reuse_html:
            # One more slot so that the cheap plain fetches keep the queue fed.
            settings["CONCURRENT_REQUESTS"] = settings["CONCURRENT_REQUESTS_PER_DOMAIN"] = v.concurrency + 1
    if v.max_pages_per_context is not None:
        settings["PLAYWRIGHT_MAX_PAGES_PER_CONTEXT"] = v.max_pages_per_context
    elif v.concurrency is not None:
        settings["PLAYWRIGHT_MAX_PAGES_PER_CONTEXT"] = v.concurrency
    if v.contexts == "per-page":
        settings["PLAYWRIGHT_MAX_CONTEXTS"] = v.concurrency or 8
    elif v.contexts != "one":
        n_ctx = int(v.contexts.split("-")[-1])
        settings["PLAYWRIGHT_MAX_CONTEXTS"] = n_ctx
        settings["PLAYWRIGHT_MAX_PAGES_PER_CONTEXT"] = max(1, (v.concurrency or 16) // n_ctx)
    if v.abort == "media-font":
        settings["PLAYWRIGHT_ABORT_REQUEST"] = "bench.render.abort_media_fonts"

    t_start = time.time()
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(RenderSpider)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    result = {
        "phase_ms": {k: {"median": round(1000 * statistics.median(x), 1), "mean": round(1000 * statistics.fmean(x), 1)}
                     for k, x in phases.items() if x},
        "t_start": t_start,
        "t_end": time.time(),
        **state,
        "stats": {k: (v2.isoformat() if hasattr(v2, "isoformat") else v2) for k, v2 in stats.items()},
        "settings": settings,
    }
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))


def darkcrawl_command(v: Variant, out: Path, urls: list[str]) -> list[str]:
    """`scrapy crawl darkweb` over ``urls``, everything it writes under ``out``."""
    seeds = out / "seeds.txt"
    seeds.write_text("".join(u + "\n" for u in urls))
    settings = {**v.settings, "PATH_DATA": str(out / "data"), "DARKCRAWL_STATS_FILE": str(out / "stats.json")}
    cmd = [sys.executable, "-m", "scrapy", "crawl", "darkweb", "-a", f"seeds={seeds}"]
    for name, value in settings.items():
        cmd += ["-s", f"{name}={value}"]
    return cmd


def collect_darkcrawl(out: Path, urls: list[str]) -> None:
    """Find darkcrawl's render of every URL (``<sha256(url)>_<ts>.html`` beside the
    ``_raw.html``, and the ``.png`` of the same name) and link them as ``<n>.html`` /
    ``<n>.png`` for the verifier; write ``result.json`` as the bench worker does."""
    from darkcrawl.storage.paths import url_hash

    stats_file = out / "stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    renders: dict[str, list[Path]] = {}
    for f in (out / "data").glob("clearnet/http/*/*.html"):
        if not f.name.endswith("_raw.html"):
            renders.setdefault(f.name.split("_", 1)[0], []).append(f)
    state: dict[str, Any] = {"ok": 0, "errors": [], "shot_bytes": 0, "html_bytes": 0, "t_start": None}
    for i, url in enumerate(urls):
        found = sorted(renders.get(url_hash(url), []))
        if not found:
            state["errors"].append(f"{url}: no rendered document")
            continue
        if len(found) > 1:
            state["errors"].append(f"{url}: rendered {len(found)} times")
        html, png = found[-1], found[-1].with_suffix(".png")
        os.link(html, out / f"{i}.html")
        state["html_bytes"] += html.stat().st_size
        if not png.exists():
            state["errors"].append(f"{url}: no screenshot")
            continue
        os.link(png, out / f"{i}.png")
        state["shot_bytes"] += png.stat().st_size
        state["ok"] += 1
    for key, value in stats.items():
        if key.startswith(("darkcrawl/render/error", "darkcrawl/render/screenshot_", "log_count/ERROR")):
            state["errors"].append(f"stat {key} = {value}")
    state["reason"] = stats.get("finish_reason")
    (out / "result.json").write_text(json.dumps({**state, "stats": stats}, indent=1, default=str))


# --------------------------------------------------------------------------
# 4. Checking what a variant produced
# --------------------------------------------------------------------------

_VERIFY_JS = """
async ([url, marks, tol]) => {
  const blob = await (await fetch(url)).blob();
  const bmp = await createImageBitmap(blob);
  const W = bmp.width, H = bmp.height;
  const cv = new OffscreenCanvas(W, H);
  const ctx = cv.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const d = ctx.getImageData(0, 0, W, H).data;
  const names = Object.keys(marks), M = names.map(k => marks[k]);
  const counts = new Array(M.length).fill(0), bottom = new Array(M.length).fill(0);
  const yb = Math.max(0, H - 300);
  let dark = 0, n = 0;
  // Every other pixel of every other row: marker blocks are large.
  for (let y = 0; y < H; y += 2) {
    let i = y * W * 4;
    for (let x = 0; x < W; x += 2, i += 8) {
      const r = d[i], g = d[i + 1], b = d[i + 2];
      n++;
      if (r * 299 + g * 587 + b * 114 < 90000) dark++;
      for (let j = 0; j < M.length; j++) {
        const m = M[j];
        if (Math.abs(r - m[0]) <= tol && Math.abs(g - m[1]) <= tol && Math.abs(b - m[2]) <= tol) {
          counts[j]++;
          if (y >= yb) bottom[j]++;
          break;
        }
      }
    }
  }
  const co = {}, bo = {};
  names.forEach((k, j) => { co[k] = counts[j] * 4; bo[k] = bottom[j] * 4; });
  return {width: W, height: H, counts: co, bottom: bo, dark: dark / n};
}
"""

# Minimum marker pixels (CSS px at scale 1) for a screenshot to count as showing it.
_THRESHOLDS = {"header": 20_000, "img": 8_000, "js": 4_000, "app": 4_000}
_FOOTER_BOTTOM_MIN = 20_000
_HEADER_MAX = 300_000  # the header band is 1280 x 120 = 154k px; twice that = repeated


def _verify(out_dir: str, pages_json: str, sample: str) -> None:
    """Check the DOM of every page and the screenshots of a sample (in Chromium)."""
    from playwright.async_api import async_playwright

    out = Path(out_dir)
    pages = [PageSpec(**p) for p in json.loads(Path(pages_json).read_text())]
    report: dict[str, Any] = {"dom_fail": [], "shot_fail": [], "missing": [], "shots": {}}
    for p in pages:
        html_file = out / f"{p.n}.html"
        if not html_file.exists():
            report["missing"].append(p.n)
            continue
        html = html_file.read_text(encoding="utf-8", errors="replace")
        problems = []
        if f'data-page="{p.n}"' not in html:
            problems.append("wrong page")
        if 'id="js-link"' not in html or f'href="{p.js_href}"' not in html:
            problems.append("inline-JS link missing")
        if 'id="app-related"' not in html or f'href="{p.app_href}"' not in html:
            problems.append("app.js link missing")
        if "</footer>" not in html:
            problems.append("footer missing")
        if problems:
            report["dom_fail"].append({"page": p.n, "problems": problems})
    shots = sorted(
        (f for f in out.iterdir() if f.suffix in (".png", ".jpg", ".webp")), key=lambda f: int(f.stem)
    )
    if sample != "all":
        k = int(sample)
        tall = [f for f in shots if pages[int(f.stem)].tall]
        rest = [f for f in shots if not pages[int(f.stem)].tall]
        step = max(1, len(rest) // max(1, k - len(tall)))
        shots = sorted(set(tall + rest[::step][: max(0, k - len(tall))]), key=lambda f: int(f.stem))
    marks = {"header": MARK_HEADER, "img": MARK_IMG, "js": MARK_JS, "app": MARK_APP, "footer": MARK_FOOTER}
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}

    async def run() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(BASE_CHROMIUM_ARGS))
            try:
                page = await browser.new_page()

                async def serve(route: Any) -> None:
                    name = route.request.url.rsplit("/", 1)[-1]
                    if name:
                        await route.fulfill(path=str(out / name), content_type=mime[Path(name).suffix])
                    else:
                        await route.fulfill(body="<html><body>verify</body></html>", content_type="text/html")

                await page.route("http://verify.invalid/**", serve)
                await page.goto("http://verify.invalid/")
                for f in shots:
                    s = await page.evaluate(_VERIFY_JS, [f"/{f.name}", marks, 28])
                    n = int(f.stem)
                    problems = [f"no {k}" for k, t in _THRESHOLDS.items() if s["counts"][k] < t]
                    if s["bottom"]["footer"] < _FOOTER_BOTTOM_MIN:
                        problems.append("footer not at the bottom (cut or blank)")
                    if s["dark"] < 0.003:
                        problems.append("no text")
                    if s["counts"]["header"] > _HEADER_MAX:
                        # Chromium sometimes returns the top of the page tiled
                        # down the whole height (header band seen many times).
                        problems.append("top of page repeated down the shot")
                    report["shots"][n] = {k: s[k] for k in ("width", "height", "dark")} | {
                        "counts": s["counts"], "bottom_footer": s["bottom"]["footer"]}
                    if problems:
                        report["shot_fail"].append({"page": n, "tall": pages[n].tall, "problems": problems,
                                                    "height": s["height"]})
            finally:
                await browser.close()

    asyncio.run(run())
    report["checked_shots"] = len(shots)
    (out / "verify.json").write_text(json.dumps(report, indent=1))


# --------------------------------------------------------------------------
# 5. Measuring a subprocess and its whole tree (incl. Chromium)
# --------------------------------------------------------------------------

_CLK = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _set_subreaper() -> bool:
    """Orphans of our tree (Chromium's zygote, a killed driver's browser) are
    re-parented to us, so we can see, measure, kill and reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except OSError:
        return False


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, utime+stime ticks, rss pages), for every process."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        rest = data[data.rfind(b")") + 2 :].split()
        # rest[0] = state (field 3); ppid = field 4, utime 14, stime 15, rss 24
        table[int(name)] = (int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[21]))
    return table


def _descendants(table: dict[int, tuple[int, int, int]], root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _kind(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    # Chromium rewrites its command line into one space-separated string.
    args = b" ".join(cmd).split()
    if b"bench.render" in args:
        return "python"
    if b"run-driver" in args or (args and args[0].endswith(b"node")):
        return "node-driver"
    for arg in args:
        if arg.startswith(b"--type="):
            t = arg[7:].decode()
            if t == "utility":
                for a in args:
                    if a.startswith(b"--utility-sub-type="):
                        return "utility:" + a.split(b".")[-1].decode()
            return t
    if args and b"chrom" in args[0]:
        return "browser"
    return Path(args[0].decode(errors="replace")).name if args else "?"


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Measured:
    returncode: int | None
    wall_s: float
    cpu_s: float  # RUSAGE_CHILDREN delta: the worker and every process of its tree
    peak_rss_mb: float  # max over samples of the summed RSS of the tree
    peak_pss_mb: float  # same with PSS (shared pages split): closer to real use
    peak_procs: int
    cpu_by_kind: dict[str, float]
    cpu_by_thread: dict[str, float]
    leftovers: list[str]
    timed_out: bool
    server_cpu_s: float
    machine_busy_s: float  # every process on the machine, during the crawl
    rss_quarters_mb: list[float] = field(default_factory=list)  # peak tree RSS in each quarter of the run


def _chromium_pids() -> list[str]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and b"chrom" in Path(cmd[0].decode(errors="replace")).name.encode():
                out.append(f"{name} {b' '.join(cmd)[:120].decode(errors='replace')}")
    return out


def _cpu_busy_s() -> float:
    """Machine-wide busy CPU seconds so far (all cores, all processes)."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] if len(f) > 7 else 0)) / _CLK


def wait_idle(max_wait: float, threshold: float = 0.15) -> float:
    """Wait until the machine is quiet (< ``threshold`` cores busy over 1 s).

    Other people's jobs on the same machine distort a CPU-bound benchmark;
    returns the cores that were still busy when we gave up or went ahead.
    """
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = _cpu_busy_s(), time.monotonic()
        time.sleep(1.0)
        busy = (_cpu_busy_s() - b0) / (time.monotonic() - t0)
        if busy < threshold or time.monotonic() > deadline:
            return busy
        time.sleep(2.0)


def _alive(pid: int) -> bool:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :].split()[0] != b"Z"


def reap_tree(grace: float = 5.0) -> list[str]:
    """After a child exited: wait for, kill and reap whatever is left of its tree.

    Anything still in our tree is an orphan re-parented to us (we are a
    subreaper): Chromium's zygote or renderers, or a browser whose driver
    died. Give it ``grace`` seconds to exit, then SIGKILL it by pid. Returns
    what had to be killed.
    """
    me = os.getpid()
    deadline = time.monotonic() + grace
    while True:
        alive = [p for p in _descendants(_proc_table(), me) if _alive(p)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    leftovers = []
    for pid in alive:
        leftovers.append(f"{pid} {_kind(pid)}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Reap every child: zombies re-parented to us and the killed leftovers.
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if alive else os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    return leftovers


def _thread_ticks(pid: int) -> list[tuple[int, str, int]]:
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        comm = data[data.find(b"(") + 1 : data.rfind(b")")].decode(errors="replace")
        rest = data[data.rfind(b")") + 2 :].split()
        out.append((int(tid), comm.rstrip("0123456789"), int(rest[11]) + int(rest[12])))
    return out


def run_tree(cmd: list[str], *, log: Path, timeout: float, interval: float = 0.25,
             per_thread: bool = False, env_extra: dict[str, str] | None = None) -> Measured:
    me = os.getpid()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    busy_before = _cpu_busy_s()
    cpu_last: dict[int, tuple[str, int]] = {}
    kinds: dict[int, str] = {}
    threads: dict[tuple[int, int], tuple[str, str, int]] | None = {} if per_thread else None
    peak_rss = peak_pss = peak_procs = 0
    rss_samples: list[tuple[float, int]] = []
    timed_out = False
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env_extra or {})}
    with log.open("wb") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=str(PROJECT_ROOT), env=env, stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    n = 0
    try:
        while proc.poll() is None:
            table = _proc_table()
            tree = _descendants(table, me)
            rss = 0
            for pid in tree:
                # Re-read until it settles: a fresh process still shows its parent's
                # command line (the chromium shell wrapper, the zygote) for a while.
                if kinds.get(pid) in (None, "sh", "zygote", "?", "browser"):
                    kind = _kind(pid)
                    if kind != "?" or pid not in kinds:  # an exiting process has no command line
                        kinds[pid] = kind
                cpu_last[pid] = (kinds[pid], table[pid][1])
                if threads is not None:
                    for tid, comm, ticks in _thread_ticks(pid):
                        threads[(pid, tid)] = (kinds[pid], comm, ticks)
                rss += table[pid][2]
            peak_rss = max(peak_rss, rss * _PAGE_KB)
            rss_samples.append((time.perf_counter() - started, rss * _PAGE_KB))
            peak_procs = max(peak_procs, len(tree))
            if n % 2 == 0:  # PSS is dearer to read
                peak_pss = max(peak_pss, sum(_pss_kb(pid) for pid in tree))
            n += 1
            if time.perf_counter() - started > timeout and not timed_out:
                timed_out = True
                for pid in tree:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(interval)
    except BaseException:  # Ctrl-C/SIGTERM: the crawl's tree is in its own session, take it down too
        for pid in _descendants(_proc_table(), me):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reap_tree(grace=0)
        raise
    wall = time.perf_counter() - started
    busy = _cpu_busy_s() - busy_before
    leftovers = reap_tree()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    quarters = [0] * 4
    for t, kb in rss_samples:
        q = min(3, int(4 * t / wall)) if wall else 0
        quarters[q] = max(quarters[q], kb)
    by_kind: dict[str, float] = {}
    for kind, ticks in cpu_last.values():
        k = kind.split(":")[0] if kind.startswith("utility") and kind != "utility:mojom" else kind
        by_kind[k] = by_kind.get(k, 0.0) + ticks / _CLK
    by_thread: dict[str, float] = {}
    for kind, comm, ticks in (threads or {}).values():
        key = f"{kind.split(':')[0]}/{comm}"
        by_thread[key] = by_thread.get(key, 0.0) + ticks / _CLK
    return Measured(
        cpu_by_thread={k: round(val, 2) for k, val in sorted(by_thread.items(), key=lambda kv: -kv[1])
                       if val >= 0.2},
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=(after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        peak_rss_mb=peak_rss / 1024,
        peak_pss_mb=peak_pss / 1024,
        peak_procs=peak_procs,
        cpu_by_kind={k: round(val, 2) for k, val in sorted(by_kind.items(), key=lambda kv: -kv[1])},
        leftovers=leftovers,
        timed_out=timed_out,
        machine_busy_s=busy,
        server_cpu_s=(self_after.ru_utime - self_before.ru_utime) + (self_after.ru_stime - self_before.ru_stime),
        rss_quarters_mb=[round(kb / 1024) for kb in quarters],
    )


# --------------------------------------------------------------------------
# 6. The runner
# --------------------------------------------------------------------------


def run_variant(v: Variant, *, site: Site, server: _SiteServer, base_url: str, work: Path, round_no: int,
                timeout: float, sample: str, keep: bool, per_thread: bool = False,
                wait_quiet: float = 0) -> dict[str, Any]:
    out = work / f"{v.name}.r{round_no}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    config = {
        "variant": asdict(v),
        "out_dir": str(out),
        "urls": [base_url + p.url_path for p in site.pages],
    }
    cfg_file = out / "config.json"
    cfg_file.write_text(json.dumps(config))
    env_extra = dict(v.env)
    if v.darkcrawl:
        cmd = darkcrawl_command(v, out, config["urls"])
        env_extra["DARKCRAWL_ALLOW_LOOPBACK"] = "1"  # the bench site is on 127.0.0.1
    else:
        cmd = [sys.executable, "-m", "bench.render", "--worker", str(cfg_file)]
    busy_before = round(wait_idle(wait_quiet), 2) if wait_quiet else None
    server.take_counts()
    m = run_tree(cmd, log=out / "crawl.log", timeout=timeout, per_thread=per_thread, env_extra=env_extra)
    requests = server.take_counts()
    if v.darkcrawl:
        collect_darkcrawl(out, config["urls"])
    result_file = out / "result.json"
    res = json.loads(result_file.read_text()) if result_file.exists() else {}
    ok = int(res.get("ok", 0))
    if res.get("t_last_done"):
        crawl_s = res["t_last_done"] - res["t_start"]
    else:  # darkcrawl: Scrapy's elapsed time, start-up excluded
        crawl_s = res.get("stats", {}).get("elapsed_time_seconds")
    vr = subprocess.run([sys.executable, "-m", "bench.render", "--verify", str(out), "--pages-json",
                         str(work / "pages.json"), "--sample", sample], cwd=str(PROJECT_ROOT),
                        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True, text=True,
                        check=False)
    verify_leftovers = reap_tree()
    verify = json.loads((out / "verify.json").read_text()) if (out / "verify.json").exists() else {
        "error": vr.stderr[-2000:]}
    stray = _chromium_pids()
    shot_fail = verify.get("shot_fail", [])
    dom_fail = verify.get("dom_fail", [])
    content_ok = (ok == len(site.pages) and not dom_fail and not shot_fail and "error" not in verify)
    problems: dict[str, int] = {}
    for f in dom_fail + shot_fail:
        for p in f["problems"]:
            problems[p] = problems.get(p, 0) + 1
    heights = [s["height"] for s in verify.get("shots", {}).values()]
    row = {
        "variant": v.name,
        "desc": v.desc,
        "fidelity": fidelity(v),
        "round": round_no,
        "returncode": m.returncode,
        "timed_out": m.timed_out,
        "pages_ok": ok,
        "errors": len(res.get("errors", [])),
        "error_samples": res.get("errors", [])[:5],
        "wall_s": round(m.wall_s, 2),
        "pages_per_s": round(ok / m.wall_s, 3) if m.wall_s else 0,
        "crawl_pages_per_s": round(ok / crawl_s, 3) if crawl_s else None,
        "cpu_s": round(m.cpu_s, 2),
        "cpu_ms_per_page": round(1000 * m.cpu_s / ok, 1) if ok else None,
        "cpu_by_kind": m.cpu_by_kind,
        "cpu_by_thread": m.cpu_by_thread,
        "phase_ms": res.get("phase_ms"),
        "server_cpu_s": round(m.server_cpu_s, 2),
        # CPU used meanwhile by processes that are not ours (other jobs on the machine)
        "foreign_cpu_s": round(max(0.0, m.machine_busy_s - m.cpu_s - m.server_cpu_s), 1),
        "busy_before": busy_before,
        "peak_rss_mb": round(m.peak_rss_mb, 1),
        "peak_pss_mb": round(m.peak_pss_mb, 1),
        "peak_procs": m.peak_procs,
        "rss_quarters_mb": m.rss_quarters_mb,
        "avg_shot_kb": round(res.get("shot_bytes", 0) / ok / 1024, 1) if ok else None,
        "avg_dom_kb": round(res.get("html_bytes", 0) / ok / 1024, 1) if ok else None,
        "http_requests": requests,
        "content_ok": content_ok,
        "content_problems": problems,
        "dom_fail": dom_fail[:10],
        "shot_fail": shot_fail[:20],
        "shots_checked": verify.get("checked_shots"),
        "shot_height_range": [min(heights), max(heights)] if heights else None,
        "leftover_processes": m.leftovers,
        "verify_leftovers": verify_leftovers,
        "stray_chromium_after": stray,
        "playwright_stats": {k: val for k, val in res.get("stats", {}).items()
                             if k.startswith(("playwright/", "downloader/response_count", "elapsed"))},
    }
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return row


def fidelity(v: Variant) -> str:
    if v.darkcrawl:
        return f"PNG, cut at {int(v.settings['DARKCRAWL_SCREENSHOT_MAX_HEIGHT']):,} px"
    parts = []
    if v.fmt != "png":
        parts.append(f"{v.fmt.upper()} q{v.quality or 80}")
    if v.scale != 1:
        parts.append(f"scale {v.scale:g}")
    if v.cap:
        parts.append(f"cut at {v.cap:,} px")
    return ", ".join(parts) or "full PNG"


def _fmt_row(r: dict[str, Any], naive: float | None, total: int) -> str:
    lost = [f"{k} ×{n}" for k, n in r["content_problems"].items()]
    if r["pages_ok"] < total:
        lost.insert(0, f"only {r['pages_ok']} pages")
    ok = "yes" if r["content_ok"] else "NO: " + ", ".join(lost)
    sp = f"{r['pages_per_s'] / naive:.2f}×" if naive else "—"
    return (f"| {r['variant']} | {r['pages_ok']} | {r['wall_s']:.1f} | {r['pages_per_s']:.2f} | **{sp}** "
            f"| {r['cpu_s']:.0f} | {r['cpu_ms_per_page'] or 0:.0f} | {r['peak_rss_mb']:.0f} | {r['peak_pss_mb']:.0f} "
            f"| {r['avg_shot_kb'] or 0:.0f} | {r['fidelity']} | {ok} | {r['foreign_cpu_s']:.0f} |")


def print_table(rows: list[dict[str, Any]], total: int) -> None:
    print("\n| variant | pages | seconds | pages/s | × naive | CPU s | CPU ms/page | peak RSS MB | peak PSS MB "
          "| PNG KB/page | image | every page shown? | other jobs' CPU s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    naive = {r["round"]: r["pages_per_s"] for r in rows if r["variant"] == "naive"}
    for r in rows:
        print(_fmt_row(r, naive.get(r["round"]), total))
    print("\nseconds: the crawl process from start to exit (start-up, browser launch and, for darkcrawl, its plain"
          "\nstage included); pages/s = rendered pages ÷ seconds. CPU: the process and all its children (Python,"
          "\nPlaywright's driver, every Chromium process). RSS: the largest sum over the tree, sampled every 0.25 s"
          "\n(shared pages counted in each process; PSS splits them).")
    print("\npeak RSS MB in each quarter of the run (memory that grew with the pages would climb):")
    for r in rows:
        print(f"  {r['variant']:24} r{r['round']}: {' / '.join(str(q) for q in r['rss_quarters_mb'])}")


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant over rounds: medians, and the speed-up over naive of the same round."""
    naive = {r["round"]: r["pages_per_s"] for r in rows if r["variant"] == "naive"}
    out = []
    for name in dict.fromkeys(r["variant"] for r in rows):
        rs = [r for r in rows if r["variant"] == name]
        ups = [r["pages_per_s"] / naive[r["round"]] for r in rs if naive.get(r["round"])]
        problems: dict[str, int] = {}
        for r in rs:
            if r["pages_ok"] < max(x["pages_ok"] for x in rows):
                problems["pages missing"] = problems.get("pages missing", 0) + 1
            for k, n in r["content_problems"].items():
                problems[k] = problems.get(k, 0) + n
        out.append({
            "variant": name,
            "rounds": len(rs),
            "pages_per_s": round(statistics.median(r["pages_per_s"] for r in rs), 2),
            "pages_per_s_range": [min(r["pages_per_s"] for r in rs), max(r["pages_per_s"] for r in rs)],
            "speedup_vs_naive": round(statistics.median(ups), 2) if ups else None,
            "speedup_range": [round(min(ups), 2), round(max(ups), 2)] if ups else None,
            "cpu_ms_per_page": statistics.median(r["cpu_ms_per_page"] or 0 for r in rs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
            "peak_pss_mb": statistics.median(r["peak_pss_mb"] for r in rs),
            "avg_shot_kb": statistics.median(r["avg_shot_kb"] or 0 for r in rs),
            "fidelity": rs[0]["fidelity"],
            "content_ok_rounds": sum(r["content_ok"] for r in rs),
            "content_problems": problems,
        })
    return out


def print_summary(summary: list[dict[str, Any]]) -> None:
    print("\nsummary (medians over rounds; speed-up = pages/s ÷ naive's in the same round):\n")
    print("| variant | pages/s | × naive | CPU ms/pg | peak RSS MB | peak PSS MB | avg shot KB | image "
          "| content OK (rounds) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in summary:
        rng = s["pages_per_s_range"]
        pps = f"{s['pages_per_s']:.2f}" + (f" ({rng[0]:.2f}–{rng[1]:.2f})" if s["rounds"] > 1 else "")
        up = s["speedup_vs_naive"]
        ups = "—" if up is None else f"{up:.2f}" + (
            f" ({s['speedup_range'][0]:.2f}–{s['speedup_range'][1]:.2f})" if s["rounds"] > 1 else "")
        ok = f"{s['content_ok_rounds']}/{s['rounds']}"
        if s["content_problems"]:
            ok += ": " + ", ".join(f"{k} ×{n}" for k, n in s["content_problems"].items())
        print(f"| {s['variant']} | {pps} | {ups} | {s['cpu_ms_per_page']:.0f} | {s['peak_rss_mb']:.0f} "
              f"| {s['peak_pss_mb']:.0f} | {s['avg_shot_kb']:.0f} | {s['fidelity']} | {ok} |")


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # the same clean-up as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--only", action="append", help="variant to run (repeatable); naive always runs")
    parser.add_argument("--all", action="store_true", help=f"run every variant (default: {', '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--skip", action="append", default=[], help="variant to skip (repeatable)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", help="write every measurement here")
    parser.add_argument("--keep", help="keep screenshots, DOMs and logs under this directory")
    parser.add_argument("--timeout", type=float, default=600, help="per crawl (s)")
    parser.add_argument("--sample", default="all", help='screenshots checked per variant (all tall ones + '
                        'evenly spread others), or "all"')
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--wait-quiet", type=float, default=120, metavar="S",
                        help="before each crawl, wait up to S s for other jobs to leave the CPU idle (0: don't)")
    parser.add_argument("--threads", action="store_true", help="also record CPU per thread (costs a little)")
    parser.add_argument("--serve", action="store_true", help="only serve the site (debugging)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--verify", help=argparse.SUPPRESS)
    parser.add_argument("--pages-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        _worker(args.worker)
        return 0
    if args.verify:
        _verify(args.verify, args.pages_json, args.sample)
        return 0
    if args.list:
        for v in VARIANTS:
            print(f"{v.name:18} {v.desc}")
        return 0

    if not os.access(CHROMIUM, os.X_OK):
        print(f"{CHROMIUM} missing: apt-get install -y chromium", file=sys.stderr)
        return 2
    stray = _chromium_pids()
    if stray:
        print(f"warning: chromium already running before the benchmark: {stray}", file=sys.stderr)
    variants = VARIANTS if args.all else [v for v in VARIANTS if v.name in DEFAULT_VARIANTS]
    if args.only:
        unknown = [n for n in args.only if n not in VARIANTS_BY_NAME]
        if unknown:
            parser.error(f"unknown variant(s): {unknown}; see --list")
        variants = [v for v in VARIANTS if v.name == "naive" or v.name in args.only]
    variants = [v for v in variants if v.name not in args.skip or v.name == "naive"]
    missing = sorted({v.executable for v in variants if not os.access(v.executable, os.X_OK)})
    if missing:
        print(f"skipping variants that need {missing} (apt-get install -y chromium-headless-shell)", file=sys.stderr)
        variants = [v for v in variants if os.access(v.executable, os.X_OK)]
    subreaper = _set_subreaper()
    signal.signal(signal.SIGTERM, _raise_interrupt)

    t0 = time.perf_counter()
    site = build_site(args.pages)
    html_sizes = [p.html_bytes for p in site.pages]
    print(f"site: {len(site.pages)} pages ({sum(p.tall for p in site.pages)} very long), HTML "
          f"{min(html_sizes) / 1024:.1f}-{max(html_sizes) / 1024:.1f} KB (median "
          f"{statistics.median(html_sizes) / 1024:.1f}), {len(site.files) - len(site.pages)} static files, "
          f"font {'yes' if site.has_font else 'no'}; built in {time.perf_counter() - t0:.1f}s", flush=True)
    server = _SiteServer(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://{LOOPBACK}:{server.server_address[1]}"
    print(f"serving on {base_url}/page/0.html", flush=True)
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            thread.join()
        return 0

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="darkcrawl-render-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "pages.json").write_text(json.dumps([asdict(p) for p in site.pages]))
    rows: list[dict[str, Any]] = []
    naive_pps: dict[int, float] = {}
    try:
        for rnd in range(1, args.rounds + 1):
            for v in variants:
                t = time.perf_counter()
                r = run_variant(v, site=site, server=server, base_url=base_url, work=work, round_no=rnd,
                                timeout=args.timeout, sample=args.sample, keep=bool(args.keep),
                                per_thread=args.threads, wait_quiet=args.wait_quiet)
                rows.append(r)
                if v.name == "naive":
                    naive_pps[rnd] = r["pages_per_s"]
                up = f" ×{r['pages_per_s'] / naive_pps[rnd]:.2f}" if naive_pps.get(rnd) else ""
                print(f"[r{rnd}] {v.name:16} {r['pages_ok']:3} pages {r['pages_per_s']:6.2f} p/s{up} "
                      f"cpu {r['cpu_s']:6.1f}s rss {r['peak_rss_mb']:6.0f}MB pss {r['peak_pss_mb']:5.0f}MB "
                      f"shot {r['avg_shot_kb'] or 0:5.0f}KB other-CPU {r['foreign_cpu_s']:.0f}s content {'ok' if r['content_ok'] else 'LOST'} "
                      f"{r['content_problems'] or ''} {'LEFTOVER ' + str(r['leftover_processes']) if r['leftover_processes'] else ''}"
                      f"({time.perf_counter() - t:.0f}s)", flush=True)
                if r["errors"]:
                    print(f"     errors: {r['error_samples']}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        server.shutdown()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows, len(site.pages))
    summary = summarize(rows) if rows else []
    if args.rounds > 1 and summary:
        print_summary(summary)
    stray = _chromium_pids()
    print(f"\nchromium processes left: {stray or 'none'} (subreaper {'on' if subreaper else 'off'})")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "pages": len(site.pages),
            "tall_pages": sum(p.tall for p in site.pages),
            "html_kb": [round(min(html_sizes) / 1024, 1), round(max(html_sizes) / 1024, 1)],
            "cpus": os.cpu_count(),
            "chromium": subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                                       check=False).stdout.strip(),
            "rows": rows,
            "summary": summary,
        }, indent=1))
    return 0 if all(r["returncode"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
