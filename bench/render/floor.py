"""The floor of the render benchmark (``--floor CONFIG.json``): bare Playwright, no Scrapy.

What any crawler that keeps a full-page screenshot of these pages must pay, and
nothing else: the same pages, the same browser binary and flags, the same context
(darkcrawl's viewport, HTTP cache on: no route), as many pages at a time as
darkcrawl's render stage holds for one host (``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT``:
its renders of a host share one context), and per page what darkcrawl's render
does in the browser: a new page, ``goto`` to ``load``, the web fonts awaited, the
full-page PNG over CDP (``optimizeForSpeed``, ``captureBeyondViewport``, cut at the
same cap), the page closed.  Nothing is saved: the PNG's header is read (its size
checked) and the bytes dropped.

``Variant.floor_steps`` adds work to measure what it costs: ``dom``, the DOM read
(``page.content()``, the other thing a render brings back); ``route``, scrapy-playwright's
route on the page, taken away before the navigation (what darkcrawl's render did
before it navigated by itself, darkcrawl.render.navigate); ``headers``,
scrapy-playwright's other round trips (every response's headers during the
navigation, then the document's headers, security details and server address).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import struct
import time
from pathlib import Path
from typing import Any

#: what darkcrawl's render stage waits for before its capture (as Playwright does)
_FONTS_READY = "document.fonts.ready.then(() => 0)"


def darkcrawl_browser(executable: str) -> tuple[dict[str, Any], dict[str, Any], int]:
    """darkcrawl's launch options (with *executable*), context options and pages at a
    time for one host's renders, as its add-on and routing set them."""
    from darkcrawl.addon import DEFAULTS, playwright_settings
    from darkcrawl.downloadermiddlewares.routing import browser_context

    pw = playwright_settings(executable, str(DEFAULTS["USER_AGENT"]))
    launch = dict(pw["PLAYWRIGHT_LAUNCH_OPTIONS"])  # type: ignore[call-overload]
    _name, context = browser_context("clearnet", None)
    return launch, context, int(pw["PLAYWRIGHT_MAX_PAGES_PER_CONTEXT"])  # type: ignore[call-overload]


def _png_size(png: bytes) -> tuple[int, int] | None:
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", png[16:24])


async def _capture(page: Any, cap: int) -> bytes:
    await page.evaluate(_FONTS_READY)
    cdp = await page.context.new_cdp_session(page)
    try:
        size = (await cdp.send("Page.getLayoutMetrics"))["cssContentSize"]
        width, height = max(1, math.ceil(size["width"])), max(1, math.ceil(size["height"]))
        params = {
            "format": "png",
            "optimizeForSpeed": True,
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, cap), "scale": 1},
        }
        return base64.b64decode((await cdp.send("Page.captureScreenshot", params))["data"])
    finally:
        with contextlib.suppress(Exception):
            await cdp.detach()


async def _route_and_unroute(page: Any) -> None:
    """scrapy-playwright's route, taken away before the navigation (as darkcrawl did)."""
    async def through(route: Any) -> None:
        await route.continue_()

    await page.route("**", through)
    await page.unroute("**")


async def _load(page: Any, url: str, steps: tuple[str, ...]) -> int:
    """Navigate to *url* with scrapy-playwright's extra *steps*; the DOM's length when read."""
    if "route" in steps:
        await _route_and_unroute(page)
    if "headers" in steps:  # scrapy-playwright's download watch: every response's headers

        async def headers(response: Any) -> None:
            await response.all_headers()

        page.on("response", headers)
    navigated = await page.goto(url, wait_until="load")
    if "headers" in steps:
        page.remove_listener("response", headers)
        # the document's headers, security details and server address, as it reads them
        await navigated.all_headers()
        await navigated.security_details()
        await navigated.server_addr()
    return len(await page.content()) if "dom" in steps else 0


async def _run(urls: list[str], executable: str, cap: int, steps: tuple[str, ...], state: dict[str, Any]) -> None:
    from playwright.async_api import async_playwright

    launch, context_kwargs, pages_at_a_time = darkcrawl_browser(executable)
    state.update(pages_at_a_time=pages_at_a_time, executable=executable, args=launch["args"])
    todo = list(enumerate(urls))
    todo.reverse()  # pop() from the end = in URL order
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**launch)
        context = await browser.new_context(**context_kwargs)

        async def one(url: str) -> None:
            page = await context.new_page()
            try:
                state["html_bytes"] += await _load(page, url, steps)
                png = await _capture(page, cap)
            finally:
                await page.close()
            size = _png_size(png)
            if size is None or size[0] < 1000 or size[1] < 800:
                state["errors"].append(f"{url}: PNG {size}")
                return
            state["ok"] += 1
            state["shot_bytes"] += len(png)
            state["t_last_done"] = time.time()

        async def worker() -> None:
            while todo:
                _i, url = todo.pop()
                try:
                    await one(url)
                except Exception as exc:  # counted: a floor that lost pages says so
                    state["errors"].append(f"{url}: {type(exc).__name__}: {exc}"[:300])

        await asyncio.gather(*(worker() for _ in range(pages_at_a_time)))
        await context.close()
        await browser.close()


def run_floor(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    v = cfg["variant"]
    out = Path(cfg["out_dir"])
    state: dict[str, Any] = {"ok": 0, "errors": [], "shot_bytes": 0, "html_bytes": 0, "t_start": time.time()}
    asyncio.run(_run(cfg["urls"], v["executable"], v["cap"], tuple(v["floor_steps"]), state))
    state["reason"] = "finished"
    (out / "result.json").write_text(json.dumps(state, indent=1))
