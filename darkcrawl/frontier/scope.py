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
