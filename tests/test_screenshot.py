"""The render's screenshot (darkcrawl.render.screenshot): a capture that Chromium
answered with the top of the page tiled down is recognised, and only then."""

from __future__ import annotations

import random
import struct
import zlib

from darkcrawl.render.screenshot import repeated_top


def _png(rows: list[bytes], width: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)  # filter "none"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_a_capture_that_repeats_the_top_of_the_page_is_recognised():
    rng = random.Random(4)
    width = 64
    page = [bytes(rng.randrange(256) for _ in range(3 * width)) for _ in range(1000)]
    assert not repeated_top(_png(page, width), max_period=300)
    # Chromium's failure: a 250-row frame tiled down to the 1000 rows asked for
    assert repeated_top(_png([page[y % 250] for y in range(1000)], width), max_period=300)
    # ... or only once more, under a frame taller than half the image
    assert repeated_top(_png([page[y % 700] for y in range(1000)], width), max_period=800)
    # a flat page repeats itself without having lost anything
    assert not repeated_top(_png([b"\xff" * 3 * width] * 1000, width), max_period=300)
    # a page with a repeated band further down, but not its top, is a page
    band = page[:40]
    assert not repeated_top(_png(page[:500] + band + page[540:], width), max_period=300)
    assert not repeated_top(b"not a png", max_period=300)
