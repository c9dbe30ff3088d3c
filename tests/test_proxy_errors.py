"""A proxy's or gateway's own error page, told from the site's page (darkcrawl/networks/proxy_errors.py)."""

from __future__ import annotations

import pytest

from darkcrawl.networks.proxy_errors import proxy_page
from tests.gateways import I2PD_HOST_NOT_FOUND
from tests.i2pnet import HOST_DOWN_DETAIL, HOST_DOWN_MARKER, PROXY_PAGE_TITLE


def i2pd(h1: str, detail: str) -> bytes:
    """i2pd's proxy page (the shape of i2pd 2.45's, CRLF line ends and all)."""
    return (f"<html>\r\n<head>\r\n  {PROXY_PAGE_TITLE}\r\n</head>\r\n<body>\r\n"
            f"<h1>Proxy {h1}</h1>\r\n<p>{detail}</p>\r\n</body>\r\n</html>\r\n").encode()


JAVA_I2P_UNKNOWN = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n<html><head>'
    b"<title>Website Unknown</title>\n"
    b'<link rel="shortcut icon" href="http://proxy.i2p/themes/console/images/favicon.ico">\n'
    b'<link href="http://proxy.i2p/themes/console/default/console.css" rel="stylesheet" type="text/css">'
    b"</head><body><div class=logo><a href=\"http://127.0.0.1:7657/\"></a></div>"
    b"<div class=warning id=warning><h3>Warning: Website Unknown</h3>"
    b"The website was not found in your router's addressbook.</div></body></html>")
JAVA_I2P_UNREACHABLE = JAVA_I2P_UNKNOWN.replace(b"Website Unknown", b"Website Unreachable")
PRIVOXY = (b"<html><head><title>500 - Connection failure (Privoxy@localhost)</title></head>"
           b"<body><h2>This is <a href=\"https://www.privoxy.org/\">Privoxy</a> 3.0.34 on localhost</h2>"
           b"<p>Could not connect to the SOCKS proxy</p></body></html>")
FREENET_DNF = (b"<!DOCTYPE html><html><head><title>Data not found - Freenet</title></head>"
               b"<body><div id=content><h1>Data not found</h1><p>The data could not be found in the network."
               b"</p></div></body></html>")
FREENET_RNF = FREENET_DNF.replace(b"Data not found", b"Route not found")
ZERONET_500 = b"<html><head><title>Server error</title></head><body><h1>Server error</h1>boom</body></html>"
SITE_404 = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
FORUM_POST = (b"<html><head><title>Help: Proxy error: Host not found</title></head><body>"
              b"<p>My i2pd says <h1>Proxy error: Host not found</h1> for every site; data not found too</p>"
              b"</body></html>")

CASES = [
    # name, network, status, body, expected (error, words in the reason) or None
    ("i2pd-host-not-found", "i2p", *I2PD_HOST_NOT_FOUND[::2],
     ("I2pHostNotFound", "host not in the router's address book")),
    ("i2pd-host-down", "i2p", 500, i2pd(HOST_DOWN_MARKER[10:-5], HOST_DOWN_DETAIL),
     ("I2pHostDown", "it may be down")),
    ("i2pd-outproxy", "i2p", 500, i2pd("error: Outproxy failure", "Host example.org is not inside I2P network, "
                                       "but outproxy is not enabled"), ("I2pOutproxy", "no outproxy")),
    ("i2pd-unknown-error", "i2p", 500, i2pd("error: Cannot resolve upstream proxy", "Host not known"),
     ("I2pProxyError", "Cannot resolve upstream proxy")),
    ("i2pd-addresshelper", "i2p", 403, i2pd("info: Addresshelper request", "To add host x.i2p, click here"),
     ("I2pAddressHelper", "address-helper")),
    ("java-i2p-unknown", "i2p", 503, JAVA_I2P_UNKNOWN, ("I2pHostNotFound", "I2P router: Website Unknown")),
    ("java-i2p-unreachable", "i2p", 504, JAVA_I2P_UNREACHABLE, ("I2pHostDown", "destination unreachable")),
    ("privoxy-tor", "tor", 500, PRIVOXY, ("PrivoxyError", "Privoxy")),
    ("freenet-dnf-200", "freenet", 200, FREENET_DNF, ("FreenetDataNotFound", "data not found")),
    ("freenet-dnf-404", "freenet", 404, FREENET_DNF, ("FreenetDataNotFound", "FProxy: Data not found - Freenet")),
    ("freenet-rnf", "freenet", 503, FREENET_RNF, ("FreenetRouteNotFound", "route not found")),
    ("freenet-other-5xx", "freenet", 500, SITE_404, ("FreenetGatewayError", "failed with 500")),
    ("zeronet-500", "zeronet", 500, ZERONET_500, ("ZeronetGatewayError", "Server error")),
    ("tor2web-502", "tor2web", 502, b"<html><title>Tor2web Error</title>onion unreachable</html>",
     ("Tor2webGatewayError", "could not reach the onion")),
    # the site's own pages
    ("i2p-site-500", "i2p", 500, b"<html><title>Internal Server Error</title>nginx</html>", None),
    ("i2p-site-200-about-errors", "i2p", 200, FORUM_POST, None),
    ("i2p-site-404", "i2p", 404, SITE_404, None),
    ("freenet-site-200", "freenet", 200, FORUM_POST, None),
    ("zeronet-site-404", "zeronet", 404, SITE_404, None),
    ("tor-site-503", "tor", 503, b"<html><title>Service Unavailable</title></html>", None),
    ("clearnet-privoxy-words", "clearnet", 500, PRIVOXY, None),
    ("tor2web-200", "tor2web", 200, b"<html><title>Tor2web Error</title></html>", None),
]


@pytest.mark.parametrize(("network", "status", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_proxy_page(network: str, status: int, body: bytes, expected: tuple[str, str] | None) -> None:
    page = proxy_page(network, status, body)
    if expected is None:
        assert page is None
        return
    assert page is not None
    assert page.error == expected[0]
    assert expected[1] in page.reason, page.reason
    assert page.reason.startswith(network + (":" if network != "i2p" or page.error != "I2pProxyError" else " "))


def test_only_the_head_of_a_body_is_read() -> None:
    late = b"<html><title>x</title>" + b" " * 20000 + b"Privoxy"
    assert proxy_page("tor", 500, late) is None
