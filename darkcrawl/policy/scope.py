"""Scope and trap rules: which classified links may become requests.  Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from darkcrawl.config import fallback_drops

#: darc called the clear web "null"; its PROXY_* lists may still say so.
_NETWORK_ALIASES = {"clearnet": ("clearnet", "null")}


def _compile(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ListRule:
    """A white list, a black list and a fallback; black beats white."""

    white: re.Pattern[str] | None
    black: re.Pattern[str] | None
    drop_unmatched: bool

    @classmethod
    def build(cls, white: list[str], black: list[str], fallback: str) -> ListRule:
        return cls(_compile(white), _compile(black), fallback_drops(fallback, white))

    def allows(self, *names: str) -> bool:
        if self.black is not None and any(self.black.fullmatch(n) for n in names):
            return False
        if self.white is not None and any(self.white.fullmatch(n) for n in names):
            return True
        return not self.drop_unmatched


@dataclass(frozen=True, slots=True)
class TrapRules:
    max_url_length: int = 2083
    max_segment_repeat: int = 3
    max_subdomains: int = 6

    def reason(self, url: str, hostname: str) -> str | None:
        """Why *url* looks like a spider trap, or None."""
        if self.max_url_length and len(url) > self.max_url_length:
            return "url_too_long"
        if self.max_subdomains and hostname.count(".") + 1 > self.max_subdomains:
            return "too_many_subdomains"
        if self.max_segment_repeat:
            path = urlsplit(url).path
            if path.count("/") > self.max_segment_repeat:
                seen: dict[str, int] = {}
                for segment in path.split("/"):
                    if segment:
                        count = seen.get(segment, 0) + 1
                        if count >= self.max_segment_repeat:
                            return "repeated_path_segment"
                        seen[segment] = count
        return None


@dataclass(frozen=True, slots=True)
class Scope:
    links: ListRule
    networks: ListRule
    mimes: ListRule
    traps: TrapRules

    def network_allowed(self, network: str) -> bool:
        return self.networks.allows(*_NETWORK_ALIASES.get(network, (network,)))

    def host_allowed(self, host: str) -> bool:
        return self.links.allows(host)

    def mime_allowed(self, content_type: str) -> bool:
        return self.mimes.allows(content_type.split(";", 1)[0].strip().lower())


# --- query normalisation ---------------------------------------------------------

#: Token-like values only: PHP-Nuke's ``sid`` is a story number, phpBB's a session.
_TOKEN = re.compile(r"[0-9A-Za-z_.\-]{16,}")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")

#: Query parameters that carry a session or a click id, never content: a link that
#: differs only in them is the same page.  Name (lower case) -> a pattern the value
#: must fullmatch (None: any value).  Kept conservative: a parameter that may select
#: content (``id``, ``page``, ``s`` of a search form) is not here, or only with a
#: session-shaped value.
SESSION_PARAMS: dict[str, re.Pattern[str] | None] = {
    "phpsessid": None,  # PHP
    "jsessionid": None,  # Java servlets
    "aspsessionid": None,  # classic ASP
    "sessionid": None,
    "session_id": None,
    "sessid": None,
    "cfid": None,  # ColdFusion
    "cftoken": None,
    "oscsid": None,  # osCommerce
    "zenid": None,  # Zen Cart
    "sid": _TOKEN,  # phpBB and many others; a short number is content
    "s": _HEX32,  # vBulletin's session hash; anything else is a search
    "fbclid": None,  # click ids: a new one on every link
    "gclid": None,
    "msclkid": None,
    "yclid": None,
}
SESSION_PREFIXES: tuple[str, ...] = ("utm_",)
#: ``;jsessionid=...`` path parameters (servlet URL rewriting), up to ``?`` or ``#``.
_PATH_SESSION = re.compile(r";(?:jsessionid|phpsessid|sessionid)=[^?#/]*", re.IGNORECASE)


def _is_session_param(pair: str) -> bool:
    name, _, value = pair.partition("=")
    name = name.lower()
    if name.startswith(SESSION_PREFIXES):
        return True
    if name not in SESSION_PARAMS:
        return False
    pattern = SESSION_PARAMS[name]
    return pattern is None or pattern.fullmatch(value) is not None


def strip_session_params(url: str) -> str:
    """*url* without session-like query and path parameters (otherwise unchanged)."""
    if ";" in url:
        url = _PATH_SESSION.sub("", url)
    head, mark, query = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = query.partition("#")
    pairs = query.split("&")
    kept = [pair for pair in pairs if not _is_session_param(pair)]
    if len(kept) == len(pairs):
        return url
    kept = [pair for pair in kept if pair]
    rest = hash_mark + fragment
    return f"{head}?{'&'.join(kept)}{rest}" if kept else head + rest


# --- date patterns (calendar traps) -----------------------------------------------

#: A year (1900-2199) and a month in a path, ``/2024/01`` or ``/2024-01(-31)``, and
#: an optional day: what a calendar's "next month" link changes.
_DATE = re.compile(
    r"(?<![0-9])(?:19|2[01])[0-9]{2}([-/_.])(?:0?[1-9]|1[0-2])(?:\1(?:0?[1-9]|[12][0-9]|3[01]))?(?![0-9])"
)


def date_template(path: str) -> str | None:
    """*path* with its dates replaced by ``{date}``, or None when it has none.

    Calendar pages of one trap share a template: ``/cal/2024/01`` and
    ``/cal/1999/12`` are both ``/cal/{date}``; blog posts keep their slug.
    """
    if _DATE.search(path) is None:
        return None
    return _DATE.sub("{date}", path)
