"""A local replica of Naver Finance's daily-price pages (``/item/sise_day.nhn``).

The pages are rebuilt after what the seed notebook (002_ed3d538724effad4) shows
of the real ones: an EUC-KR page whose first table (``class="type2"``) has the
header ``날짜 종가 전일비 시가 고가 저가 거래량``, rows in groups of five
separated by blank ``colspan="7"`` rows, and a ``Nnavi`` navigation table with
``맨앞 / 이전 / 1..10 / 다음 / 맨뒤`` cells, the last one ``td.pgRR``.

Stocks are generated deterministically (a seeded random walk per code), so the
expected rows are known exactly: :attr:`ReplicaStock.rows`.  Run
``python -m tests.naver_replica`` to browse it by hand.
"""

from __future__ import annotations

import datetime as dt
import html
import random
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from darkcrawl.sites.naver_stock.pages import DailyPrice, Stock
from tests.harness.http import HttpService, LoopbackHTTPServer, QuietHandler

ROWS_PER_PAGE = 10  # Naver shows ten days per page ...
GROUP = 5  # ... in two groups of five, separated by blank rows
BLOCK = 10  # page links per navigation block
LAST_DAY = dt.date(2019, 7, 5)  # the notebook's newest row
PATH = "/item/sise_day.nhn"

LONG_CODE = "000500"  # 23 pages; stored as 500 in the notebook's master table
SHORT_CODE = "079940"  # 3 pages: no pgRR cell, the last page is a plain link
NEW_CODE = "499990"  # a new listing: one page, no pgRR
ERROR_CODE = "999990"  # answers Naver's error page (HTTP 200)

_HEAD = """\n\n\n\n\n\n\n<html lang="ko">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">
<title>네이버 금융</title>
<link rel="stylesheet" type="text/css" href="/css/newstock.css?20190627113311">
<link rel="stylesheet" type="text/css" href="/css/common.css?20190627113311">
</head>
<body>
<script language="JavaScript">
function mouseOver(obj){
  obj.style.backgroundColor="#f6f4e5";
}
function mouseOut(obj){
  obj.style.backgroundColor="#ffffff";
}
</script>
"""

ERROR_PAGE = """\n\n<html lang="ko">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=euc-kr">
<title>네이버 금융 : 에러</title>
</head>
<body>
<div id="wrap">
<div class="error_content">
<h2><a href="https://finance.naver.com/">네이버 금융</a></h2>
<p class="error_title">죄송합니다.<br>요청하신 페이지를 찾을 수 없습니다.</p>
<p class="error_desc">방문하시려는 페이지의 주소가 잘못 입력되었거나,
페이지의 주소가 변경 혹은 삭제되어 요청하신 페이지를 찾을 수 없습니다.<br>
입력하신 주소가 정확한지 다시 한번 확인해 주시기 바랍니다.</p>
<a href="https://finance.naver.com/" class="btn_home">네이버 금융 홈</a>
</div>
</div>
</body>
</html>
"""


@dataclass(frozen=True)
class ReplicaStock:
    """A stock the replica serves, and the rows a correct crawl extracts."""

    stock: Stock
    rows: tuple[DailyPrice, ...]  # newest first, as the pages list them
    # "img": 2019 markup, <img alt="하락"> + nv01/red02 colour classes;
    # "blind": later markup, <em class="bu_p bu_pdn"><span class="blind">하락</span></em>
    markup: str = "img"
    error: bool = False  # every page is Naver's error page

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.rows) // ROWS_PER_PAGE))

    def page_rows(self, page: int) -> tuple[DailyPrice, ...]:
        start = (page - 1) * ROWS_PER_PAGE
        return self.rows[start:start + ROWS_PER_PAGE]


# ---------------------------------------------------------------- generation


def trading_days(last: dt.date, count: int) -> list[dt.date]:
    """*count* weekdays ending at *last*, newest first (holidays ignored)."""
    days: list[dt.date] = []
    day = last
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= dt.timedelta(days=1)
    return days


def generate_rows(code: str, count: int, price: int, tick: int) -> tuple[DailyPrice, ...]:
    """A seeded random walk of *count* days; newest first.

    Seeded by the code (a str seed is hashed with SHA-512, independent of
    PYTHONHASHSEED), so every run and every process sees the same rows.
    Steps include 0 so unchanged days (보합, no marker) occur.
    """
    rng = random.Random(f"naver-replica:{code}")
    previous = price
    rows: list[DailyPrice] = []
    for day in reversed(trading_days(LAST_DAY, count)):  # oldest first
        close = max(tick, previous + rng.choice((-4, -2, -1, 0, 0, 1, 2, 5)) * tick)
        open_ = max(tick, previous + rng.randint(-2, 2) * tick)
        high = max(open_, close) + rng.randint(0, 3) * tick
        low = max(tick, min(open_, close) - rng.randint(0, 3) * tick)
        volume = rng.randint(1_000, 15_000_000)
        rows.append(DailyPrice(day.isoformat(), close, close - previous, open_, high, low, volume))
        previous = close
    return tuple(reversed(rows))


def default_stocks() -> list[ReplicaStock]:
    """The replica's stocks: 23 pages, 3 pages, a new listing, an error code."""
    def stock(name: str, code: str, market: str, isin: str) -> Stock:
        return Stock(name=name, code=code, market=market, full_code=isin)

    return [
        # 225 rows: 22 full pages and a last page of five.
        ReplicaStock(stock("가온전선", LONG_CODE, "KOSPI", "KR7000500009"),
                     generate_rows(LONG_CODE, 225, 25_000, 50)),
        ReplicaStock(stock("가비아", SHORT_CODE, "KOSDAQ", "KR7079940003"),
                     generate_rows(SHORT_CODE, 27, 9_000, 10), markup="blind"),
        ReplicaStock(stock("다온소재", NEW_CODE, "KOSDAQ", "KR7499990008"),
                     generate_rows(NEW_CODE, 4, 12_000, 50)),
        ReplicaStock(stock("폐지종목", ERROR_CODE, "KOSDAQ", "KR7999990003"), (), error=True),
    ]


# ------------------------------------------------------------------ rendering


def _href(code: str, page: int) -> str:
    # The raw page writes "&amp;" (the notebook's regex had to match it).
    return html.escape(f"{PATH}?code={code}&page={page}")


def _change_cell(change: int, markup: str) -> str:
    number = f"{abs(change):,}"
    if change == 0:  # 보합: no marker, plain number
        return f'<td class="num"><span class="tah p11">{number}</span></td>'
    word, icon, colour, bullet = (
        ("하락", "ico_down", "nv01", "bu_pdn") if change < 0 else ("상승", "ico_up", "red02", "bu_pup")
    )
    if markup == "blind":
        return (f'<td class="num">\n<em class="bu_p {bullet}"><span class="blind">{word}</span></em>'
                f'<span class="tah p11 {colour}">\n\t\t\t\t{number}\n\t\t\t\t</span>\n</td>')
    return (f'<td class="num">\n<img src="https://ssl.pstatic.net/imgstock/images/images4/{icon}.gif" '
            f'width="7" height="6" style="margin-right:4px;" alt="{word}">'
            f'<span class="tah p11 {colour}">\n\t\t\t\t{number}\n\t\t\t\t</span>\n</td>')


def _row(price: DailyPrice, markup: str) -> str:
    def num(value: int) -> str:
        return f'<td class="num"><span class="tah p11">{value:,}</span></td>'

    date = price.date.replace("-", ".")
    return (
        '<tr onMouseOver="mouseOver(this)" onMouseOut="mouseOut(this)">\n'
        f'<td align="center"><span class="tah p10 gray03">{date}</span></td>\n'
        f"{num(price.close)}\n{_change_cell(price.change, markup)}\n"
        f"{num(price.open)}\n{num(price.high)}\n{num(price.low)}\n{num(price.volume)}\n</tr>"
    )


def _price_table(rows: Sequence[DailyPrice], markup: str) -> str:
    parts = ['<table cellspacing="0" class="type2">',
             "<tr>\n" + "".join(f"<th>{h}</th>\n" for h in "날짜 종가 전일비 시가 고가 저가 거래량".split()) + "</tr>",
             '<tr>\n<td colspan="7" height="8"></td>\n</tr>']
    for i, price in enumerate(rows):
        if i and i % GROUP == 0:  # the three blank rows pandas shows as NaN rows
            parts += [f'<tr>\n<td colspan="7" class="{c}"></td>\n</tr>' for c in ("blank_09", "blank_08", "blank_09")]
        parts.append(_row(price, markup))
    parts += ['<tr>\n<td colspan="7" height="8"></td>\n</tr>', "</table>"]
    return "\n".join(parts)


def _navigation(code: str, page: int, last: int) -> str:
    """``Nnavi``: 맨앞 from page 2 on, 이전/다음 between blocks of ten, and
    맨뒤 (``pgRR``) only while the last page is beyond the current block."""
    first = (page - 1) // BLOCK * BLOCK + 1
    end = min(first + BLOCK - 1, last)
    cells: list[str] = []
    if page > 1:
        cells.append(f'<td class="pgLL">\n<a href="{_href(code, 1)}"  >'
                     '<img src="https://ssl.pstatic.net/static/n/cmn/bu_pgarLL.gif" width="8" height="5" alt="" border="0"> 맨앞\n</a>\n</td>')
    if first > 1:
        cells.append(f'<td class="pgL">\n<a href="{_href(code, first - 1)}"  >'
                     '<img src="https://ssl.pstatic.net/static/n/cmn/bu_pgarL.gif" width="3" height="5" alt="" border="0"> 이전\n</a>\n</td>')
    for n in range(first, end + 1):
        on = ' class="on"' if n == page else ""
        cells.append(f'<td{on}>\n<a href="{_href(code, n)}"  >{n}</a>\n</td>')
    if end < last:
        cells.append(f'<td class="pgR">\n<a href="{_href(code, end + 1)}"  >\n다음\n'
                     '<img src="https://ssl.pstatic.net/static/n/cmn/bu_pgarR.gif" width="3" height="5" alt="" border="0">\n</a>\n</td>')
        cells.append(f'<td class="pgRR">\n<a href="{_href(code, last)}"  >맨뒤\n'
                     '<img src="https://ssl.pstatic.net/static/n/cmn/bu_pgarRR.gif" width="8" height="5" alt="" border="0">\n</a>\n</td>')
    return ('<table summary="페이지 네비게이션 리스트" class="Nnavi" align="center">\n'
            "<caption>페이지 네비게이션</caption>\n<tr>\n" + "\n".join(cells) + "\n</tr>\n</table>")


def render_page(stock: ReplicaStock, page: int) -> str:
    """The page as Naver serves it; past the last page Naver repeats the last."""
    if stock.error:
        return ERROR_PAGE
    page = min(max(page, 1), stock.pages)
    return (_HEAD + '\t\t\t\t<h4 class="tlline2"><strong><span class="red03">일별</span>시세</strong></h4>\n'
            + _price_table(stock.page_rows(page), stock.markup) + "\n"
            + _navigation(stock.stock.code, page, stock.pages) + "\n</body>\n</html>\n")


# --------------------------------------------------------------------- server


class _Server(LoopbackHTTPServer):
    # A crawler opens many connections at once; the default backlog of 5
    # makes the kernel drop SYNs and tests then measure retransmit timers.
    request_queue_size = 256


class _Handler(QuietHandler):
    server_version = "nginx"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        replica: NaverReplica = self.server.service
        url = urlsplit(self.path)
        if url.path != PATH:
            self._send(404, b"not found", "text/plain")
            return
        query = parse_qs(url.query)
        code = query.get("code", [""])[-1]
        raw_page = query.get("page", ["1"])[-1]
        page = int(raw_page) if raw_page.isdigit() else 1  # Naver treats junk as page 1
        replica.record(code, page)
        stock = replica.stocks.get(code)
        body = render_page(stock, page) if stock else ERROR_PAGE
        self._send(200, body.encode("euc-kr"), "text/html;charset=euc-kr")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_body(status, body, content_type)


class NaverReplica(HttpService):
    """``with NaverReplica() as naver:`` serves the stocks on 127.0.0.1.

    ``naver.local(url)`` turns a real ``https://finance.naver.com/...`` URL into
    the replica's; ``naver.hits[(code, page)]`` counts requests.
    """

    handler_class = _Handler
    server_class = _Server
    join_timeout = 10.0

    def __init__(self, stocks: Sequence[ReplicaStock] | None = None) -> None:
        super().__init__()
        chosen = default_stocks() if stocks is None else list(stocks)
        self.stocks: dict[str, ReplicaStock] = {s.stock.code: s for s in chosen}
        self.hits: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()

    # -- expectations

    def expected_rows(self, code: str) -> list[DailyPrice]:
        return list(self.stocks[code].rows)

    def all_expected(self) -> Iterator[tuple[Stock, DailyPrice]]:
        for s in self.stocks.values():
            for price in s.rows:
                yield s.stock, price

    # -- hits

    def record(self, code: str, page: int) -> None:
        with self._lock:
            self.hits[(code, page)] += 1

    @property
    def total_hits(self) -> int:
        with self._lock:
            return sum(self.hits.values())

    def reset_hits(self) -> None:
        with self._lock:
            self.hits.clear()

    # -- server

    @property
    def base_url(self) -> str:
        if self.server is None:
            raise RuntimeError("replica is not running")
        return super().base_url

    def local(self, url: str) -> str:
        """*url* (any host) pointed at this replica, path and query kept."""
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


if __name__ == "__main__":
    from tests.harness.service import serve_until_interrupt

    with NaverReplica() as naver:
        for s in naver.stocks.values():
            print(f"{s.stock.name} {naver.base_url}{PATH}?code={s.stock.code}&page=1  ({s.pages} pages)")
        serve_until_interrupt()
