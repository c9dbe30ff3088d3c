"""darc's record shapes (headers JSON, cookies, history), built from Scrapy objects.

A headers record is bounded (:class:`RecordLimits`): a page of 167 bytes can send
10,000 ``Set-Cookie`` lines, and darc kept them all, in the headers file and again
in the ``requests`` payload.  What a record keeps is capped in header lines, in
the length of each value, in cookies listed, and in total size; what was cut is
said inside the record (``"cut": [...]``), so the record stays honest evidence.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from http.cookiejar import Cookie, CookieJar
from typing import TYPE_CHECKING, Any

from scrapy.http.cookies import WrappedRequest, WrappedResponse

from darkcrawl.config import options_into

if TYPE_CHECKING:
    from collections.abc import Iterable

    from scrapy.http import Request, Response
    from scrapy.http.headers import Headers
    from scrapy.settings import BaseSettings

    from darkcrawl.items import LinkMetadata, PageItem


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """Caps of one headers record (0: no cap)."""

    max_headers: int = 100  # header lines per request/response
    max_value: int = 8192  # characters of one header value (or cookie field)
    max_cookies: int = 180  # entries per cookie list
    max_record: int = 262144  # bytes of the record's JSON, without its document

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RecordLimits:
        return options_into(cls, settings, max_headers="DARKCRAWL_RECORD_MAX_HEADERS",
                            max_value="DARKCRAWL_RECORD_MAX_HEADER_VALUE", max_cookies="DARKCRAWL_RECORD_MAX_COOKIES",
                            max_record="DARKCRAWL_MAX_HEADERS_RECORD")


#: no caps: the record as darc made it
UNBOUNDED = RecordLimits(0, 0, 0, 0)


def _names(names: Iterable[str], most: int = 5) -> str:
    listed = list(dict.fromkeys(names))
    shown = ", ".join(listed[:most])
    return shown + (f", ... ({len(listed):,} names)" if len(listed) > most else "")


def _cut_value(value: str, limit: int) -> str:
    return value[:limit] if limit and len(value) > limit else value


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def headers_dict(headers: Headers, limits: RecordLimits = UNBOUNDED, cut: list[str] | None = None,
                 label: str = "headers") -> dict[str, str]:
    """Headers as darc records them: name -> value, repeated values joined by ", ".

    Bounded by *limits*: the first ``max_headers`` lines are kept, each value cut to
    ``max_value`` characters; what was left out is noted in *cut*.  Raw lines are
    cut before they are decoded or joined, so a header bomb costs no copy of itself.
    """
    record: dict[str, list[str]] = {}
    lines = 0
    dropped: Counter[str] = Counter()
    shortened: list[str] = []
    for raw_name, values in headers.items():
        name = raw_name.decode("latin-1")
        for raw in values:
            lines += 1
            if limits.max_headers and lines > limits.max_headers:
                dropped[name] += 1
                continue
            if limits.max_value and len(raw) > limits.max_value:
                raw = raw[: limits.max_value]
                shortened.append(name)
            record.setdefault(name, []).append(raw.decode("latin-1"))
    if cut is not None and dropped:
        total = sum(dropped.values())
        if len(dropped) == 1:
            (name,) = dropped
            cut.append(f"{label}: {total:,} of {lines:,} lines dropped (over {limits.max_headers:,}), "
                       f"all {name}: {dropped[name]:,} of {dropped[name] + len(record.get(name, ())):,} values")
        else:
            cut.append(f"{label}: {total:,} of {lines:,} lines dropped (over {limits.max_headers:,}): "
                       f"{_names(dropped)}")
    if cut is not None and shortened:
        cut.append(f"{label}: {len(shortened):,} values cut to {limits.max_value:,} characters: {_names(shortened)}")
    return {name: ", ".join(values) for name, values in record.items()}


def bound_header_map(headers: dict[str, str], limits: RecordLimits, cut: list[str], label: str) -> dict[str, str]:
    """:func:`headers_dict`'s caps for headers already recorded (a redirect hop's)."""
    items = list(headers.items())
    if limits.max_headers and len(items) > limits.max_headers:
        cut.append(f"{label}: {len(items) - limits.max_headers:,} of {len(items):,} headers dropped "
                   f"(over {limits.max_headers:,}): {_names(name for name, _ in items[limits.max_headers:])}")
        items = items[: limits.max_headers]
    long = [name for name, value in items if limits.max_value and len(value) > limits.max_value]
    if long:
        cut.append(f"{label}: {len(long):,} values cut to {limits.max_value:,} characters: {_names(long)}")
    return {name: _cut_value(value, limits.max_value) for name, value in items}


def cookie_dict(cookie: Cookie) -> dict[str, Any]:
    """``vars(http.cookiejar.Cookie)``, darc's cookie shape, made JSON-safe."""
    data = dict(vars(cookie))
    data["_rest"] = dict(data.get("_rest") or {})
    return data


class _FirstSetCookies(WrappedResponse):
    """A response as ``http.cookiejar`` reads it, with only its first *most* cookie lines."""

    def __init__(self, response: Response, most: int) -> None:
        super().__init__(response)
        self.most = most

    def get_all(self, name: str, default: Any = None) -> list[str]:
        values = super().get_all(name, default)
        return values[: self.most] if self.most else values


def response_cookies(request: Request, response: Response, limits: RecordLimits = UNBOUNDED,
                     cut: list[str] | None = None) -> list[Cookie]:
    """Cookies the response set; only the first ``max_cookies`` lines are parsed."""
    if b"Set-Cookie" not in response.headers:
        return []
    if cut is not None and limits.max_cookies:
        count = len(response.headers.getlist(b"Set-Cookie"))
        if count > limits.max_cookies:
            cut.append(f"Cookies: {count - limits.max_cookies:,} of {count:,} cookies set not listed "
                       f"(over {limits.max_cookies:,})")
    wrapped = _FirstSetCookies(response, limits.max_cookies)
    return list(CookieJar().make_cookies(wrapped, WrappedRequest(request)))  # type: ignore[arg-type]


def bound_cookies(cookies: list[dict[str, Any]], limits: RecordLimits, cut: list[str],
                  label: str) -> list[dict[str, Any]]:
    """A list of cookie records, at most ``max_cookies`` of them, their text fields cut."""
    if limits.max_cookies and len(cookies) > limits.max_cookies:
        cut.append(f"{label}: {len(cookies) - limits.max_cookies:,} of {len(cookies):,} cookies not listed "
                   f"(over {limits.max_cookies:,})")
        cookies = cookies[: limits.max_cookies]
    if not limits.max_value:
        return cookies
    long = 0
    bounded = []
    for cookie in cookies:
        fields = {key: _cut_value(value, limits.max_value) if isinstance(value, str) else value
                  for key, value in cookie.items()}
        rest = fields.get("_rest")
        if isinstance(rest, dict):
            fields["_rest"] = {_cut_value(str(key), limits.max_value):
                               _cut_value(value, limits.max_value) if isinstance(value, str) else value
                               for key, value in rest.items()}
        if fields != cookie:
            long += 1
        bounded.append(fields)
    if long:
        cut.append(f"{label}: {long:,} cookies with fields cut to {limits.max_value:,} characters")
    return bounded


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


def bound_history(history: Iterable[dict[str, Any]], limits: RecordLimits, cut: list[str]) -> list[dict[str, Any]]:
    """Redirect hops (recorded whole by the history middleware) under the record's caps."""
    bounded = []
    for number, hop in enumerate(history, 1):
        hop = dict(hop)
        label = f"History[{number}]"
        for part in ("Request", "Response"):
            if isinstance(hop.get(part), dict):
                hop[part] = bound_header_map(hop[part], limits, cut, f"{label} {part.lower()} headers")
        cookies = hop.get("Cookies")
        if isinstance(cookies, dict):
            names = list(cookies)
            if limits.max_cookies and len(names) > limits.max_cookies:
                cut.append(f"{label} Cookies: {len(names) - limits.max_cookies:,} of {len(names):,} not listed "
                           f"(over {limits.max_cookies:,})")
                names = names[: limits.max_cookies]
            hop["Cookies"] = {_cut_value(name, limits.max_value): _cut_value(str(cookies[name]), limits.max_value)
                              for name in names}
        bounded.append(hop)
    return bounded


#: What gives way first when a record is still too large, in this order: the least
#: telling parts (redirect hops, then the session jar) before the page's own; what
#: the crawler sent (bounded by its own cookie caps) last.
_SHEDDING_ORDER = (("history", "History"), ("session", "Session"), ("cookies", "Cookies"),
                   ("response_headers", "Response"), ("request_headers", "Request"))
#: bytes kept free for the record's fixed fields (names, metadata, paths, the notes)
_RECORD_OVERHEAD = 2048


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def _leading_within(value: dict[str, Any] | list[Any], budget: int) -> dict[str, Any] | list[Any]:
    """The leading entries of a dict or list whose JSON fits in *budget* bytes."""
    entries = list(value.items()) if isinstance(value, dict) else list(value)
    kept, used = 0, 2
    for entry in entries:
        used += _json_size(list(entry) if isinstance(value, dict) else entry) + 2
        if used > budget:
            break
        kept += 1
    return dict(entries[:kept]) if isinstance(value, dict) else entries[:kept]


def bound_page_record(item: PageItem, limits: RecordLimits, cut: list[str]) -> None:
    """Bound the parts of a page's headers record not bounded as they were read (its
    redirect hops), then its total size; the notes go to ``item.cut``.

    Over ``max_record`` bytes, parts give way in :data:`_SHEDDING_ORDER`: each keeps
    its leading entries that still fit, and the note says how many it lost.
    """
    item.history = bound_history(item.history, limits, cut)
    if limits.max_record:
        sizes = {attribute: _json_size(getattr(item, attribute)) for attribute, _ in _SHEDDING_ORDER}
        fixed = _json_size([item.final_url, item.link.url, item.link.backref, item.content_type, item.reason,
                            item.document_path, item.duplicate_of]) + _RECORD_OVERHEAD
        for attribute, key in _SHEDDING_ORDER:
            excess = fixed + sum(sizes.values()) + _json_size(cut) + 200 - limits.max_record  # 200: a note
            value = getattr(item, attribute)
            if excess <= 0:
                break
            if not value:
                continue
            kept = _leading_within(value, sizes[attribute] - excess)  # take from this part only what must go
            setattr(item, attribute, kept)
            sizes[attribute] = _json_size(kept)
            cut.append(f"{key}: {len(value) - len(kept):,} of {len(value):,} entries dropped "
                       f"(the record was over {limits.max_record:,} bytes)")
    item.cut = cut


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

    ``Rendered`` names the visit's rendered DOM and screenshot once the render
    stage saved them (null until then, and for pages never rendered).
    A page whose content another URL had first also names that URL
    (``Duplicate-Of``); its ``Document`` is null: the content is stored under it.
    A gate page (a DDoS queue, a captcha, a ban...) says so (``Gate``).
    A record that was bounded says what was cut (``cut``, absent otherwise)."""
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
        # the render of this visit, filled in when it is saved (RenderItem.visit)
        "Rendered": None,
    }
    if item.content_digest is not None:
        record["Content-Digest"] = item.content_digest  # content-seen's, for the catalogue
    if item.duplicate_of is not None:
        record["Duplicate-Of"] = item.duplicate_of
    if item.gate is not None:
        record["Gate"] = item.gate  # an interstitial, not the site's content (darkcrawl.intel.gates)
    if item.sitemap_changefreq is not None:
        record["Sitemap-Changefreq"] = item.sitemap_changefreq  # the revisit interval started from it
    if item.cut:
        record["cut"] = list(item.cut)  # what the record's caps left out (RecordLimits)
    if item.timing:
        record["Timing"] = item.timing  # connect and first-byte times of the attempt (darkcrawl.timing)
    return record
