"""The set-ups the render benchmark compares (naive scrapy-playwright, darkcrawl, experiments)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_BIN = "/usr/lib/chromium/chromium"
# apt-get install chromium-headless-shell; called directly, because its
# /usr/bin wrapper does not exec (killing it would orphan the browser).
HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
#: Variant.executable of the set-ups that use the browser darkcrawl picks by default
#: (DARKCRAWL_CHROMIUM unset): resolved when the benchmark starts (resolve_executable).
DARKCRAWL_DEFAULT = "darkcrawl-default"
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
PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
    # The floor instead (bench/render/floor.py): bare Playwright with darkcrawl's browser,
    # context and pages at a time, the same capture cut at ``cap``, nothing saved.
    floor: bool = False
    floor_steps: tuple[str, ...] = ()  # ... with more work: "dom", "route", "headers" (bench/render/floor.py)
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
    return Variant(name, desc, darkcrawl=True, settings={**DARKCRAWL_BENCH_SETTINGS, **settings},
                   executable=settings.get("DARKCRAWL_CHROMIUM", DARKCRAWL_DEFAULT))


#: darkcrawl's screenshot cap in the benchmark (above the tallest page)
BENCH_CAP = int(DARKCRAWL_BENCH_SETTINGS["DARKCRAWL_SCREENSHOT_MAX_HEIGHT"])


def _floor(name: str, desc: str, **kw: Any) -> Variant:
    return Variant(name, desc, floor=True, cap=BENCH_CAP, **{"executable": DARKCRAWL_DEFAULT, **kw})


def resolve_executable(v: Variant) -> Variant:
    """*v* with the browser darkcrawl picks by default named (DARKCRAWL_DEFAULT)."""
    if v.executable != DARKCRAWL_DEFAULT:
        return v
    from darkcrawl.config import OPTIONS_BY_NAME
    from darkcrawl.render.browser import chromium_binary

    return replace(v, executable=chromium_binary(OPTIONS_BY_NAME["DARKCRAWL_CHROMIUM"].default))


VARIANTS: list[Variant] = [
    _v("naive", "defaults (16/8), one context, PNG + page.content() in the callback"),
    _floor("floor", "bare Playwright, darkcrawl's browser and pages at a time: load + fast full-page PNG, "
           "nothing saved"),
    _dc("darkcrawl", "scrapy crawl darkweb: plain stage + render stage, darkcrawl's settings "
        "(screenshot cap raised to 32,000 px)"),
    _floor("floor-dom", "the floor + the DOM read (page.content())", floor_steps=("dom",)),
    _floor("floor-route", "the floor + the DOM read + scrapy-playwright's route, taken away before goto",
           floor_steps=("dom", "route")),
    _floor("floor-sp", "the floor + the DOM read + scrapy-playwright's route and round trips",
           floor_steps=("dom", "route", "headers")),
    _floor("floor-chromium", "the floor on /usr/bin/chromium", executable=CHROMIUM),
    _floor("floor-hs", "the floor on chromium-headless-shell", executable=HEADLESS_SHELL),
    _dc("darkcrawl-chromium", "darkcrawl on /usr/bin/chromium", DARKCRAWL_CHROMIUM=CHROMIUM),
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
    _dc("darkcrawl-hs", "darkcrawl on chromium-headless-shell", DARKCRAWL_CHROMIUM=HEADLESS_SHELL),
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
DEFAULT_VARIANTS = ("naive", "floor", "darkcrawl")


def chromium_args(v: Variant) -> list[str]:
    args = [a for a in BASE_CHROMIUM_ARGS if v.disable_gpu or a != "--disable-gpu"]
    return args + list(v.extra_args)

