"""The render's full-page screenshot: one PNG of the whole page over CDP, cut at a
height cap, taken again when Chromium hands back the top of the page tiled down.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import struct
import zlib
from typing import TYPE_CHECKING, Any

from darkcrawl.config import get_option

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

#: A full-page capture that came back as the top of the page tiled down is taken
#: again this many times (see repeated_top).
SCREENSHOT_RETAKES = 2
#: what Playwright waits for before a screenshot
_FONTS_READY = "document.fonts.ready.then(() => 0)"


class Screenshots:
    """Full-page PNGs of rendered pages (``DARKCRAWL_SCREENSHOT_MAX_HEIGHT``,
    ``DARKCRAWL_SCREENSHOT_TIMEOUT``), what happened counted in the stats."""

    def __init__(self, max_height: int, timeout_ms: float, stats: StatsCollector) -> None:
        self.max_height = max_height
        self.timeout_ms = timeout_ms
        self.stats = stats

    @classmethod
    def from_settings(cls, settings: BaseSettings, stats: StatsCollector) -> Screenshots:
        return cls(get_option(settings, "DARKCRAWL_SCREENSHOT_MAX_HEIGHT"),
                   get_option(settings, "DARKCRAWL_SCREENSHOT_TIMEOUT") * 1000, stats)

    async def take(self, page: Any, cdp: Any = None) -> tuple[bytes | None, bool]:
        """A full-page PNG, cut at the height cap; the viewport when that fails
        (then False: not the full page); None when nothing could be taken."""
        try:
            return await asyncio.wait_for(self._full_page(page, cdp), self.timeout_ms / 1000), True
        except Exception as exc:
            logger.info("full-page screenshot failed for %s: %r; taking the viewport", page.url, exc)
            self.stats.inc_value("darkcrawl/render/screenshot_fallback")
        try:
            return await page.screenshot(type="png", timeout=self.timeout_ms), False
        except Exception as exc:
            logger.warning("no screenshot of %s: %r", page.url, exc)
            self.stats.inc_value("darkcrawl/render/screenshot_failed")
            return None, False

    async def _full_page(self, page: Any, own_cdp: Any = None) -> bytes:
        # What page.screenshot(full_page=True) does (Page.captureScreenshot of the
        # whole content, captureBeyondViewport), plus one option Playwright does not
        # pass: optimizeForSpeed, a fast zlib level.  The PNG is ~25% larger and its
        # encoding, in the browser's main thread, costs a quarter.
        await page.evaluate(_FONTS_READY)
        viewport_height = (page.viewport_size or {"height": 800})["height"]
        # the render guard's session when there is one (one attach less per page)
        cdp = own_cdp or await page.context.new_cdp_session(page)
        try:
            size = (await cdp.send("Page.getLayoutMetrics"))["cssContentSize"]
            width, height = max(1, math.ceil(size["width"])), max(1, math.ceil(size["height"]))
            if height > self.max_height:
                self.stats.inc_value("darkcrawl/render/screenshot_capped")
                height = self.max_height
            params = {
                "format": "png",
                "optimizeForSpeed": True,
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            }
            for retake in range(SCREENSHOT_RETAKES + 1):
                png = base64.b64decode((await cdp.send("Page.captureScreenshot", params))["data"])
                if height <= viewport_height or retake == SCREENSHOT_RETAKES:
                    break
                if not await asyncio.to_thread(repeated_top, png, viewport_height):
                    break
                self.stats.inc_value("darkcrawl/render/screenshot_retaken")
                logger.info("the screenshot of %s repeats the top of the page; taking it again", page.url)
        finally:
            if own_cdp is None:
                with contextlib.suppress(Exception):
                    await cdp.detach()
        return png


def repeated_top(png: bytes, max_period: int) -> bool:
    """Whether a PNG shows its first rows again further down, row for row.

    Chromium sometimes answers a capture beyond the viewport with an older,
    viewport-sized frame, tiled down to the size asked for (puppeteer#1576): the
    top of the page repeated to the bottom, the rest of the page lost.  Seen here
    once in 50 to 200 pages, Playwright's own full-page screenshots included; taking
    the capture again gave the right one every time.  Only the first
    ``2 * max_period`` rows are inflated (~5 ms for a 1024 px wide page).  A page
    that truly repeats itself row for row only costs another capture.
    """
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return False
    width, height, depth, color = struct.unpack(">IIBB", png[16:26])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None:
        return False
    stride = 1 + width * channels  # a filter byte, then the row
    want = min(height, 2 * max_period + 1) * stride
    inflate = zlib.decompressobj()
    data = bytearray()
    pos = 8
    try:
        while pos + 8 <= len(png) and len(data) < want:
            size, kind = struct.unpack(">I4s", png[pos:pos + 8])
            if kind == b"IDAT":
                data += inflate.decompress(png[pos + 8:pos + 8 + size], want - len(data))
            elif kind == b"IEND":
                break
            pos += 12 + size
    except zlib.error:
        return False
    rows = len(data) // stride
    # The first row that is not a copy of the one above (a flat band says nothing);
    # where the same row comes back, the candidate period starts.
    first = next((y for y in range(2, rows) if data[y * stride:(y + 1) * stride] != data[(y - 1) * stride:y * stride]),
                 None)
    if first is None:
        return False
    needle = data[first * stride:(first + 1) * stride]
    for y in range(first + 16, rows):
        if data[y * stride:(y + 1) * stride] == needle:
            period = y - first
            n = min(period, rows - period) - 1  # rows 1..n against period+1..period+n
            if n >= 8 and data[stride:(1 + n) * stride] == data[(1 + period) * stride:(1 + period + n) * stride]:
                return True
    return False
