"""What the ``darkweb`` spider reads from the settings: parsed once, when it opens.

The add-on has parsed and validated every option (:mod:`darkcrawl.config`) by then;
:meth:`SpiderOptions.from_settings` only turns them into the values the spider
works with (scope rules, trap and record limits, intervals).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from darkcrawl.config import ConfigError, get_option, options_into
from darkcrawl.policy.scope import ListRule, Scope, TrapRules
from darkcrawl.policy.traps import TrapLimits
from darkcrawl.links.classify import Gateways
from darkcrawl.links.patterns import compile_extra_patterns
from darkcrawl.records import RecordLimits

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


@dataclass(frozen=True, slots=True)
class SpiderOptions:
    gateways: Gateways
    scope: Scope
    #: DARC_URL_PAT, compiled: (scheme, regex) pairs for text links
    extra_patterns: tuple[tuple[str, re.Pattern[str]], ...]
    trap_limits: TrapLimits
    record_limits: RecordLimits
    depth_limit: int
    allow_private: bool
    host_page_limit: int
    max_sitemaps: int
    max_sitemap_urls: int
    reboot: bool
    time_cache: float
    #: how often a continuous crawl looks for URLs falling due (s)
    poll_interval: float
    render: bool
    se_wait: float
    render_retries: int
    #: characters of visible text a page item carries for the catalogue (0: none, no catalogue)
    catalog_text: int

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> SpiderOptions:
        try:
            extra_patterns = tuple(compile_extra_patterns(settings["DARC_URL_PAT"]))
        except ValueError as exc:
            raise ConfigError(f"DARC_URL_PAT: {exc}") from None
        time_cache = settings.getfloat("TIME_CACHE")
        return cls(
            gateways=Gateways.from_settings(settings),
            scope=_scope(settings),
            extra_patterns=extra_patterns,
            trap_limits=options_into(TrapLimits, settings, links_per_page="DARKCRAWL_MAX_LINKS_PER_PAGE",
                                     query_variants="DARKCRAWL_MAX_QUERY_VARIANTS",
                                     date_variants="DARKCRAWL_MAX_DATE_VARIANTS", host_depth="DARKCRAWL_MAX_HOST_DEPTH"),
            record_limits=RecordLimits.from_settings(settings),
            depth_limit=settings.getint("DEPTH_LIMIT"),
            allow_private=settings.getbool("DARKCRAWL_ALLOW_LOOPBACK"),
            host_page_limit=settings.getint("DARKCRAWL_HOST_PAGE_LIMIT"),
            max_sitemaps=settings.getint("DARKCRAWL_MAX_SITEMAPS"),
            max_sitemap_urls=settings.getint("DARKCRAWL_MAX_SITEMAP_URLS"),
            catalog_text=get_option(settings, "DARKCRAWL_CATALOG_MAX_TEXT") if get_option(settings, "DARKCRAWL_CATALOG") else 0,
            reboot=settings.getbool("DARC_REBOOT"),
            time_cache=time_cache,
            poll_interval=max(1.0, min(settings.getfloat("DARC_WAIT"), time_cache, 60.0)),
            render=settings.getbool("DARKCRAWL_RENDER"),
            se_wait=settings.getfloat("SE_WAIT"),
            render_retries=settings.getint("DARKCRAWL_RENDER_RETRIES"),
        )


def _scope(settings: BaseSettings) -> Scope:
    return Scope(
        links=ListRule.build(settings["LINK_WHITE_LIST"], settings["LINK_BLACK_LIST"], settings["LINK_FALLBACK"]),
        networks=ListRule.build(settings["PROXY_WHITE_LIST"], settings["PROXY_BLACK_LIST"], settings["PROXY_FALLBACK"]),
        mimes=ListRule.build(settings["MIME_WHITE_LIST"], settings["MIME_BLACK_LIST"], settings["MIME_FALLBACK"]),
        traps=TrapRules(
            max_url_length=settings.getint("URLLENGTH_LIMIT"),
            max_segment_repeat=settings.getint("DARKCRAWL_MAX_SEGMENT_REPEAT"),
            max_subdomains=settings.getint("DARKCRAWL_MAX_SUBDOMAINS"),
        ),
    )
