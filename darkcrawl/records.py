"""darc's record shapes (headers JSON, cookies, history), built from Scrapy objects."""

from __future__ import annotations

from http import HTTPStatus
from http.cookiejar import Cookie, CookieJar
from typing import TYPE_CHECKING, Any

from scrapy.http.cookies import WrappedRequest, WrappedResponse

if TYPE_CHECKING:
    from scrapy.http import Request, Response
    from scrapy.http.headers import Headers

    from darkcrawl.items import LinkMetadata, PageItem


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def headers_dict(headers: Headers) -> dict[str, str]:
    """Headers as darc records them: name -> value, repeated values joined by ", "."""
    return {
        name.decode("latin-1"): ", ".join(v.decode("latin-1") for v in values)
        for name, values in headers.items()
    }


def cookie_dict(cookie: Cookie) -> dict[str, Any]:
    """``vars(http.cookiejar.Cookie)``, darc's cookie shape, made JSON-safe."""
    data = dict(vars(cookie))
    data["_rest"] = dict(data.get("_rest") or {})
    return data


def response_cookies(request: Request, response: Response) -> list[Cookie]:
    if b"Set-Cookie" not in response.headers:
        return []
    return list(CookieJar().make_cookies(WrappedResponse(response), WrappedRequest(request)))


def set_cookie_values(response: Response) -> dict[str, str]:
    """Cookies set by one redirect hop, name -> value (darc's ``History[].Cookies``)."""
    values: dict[str, str] = {}
    for header in response.headers.getlist(b"Set-Cookie"):
        pair = header.decode("latin-1").split(";", 1)[0]
        name, sep, value = pair.partition("=")
        if sep:
            values[name.strip()] = value.strip()
    return values


def jar_cookies(jar: CookieJar, hostname: str) -> list[Cookie]:
    """Cookies of the session jar that apply to *hostname*.

    Reads the jar's per-domain index instead of iterating the whole jar, which in a
    broad crawl holds cookies of thousands of hosts.
    """
    index: dict[str, Any] = getattr(jar, "_cookies", {})
    found: list[Cookie] = []
    labels = hostname.split(".")
    for i in range(len(labels)):
        domain = ".".join(labels[i:])
        for key in (domain, "." + domain):
            for by_name in index.get(key, {}).values():
                found.extend(by_name.values())
    return found


def metadata_dict(link: LinkMetadata, base: str, name: str) -> dict[str, Any]:
    """darc's ``[metadata]`` (``Link.asdict()``), with the network under darc's "proxy"."""
    return {
        "url": link.url,
        "proxy": link.network,
        "host": link.host,
        "base": base,
        "name": name,
        "backref": link.backref,
    }


def headers_record(item: PageItem, base: str, name: str) -> dict[str, Any]:
    """The headers JSON file of one fetch (darc's ``save_headers`` content).

    A page whose content another URL had first also names that URL
    (``Duplicate-Of``); its ``Document`` is null: the content is stored under it."""
    record: dict[str, Any] = {
        "[metadata]": metadata_dict(item.link, base, name),
        "Timestamp": item.timestamp,
        "URL": item.final_url,
        "Method": item.method,
        "Status-Code": item.status,
        "Reason": item.reason,
        "Content-Type": item.content_type,
        "Cookies": item.cookies,
        "Session": item.session,
        "Request": item.request_headers,
        "Response": item.response_headers,
        "History": item.history,
        "Document": item.document_path,
    }
    if item.duplicate_of is not None:
        record["Duplicate-Of"] = item.duplicate_of
    return record
