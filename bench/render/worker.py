"""The crawl worker of the render benchmark (``--worker CONFIG.json``, one subprocess per variant)."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.render.variants import Variant, chromium_args

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
        settings["PLAYWRIGHT_ABORT_REQUEST"] = "bench.render.worker.abort_media_fonts"

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

