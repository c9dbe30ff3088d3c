"""Which favicon a page declares, and which one signs a host.

A browser takes the first ``<link rel="... icon ...">`` of the page (``icon``,
``shortcut icon``; not ``apple-touch-icon`` nor ``mask-icon``), resolved against
``<base href>``, and falls back to ``/favicon.ico``.  The crawl fetches
``/favicon.ico`` in each host's bootstrap chain, and the declared icon when the
root page declares another one on the same host; the catalogue signs the host
with the declared icon when it was fetched (or is inline, a ``data:`` URI), else
with ``/favicon.ico``.  Pure functions.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from lxml import etree

#: bytes of a favicon fetched (the download is cut past it: an icon is a few KB)
FAVICON_MAX_SIZE = 512 * 1024
DEFAULT_ICON = "favicon.ico"


def _is_icon(rel: str) -> bool:
    return "icon" in rel.lower().split()


def declared_icon(root: etree._Element, page_url: str) -> str | None:
    """The absolute URL of the icon the page declares (``data:`` URIs as written),
    or None."""
    base = page_url
    for element in root.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            base = urljoin(page_url, href)
        break
    for element in root.iter("link"):
        href = (element.get("href") or "").strip()
        if href and _is_icon(element.get("rel") or ""):
            if href[:5].lower() == "data:":
                return href
            try:
                return urljoin(base, href)
            except ValueError:  # a malformed URL (unbalanced IPv6 brackets): no icon
                return None
    return None


def default_icon_url(root_url: str) -> str:
    """``/favicon.ico`` of the host whose root page is *root_url*."""
    return root_url.rstrip("/") + "/" + DEFAULT_ICON


#: networks whose sites live under ``/<site>/`` of a local gateway
_GATEWAY_NETWORKS = frozenset(("zeronet", "freenet"))


def is_root_url(url: str, network: str) -> bool:
    """Whether *url* (as the crawl normalised it) is its host's root page: path ``/``
    and no query; ``/<site>/`` on a gateway network (ZeroNet, Freenet)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.query:
        return False
    path = parts.path or "/"
    if network in _GATEWAY_NETWORKS:
        return path.count("/") <= 2 and path.strip("/").count("/") == 0 and bool(path.strip("/"))
    return path == "/"
