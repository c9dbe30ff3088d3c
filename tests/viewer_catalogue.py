"""The viewer tests' fixture catalogue: a few hosts on every network, snapshots with
real files in a PATH_DATA (a PNG screenshot, raw HTML, a headers record,
robots.txt), entities, and a set of hostile pages stored as snapshots (each tries
to run a script or fetch a loopback beacon when shown)."""

from __future__ import annotations

import json
import struct
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.catalog.facets import Batch
from darkcrawl.catalog.facets.liveness import LivenessFacet
from darkcrawl.catalog.rows import FailureRow, Visit

ONION = "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion"
I2P = "shop.i2p"
CLEAR = "example.com"
HOSTILE_GLOBALS = ("pwned_script", "pwned_onerror", "pwned_onload", "pwned_svg", "pwned_data", "pwned_link",
                   "pwned_title", "pwned_snippet", "pwned_base", "pwned_refresh")


def png(width: int = 64, height: int = 40, rgb: tuple[int, int, int] = (53, 89, 214)) -> bytes:
    """A real PNG of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def hostile_pages(beacon: str) -> dict[str, str]:
    """Pages that try to run script or reach *beacon* (http://127.0.0.1:port) every way we know."""
    return {
        "script": f"<script>window.pwned_script=1;new Image().src='{beacon}/script'</script><p>s</p>",
        "handlers": (f"<body onload=\"window.pwned_onload=1;fetch('{beacon}/onload')\">"
                     f"<img src=missing.png onerror=\"window.pwned_onerror=1;fetch('{beacon}/onerror')\"></body>"),
        "javascript-link": "<a id=js href=\"javascript:window.pwned_link=1;void(0)\">click me</a>",
        "svg": (f"<svg xmlns='http://www.w3.org/2000/svg'><script>window.pwned_svg=1;fetch('{beacon}/svg')"
                f"</script><image href='{beacon}/svg-image'/></svg>"),
        "data-iframe": (f"<iframe src=\"data:text/html,<script>parent.pwned_data=1;fetch('{beacon}/data')</script>\">"
                        f"</iframe><object data='{beacon}/object'></object><embed src='{beacon}/embed'>"),
        "css": (f"<style>@import url({beacon}/import.css); body{{background:url({beacon}/css-bg)}}"
                f"@font-face{{font-family:x;src:url({beacon}/font)}} p{{font-family:x}}</style>"
                f"<link rel=stylesheet href='{beacon}/link.css'><link rel=prefetch href='{beacon}/prefetch'>"
                f"<p style=\"background-image:url({beacon}/inline-css)\">styled</p>"),
        "meta-refresh": (f"<meta http-equiv=refresh content=\"0;url={beacon}/refresh\">"
                         "<meta http-equiv=refresh content=\"0;url=javascript:window.pwned_refresh=1\">"),
        "base-href": (f"<base href='{beacon}/'><img src=base.png><script src=base.js></script>"
                      f"<video poster='{beacon}/poster'></video><audio src=a.mp3 autoplay></audio>"
                      f"<form action=submit><button>go</button></form>"),
    }


# -- the fixture catalogue ------------------------------------------------------------


def _write(data: Path, relative: str, content: bytes | str) -> str:
    path = data / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return relative


def _visit(db: CatalogDB, data: Path, host: str, network: str, url: str, when: str, html: str, *,
           title: str, text: str, screenshot: bytes | None = None, **extra: str) -> int:
    base = f"{network}/{'http' if network != 'clearnet' else 'https'}/{host.replace(':', '_')}"
    stem = f"{abs(hash(url)) % 10**12:012d}_{when.replace(':', '-')}"
    record = {"Request": {"User-Agent": "darkcrawl"}, "Response": {"Content-Type": "text/html", "Server": "nginx"},
              "Cookies": {"session": "abc123"}, "Status-Code": 200, "Timestamp": when}
    paths = {
        "raw_path": _write(data, f"{base}/{stem}_raw.html", html),
        "headers_path": _write(data, f"{base}/{stem}.json", json.dumps(record)),
        "rendered_path": _write(data, f"{base}/{stem}.html", html),
        "screenshot_path": _write(data, f"{base}/{stem}.png", screenshot) if screenshot else None,
    }
    paths.update(extra)
    snapshot_id = db.value(
        "INSERT INTO snapshots (url, timestamp, host, network, final_url, status, mime, sha256, size, title, "
        "raw_path, headers_path, rendered_path, screenshot_path) VALUES (?, ?, ?, ?, ?, 200, 'text/html', ?, ?, ?, "
        "?, ?, ?, ?) RETURNING id",
        [url, when, host, network, url, "ab" * 32, len(html), title, paths["raw_path"], paths["headers_path"],
         paths["rendered_path"], paths["screenshot_path"]])
    key = "rowid" if db.dialect == "sqlite" else "snapshot_id"
    db.execute(f"INSERT INTO page_text ({key}, title, body) VALUES (?, ?, ?)", [snapshot_id, title, text])
    return int(snapshot_id)


def add_host(db: CatalogDB, host: str, network: str, state: str, first: str, last: str, pages: int,
          title: str) -> None:
    scheme = "https" if network == "clearnet" else "http"
    db.execute("INSERT INTO hosts (host, network, scheme, first_seen, last_seen, last_up, pages, failures, state, "
               "title, last_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [host, network, scheme, first, last, last if state == "up" else None, pages,
                0 if state == "up" else 2, state, title, None if state == "up" else "the onion service is unreachable"])


def _entity(db: CatalogDB, kind: str, value: str, *snapshot_ids: int) -> int:
    entity_id = int(db.value("INSERT INTO entities (kind, value) VALUES (?, ?) RETURNING id", [kind, value]))
    for snapshot_id in snapshot_ids:
        db.execute("INSERT INTO sightings (entity_id, snapshot_id) VALUES (?, ?)", [entity_id, snapshot_id])
    return entity_id


def build_catalogue(data: Path, beacon: str, location: str | None = None) -> dict[str, object]:
    db = CatalogDB.open(location or str(data / "catalog.sqlite"))
    ids: dict[str, object] = {}
    add_host(db, ONION, "tor", "up", "2026-11-01T10:00:00+00:00", "2026-11-03T10:00:00+00:00", 2, "Hidden Market")
    add_host(db, I2P, "i2p", "down", "2026-11-02T09:00:00+00:00", "2026-11-02T09:00:00+00:00", 1, "I2P shop")
    add_host(db, CLEAR, "clearnet", "up", "2026-11-02T08:00:00+00:00", "2026-11-02T08:00:00+00:00", 1, "Example")
    _write(data, f"tor/http/{ONION}/robots.txt", "User-agent: *\nDisallow: /admin\n")
    url = f"http://{ONION}/"
    ids["first"] = _visit(db, data, ONION, "tor", url, "2026-11-01T10:00:00+00:00",
                          "<html><title>Hidden Market</title><p>Welcome to the market</p><p>old prices</p></html>",
                          title="Hidden Market", text="Welcome to the market\nold prices", screenshot=png())
    ids["second"] = _visit(db, data, ONION, "tor", url, "2026-11-03T10:00:00+00:00",
                           "<html><title>Hidden Market</title><p>Welcome to the market</p><p>new prices</p></html>",
                           title="Hidden Market", text="Welcome to the market\nnew prices bitcoin accepted",
                           screenshot=png(rgb=(200, 60, 60)))
    ids["i2p"] = _visit(db, data, I2P, "i2p", f"http://{I2P}/", "2026-11-02T09:00:00+00:00",
                        "<p>shop</p>", title="I2P shop", text="a shop on i2p")
    ids["clear"] = _visit(db, data, CLEAR, "clearnet", f"https://{CLEAR}/", "2026-11-02T08:00:00+00:00",
                          "<p>example</p>", title="Example", text="an example page", screenshot=png(rgb=(90, 160, 90)))
    db.execute("INSERT INTO links (source_id, target, target_host) VALUES (?, ?, ?)",
               [ids["clear"], f"http://{ONION}/", ONION])
    db.execute("INSERT INTO links (source_id, target, target_host) VALUES (?, ?, ?)",
               [ids["second"], f"http://{I2P}/", I2P])
    db.execute("INSERT INTO links (source_id, target, target_host) VALUES (?, ?, NULL)",
               [ids["second"], "bitcoin:1BoatSLRHtKNngkdXEeobR76b53LETtpyT"])
    ids["wallet"] = _entity(db, "bitcoin", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", ids["second"], ids["clear"])
    ids["email"] = _entity(db, "email", "admin@example.com", ids["clear"])
    _hostile(db, data, beacon, ids)
    _liveness(db, data, ids)
    db.close()
    return ids


def ago(**delta: float) -> str:
    """A time before now, as items write it (liveness is read against the clock)."""
    return (datetime.now(timezone.utc) - timedelta(**delta)).isoformat()


def _liveness(db: CatalogDB, data: Path, ids: dict[str, object]) -> None:
    """The onion: up, then down (tor's reason), then behind a queue (its evidence a snapshot), up again;
    the eepsite: unknown to the router.  Written by the liveness facet itself."""
    gate_at = ago(days=2)
    ids["gate"] = _visit(db, data, ONION, "tor", f"http://{ONION}/queue", gate_at,
                         "<html><meta http-equiv=refresh content=5><p>You are in the queue</p></html>",
                         title="Queue", text="You are in the queue")
    ids["liveness_onion"] = [ago(days=9), ago(days=3, hours=1), gate_at, ago(hours=1)]
    up = {"final_url": f"http://{ONION}/", "status": 200}
    timing = {"connect_ms": 830, "ttfb_ms": 1210, "elapsed_ms": 1300}
    queue = {"kind": "queue", "evidence": "EndGame-style queue: refresh in 5 s", "wait": 5}
    visits = [Visit(f"http://{ONION}/", ids["liveness_onion"][0], ONION, "tor", "http", False, up, timing=timing),
              Visit(f"http://{ONION}/queue", gate_at, ONION, "tor", "http", False, up, timing=timing, gate=queue),
              Visit(f"http://{ONION}/", ids["liveness_onion"][3], ONION, "tor", "http", False, up, timing=timing)]
    failures = [FailureRow(f"http://{ONION}/", ids["liveness_onion"][1], "plain", ONION, "tor",
                           "tor: onion service introduction failed (offline)", "OnionIntroFailed", False, "[]"),
                FailureRow(f"http://{I2P}/", ago(days=1), "plain", I2P, "i2p",
                           "i2p: host not in the router's address book", "I2pHostNotFound", False, "[]")]
    with db.transaction():
        LivenessFacet().write(db, Batch(visits, failures))


def _hostile(db: CatalogDB, data: Path, beacon: str, ids: dict[str, object]) -> None:
    host = "evil4xkzq2gyvmeyxmbvfv5zzsjzjkq5wtj4xrtaxmf6ne4d3hs3f3yd.onion"
    pages = hostile_pages(beacon)
    add_host(db, host, "tor", "up", "2026-11-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00", len(pages),
          "<img src=x onerror=window.pwned_title=1>")
    hostile = {}
    for index, (name, html) in enumerate(pages.items()):
        hostile[name] = _visit(db, data, host, "tor", f"http://{host}/{name}", f"2026-11-01T00:00:{index:02d}+00:00",
                               html, title=f"<script>window.pwned_title=1</script>{name}",
                               text=f"hostile {name} <script>window.pwned_snippet=1</script>")
    ids["hostile"] = hostile
    ids["hostile_host"] = host
    # rows that name files outside PATH_DATA: never served
    outside = data.parent / "outside.txt"
    outside.write_text("secret outside PATH_DATA")
    (data / "link-out").symlink_to(outside)
    ids["traversal"] = [
        _visit(db, data, host, "tor", f"http://{host}/t{n}", f"2026-11-01T01:00:0{n}+00:00", "x", title="t",
               text="t", raw_path=bad, screenshot_path=bad)
        for n, bad in enumerate(["../outside.txt", str(outside), "link-out", "."])]


# -- servers ---------------------------------------------------------------------------
