"""A proxy's or gateway's own error page, told from the site's content, with its reason.

I2P routers answer for a destination they could not reach with an HTML page of
their own (i2pd: ``<h1>Proxy error: Host not found</h1>``; Java I2P's i2ptunnel:
"Website Unknown", "Website Unreachable" with its themes served from
``proxy.i2p``), Freenet's FProxy and the ZeroNet UI server likewise for a key or
a site they could not fetch, a Privoxy in front of Tor for a stream Tor refused.
Such a page is the proxy's words, not the site's: it is a failure with a reason
("i2p: host not in the router's address book"), never a snapshot of the site.

:func:`proxy_page` is pure: the network, the status and the first bytes of the
body in, a :class:`ProxyPage` (error name and reason) or None out.  Only pages
with an error status are read: a 200 page that *talks* about proxy errors is
content.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

#: how much of the body is read (every known error page says it in its first KiB)
HEAD_BYTES = 8192


@dataclass(frozen=True, slots=True)
class ProxyPage:
    error: str  # a short name: the failure record's error, a stats key
    reason: str  # words a person can act on


_I2PD_PAGE = re.compile(rb"<title>\s*I2Pd HTTP proxy\s*</title>", re.IGNORECASE)
_I2PD_ERROR = re.compile(rb"<h1>\s*Proxy (error|info):\s*(.*?)\s*</h1>\s*(?:<p>\s*(.*?)\s*</p>)?",
                         re.IGNORECASE | re.DOTALL)
#: Java I2P (i2ptunnel's proxy pages, and I2P+'s): their titles, translated or not
_JAVA_I2P_PAGE = re.compile(rb"https?://proxy\.i2p/|I2P Warning|I2P Error", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(rb"<h1[^>]*>\s*(.*?)\s*</h1>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")

#: phrase in an I2P proxy's title or heading -> (error, what it means)
_I2P_PHRASES: tuple[tuple[str, str, str], ...] = (
    ("host not found", "I2pHostNotFound", "host not in the router's address book (unknown name: add it, or use its b32 address)"),
    ("not found in addressbook", "I2pHostNotFound", "host not in the router's address book (unknown name: add it, or use its b32 address)"),
    ("website unknown", "I2pHostNotFound", "host not in the router's address book (unknown name: add it, or use its b32 address)"),
    ("eepsite unknown", "I2pHostNotFound", "host not in the router's address book (unknown name: add it, or use its b32 address)"),
    ("host is down", "I2pHostDown", "destination unreachable: the eepsite is down, or its tunnels could not be built"),
    ("website unreachable", "I2pHostDown", "destination unreachable: the eepsite is down, or its tunnels could not be built"),
    ("eepsite unreachable", "I2pHostDown", "destination unreachable: the eepsite is down, or its tunnels could not be built"),
    ("lease set not found", "I2pHostDown", "destination unreachable: no lease set found (the eepsite is offline)"),
    ("connection reset", "I2pConnectionReset", "the eepsite reset the connection"),
    ("invalid destination", "I2pBadAddress", "invalid I2P destination (a malformed address)"),
    ("invalid request uri", "I2pBadAddress", "the I2P proxy refused the URL as invalid"),
    ("outproxy", "I2pOutproxy", "not an I2P host, and the router has no outproxy for it"),
    ("addresshelper", "I2pAddressHelper", "the I2P proxy asks to confirm an address-helper link (not followed)"),
)

#: gateways: phrase -> (error, meaning)
_FREENET_PHRASES: tuple[tuple[str, str, str], ...] = (
    ("data not found", "FreenetDataNotFound", "data not found: the key is not in the network, or no node holding it answered"),
    ("route not found", "FreenetRouteNotFound", "route not found: the node could not reach enough peers for the key"),
    ("recently failed", "FreenetRecentlyFailed", "the node tried this key moments ago and failed; it will not try again yet"),
    ("invalid key", "FreenetBadKey", "invalid Freenet key"),
    ("permanent redirect", "FreenetRedirect", "the key was moved (a newer edition)"),
)


def _text(raw: bytes | None) -> str:
    if not raw:
        return ""
    text = html.unescape(_TAGS.sub(" ", raw.decode("utf-8", "replace")))
    return " ".join(text.split())[:200]


def _first(pattern: re.Pattern[bytes], head: bytes) -> str:
    match = pattern.search(head)
    return _text(match[1]) if match else ""


def _by_phrase(words: str, phrases: tuple[tuple[str, str, str], ...]) -> tuple[str, str] | None:
    lowered = words.lower()
    return next(((error, meaning) for phrase, error, meaning in phrases if phrase in lowered), None)


def _i2pd(head: bytes) -> ProxyPage | None:
    if not _I2PD_PAGE.search(head):
        return None
    match = _I2PD_ERROR.search(head)
    title, detail = (_text(match[2]), _text(match[3])) if match else ("", "")
    known = _by_phrase(title, _I2P_PHRASES)
    words = ": ".join(part for part in (title, detail) if part)
    said = f" (i2pd: {words})" if words else " (i2pd)"
    if known:
        return ProxyPage(known[0], f"i2p: {known[1]}{said}")
    return ProxyPage("I2pProxyError", f"i2p proxy error{said}")


def _java_i2p(head: bytes) -> ProxyPage | None:
    if not _JAVA_I2P_PAGE.search(head):
        return None
    title = _first(_TITLE, head) or _first(_H1, head)
    known = _by_phrase(f"{title} {_first(_H1, head)}", _I2P_PHRASES)
    if known:
        return ProxyPage(known[0], f"i2p: {known[1]} (I2P router: {title})")
    return ProxyPage("I2pProxyError", f"i2p proxy error (I2P router: {title or 'no title'})")


def _i2p(status: int, head: bytes) -> ProxyPage | None:
    return _i2pd(head) or _java_i2p(head) or _privoxy("i2p", head)


def _privoxy(network: str, head: bytes) -> ProxyPage | None:
    if b"Privoxy" not in head:
        return None
    title = _first(_TITLE, head)
    return ProxyPage("PrivoxyError", f"{network}: the Privoxy in front of the network answered: {title or 'an error'}")


_FPROXY_PAGE = re.compile(rb"<title[^>]*>[^<]*(Freenet|Hyphanet)[^<]*</title>", re.IGNORECASE)


def _freenet(status: int, head: bytes) -> ProxyPage | None:
    title = _first(_TITLE, head) or _first(_H1, head)
    known = _by_phrase(f"{title} {_first(_H1, head)}", _FREENET_PHRASES)
    if status < 400 and not _FPROXY_PAGE.search(head):  # FProxy may say it with a 200: its own page
        return None
    if known:
        return ProxyPage(known[0], f"freenet: {known[1]} (FProxy: {title})")
    if status >= 500:
        return ProxyPage("FreenetGatewayError", f"freenet: the FProxy gateway failed with {status}: {title or 'no title'}")
    return None


def _zeronet(status: int, head: bytes) -> ProxyPage | None:
    if status < 500:  # a site's own 404 comes through the UI server too
        return None
    title = _first(_TITLE, head) or _first(_H1, head)
    return ProxyPage("ZeronetGatewayError", f"zeronet: the ZeroNet UI server failed with {status}: {title or 'no title'}")


def _tor(status: int, head: bytes) -> ProxyPage | None:
    return _privoxy("tor", head)


def _tor2web(status: int, head: bytes) -> ProxyPage | None:
    if b"tor2web" not in head.lower() or status < 500:
        return None
    title = _first(_TITLE, head) or _first(_H1, head)
    return ProxyPage("Tor2webGatewayError", f"tor2web: the gateway could not reach the onion ({status}: {title or 'no title'})")


_BY_NETWORK = {"i2p": _i2p, "freenet": _freenet, "zeronet": _zeronet, "tor": _tor, "tor2web": _tor2web}


def proxy_page(network: str, status: int, body: bytes) -> ProxyPage | None:
    """The proxy's or gateway's own error page in *body*, or None for the site's page."""
    if status < 400 and network != "freenet":
        return None
    read = _BY_NETWORK.get(network)
    return read(status, body[:HEAD_BYTES]) if read is not None else None
