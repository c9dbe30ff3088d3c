"""Favicons in the host bootstrap chain: ``/favicon.ico`` fetched once per new host
and saved beside robots.txt, a root page's declared icon too; a missing, fake
(an HTML soft 404) or oversized one costs its signature only."""

from __future__ import annotations

import json

from darkcrawl.intel.favicon import FAVICON_MAX_SIZE
from darkcrawl.storage import paths
from tests.gateways import FakeGateway, html

ICO = b"\x00\x00\x01\x00\x01\x00\x10\x10" + bytes(range(256)) * 2
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def _root(icon: str = "") -> tuple[int, str, bytes]:
    link = f"<link rel=icon href='{icon}'>" if icon else ""
    return 200, "text/html", f"<html><head><title>t</title>{link}</head><body><a href=/a>a</a></body></html>".encode()


def _folder(result, gateway: FakeGateway):
    return result.data / "clearnet" / "http" / paths.host_dirname(f"127.0.0.1:{gateway.port}")


def test_favicons_are_fetched_once_and_saved(crawl):
    declared = FakeGateway({"/": _root("/static/logo.png?v=3"), "/a": html(text="a"),
                            "/favicon.ico": (200, "image/x-icon", ICO), "/static/logo.png?v=3": (200, "image/png", PNG)})
    missing = FakeGateway({"/": _root(), "/a": html(text="a")})
    soft = FakeGateway({"/": _root(), "/favicon.ico": (200, "text/html", b"<html><body>not here")})
    huge = FakeGateway({"/": _root(), "/favicon.ico": (200, "image/png", PNG * (FAVICON_MAX_SIZE // len(PNG) + 1))})
    with declared, missing, soft, huge:
        urls = ",".join(f"http://127.0.0.1:{g.port}/" for g in (declared, missing, soft, huge))
        result = crawl("-a", f"urls={urls}")
    assert result.returncode == 0, result.log[-3000:]
    folder = _folder(result, declared)
    assert (folder / "favicon.ico").read_bytes() == ICO
    icon_url = f"http://127.0.0.1:{declared.port}/static/logo.png?v=3"
    assert (folder / paths.favicon_name(icon_url)).read_bytes() == PNG
    assert paths.favicon_name(icon_url).endswith(".png")
    # the declared icon: once as the icon, once as a page (a <link href> is a link the crawl follows)
    assert declared.hits["/favicon.ico"] == 1 and declared.hits["/static/logo.png?v=3"] == 2
    for gateway in (missing, soft, huge):
        assert gateway.hits["/favicon.ico"] == 1
        assert not list(_folder(result, gateway).glob("favicon*")), gateway.port
    # no failure recorded, no host down, no partial new_host for a missing icon
    failures = (result.data / paths.FAILURES_FILE)
    assert "favicon" not in (failures.read_text() if failures.exists() else "")
    new_hosts = [item for item in result.items if item.get("item_type") == "new_host"]
    assert len(new_hosts) == 4 and not any(item["partial"] for item in new_hosts)
    saved = [item for item in result.items if item.get("item_type") == "host_file" and item["kind"] == "favicon"]
    assert sorted(item["url"] for item in saved) == sorted([f"http://127.0.0.1:{declared.port}/favicon.ico", icon_url])
    assert result.stats["darkcrawl/saved/favicon"] == 2
    assert result.stats["darkcrawl/favicon/none"] == 2  # the 404 and the soft 404
    assert result.stats["darkcrawl/favicon/not_fetched"] == 1  # past the size bound
    assert "favicon" in json.dumps(result.stats)


def test_a_favicon_is_no_page_of_the_catalogue(crawl):
    site = FakeGateway({"/": _root(), "/favicon.ico": (200, "image/x-icon", ICO)})
    with site:
        result = crawl("-a", f"urls=http://127.0.0.1:{site.port}/")
    assert result.returncode == 0, result.log[-3000:]
    from darkcrawl.catalog.db import CatalogDB

    db = CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True)
    urls = sorted(row["url"] for row in db.all("SELECT url FROM snapshots"))
    assert urls == [f"http://127.0.0.1:{site.port}/", f"http://127.0.0.1:{site.port}/a"]
    db.close()
