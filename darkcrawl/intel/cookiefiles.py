"""Cookie jars exported from a browser, read for ``scrapy cookies import``.

An analyst who solved a host's captcha (or logged in) in Tor Browser exports its
cookies and imports them for the crawl.  Two formats:

* Netscape's ``cookies.txt`` (curl, wget, browser extensions): seven tab-separated
  fields per line (domain, subdomains TRUE/FALSE, path, secure TRUE/FALSE, expiry
  in epoch seconds with 0 for a session cookie, name, value); ``#HttpOnly_`` before
  the domain marks an HttpOnly cookie, other ``#`` lines are comments;
* JSON: a list of cookies as browser extensions export them (Cookie-Editor,
  EditThisCookie: ``domain``, ``name``, ``value``, ``path``, ``secure``,
  ``httpOnly``, ``hostOnly``, ``expirationDate``, ``session``), or Playwright's
  storage state (``{"cookies": [...]}``, ``expires`` -1 for a session cookie).

A line that cannot be read stops the import with its line number
(:class:`CookieFileError`): nothing is imported from a file that was misread.
Pure: no I/O but :func:`read_cookie_file`'s read.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any

_TRUE_FALSE = {"TRUE": True, "FALSE": False}
_WHITESPACE = re.compile(r"\s*")


class CookieFileError(ValueError):
    """A cookie file that cannot be imported; ``line`` is where (1-based), when known."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass(frozen=True, slots=True)
class StoredCookie:
    """One imported cookie, as the store keeps it (JSON) and the crawl uses it."""

    name: str
    value: str
    domain: str  # lower case, no leading dot
    path: str = "/"
    secure: bool = False
    http_only: bool = False
    expires: float | None = None  # epoch seconds; None: a session cookie
    subdomains: bool = False  # a domain cookie: its subdomains get it too

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredCookie:
        return cls(**{key: data[key] for key in cls.__slots__ if key in data})  # type: ignore[attr-defined]

    def applies_to(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host == self.domain or (self.subdomains and host.endswith("." + self.domain))

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now

    def jar_cookie(self) -> Cookie:
        """The cookie for Scrapy's cookie jar (``http.cookiejar``)."""
        domain = "." + self.domain if self.subdomains else self.domain
        return Cookie(
            version=0, name=self.name, value=self.value, port=None, port_specified=False,
            domain=domain, domain_specified=self.subdomains, domain_initial_dot=self.subdomains,
            path=self.path, path_specified=True, secure=self.secure,
            expires=int(self.expires) if self.expires is not None else None, discard=self.expires is None,
            comment=None, comment_url=None, rest={"HttpOnly": ""} if self.http_only else {},
        )


def jar_cookie_for_browser(cookie: Cookie, url: str) -> dict[str, Any]:
    """A cookie of Scrapy's jar as Playwright's ``BrowserContext.add_cookies`` takes it:
    a domain cookie by its domain, a host-only one by the URL it came with."""
    entry: dict[str, Any] = {"name": cookie.name, "value": cookie.value or ""}
    if cookie.domain_initial_dot or cookie.domain_specified:
        entry["domain"] = cookie.domain if cookie.domain.startswith(".") else "." + cookie.domain
        entry["path"] = cookie.path or "/"
    else:
        entry["url"] = url.split("://", 1)[0] + "://" + cookie.domain + (cookie.path or "/")
    if cookie.expires is not None:
        entry["expires"] = float(cookie.expires)
    entry["secure"] = bool(cookie.secure)
    entry["httpOnly"] = cookie.has_nonstandard_attr("HttpOnly")
    return entry


# -- reading -----------------------------------------------------------------------------------

def _domain(raw: str, line: int | None) -> str:
    domain = raw.strip().lower().lstrip(".")
    if not domain or any(c.isspace() for c in domain) or "/" in domain:
        raise CookieFileError(line, f"not a cookie domain: {raw!r}")
    return domain


def _netscape_line(text: str, number: int) -> StoredCookie | None:
    http_only = False
    if text.startswith("#HttpOnly_"):
        http_only, text = True, text[len("#HttpOnly_"):]
    elif text.startswith("#") or not text.strip():
        return None
    fields = text.rstrip("\r\n").split("\t")
    if len(fields) == 6:  # an empty value at the end of the line, its tab trimmed by an editor
        fields.append("")
    if len(fields) != 7:
        raise CookieFileError(number, f"expected 7 tab-separated fields (domain, subdomains, path, secure, expiry, "
                                      f"name, value), found {len(fields)}")
    domain, subdomains, path, secure, expiry, name, value = fields
    flags = []
    for label, raw in (("subdomains", subdomains), ("secure", secure)):
        if raw.strip().upper() not in _TRUE_FALSE:
            raise CookieFileError(number, f"{label} must be TRUE or FALSE, not {raw!r}")
        flags.append(_TRUE_FALSE[raw.strip().upper()])
    try:
        seconds = float(expiry)
    except ValueError:
        raise CookieFileError(number, f"expiry must be a number of seconds since 1970, not {expiry!r}") from None
    if not name:
        raise CookieFileError(number, "a cookie without a name")
    return StoredCookie(name=name, value=value, domain=_domain(domain, number), path=path or "/", secure=flags[1],
                        http_only=http_only, expires=seconds if seconds > 0 else None,
                        subdomains=flags[0] or domain.startswith("."))


def parse_netscape(text: str) -> list[StoredCookie]:
    cookies = []
    for number, line in enumerate(text.splitlines(), 1):
        cookie = _netscape_line(line, number)
        if cookie is not None:
            cookies.append(cookie)
    return cookies


def _json_expiry(entry: dict[str, Any], line: int) -> float | None:
    if entry.get("session") is True:
        return None
    raw = entry.get("expirationDate", entry.get("expires"))
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise CookieFileError(line, f"expirationDate must be a number of seconds since 1970, not {raw!r}")
    return float(raw) if raw > 0 else None


def _json_cookie(entry: Any, line: int) -> StoredCookie:
    if not isinstance(entry, dict):
        raise CookieFileError(line, "expected a cookie object ({\"name\": ..., \"value\": ..., \"domain\": ...})")
    for key in ("name", "value", "domain"):
        if not isinstance(entry.get(key), str) or (key != "value" and not entry[key]):
            raise CookieFileError(line, f"the cookie has no {key!r} (a string)")
    domain = entry["domain"]
    host_only = entry.get("hostOnly")
    subdomains = domain.startswith(".") if host_only is None else not host_only
    return StoredCookie(name=entry["name"], value=entry["value"], domain=_domain(domain, line),
                        path=entry.get("path") or "/", secure=bool(entry.get("secure")),
                        http_only=bool(entry.get("httpOnly")), expires=_json_expiry(entry, line),
                        subdomains=subdomains)


def _array_start(text: str, data: Any) -> int:
    """Where the list of cookies begins in *text* (already parsed as *data*)."""
    if isinstance(data, list):
        return text.index("[")
    if isinstance(data, dict) and isinstance(data.get("cookies"), list):
        match = re.search(r'"cookies"\s*:\s*\[', text)
        if match:
            return match.end() - 1
    raise CookieFileError(1, 'expected a JSON list of cookies, or an object with a "cookies" list')


def parse_json(text: str) -> list[StoredCookie]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CookieFileError(exc.lineno, f"not valid JSON ({exc.msg}, column {exc.colno})") from None
    # walk the list with raw_decode to know the line each cookie starts on
    decoder = json.JSONDecoder()
    position = _array_start(text, data) + 1
    cookies = []
    while True:
        position = _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]
        if text[position] == "]":
            return cookies
        entry, end = decoder.raw_decode(text, position)
        cookies.append(_json_cookie(entry, text.count("\n", 0, position) + 1))
        position = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
        if text[position] == ",":
            position += 1


def parse_cookie_text(text: str) -> list[StoredCookie]:
    """The cookies of an exported cookie file, Netscape or JSON (told by its first character)."""
    if text.startswith("SQLite format 3"):
        raise CookieFileError(None, "this is a browser's cookie database, not an export: export the host's cookies "
                                    "as cookies.txt (Netscape) or JSON")
    stripped = text.lstrip("\ufeff \t\r\n")
    cookies = parse_json(stripped) if stripped[:1] in ("[", "{") else parse_netscape(text)
    if not cookies:
        raise CookieFileError(None, "no cookies in the file")
    return cookies


def read_cookie_file(path: str | Path) -> list[StoredCookie]:
    """The cookies of the file at *path*; :class:`CookieFileError` (or OSError) says why not."""
    raw = Path(path).read_bytes()
    if raw.startswith(b"SQLite format 3"):
        return parse_cookie_text("SQLite format 3")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CookieFileError(raw.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from None
    return parse_cookie_text(text)


def for_host(cookies: list[StoredCookie], host: str, now: float | None = None) -> tuple[list[StoredCookie], int, int]:
    """The cookies of *cookies* for *host* (those it gets, and those of its subdomains) that
    have not expired, then how many are for other hosts and how many expired."""
    now = time.time() if now is None else now
    host = host.lower().rstrip(".")
    mine = [cookie for cookie in cookies if cookie.applies_to(host) or cookie.domain.endswith("." + host)]
    fresh = [cookie for cookie in mine if not cookie.expired(now)]
    return fresh, len(cookies) - len(mine), len(mine) - len(fresh)
