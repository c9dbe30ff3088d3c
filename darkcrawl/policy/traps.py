"""Crawler-trap defences that need memory of what was admitted before.

:class:`~darkcrawl.policy.scope.TrapRules` judges one URL on its own (length,
repeated segments, subdomains); the limits here count admissions, so that a trap
that makes every URL look new (a calendar's "next month", a query that never
repeats, a chain of generated paths) is cut after a bounded number of them rather
than by the host's whole page budget:

* ``query_variants``: distinct query strings admitted per host + path + set of
  parameter names (``viewtopic.php?t=`` and ``viewtopic.php?p=`` of a forum are
  counted apart; a filter or calendar query that never repeats is cut);
* ``calendar``: distinct dated URLs admitted per host + path template
  (``/cal/2024/01`` and ``/cal/2031/07`` are both ``/cal/{date}``);
* ``host_depth``: links followed inside one host, counted from the shallowest
  depth at which the crawl entered it (a chain of generated pages is deep, a site
  reached breadth-first is not).

The counters are per process (a fleet worker has its own).  Memory grows with the
number of distinct paths that carry a query or a date, not with URLs.
"""

from __future__ import annotations

from dataclasses import dataclass

from darkcrawl.policy.scope import date_template

#: The settings behind each limit, named in the records so an operator knows what to raise.
LIMIT_SETTINGS = {
    "links_per_page": "DARKCRAWL_MAX_LINKS_PER_PAGE",
    "query_variants": "DARKCRAWL_MAX_QUERY_VARIANTS",
    "calendar": "DARKCRAWL_MAX_DATE_VARIANTS",
    "host_depth": "DARKCRAWL_MAX_HOST_DEPTH",
    "sitemap_urls": "DARKCRAWL_MAX_SITEMAP_URLS",
    "host_budget": "DARKCRAWL_HOST_PAGE_LIMIT",
    "url_too_long": "URLLENGTH_LIMIT",
    "repeated_path_segment": "DARKCRAWL_MAX_SEGMENT_REPEAT",
    "too_many_subdomains": "DARKCRAWL_MAX_SUBDOMAINS",
}

#: What each trap record says, filled with the number dropped, the limit and an example.
_DETAILS = {
    "links_per_page": "{dropped} new links not followed: the page had more than the {limit} admitted per page",
    "query_variants": "{dropped} links not followed: {limit} distinct queries of their path were taken already (e.g. {example})",
    "calendar": "{dropped} links not followed: {limit} dates of their calendar-like path were taken already (e.g. {example})",
    "host_depth": "{dropped} links not followed: more than {limit} links deep inside the host (e.g. {example})",
    "session_params": "session or click-id parameters removed from {dropped} links, which then were one page (e.g. {example})",
    "sitemap_urls": "{dropped} sitemap URLs not taken: the host's sitemaps gave more than {limit}",
    "host_budget": "{dropped} links not followed: the host had its {limit} pages for this round (e.g. {example})",
    "url_too_long": "{dropped} links not followed: URL longer than {limit} characters (e.g. {example})",
    "repeated_path_segment": "{dropped} links not followed: a path segment repeated {limit} times (e.g. {example})",
    "too_many_subdomains": "{dropped} links not followed: more than {limit} host name labels (e.g. {example})",
}

#: Kinds recorded once per host (every page of such a host would repeat them);
#: the others once per page that hit them.
ONCE_PER_HOST = frozenset({"session_params", "host_budget"})


def trap_detail(kind: str, dropped: int, limit: int | str, example: str) -> str:
    """The human sentence of a trap record; names the setting that bounds it."""
    template = _DETAILS.get(kind, "{dropped} links not followed (e.g. {example})")
    sentence = template.format(dropped=dropped, limit=limit, example=example[:200])
    if dropped == 1:
        sentence = sentence.replace("1 links", "1 link").replace("1 new links", "1 new link").replace(
            "1 sitemap URLs", "1 sitemap URL")
    setting = LIMIT_SETTINGS.get(kind)
    return f"{sentence} ({setting})" if setting else sentence


@dataclass(frozen=True, slots=True)
class TrapLimits:
    """0 switches a limit off."""

    links_per_page: int = 1000
    query_variants: int = 500
    date_variants: int = 100
    host_depth: int = 100


class TrapGuard:
    """Counts admissions per host + path, host + date template and host entry depth."""

    def __init__(self, limits: TrapLimits) -> None:
        self.limits = limits
        self._queries: dict[str, int] = {}
        self._dates: dict[str, int] = {}
        self._entry: dict[str, int] = {}
        self._recorded: set[tuple[str, str]] = set()

    def check(self, url: str, service: str, depth: int, inside: bool) -> str | None:
        """The trap *url* falls into, or None; a URL let through is counted.

        *inside*: the link was found on a page of the same service (a chain step),
        not on another host, in a seed list or a sitemap.
        """
        limits = self.limits
        if limits.host_depth:
            entry = self._entry.get(service)
            if entry is None:
                # found on one of its own pages (a seed's, or after a restart): that page is the entry
                self._entry[service] = entry = depth - 1 if inside else depth
            elif not inside and depth < entry:
                self._entry[service] = entry = depth
            if inside and depth - entry > limits.host_depth:
                return "host_depth"
        # path and query: everything after the host name
        local = url.partition("://")[2].partition("/")[2].partition("#")[0]
        query_key = date_key = None
        if limits.query_variants and "?" in local:
            path, _, query = local.partition("?")
            if query:
                names = ",".join(sorted({pair.partition("=")[0] for pair in query.split("&")}))
                query_key = f"{service} /{path} {names}"
                if self._queries.get(query_key, 0) >= limits.query_variants:
                    return "query_variants"
        if limits.date_variants:
            template = date_template(local)
            if template is not None:
                date_key = f"{service} /{template}"
                if self._dates.get(date_key, 0) >= limits.date_variants:
                    return "calendar"
        if query_key is not None:
            self._queries[query_key] = self._queries.get(query_key, 0) + 1
        if date_key is not None:
            self._dates[date_key] = self._dates.get(date_key, 0) + 1
        return None

    def first_for_host(self, kind: str, host: str) -> bool:
        """True the first time *kind* is recorded for *host* (ONCE_PER_HOST kinds)."""
        key = (kind, host)
        if key in self._recorded:
            return False
        self._recorded.add(key)
        return True

    def limit_of(self, kind: str) -> int:
        return {"links_per_page": self.limits.links_per_page, "query_variants": self.limits.query_variants,
                "calendar": self.limits.date_variants, "host_depth": self.limits.host_depth}.get(kind, 0)
