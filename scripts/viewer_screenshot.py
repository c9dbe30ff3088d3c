"""docs/viewer.png: the viewer's host list over a made-up but realistic catalogue.

    PYTHONPATH=. .venv/bin/python scripts/viewer_screenshot.py [docs/viewer.png]

Site screenshots are rendered by Chromium from small local pages (nothing is
fetched); the catalogue is written with plain INSERTs, as tests/test_viewer.py does.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from playwright.sync_api import sync_playwright

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.viewer.app import make_app

SITES = [  # host, network, state, title, colour
    ("dreadytofatroptsdj6io7l3xptbet6onoyno2yv7jicoxknyazubrad.onion", "tor", "up", "Dread", "#7b1e1e"),
    ("darkfailenbsdla5mal2mxn2uz66od5vtzd5qozslagrfzachha3f3id.onion", "tor", "up", "dark.fail: Is a darknet site up?", "#1d2b3a"),
    ("2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion", "tor", "up", "Ahmia search", "#3a2a5c"),
    ("juhanurmihxlp77nkq76byazcldy2hlmovfu2epvl5ankdibsot4csyd.onion", "tor", "down", None, "#444"),
    ("xmh57jrknzkhv6y3ls3ubitzfqnkrwxhopf5aygthi7d6rplyvk3noyd.onion", "tor", "up", "Torch: Tor search", "#5c3b1e"),
    ("bitcoinnvgvpjr7qadsbnxmqbqrkxxsxmq5sdcsgg5jfaz5a3bbhhgqd.onion", "tor", "up", "Bitcoin escrow", "#b8860b"),
    ("stats.i2p", "i2p", "up", "I2P statistics", "#135e55"),
    ("notbob.i2p", "i2p", "down", None, "#333"),
    ("zzz.i2p", "i2p", "up", "zzz.i2p: I2P development forum", "#2d4d3f"),
    ("1HeLLo4uzjaLetFx6NH3PMwFP3qbRbTf3D", "zeronet", "up", "ZeroHello", "#8a4b14"),
    ("USK@QD3eF0xJx4Fk8oQxl0dDh4CMw5MTxwK8nByZ", "freenet", "up", "Freenet index", "#264f7a"),
    ("check.torproject.org", "clearnet", "up", "Congratulations. This browser is configured to use Tor.", "#4a3a7a"),
    ("www.example.com", "clearnet", "up", "Example Domain", "#555c66"),
]


def _site_html(title: str, colour: str) -> str:
    rows = "".join(f"<div class=row><b>Listing {i}</b> <span>{random.randint(10, 999)} BTC</span></div>"
                   for i in range(1, 9))
    return (f"<html><body style='margin:0;font:16px sans-serif;background:#f4f1ea'>"
            f"<div style='background:{colour};color:#fff;padding:28px 40px;font-size:34px'>{title}</div>"
            f"<div style='padding:30px 40px;display:grid;grid-template-columns:1fr 1fr;gap:14px'>{rows}</div>"
            "<style>.row{background:#fff;padding:18px;border-radius:8px;box-shadow:0 1px 3px #0002}</style>"
            "</body></html>")


def build(data: Path, shots: dict[str, bytes]) -> None:
    db = CatalogDB.open(str(data / "catalog.sqlite"))
    start = datetime(2026, 11, 10, 8, tzinfo=UTC)
    for index, (host, network, state, title, _colour) in enumerate(SITES):
        scheme = "https" if network == "clearnet" else "http"
        folder = f"{network}/{scheme}/{host.replace(':', '_')}"
        pages = random.randint(3, 40)
        stamps = sorted(start + timedelta(hours=random.randint(0, 24 * 20)) for _ in range(pages))
        for n, when in enumerate(stamps):
            url = f"{scheme}://{host}/" + ("" if n == 0 else f"page/{n}")
            stem = f"{hashlib.sha256(url.encode()).hexdigest()}_{when:%Y%m%dT%H%M%S}"
            shot = None
            if state == "up" and host in shots and n == len(stamps) - 1:
                shot = f"{folder}/{stem}.png"
                (data / folder).mkdir(parents=True, exist_ok=True)
                (data / shot).write_bytes(shots[host])
            db.execute("INSERT INTO snapshots (url, timestamp, host, network, final_url, status, mime, title, "
                       "screenshot_path) VALUES (?, ?, ?, ?, ?, 200, 'text/html', ?, ?)",
                       [url, when.isoformat(), host, network, url, title, shot])
        down_reason = "the onion service is unreachable (Tor: descriptor not found)" if network == "tor" else \
            "the I2P destination did not answer within 90 s"
        db.execute("INSERT INTO hosts (host, network, scheme, first_seen, last_seen, last_up, pages, failures, "
                   "state, title, last_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [host, network, scheme, stamps[0].isoformat(), (stamps[-1] + timedelta(minutes=index)).isoformat(),
                    stamps[-1].isoformat() if state == "up" else None, pages, 0 if state == "up" else 3, state,
                    title, None if state == "up" else down_reason])
    db.close()


def main(out: Path) -> None:
    random.seed(13)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        data = Path(tmp) / "data"
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = browser.new_page(viewport={"width": 1024, "height": 640})
        shots = {}
        for host, _network, state, title, colour in SITES:
            if state == "up" and title:
                page.set_content(_site_html(title, colour))
                shots[host] = page.screenshot(type="png")
        build(data, shots)
        db = CatalogDB.open(str(data / "catalog.sqlite"), readonly=True)
        runner = web.AppRunner(make_app(db, data))
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()  # Playwright's loop runs here
        asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(30)
        asyncio.run_coroutine_threadsafe(web.TCPSite(runner, "127.0.0.1", 0).start(), loop).result(30)
        port = runner.addresses[0][1]
        view = browser.new_page(viewport={"width": 1360, "height": 1000})
        view.goto(f"http://127.0.0.1:{port}/hosts")
        view.wait_for_load_state("networkidle")
        view.screenshot(path=str(out), type="png")
        browser.close()
        loop.call_soon_threadsafe(loop.stop)
        db.close()
    print(f"{out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/viewer.png"))
