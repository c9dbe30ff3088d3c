"""Scrapy's cookie middleware, without its one network call.

Scrapy checks cookie domains against the public-suffix list with ``tldextract``,
whose default is to download the list from the internet on first use: a direct,
un-proxied clear-web connection from a crawler that may be crawling onions.  The
list bundled with tldextract is used instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import scrapy.downloadermiddlewares.cookies as scrapy_cookies
from scrapy.downloadermiddlewares.cookies import CookiesMiddleware
from tldextract import TLDExtract

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class OfflineCookiesMiddleware(CookiesMiddleware):
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if getattr(scrapy_cookies._split_domain, "suffix_list_urls", None):
            scrapy_cookies._split_domain = TLDExtract(
                suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
            )
        return super().from_crawler(crawler)
