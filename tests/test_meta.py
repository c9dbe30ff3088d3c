"""darkcrawl.meta: the one place meta keys and slot/host keys are spelled; the network after a redirect."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest
from scrapy import Request, Spider
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from darkcrawl import meta
from darkcrawl.downloadermiddlewares.robots import DarcRobotsTxtMiddleware
from darkcrawl.downloadermiddlewares.routing import NetworkRoutingMiddleware
from darkcrawl.meta import LINK_KEY, NETWORK_KEY, SLOT_KEY
from tests.gateways import FakeGateway, html

PACKAGE = Path(__file__).resolve().parent.parent / "darkcrawl"
ZERONET_SITE = "1HeLLo4uzjaLetFx6NH3PMwFP3qbRbTf3D"


@pytest.mark.parametrize(
    ("helper", "args", "expected"),
    [
        (meta.slot_key, ("tor", "xyz.onion:80"), "tor@xyz.onion:80"),
        (meta.slot_key, ("clearnet", "example.org:443"), "clearnet@example.org:443"),
        (meta.slot_key, ("zeronet", "127.0.0.1:43110/1Site"), "zeronet@127.0.0.1:43110/1Site"),
        (meta.render_slot, ("xyz.onion:80",), "render@xyz.onion:80"),
        (meta.host_key, ("i2p", "known.i2p"), "i2p|known.i2p"),
        (meta.bootstrap_host, ({},), None),
        (meta.bootstrap_host, ({meta.BOOTSTRAP_KEY: {"network": "tor", "host": "x.onion"}},), "tor|x.onion"),
        (meta.network_of, ({},), None),
        (meta.network_of, ({LINK_KEY: ("tor", "x.onion", "x.onion:80")},), "tor"),  # routing has not seen it yet
        (meta.network_of, ({LINK_KEY: ("clearnet", "a", "a:80"), NETWORK_KEY: "zeronet"},), "zeronet"),  # redirected
        (meta.gate_key, ({},), None),
        (meta.gate_key, ({SLOT_KEY: "tor@x.onion"},), "tor@x.onion"),
        # a render's gate is its page's host: the plain fetch and the browser share one
        (meta.gate_key, ({SLOT_KEY: "render@x.onion", NETWORK_KEY: "tor"},), "tor@x.onion"),
        (meta.gate_key, ({SLOT_KEY: "render@x.onion"},), None),
        (meta.gate_key, ({SLOT_KEY: "freenet@127.0.0.1:8888/USK@key,x/site"},), "freenet@127.0.0.1:8888/USK@key,x/site"),
    ],
)
def test_helpers(helper, args, expected):
    assert helper(*args) == expected


def test_meta_keys_are_distinct():
    keys = [value for name, value in vars(meta).items() if name.endswith("_KEY") and isinstance(value, str)]
    assert len(keys) == len(set(keys))
    assert all(key.startswith("darkcrawl_") for key in keys if key != SLOT_KEY)


def test_no_meta_key_is_spelled_outside_the_module():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "meta.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    node.value.startswith("darkcrawl_") or node.value == SLOT_KEY):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}")
    assert not found, "meta keys spelled outside darkcrawl/meta.py:\n" + "\n".join(found)


def _middlewares(tmp_path):
    crawler = get_crawler(Spider, {"ADDONS": {"darkcrawl.addon.Addon": 0}, "PATH_DATA": str(tmp_path), "JOBDIR": "",
                                   "DARKCRAWL_ALLOW_LOOPBACK": True, "ZERONET_PORT": 43110, "DARC_TOR": False})
    crawler._apply_settings()
    crawler.stats.open_spider()
    return build_from_crawler(NetworkRoutingMiddleware, crawler), build_from_crawler(DarcRobotsTxtMiddleware, crawler)


def test_a_redirect_is_routed_and_robots_checked_by_its_target(tmp_path):
    routing, robots = _middlewares(tmp_path)
    asked: list[str] = []

    async def robot_parser(request):
        asked.append(request.url)

    robots.robot_parser = robot_parser  # type: ignore[method-assign]
    # a zeronet page that redirected to a clear-web page on another port: the meta is the zeronet page's
    origin = f"http://127.0.0.1:43110/{ZERONET_SITE}/"
    request = Request("http://127.0.0.1:8080/target", meta={
        LINK_KEY: ("zeronet", f"127.0.0.1:43110/{ZERONET_SITE}", f"127.0.0.1:43110/{ZERONET_SITE}"),
        SLOT_KEY: f"zeronet@127.0.0.1:43110/{ZERONET_SITE}", "redirect_urls": [origin]})

    async def run() -> None:
        await routing.process_request(request)
        await robots.process_request(request)

    asyncio.run(run())
    assert request.meta[NETWORK_KEY] == "clearnet"
    assert request.meta[SLOT_KEY] == "clearnet@127.0.0.1:8080"
    assert request.meta[LINK_KEY][0] == "zeronet"  # the admitted link: the page's records name it
    assert asked == ["http://127.0.0.1:8080/target"]  # robots went by the target, not the link's network


def test_clear_web_redirect_to_a_gateway_on_another_port(crawl):
    zeronet_pages = {f"/{ZERONET_SITE}/": html(text="the target")}
    with FakeGateway(zeronet_pages) as zeronet:
        target = f"http://127.0.0.1:{zeronet.port}/{ZERONET_SITE}/"
        pages = {"/moved": (302, "text/html", b"", {"Location": target}), "/robots.txt": (404, "text/html", b"no")}
        with FakeGateway(pages) as web:
            result = crawl("-a", f"urls=http://127.0.0.1:{web.port}/moved",
                           settings={"ZERONET_PORT": zeronet.port, "FREENET_PORT": 1})
            zhits, hits = dict(zeronet.hits), dict(web.hits)
    assert result.returncode == 0, result.log[-2000:]
    assert hits["/moved"] == 1 and zhits[f"/{ZERONET_SITE}/"] == 1
    # the redirected request is a zeronet one: no robots.txt asked of the gateway (the link was clear web)
    assert "/robots.txt" not in zhits
