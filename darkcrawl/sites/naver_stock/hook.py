"""Shipped site hook: daily prices of listed stocks from Naver Finance into SQLite.

The crawl of ``shared/seeds/002`` as a hook: read the stock list
(``NAVER_STOCK_LIST``: a SQLite file with a ``master`` table, or a CSV, with
codeName, full_code, marketName, short_code), fetch page 1 of each stock's
``sise_day.nhn``, read the last page from the ``pgRR`` link, fetch the other
pages, and turn every day of the first table into a ``TableRow`` keyed by
(name, code, date): the table pipeline upserts them, so a re-run adds only new
days.  The pages are euc-kr (decoded as cp949, its superset).

Enable it with::

    DARKCRAWL_SITE_HOOKS = {r"finance\\.naver\\.com": "darkcrawl.sites.naver_stock.NaverStockHook"}
    NAVER_STOCK_LIST = "stocks.csv"

``NAVER_BASE_URL`` points it at another origin (a mirror, or the test replica).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from scrapy import Request
from scrapy.exceptions import NotConfigured

from darkcrawl.config import get_option
from darkcrawl.hooks.base import SiteHook
from darkcrawl.items import TableRow
from darkcrawl.sites.naver_stock import pages as naver

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from typing_extensions import Self


class NaverStockHook(SiteHook):
    hosts = (r"finance\.naver\.com",)

    def __init__(self, crawler: Crawler, stock_list: Path, base_url: str) -> None:
        super().__init__(crawler)
        self.stock_list = stock_list
        self.base = urlsplit(base_url)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        path = get_option(crawler.settings, "NAVER_STOCK_LIST")
        if not path:
            raise NotConfigured("NaverStockHook needs NAVER_STOCK_LIST (a SQLite master table or a CSV)")
        return cls(crawler, Path(path), get_option(crawler.settings, "NAVER_BASE_URL"))

    def _url(self, code: str, page: int) -> str:
        parts = urlsplit(naver.sise_day_url(code, page))
        return urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))

    def start_requests(self) -> Iterator[Request]:
        for stock in naver.read_stock_list(self.stock_list):
            yield Request(self._url(stock.code, 1), callback=self.parse_first_page,
                          meta={"naver_stock": (stock.name, stock.code, stock.market, stock.full_code)},
                          dont_filter=True)

    def parse_first_page(self, response: Response) -> Iterator[Any]:
        stock = naver.Stock(*response.meta["naver_stock"])
        html = self._html(response)
        if naver.is_error_page(html):
            self.crawler.stats.inc_value("darkcrawl/naver/error_pages")
            return
        yield from self._rows(stock, html)
        for page in range(2, naver.last_page(html) + 1):
            yield Request(self._url(stock.code, page), callback=self.parse_page,
                          meta={"naver_stock": response.meta["naver_stock"]}, dont_filter=True)

    def parse_page(self, response: Response) -> Iterator[Any]:
        yield from self._rows(naver.Stock(*response.meta["naver_stock"]), self._html(response))

    def _html(self, response: Response) -> str:
        declared = response.headers.get(b"Content-Type", b"").decode("latin-1")
        charset = declared.partition("charset=")[2].strip() or None
        return naver.decode_page(response.body, charset)

    def _rows(self, stock: naver.Stock, html: str) -> Iterator[TableRow]:
        for price in naver.parse_daily_rows(html):
            yield TableRow(table=naver.DAILY_TABLE, key=naver.DAILY_KEY, row=naver.daily_row(stock, price))
