"""Routing per network: fail closed, SSRF guard, gateways, the I2P proxy's error pages."""

from __future__ import annotations

import json

import pytest
from twisted.internet.error import DNSLookupError

from darkcrawl.dns import GuardedResolver
from darkcrawl.downloadermiddlewares.routing import refused_address
from darkcrawl.networks.tor import pinned_port
from tests.gateways import FakeGateway, html

ZERONET_SITE = "1HeLLo4uzjaLetFx6NH3PMwFP3qbRbTf3D"
FREENET_KEY = "USK@abc~def,ghi/site/3"


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("localhost", "loopback"),
        ("db.localhost", "loopback"), ("::1", "loopback"), ("[::ffff:127.0.0.1]", "loopback"),
        ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
        ("100.64.0.1", "private"), ("0.0.0.0", "private"), ("fd00::1", "private"),
        ("169.254.169.254", "link_local"), ("fe80::1", "link_local"),
        ("8.8.8.8", None), ("example.com", None), ("2606:4700::1111", None),
    ],
)
def test_refused_address(host, reason):
    assert refused_address(host) == reason


def test_onion_services_are_pinned_to_one_port():
    ports = [9050, 9051, 9052, 9053]
    services = [f"service{i}.onion" for i in range(400)]
    chosen = [pinned_port(s, ports) for s in services]
    assert chosen == [pinned_port(s, ports) for s in services]  # stable, not hash()-randomised
    assert all(chosen.count(p) > 60 for p in ports)  # spread over the pool


def test_resolver_refuses_anonymity_names_before_any_lookup():
    from twisted.internet import reactor

    resolver = GuardedResolver(reactor, cache_size=0, timeout=1)
    for name in ("abc.onion", "x.i2p", "ABC.ONION."):
        failure = []
        resolver.getHostByName(name).addErrback(failure.append)
        assert failure and failure[0].check(DNSLookupError), name


def test_resolver_refuses_private_answers():
    from twisted.internet import reactor

    resolver = GuardedResolver(reactor, cache_size=0, timeout=1)
    with pytest.raises(DNSLookupError, match="resolves to a private address"):
        resolver._check("10.1.2.3", "rebind.example")
    assert resolver._check("93.184.216.34", "example.com") == "93.184.216.34"
    # literal addresses and localhost are judged by the routing middleware (it knows the gateways)
    assert resolver._check("127.0.0.1", "127.0.0.1") == "127.0.0.1"
    assert resolver._check("127.0.0.1", "localhost") == "127.0.0.1"


def test_loopback_urls_are_refused(darknet, crawl):
    darknet.reset_hits()
    result = crawl("-a", f"urls={darknet.url('other', '/')}", env={"DARKCRAWL_ALLOW_LOOPBACK": "0"})
    assert result.returncode == 0
    assert darknet["other"].hits["/"] == 0 and darknet["other"].hits["/robots.txt"] == 0
    assert result.stats["darkcrawl/network/refused/loopback"] >= 1


def test_zeronet_and_freenet_through_their_gateways(crawl):
    zeronet_pages = {
        f"/{ZERONET_SITE}/": html(f"/{ZERONET_SITE}/page.html", "/1OtherSiteXXXXXXXXXXXXXXXXXXXXXXX/"),
        f"/{ZERONET_SITE}/page.html": html(),
        "/1OtherSiteXXXXXXXXXXXXXXXXXXXXXXX/": html(),
    }
    # (page texts differ: pages with the same content would be stored once, test_content_seen.py)
    freenet_pages = {f"/{FREENET_KEY}/": html("page.html"), f"/{FREENET_KEY}/page.html": html(text="freenet")}
    with FakeGateway(zeronet_pages) as zeronet, FakeGateway(freenet_pages) as freenet:
        result = crawl(
            "-a", f"urls=http://127.0.0.1:{zeronet.port}/{ZERONET_SITE}/,http://127.0.0.1:{freenet.port}/{FREENET_KEY}/",
            settings={"ZERONET_PORT": zeronet.port, "FREENET_PORT": freenet.port},
            env={"DARKCRAWL_ALLOW_LOOPBACK": "0"},  # gateways are reachable anyway
        )
        zhits, fhits = dict(zeronet.hits), dict(freenet.hits)
    assert result.returncode == 0, result.log[-2000:]
    assert zhits[f"/{ZERONET_SITE}/page.html"] == 1 and zhits["/1OtherSiteXXXXXXXXXXXXXXXXXXXXXXX/"] == 1
    assert fhits[f"/{FREENET_KEY}/page.html"] == 1
    assert "/robots.txt" not in zhits  # a gateway's root is not the site's
    assert result.files(f"zeronet/http/{ZERONET_SITE}/*_raw.html")
    assert len(result.files("freenet/http/USK@abc~def,ghi/*_raw.html")) == 2
    new_hosts = {i["url"] for i in result.items if "sitemaps" in i}
    assert f"http://127.0.0.1:{zeronet.port}/{ZERONET_SITE}/" in new_hosts


def test_i2p_through_its_http_proxy(crawl):
    pages = {
        "http://known.i2p/": html("http://known.i2p/a.html", "http://unknown.i2p/"),
        "http://known.i2p/a.html": html(),
        "http://known.i2p/robots.txt": (404, "text/html", b"no"),
        "http://known.i2p/hosts.txt": (200, "text/plain", b"# book\nbook.i2p=AAAA\n"),
        "http://book.i2p/": html(),
    }
    with FakeGateway(pages) as proxy:
        result = crawl("-a", "urls=http://known.i2p/", settings={"I2P_PORT": proxy.port},
                       env={"DARKCRAWL_ALLOW_LOOPBACK": "0"})
        hits = dict(proxy.hits)
    assert result.returncode == 0, result.log[-2000:]
    assert hits["http://known.i2p/a.html"] == 1
    assert hits["http://book.i2p/"] == 1  # from known.i2p's address book (hosts.txt)
    assert result.files("i2p/http/known.i2p/hosts.txt")
    # i2pd's "Host not found" page is a proxy error, not unknown.i2p's content
    assert hits["http://unknown.i2p/"] >= 1
    assert result.stats["darkcrawl/network/proxy_error/i2p"] >= 1
    assert not result.files("i2p/http/unknown.i2p/*_raw.html")


def test_i2p_unavailable_fails_closed_with_a_reason(crawl):
    result = crawl("-a", "urls=http://nowhere.i2p/", settings={"I2P_PORT": 1, "DARC_I2P": 0})
    assert result.returncode == 0
    assert result.stats["darkcrawl/network/unavailable/i2p"] >= 1
    assert "i2p is not available: nothing answers on 127.0.0.1:1" in result.log
    assert json.dumps(result.stats).count("nowhere.i2p") == 0
