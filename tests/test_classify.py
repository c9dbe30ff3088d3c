from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from darkcrawl.links.classify import NETWORKS, SPECIAL_KINDS, Gateways, Link, classify
from darkcrawl.links.onion import make_onion_address

ONION = "lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion"
BAD_SUM = ONION[:10] + "a" + ONION[11:]  # one character changed
# Version byte 4 with a checksum that is otherwise right.
BAD_VERSION = make_onion_address(bytes(range(32)))[:55] + "e.onion"
V2 = "expyuzz4wqqyqhjn.onion"
B32 = "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq"  # 52 chars
B33 = "a" * 56
ZERO_SITE = "1HeLLo4uzjaLetFx6NH3PMwFP3qbRbTf3D"
USK = "USK@abc~x,def/site/3"
GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
XMR = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
CUSTOM = Gateways(zeronet_port=43111, freenet_port=9999)


def net(raw: str, kind: str, url: str, host: str, service: str, gateways: Gateways | None = None) -> Any:
    return pytest.param(raw, gateways, Link(url, kind, url.partition(":")[0], host, service, url), id=raw)


def special(raw: str, kind: str, value: str | None = None) -> Any:
    url = raw.strip()
    scheme = url.partition(":")[0].lower()
    return pytest.param(raw, None, Link(url, kind, scheme, f"({kind})", "", value or url), id=raw)


def invalid(raw: str, reason: str, scheme: str = "http") -> Any:
    url = raw.strip()
    return pytest.param(raw, None, Link(url, "invalid", scheme, "(invalid)", "", url, reason), id=raw)


CASES = [
    # --- clearnet normalisation
    net("HTTP://ExAmple.COM:80/a#frag", "clearnet", "http://example.com/a", "example.com", "example.com"),
    net("https://x.com:443", "clearnet", "https://x.com/", "x.com", "x.com"),
    net("http://x.com:8080/", "clearnet", "http://x.com:8080/", "x.com:8080", "x.com:8080"),  # a port is another server
    net("https://x.com:80/", "clearnet", "https://x.com:80/", "x.com:80", "x.com:80"),
    net("http://x.com:443/", "clearnet", "http://x.com:443/", "x.com:443", "x.com:443"),
    net("http://x.com:080/", "clearnet", "http://x.com/", "x.com", "x.com"),
    net("http://x.com:/a", "clearnet", "http://x.com/a", "x.com", "x.com"),
    net("http://example.com./", "clearnet", "http://example.com/", "example.com", "example.com"),
    # userinfo, path, params and query are kept byte for byte (no re-quoting, no sorting)
    net(
        "http://U:P@X.com:80/P;x=1?b=2&a=%41#f",
        "clearnet",
        "http://U:P@x.com/P;x=1?b=2&a=%41",
        "x.com",
        "x.com",
    ),
    net("https://x.com/a%2Fb/../c?", "clearnet", "https://x.com/a%2Fb/../c", "x.com", "x.com"),
    net("  http://x.com/a b\n", "clearnet", "http://x.com/a b", "x.com", "x.com"),
    net("http://[::1]:8080/a", "clearnet", "http://[::1]:8080/a", "[::1]:8080", "[::1]:8080"),
    net("http://[2001:DB8::1]/", "clearnet", "http://[2001:db8::1]/", "[2001:db8::1]", "[2001:db8::1]"),
    # --- tor
    net(f"http://{ONION}", "tor", f"http://{ONION}/", ONION, ONION),
    net(f"http://www.{ONION}:8080/x?y#z", "tor", f"http://www.{ONION}:8080/x?y", f"www.{ONION}:8080", ONION),
    net(f"HTTPS://WWW.{ONION.upper()}/", "tor", f"https://www.{ONION}/", f"www.{ONION}", ONION),
    net(f"http://{ONION}./", "tor", f"http://{ONION}/", ONION, ONION),
    invalid(f"http://{V2}/", "v2 onion address (retired by Tor in 2021)"),
    invalid(f"http://www.{V2}/", "v2 onion address (retired by Tor in 2021)"),
    invalid(f"http://{BAD_SUM}/", "malformed onion address: bad checksum"),
    invalid(f"http://{BAD_VERSION}/", "malformed onion address: version byte 4, expected 3"),
    invalid("http://a.onion/", "malformed onion address: 1 characters, expected 56"),
    invalid("http://" + "1" * 56 + ".onion/", "malformed onion address: not base32"),
    # --- tor2web gateways are clearnet hosts
    *(
        net(f"https://{ONION}{s}/a", "tor2web", f"https://{ONION}{s}/a", f"{ONION}{s}", f"{ONION}{s}")
        for s in (".sh", ".ly", ".ws", ".pet", ".to", ".dog")
    ),
    net("http://x.onion.sh:81/", "tor2web", "http://x.onion.sh:81/", "x.onion.sh:81", "x.onion.sh:81"),
    # --- i2p
    net("http://Forum.I2P/", "i2p", "http://forum.i2p/", "forum.i2p", "forum.i2p"),
    net(f"http://{B32}.b32.i2p/x", "i2p", f"http://{B32}.b32.i2p/x", f"{B32}.b32.i2p", f"{B32}.b32.i2p"),
    net(f"http://{B33}.b32.i2p/", "i2p", f"http://{B33}.b32.i2p/", f"{B33}.b32.i2p", f"{B33}.b32.i2p"),
    invalid(f"http://{B32[:-1]}.b32.i2p/", "malformed I2P b32 address"),
    invalid(f"http://{B32[:-1]}1.b32.i2p/", "malformed I2P b32 address"),
    invalid(f"http://{B33[:-1]}.b32.i2p/", "malformed I2P b32 address"),
    # --- zeronet / freenet through their local gateways
    net(
        f"http://127.0.0.1:43110/{ZERO_SITE}/index.html",
        "zeronet",
        f"http://127.0.0.1:43110/{ZERO_SITE}/index.html",
        ZERO_SITE,
        ZERO_SITE,
    ),
    net(
        f"http://LOCALHOST:43110/{ZERO_SITE}",
        "zeronet",
        f"http://localhost:43110/{ZERO_SITE}",
        ZERO_SITE,
        ZERO_SITE,
    ),
    net(
        "http://localhost:8888/USK@abc,def/site/3/",
        "freenet",
        "http://localhost:8888/USK@abc,def/site/3/",
        "USK@abc,def",
        "USK@abc,def",
    ),
    net(
        f"http://127.0.0.1:8888/{USK}?max-size=1",
        "freenet",
        f"http://127.0.0.1:8888/{USK}?max-size=1",
        "USK@abc~x,def",
        "USK@abc~x,def",
    ),
    # the gateway root is the gateway's own UI: clearnet, as in darc
    net("http://127.0.0.1:43110/", "clearnet", "http://127.0.0.1:43110/", "127.0.0.1:43110", "127.0.0.1:43110"),
    net("http://127.0.0.1:43110", "clearnet", "http://127.0.0.1:43110/", "127.0.0.1:43110", "127.0.0.1:43110"),
    net(
        "http://localhost:8888/?x=1",
        "clearnet",
        "http://localhost:8888/?x=1",
        "localhost:8888",
        "localhost:8888",
    ),
    # other hosts or ports are not the gateway
    net(
        f"http://127.0.0.1:8080/{ZERO_SITE}/",
        "clearnet",
        f"http://127.0.0.1:8080/{ZERO_SITE}/",
        "127.0.0.1:8080",
        "127.0.0.1:8080",
    ),
    net(
        f"http://example.com:43110/{ZERO_SITE}/",
        "clearnet",
        f"http://example.com:43110/{ZERO_SITE}/",
        "example.com:43110",
        "example.com:43110",
    ),
    # custom gateway ports
    net(
        f"http://127.0.0.1:43111/{ZERO_SITE}/",
        "zeronet",
        f"http://127.0.0.1:43111/{ZERO_SITE}/",
        ZERO_SITE,
        ZERO_SITE,
        CUSTOM,
    ),
    net(
        "http://localhost:9999/USK@a,b/s/1/",
        "freenet",
        "http://localhost:9999/USK@a,b/s/1/",
        "USK@a,b",
        "USK@a,b",
        CUSTOM,
    ),
    net(
        f"http://127.0.0.1:43110/{ZERO_SITE}/",
        "clearnet",
        f"http://127.0.0.1:43110/{ZERO_SITE}/",
        "127.0.0.1:43110",
        "127.0.0.1:43110",
        CUSTOM,
    ),
    net(
        f"http://127.0.0.1/{ZERO_SITE}/",
        "zeronet",
        f"http://127.0.0.1/{ZERO_SITE}/",
        ZERO_SITE,
        ZERO_SITE,
        Gateways(zeronet_port=80),
    ),
    # --- special kinds
    special(f"bitcoin:{GENESIS}?amount=1", "bitcoin", GENESIS),
    special(f"BTC:{GENESIS}", "bitcoin", GENESIS),
    special(f"bitcoin://{GENESIS}/", "bitcoin", GENESIS),
    special(f"bitcoin:{GENESIS}#x", "bitcoin", GENESIS),
    special(f"ethereum:{ETH}?value=1", "ethereum", ETH),
    special(f"eth:{ETH}", "ethereum", ETH),
    special(f"monero:{XMR}?tx_amount=0.5&tx_description=x", "monero", XMR),
    special("data:text/plain;base64,SGk=", "data"),
    special("ed2k://|file|x.iso|1024|0123456789ABCDEF0123456789ABCDEF|/", "ed2k"),
    special("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a", "magnet"),
    special("mailto:a@b.c", "mail"),
    special("MailTo:A@B.C?subject=Hi", "mail"),
    special("  mailto:a@b.c \n", "mail"),
    special("tel:+1-201-555-0123", "tel"),
    special("irc://irc.example.org/#chan", "irc"),
    special("ircs://irc.example.org:6697/chan", "irc"),
    special("ws://x.com/socket", "ws"),
    special("wss://x.com/socket", "ws"),
    special("javascript:void(0)", "script"),
    # --- invalid
    invalid("ftp://x/", "unsupported scheme 'ftp'", "ftp"),
    invalid("FTP://x/", "unsupported scheme 'ftp'", "ftp"),
    invalid("file:///etc/passwd", "unsupported scheme 'file'", "file"),
    invalid("about:blank", "unsupported scheme 'about'", "about"),
    invalid("chrome://settings", "unsupported scheme 'chrome'", "chrome"),
    invalid("example.com/x", "no scheme", ""),
    invalid("/relative/path", "no scheme", ""),
    invalid("//example.com/x", "no scheme", ""),
    invalid("", "no scheme", ""),
    invalid("http:///a", "missing host"),
    invalid("http://:8080/", "missing host"),
    invalid("http://u@/", "missing host"),
    invalid("http:example.com", "missing host"),
    invalid("http://x.com:99999/", "invalid port"),
    invalid("http://x.com:65536/", "invalid port"),
    invalid("http://x.com:0/", "invalid port"),
    invalid("http://x.com:ab/", "invalid port"),
    invalid("http://x.com:-1/", "invalid port"),
    invalid("http://x.com:8080:90/", "invalid port"),
    invalid("http://[::1]x/", "invalid port"),
    invalid("http://[::1/", "unparsable URL"),
]


@pytest.mark.parametrize(("raw", "gateways", "expected"), CASES)
def test_classify(raw: str, gateways: Gateways | None, expected: Link) -> None:
    link = classify(raw) if gateways is None else classify(raw, gateways)
    assert link == expected
    assert link.fetchable is (expected.kind in NETWORKS)


def test_every_kind_is_covered() -> None:
    kinds = {case.values[2].kind for case in CASES}
    assert kinds == set(NETWORKS) | set(SPECIAL_KINDS)


def test_link_is_frozen() -> None:
    link = classify("http://x.com/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        link.kind = "tor"  # type: ignore[misc]


def test_fetchable() -> None:
    assert classify(f"http://{ONION}/").fetchable
    assert not classify("mailto:a@b.c").fetchable
    assert not classify("ftp://x/").fetchable


def test_normalised_url_is_a_fixed_point() -> None:
    # Classifying the normalised URL again must not change it: the frontier
    # de-duplicates on it.
    for case in CASES:
        link = case.values[2]
        if link.fetchable:
            gateways = case.values[1] or Gateways()
            assert classify(link.url, gateways) == link
