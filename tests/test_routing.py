"""Routing per network: fail closed, SSRF guard, gateways, the I2P proxy's error pages."""

from __future__ import annotations

import json

import pytest
from twisted.internet.error import DNSLookupError

from darkcrawl.dns import GuardedResolver
from darkcrawl.addresses import canonical_host, refused_address
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


# WHATWG URL host parsing (IPv4 "ends in a number" + IPv4 number parser), which is
# also what inet_aton behind getaddrinfo accepts: every spelling is one address.
@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"), ("017700000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("127.0.1", "127.0.0.1"),
        ("127.0x0.0.01", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"), ("0", "0.0.0.0"), ("0x", "0.0.0.0"),
        ("2852039166", "169.254.169.254"), ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("10.0xffff", "10.0.255.255"), ("192.168.257", "192.168.1.1"), ("%31%32%37.0.0.1", "127.0.0.1"),
        ("\uff11\uff12\uff17\u3002\uff10\uff0e\uff10\uff0e\uff11", "127.0.0.1"),  # full-width, as IDNA maps them
        ("4294967295", "255.255.255.255"), ("8.8.8.8", "8.8.8.8"),
        ("[::1]", "::1"), ("::1", "::1"), ("[0:0:0:0:0:0:0:1]", "::1"), ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"), ("[::127.0.0.1]", "::7f00:1"), ("[FE80::1]", "fe80::1"),
        ("Example.COM.", "example.com"), ("localhost", "localhost"), ("169.254.169.254.nip.io", "169.254.169.254.nip.io"),
        ("1.2.3.4.example", "1.2.3.4.example"), ("0x7f.example", "0x7f.example"),
    ],
)
def test_canonical_host(host, canonical):
    assert canonical_host(host) == canonical


@pytest.mark.parametrize(
    "host", ["1.2.3.4.5", "256.0.0.1", "127.0.0.256.", "4294967296", "0x100000000", "08.0.0.1", "0x7g.1", "foo.0x1",
             "foo.123", "1..2", "[127.0.0.1]", "[::1", "1.2.3.4:5"],
)
def test_hosts_that_end_in_a_number_but_are_no_address(host):
    with pytest.raises(ValueError):
        canonical_host(host)
    assert refused_address(host) == "invalid_address"  # browsers reject them; inet_aton may not


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("2130706433", "loopback"), ("0x7f000001", "loopback"), ("127.1", "loopback"), ("127.0.1", "loopback"),
        ("0177.0.0.1", "loopback"), ("127.0.0.1.", "loopback"), ("localhost.", "loopback"), ("LOCALHOST", "loopback"),
        ("[::1]", "loopback"), ("[::ffff:127.0.0.1]", "loopback"), ("[::127.0.0.1]", "loopback"),
        ("[::ffff:a9fe:a9fe]", "link_local"), ("2852039166", "link_local"), ("0xa9fea9fe", "link_local"),
        ("[64:ff9b::7f00:1]", "loopback"), ("[2002:7f00:1::]", "loopback"),  # NAT64 and 6to4 carry IPv4 too
        ("0", "private"), ("10.1", "private"), ("0xc0a80101", "private"), ("[fc00::1]", "private"),
        ("224.0.0.1", "private"), ("[::]", "private"), ("100.64.1", "private"),
        ("134744072", None), ("[2606:4700::1111]", None), ("[::ffff:8.8.8.8]", None), ("1.1", None),
        ("example.com.", None), ("169.254.169.254.nip.io", None),  # names: the resolver checks them
    ],
)
def test_refused_address_sees_through_spellings(host, reason):
    assert refused_address(host) == reason


def test_onion_services_are_pinned_to_one_port():
    ports = [9050, 9051, 9052, 9053]
    services = [f"service{i}.onion" for i in range(400)]
    chosen = [pinned_port(s, ports) for s in services]
    # stable across runs and processes (a blake2b of the name, not hash()-randomised):
    # the same ports as every earlier run gave these names
    assert chosen[:8] == [9050, 9052, 9051, 9051, 9050, 9053, 9050, 9053]
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
    assert result.returncode == 1  # nothing fetched
    assert "DARKCRAWL_ALLOW_LOOPBACK=1 allows" in result.log  # the refusal says how to allow it
    assert darknet["other"].hits["/"] == 0 and darknet["other"].hits["/robots.txt"] == 0
    # refused at admission (by its spelling): no request, no bootstrap
    assert result.stats["darkcrawl/refused/loopback"] >= 1
    assert "darkcrawl/hosts/new" not in result.stats


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
    assert result.returncode == 3  # a seed's network is unavailable
    assert result.stats["darkcrawl/network/unavailable/i2p"] >= 1
    assert "i2p is not available: nothing answers on 127.0.0.1:1" in result.log
    assert json.dumps(result.stats).count("nowhere.i2p") == 0


def test_no_ssrf_through_a_configured_proxy(tmp_path):
    """``http_proxy`` set: no spelling of an inside address, and no name resolving to
    one, reaches the proxy (which would fetch it); each is refused with its reason,
    and a refused host gets no ``new_host``."""
    from darkcrawl.links.classify import Gateways, classify
    from tests.apiserver import ApiServer
    from tests.conftest import run_crawl
    from tests.ssrfweb import NUMERIC_SPELLINGS, PUBLIC_SITE, REDIRECTS, RecordingProxy

    seeds = [*NUMERIC_SPELLINGS, "http://metadata.test/", "http://169.254.169.254.nip.io/", f"http://{PUBLIC_SITE}/"]
    with RecordingProxy() as proxy, ApiServer() as api:
        result = run_crawl(
            tmp_path, "-a", f"urls={','.join(seeds)}",
            settings={"TWISTED_DNS_RESOLVER": "tests.ssrfweb.TableResolver", "RETRY_TIMES": 0,
                      "API_NEW_HOST": api.url("new_host"), "API_REQUESTS": api.url("requests")},
            env={"DARKCRAWL_ALLOW_LOOPBACK": "0", "http_proxy": proxy.url, "https_proxy": proxy.url,
                 "no_proxy": "", "NO_PROXY": ""},
            timeout=120,
        )
        lines = proxy.lines
        new_hosts = [payload["URL"] for payload in api.received["new_host"].values()]
    assert result.returncode == 0, result.log[-3000:]
    assert "Traceback" not in result.log
    # the proxy saw the public site, and nothing else
    assert lines and all(line.split()[1].startswith(f"http://{PUBLIC_SITE}/") for line in lines), lines
    fetched = {line.split()[1] for line in lines}
    assert {f"http://{PUBLIC_SITE}/{path.lstrip('/')}" for path in REDIRECTS} <= fetched  # the redirects were met
    # every numeric seed refused at admission, with the reason logged
    for url in NUMERIC_SPELLINGS:
        assert f"refused {classify(url, Gateways(43110, 8888)).url}: points at a" in result.log, url
    # names resolving inside, and redirects to inside addresses, refused before the proxy
    for url in ("http://metadata.test/", "http://169.254.169.254.nip.io/"):
        assert f"refused: {url}: " in result.log and "resolves to a link_local address (169.254.169.254)" in result.log
    for target in REDIRECTS.values():
        assert f"fetch failed {target}: refused: {target}" in result.log, target
    assert result.stats["darkcrawl/refused/loopback"] >= 8
    assert result.stats["darkcrawl/refused/link_local"] >= 1
    assert result.stats["darkcrawl/hosts/refused"] == 2  # metadata.test, 169.254.169.254.nip.io
    # only the public site is a new host
    assert new_hosts == [f"http://{PUBLIC_SITE}/"]


def test_clear_web_through_tor_is_not_resolved_locally(tmp_path):
    """With DARKCRAWL_CLEARNET_VIA_TOR a local lookup would tell the local resolver
    every site visited: names are left to the exit; numeric spellings are still refused."""
    from tests.conftest import run_crawl
    from tests.ssrfweb import PUBLIC_SITE

    result = run_crawl(
        tmp_path, "-a", f"urls=http://{PUBLIC_SITE}/,http://metadata.test/,http://0x7f000001/",
        settings={"TWISTED_DNS_RESOLVER": "tests.ssrfweb.TableResolver", "RETRY_TIMES": 0,
                  "DARKCRAWL_CLEARNET_VIA_TOR": 1, "TOR_PORT": 9, "TOR_WAIT": 1, "TOR_RETRY": 0},
        env={"DARKCRAWL_ALLOW_LOOPBACK": "0"}, timeout=120,
    )
    assert result.returncode == 3, result.log[-3000:]  # the seeds need Tor, which is not there
    assert "test resolver: looking up" not in result.log
    assert "refused http://0x7f000001/: points at a loopback address (0x7f000001 is 127.0.0.1)" in result.log
    assert "darkcrawl/network/refused/link_local" not in result.stats  # metadata.test: for the exit to refuse


def test_refusals_keep_their_reason_when_pickled():
    import pickle

    from darkcrawl.dns import ResolvedInside
    from darkcrawl.addresses import AddressRefused

    resolved = pickle.loads(pickle.dumps(ResolvedInside("rebind.test", "127.0.0.1", "loopback")))
    assert (resolved.name, resolved.address, resolved.reason) == ("rebind.test", "127.0.0.1", "loopback")
    assert "rebind.test resolves to a loopback address (127.0.0.1)" in str(resolved)
    refused = pickle.loads(pickle.dumps(AddressRefused("refused: http://127.1/", "loopback")))
    assert (str(refused), refused.reason) == ("refused: http://127.1/", "loopback")


def test_no_new_circuits_while_a_queue_is_waited_out(monkeypatch):
    """NEWNYM after 5 Tor failures in a row, as ever; but not while a host's DDoS queue is
    waited out: its next request must leave on the circuit the queue saw."""
    import asyncio

    from scrapy import Request, Spider
    from scrapy.utils.misc import build_from_crawler
    from scrapy.utils.test import get_crawler
    from twisted.internet.defer import succeed

    from darkcrawl.downloadermiddlewares import routing
    from darkcrawl.policy.gatebook import GateBook
    from darkcrawl.intel.gates import Gate
    from darkcrawl.meta import NETWORK_KEY

    crawler = get_crawler(Spider, {"ADDONS": {"darkcrawl.addon.Addon": 0}, "DARC_TOR": 0})
    crawler._apply_settings()
    crawler.stats.open_spider()
    mw = build_from_crawler(routing.NetworkRoutingMiddleware, crawler)
    asked: list[str] = []
    monkeypatch.setattr(routing, "deferToThread", lambda call: (asked.append("newnym"), succeed(None))[1])

    async def fail(times: int) -> None:
        for _ in range(times):
            await mw.process_exception(Request("http://x.onion/", meta={NETWORK_KEY: "tor"}), TimeoutError())

    asyncio.run(fail(5))
    assert asked == ["newnym"]
    GateBook.for_crawler(crawler).table.met("tor@q.onion", Gate("queue", "endgame-queue", "queue page", 5.0), None, 0.0)
    asyncio.run(fail(5))
    assert asked == ["newnym"]  # deferred
    assert crawler.stats.get_value("darkcrawl/network/tor/newnym_deferred") == 1
