"""Naver daily prices: the pure functions, and a crawl of the local replica."""

from __future__ import annotations

import csv
import json
import sqlite3
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from darkcrawl.sites.naver_stock.pages import (
    DAILY_KEY,
    DAILY_TABLE,
    DailyPrice,
    Stock,
    daily_row,
    decode_page,
    is_error_page,
    last_page,
    normalise_code,
    parse_daily_rows,
    parse_date,
    parse_number,
    read_stock_list,
    sise_day_url,
)
from darkcrawl.storage.tables import TableWriter
from tests.naver_replica import (
    ERROR_CODE,
    ERROR_PAGE,
    LONG_CODE,
    NEW_CODE,
    SHORT_CODE,
    NaverReplica,
    render_page,
)

# ------------------------------------------------------------------ fixtures

# Page 2 of 005930 as the notebook shows it (values from its read_html output;
# the direction markers follow from consecutive closes: 45,650 after 46,000
# is a 350 fall).  Markup as Naver served it in 2019: EUC-KR, img markers.
_DOWN = ('<img src="https://ssl.pstatic.net/imgstock/images/images4/ico_down.gif" width="7" height="6" '
         'style="margin-right:4px;" alt="하락"><span class="tah p11 nv01">\n\t\t\t\t{}\n\t\t\t\t</span>')
_UP = ('<img src="https://ssl.pstatic.net/imgstock/images/images4/ico_up.gif" width="7" height="6" '
       'style="margin-right:4px;" alt="상승"><span class="tah p11 red02">\n\t\t\t\t{}\n\t\t\t\t</span>')
NOTEBOOK_ROWS = [
    # date, close, change, open, high, low, volume
    ("2019.07.05", "45,650", _DOWN.format("350"), "45,950", "45,950", "45,250", "7,235,395"),
    ("2019.07.04", "46,000", _UP.format("600"), "45,250", "46,200", "45,250", "6,365,573"),
    ("2019.07.03", "45,400", _DOWN.format("850"), "45,750", "46,350", "45,200", "9,669,368"),
    ("2019.07.02", "46,250", _DOWN.format("350"), "46,200", "46,900", "45,850", "8,463,073"),
    ("2019.07.01", "46,600", _DOWN.format("400"), "47,350", "47,400", "46,250", "11,383,522"),
    ("2019.06.28", "47,000", _UP.format("500"), "47,000", "47,000", "46,700", "12,949,231"),
    ("2019.06.27", "46,500", _UP.format("800"), "46,000", "46,600", "45,750", "12,603,534"),
    ("2019.06.26", "45,700", _UP.format("100"), "45,800", "46,000", "45,600", "9,226,097"),
    ("2019.06.25", "45,600", _UP.format("100"), "45,200", "45,800", "45,200", "7,076,774"),
    ("2019.06.24", "45,500", _UP.format("200"), "45,200", "45,800", "45,200", "6,085,066"),
]
NOTEBOOK_EXPECTED = [
    DailyPrice("2019-07-05", 45650, -350, 45950, 45950, 45250, 7235395),
    DailyPrice("2019-07-04", 46000, 600, 45250, 46200, 45250, 6365573),
    DailyPrice("2019-07-03", 45400, -850, 45750, 46350, 45200, 9669368),
    DailyPrice("2019-07-02", 46250, -350, 46200, 46900, 45850, 8463073),
    DailyPrice("2019-07-01", 46600, -400, 47350, 47400, 46250, 11383522),
    DailyPrice("2019-06-28", 47000, 500, 47000, 47000, 46700, 12949231),
    DailyPrice("2019-06-27", 46500, 800, 46000, 46600, 45750, 12603534),
    DailyPrice("2019-06-26", 45700, 100, 45800, 46000, 45600, 9226097),
    DailyPrice("2019-06-25", 45600, 100, 45200, 45800, 45200, 7076774),
    DailyPrice("2019-06-24", 45500, 200, 45200, 45800, 45200, 6085066),
]

HEADER = "<tr>" + "".join(f"<th>{h}</th>" for h in "날짜 종가 전일비 시가 고가 저가 거래량".split()) + "</tr>"
BLANK = '<tr><td colspan="7" height="8"></td></tr>'
SEPARATOR = "".join(f'<tr><td colspan="7" class="{c}"></td></tr>' for c in ("blank_09", "blank_08", "blank_09"))


def nav(current: int, pages: range, last: int | None) -> str:
    """An ``Nnavi`` table; *last* adds the pgRR cell, raw ``&amp;`` as served."""
    cells = [f'<td{" class=on" if n == current else ""}><a href="/item/sise_day.nhn?code=005930&amp;page={n}">{n}</a></td>'
             for n in pages]
    if current > 1:
        cells.insert(0, '<td class="pgLL"><a href="/item/sise_day.nhn?code=005930&amp;page=1">맨앞</a></td>')
    if last is not None:
        cells.append(f'<td class="pgR"><a href="/item/sise_day.nhn?code=005930&amp;page={pages[-1] + 1}">다음</a></td>')
        cells.append(f'<td class="pgRR"><a href="/item/sise_day.nhn?code=005930&amp;page={last}">맨뒤\n'
                     '<img src="https://ssl.pstatic.net/static/n/cmn/bu_pgarRR.gif" alt=""></a></td>')
    return f'<table summary="페이지 네비게이션 리스트" class="Nnavi" align="center"><tr>{"".join(cells)}</tr></table>'


def row(cells: tuple[str, ...]) -> str:
    date, *numbers = cells
    tds = [f'<td align="center"><span class="tah p10 gray03">{date}</span></td>']
    tds += [f'<td class="num"><span class="tah p11">{n}</span></td>' if "<" not in n else f'<td class="num">{n}</td>'
            for n in numbers]
    return '<tr onMouseOver="mouseOver(this)" onMouseOut="mouseOut(this)">' + "".join(tds) + "</tr>"


def page(rows: list[tuple[str, ...]], navigation: str = "") -> str:
    """A sise_day page: blank row, groups of five split by three blank rows."""
    body = [BLANK]
    for i, cells in enumerate(rows):
        if i and i % 5 == 0:
            body.append(SEPARATOR)
        body.append(row(cells))
    body.append(BLANK)
    return ('\n\n\n<html lang="ko"><head><meta http-equiv="Content-Type" content="text/html; charset=euc-kr">'
            '<title>네이버 금융</title></head><body><h4 class="tlline2"><strong><span class="red03">일별</span>'
            f'시세</strong></h4><table cellspacing="0" class="type2">{HEADER}{"".join(body)}</table>'
            f"{navigation}</body></html>")


NOTEBOOK_PAGE = page(NOTEBOOK_ROWS, nav(2, range(1, 11), 581))


# ------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("short_code", "expected"),
    [
        ("005930", "005930"),
        ("500", "000500"),  # the notebook's master lost the zeros
        (500, "000500"),
        (79940, "079940"),
        (" 079940 ", "079940"),
        ("A079940", "079940"),  # KRX download style, also in the notebook
        ("a005930", "005930"),
        ("0088m0", "0088M0"),  # newer codes carry letters
        ("0", "000000"),
    ],
)
def test_normalise_code(short_code, expected):
    assert normalise_code(short_code) == expected


@pytest.mark.parametrize("bad", ["", "1234567", "12-345", "KR7005930003", "00 500", -1, True, "500.0"])
def test_normalise_code_rejects(bad):
    with pytest.raises(ValueError):
        normalise_code(bad)


@pytest.mark.parametrize(
    ("code", "page_no", "expected"),
    [
        ("005930", 4, "https://finance.naver.com/item/sise_day.nhn?code=005930&page=4"),
        ("500", 1, "https://finance.naver.com/item/sise_day.nhn?code=000500&page=1"),
        ("079940", 581, "https://finance.naver.com/item/sise_day.nhn?code=079940&page=581"),
    ],
)
def test_sise_day_url(code, page_no, expected):
    assert sise_day_url(code, page_no) == expected


@pytest.mark.parametrize(("code", "page_no"), [("005930", 0), ("005930", -1), ("bad!", 1)])
def test_sise_day_url_rejects(code, page_no):
    with pytest.raises(ValueError):
        sise_day_url(code, page_no)


# ------------------------------------------------------------------ values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45,650", 45650),
        ("7,235,395", 7235395),
        ("\n\t\t\t\t350\n\t\t\t\t", 350),
        ("0", 0),
        ("-1,200", -1200),
        ("+85", 85),
        ("하락 350", 350),  # the blind-span text around the number
    ],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["", "-", "N/A", "4,5650", "1 2", "\xa0"])
def test_parse_number_rejects(text):
    with pytest.raises(ValueError):
        parse_number(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2019.07.05", "2019-07-05"), (" 2019.7.5 ", "2019-07-05"), ("2020.02.29", "2020-02-29")],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["", "2019-07-05", "2019.13.01", "2019.02.29", "19.07.05"])
def test_parse_date_rejects(text):
    with pytest.raises(ValueError):
        parse_date(text)


# ---------------------------------------------------------------- decoding

CP949_ONLY = "똠방각하 햏"  # not in KS X 1001, so strict EUC-KR cannot decode them


@pytest.mark.parametrize(
    ("body", "declared", "expected"),
    [
        (NOTEBOOK_PAGE.encode("euc-kr"), "euc-kr", NOTEBOOK_PAGE),
        (NOTEBOOK_PAGE.encode("euc-kr"), "EUC-KR", NOTEBOOK_PAGE),
        (NOTEBOOK_PAGE.encode("euc-kr"), '"ks_c_5601-1987"', NOTEBOOK_PAGE),
        (NOTEBOOK_PAGE.encode("euc-kr"), None, NOTEBOOK_PAGE),  # from the <meta> tag
        (NOTEBOOK_PAGE.encode("euc-kr"), "no-such-charset", NOTEBOOK_PAGE),  # then the meta
        (f"<p>{CP949_ONLY}</p>".encode("cp949"), "euc-kr", f"<p>{CP949_ONLY}</p>"),
        ("<p>가격 45,650원</p>".encode(), "euc-kr", "<p>가격 45,650원</p>"),  # mislabelled UTF-8
        ("<p>가격</p>".encode(), None, "<p>가격</p>"),
        ("<p>가격</p>".encode("cp949"), None, "<p>가격</p>"),  # no label: CP949 after UTF-8
        (b"\xef\xbb\xbf<p>\xea\xb0\x80</p>", "euc-kr", "<p>가</p>"),  # a BOM beats the label
        ("café".encode("latin-1"), "iso-8859-1", "café"),
        (b"plain ascii", None, "plain ascii"),
        (b"", None, ""),
    ],
)
def test_decode_page(body, declared, expected):
    assert decode_page(body, declared) == expected


def test_decode_page_never_raises():
    text = decode_page(b"\xff\xfe\xff\x80 broken", "euc-kr")
    assert text.endswith(" broken") and "\ufffd" in text


# ------------------------------------------------------------------ parsing


def test_parse_daily_rows_notebook_page():
    html = decode_page(NOTEBOOK_PAGE.encode("euc-kr"), "euc-kr")
    assert parse_daily_rows(html) == NOTEBOOK_EXPECTED


def test_parse_daily_rows_changes_follow_closes():
    # The sign read from the markers agrees with the closes themselves.
    rows = parse_daily_rows(NOTEBOOK_PAGE)
    for newer, older in zip(rows, rows[1:]):
        assert newer.change == newer.close - older.close


def change_page(cell: str) -> str:
    return page([("2019.07.05", "45,650", cell, "45,950", "45,950", "45,250", "7,235,395")])


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        # 2019 markup: <img alt> plus colour class
        ('<img src="ico_down.gif" alt="하락"><span class="tah p11 nv01">350</span>', -350),
        ('<img src="ico_up.gif" alt="상승"><span class="tah p11 red02">350</span>', 350),
        ('<img src="ico_down02.gif" alt="하한"><span class="tah p11 nv01">13,650</span>', -13650),  # limit down
        ('<img src="ico_up02.gif" alt="상한"><span class="tah p11 red02">13,650</span>', 13650),  # limit up
        # later markup: bullet with a screen-reader word
        ('<em class="bu_p bu_pdn"><span class="blind">하락</span></em><span class="tah p11 nv01">350</span>', -350),
        ('<em class="bu_p bu_pup"><span class="blind">상승</span></em><span class="tah p11 red02">350</span>', 350),
        # no words: image name, bullet class or colour class decides
        ('<img src="https://ssl.pstatic.net/imgstock/images/images4/ico_down.gif" alt=""><span>350</span>', -350),
        ('<em class="bu_p bu_pdn"></em><span>350</span>', -350),
        ('<span class="tah p11 nv01">350</span>', -350),
        ('<span class="tah p11 red02">350</span>', 350),
        # plain text
        ("<span>하락 350</span>", -350),
        ("<span>-350</span>", -350),
        ("<span>+350</span>", 350),
        ('<span class="tah p11">0</span>', 0),  # 보합: unchanged, no marker
        ("<span>350</span>", 350),  # unmarked: taken as shown
    ],
)
def test_change_sign(cell, expected):
    (price,) = parse_daily_rows(change_page(cell))
    assert price.change == expected


@pytest.mark.parametrize(
    ("cells", "why"),
    [
        (("", "", "", "", "", "", ""), "empty cells"),
        (("2019.07.05", "-", "-", "-", "-", "-", "-"), "dashes of a suspended day"),
        (("2019.07.05", "45,650", "350", "45,950", "45,950", "45,250", ""), "no volume"),
        (("2019.7.32", "45,650", "350", "45,950", "45,950", "45,250", "1"), "impossible date"),
        (("2019.07.05", "45,650"), "short row"),
    ],
)
def test_parse_daily_rows_skips_bad_rows(cells, why):
    good = ("2019.07.04", "46,000", "600", "45,250", "46,200", "45,250", "6,365,573")
    rows = parse_daily_rows(page([good, cells, good]))
    assert [r.date for r in rows] == ["2019-07-04", "2019-07-04"], why


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("", []),
        ("<html><body>no table</body></html>", []),
        (ERROR_PAGE, []),
        (page([]), []),  # past the last row: header only
        # the price table is found by its header even when it is not first
        ("<table><tr><td>ad</td></tr></table>" + NOTEBOOK_PAGE, NOTEBOOK_EXPECTED),
        # header in another order: columns are matched by name
        ("<table><tr><th>날짜</th><th>거래량</th><th>종가</th><th>전일비</th><th>시가</th><th>고가</th><th>저가</th></tr>"
         "<tr><td>2019.07.05</td><td>7,235,395</td><td>45,650</td><td>350</td><td>45,950</td><td>45,950</td>"
         "<td>45,250</td></tr></table>", [DailyPrice("2019-07-05", 45650, 350, 45950, 45950, 45250, 7235395)]),
    ],
)
def test_parse_daily_rows_edge_pages(html, expected):
    assert parse_daily_rows(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (NOTEBOOK_PAGE, 581),  # pgRR present
        (page(NOTEBOOK_ROWS[:3], nav(1, range(1, 11), 581)), 581),  # page 1
        (page(NOTEBOOK_ROWS, nav(1, range(1, 4), None)), 3),  # <= 10 pages: no pgRR
        (page(NOTEBOOK_ROWS, nav(575, range(571, 582), None)), 581),  # inside the last block
        (page(NOTEBOOK_ROWS[:2], nav(1, range(1, 2), None)), 1),  # new listing
        (page(NOTEBOOK_ROWS[:2]), 1),  # no navigation table at all
        (ERROR_PAGE, 1),
        ("", 1),
        ('<table class="Nnavi"><tr><td class="pgRR"><a href="#">맨뒤</a></td></tr></table>', 1),
        ('<table class="Nnavi"><tr><td class="pgRR"><a href="/item/sise_day.nhn?page=7&amp;code=005930">맨뒤</a>'
         "</td></tr></table>", 7),  # parameter order does not matter
    ],
)
def test_last_page(html, expected):
    assert last_page(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (ERROR_PAGE, True),
        ("", True),
        ("<html><body><p>점검 중입니다</p></body></html>", True),  # no price table
        ('<table class="type2"><tr><th>종목명</th><th>현재가</th></tr></table>', True),  # another table
        (NOTEBOOK_PAGE, False),
        (page([], nav(1, range(1, 2), None)), False),  # empty but a price page
    ],
)
def test_is_error_page(html, expected):
    assert is_error_page(html) is expected


def test_daily_row():
    stock = Stock("삼성전자", "005930", "KOSPI", "KR7005930003")
    assert daily_row(stock, NOTEBOOK_EXPECTED[0]) == {
        "name": "삼성전자", "code": "005930", "date": "2019-07-05", "close": 45650, "change": -350,
        "open": 45950, "high": 45950, "low": 45250, "volume": 7235395,
    }
    assert set(DAILY_KEY) <= set(daily_row(stock, NOTEBOOK_EXPECTED[0]))


# --------------------------------------------------------------- stock list

MASTER = [
    # codeName, full_code, marketName, short_code (as the notebook's table holds them)
    ("가비아", "KR7079940003", "KOSDAQ", 79940),
    ("가온미디어", "KR7078890001", "KOSDAQ", "078890"),
    ("가온전선", "KR7000500009", "KOSPI", 500),
    ("삼성전자", "KR7005930003", "KOSPI", "A005930"),
]
MASTER_STOCKS = [
    Stock("가비아", "079940", "KOSDAQ", "KR7079940003"),
    Stock("가온미디어", "078890", "KOSDAQ", "KR7078890001"),
    Stock("가온전선", "000500", "KOSPI", "KR7000500009"),
    Stock("삼성전자", "005930", "KOSPI", "KR7005930003"),
]


def write_sqlite(path: Path, rows: list[tuple[object, ...]], columns: str = "codeName, full_code, marketName, short_code") -> Path:
    con = sqlite3.connect(path)
    with con:
        # short_code untyped, as pandas' to_sql leaves mixed columns
        con.execute(f"CREATE TABLE master ({columns})")
        con.executemany(f"INSERT INTO master VALUES ({', '.join('?' * len(rows[0]))})", rows)
    con.close()
    return path


def write_csv(path: Path, rows: list[tuple[object, ...]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["codeName", "full_code", "marketName", "short_code"])
        out.writerows(rows)
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda d: write_sqlite(d / "common_stock.db", MASTER),
        lambda d: write_sqlite(d / "master.csv", MASTER),  # the magic header decides, not the name
        lambda d: write_csv(d / "master.csv", MASTER, "utf-8"),
        lambda d: write_csv(d / "master.csv", MASTER, "utf-8-sig"),
        lambda d: write_csv(d / "master.csv", MASTER, "cp949"),
    ],
    ids=["sqlite", "sqlite-named-csv", "csv-utf8", "csv-utf8-sig", "csv-cp949"],
)
def test_read_stock_list(tmp_path, make):
    assert read_stock_list(make(tmp_path)) == MASTER_STOCKS


def test_read_stock_list_details(tmp_path):
    rows = [
        ("가온전선", "KR7000500009", "KOSPI", 500.0),  # a REAL column
        ("가비아", "KR7079940003", "KOSDAQ", None),  # code from the ISIN
        ("가온전선", "KR7000500009", "KOSPI", "000500"),  # duplicate: first kept
        (None, None, None, None),  # blank record
    ]
    assert read_stock_list(write_sqlite(tmp_path / "m.db", rows)) == [
        Stock("가온전선", "000500", "KOSPI", "KR7000500009"),
        Stock("가비아", "079940", "KOSDAQ", "KR7079940003"),
    ]


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        ([("가비아", "KR7079940003", "KOSDAQ", "79-940")], None, "master row 1"),
        ([("", "KR7079940003", "KOSDAQ", "079940")], None, "no codeName"),
        ([("가비아", "KOSDAQ")], "codeName, marketName", "needs columns"),
    ],
)
def test_read_stock_list_rejects(tmp_path, rows, columns, message):
    path = write_sqlite(tmp_path / "m.db", rows, *([columns] if columns else []))
    with pytest.raises(ValueError, match=message):
        read_stock_list(path)


def test_read_stock_list_does_not_create_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_stock_list(tmp_path / "missing.db")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ replica


@pytest.fixture(scope="module")
def naver():
    with NaverReplica() as replica:
        yield replica


def fetch(naver: NaverReplica, url: str) -> str:
    with urllib.request.urlopen(naver.local(url), timeout=30) as response:
        assert response.status == 200
        return decode_page(response.read(), response.headers.get_content_charset())


def test_replica_serves_euc_kr(naver):
    with urllib.request.urlopen(naver.local(sise_day_url(LONG_CODE, 1)), timeout=30) as response:
        body = response.read()
        assert response.headers["Content-Type"] == "text/html;charset=euc-kr"
    assert b'charset=euc-kr">' in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    html = body.decode("euc-kr")
    assert "<th>날짜</th>" in html and "&amp;page=23" in html
    assert html.count('class="blank_08"') == 1  # one separator between the two groups of five


@pytest.mark.parametrize(
    ("code", "page_no", "rows", "last"),
    [
        (LONG_CODE, 1, 10, 23),
        (LONG_CODE, 11, 10, 23),
        (LONG_CODE, 22, 10, 23),  # in the last block: no pgRR, the last page is a link
        (LONG_CODE, 23, 5, 23),
        (SHORT_CODE, 1, 10, 3),
        (SHORT_CODE, 3, 7, 3),
        (NEW_CODE, 1, 4, 1),
    ],
)
def test_replica_pages(naver, code, page_no, rows, last):
    html = fetch(naver, sise_day_url(code, page_no))
    assert not is_error_page(html)
    assert last_page(html) == last
    stock = naver.stocks[code]
    assert parse_daily_rows(html) == list(stock.page_rows(page_no))
    assert len(stock.page_rows(page_no)) == rows


def test_replica_error_code(naver):
    html = fetch(naver, sise_day_url(ERROR_CODE, 1))
    assert is_error_page(html) and parse_daily_rows(html) == [] and last_page(html) == 1
    assert is_error_page(fetch(naver, sise_day_url("123456", 1)))  # unknown codes too


def test_replica_past_last_page_repeats_it():
    stock = NaverReplica().stocks[NEW_CODE]
    assert render_page(stock, 5) == render_page(stock, 1)


def crawl(naver: NaverReplica, master: Path, writer: TableWriter, workers: int) -> tuple[int, list[str]]:
    """The notebook's loop: page 1 gives the last page, then every page is
    parsed and upserted; error codes are reported and skipped."""
    new = 0
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for stock in read_stock_list(master):
            first = fetch(naver, sise_day_url(stock.code, 1))
            if is_error_page(first):
                errors.append(stock.code)
                continue
            urls = [sise_day_url(stock.code, n) for n in range(2, last_page(first) + 1)]
            for html in [first, *pool.map(lambda url: fetch(naver, url), urls)]:
                new += writer.upsert(DAILY_TABLE, DAILY_KEY, (daily_row(stock, p) for p in parse_daily_rows(html)))
    return new, errors


def test_crawl_replica_twice(tmp_path, naver):
    master = write_sqlite(tmp_path / "common_stock.db", [
        (s.stock.name, s.stock.full_code, s.stock.market, int(s.stock.code) if s.stock.code.isdigit() else s.stock.code)
        for s in naver.stocks.values()
    ])  # integer codes: 000500 is stored as 500, as in the notebook
    expected = sorted(tuple(daily_row(stock, price).values()) for stock, price in naver.all_expected())
    pages = sum(s.pages for s in naver.stocks.values())
    assert len(expected) == 225 + 27 + 4 and pages == 23 + 3 + 1 + 1

    naver.reset_hits()
    with TableWriter(tmp_path / "prices.sqlite") as writer:
        assert crawl(naver, master, writer, workers=1) == (len(expected), [ERROR_CODE])
        assert writer.count(DAILY_TABLE) == len(expected)
        assert naver.total_hits == pages and max(naver.hits.values()) == 1

        # A re-run (pages fetched concurrently this time) adds nothing.
        assert crawl(naver, master, writer, workers=8) == (0, [ERROR_CODE])
        assert writer.count(DAILY_TABLE) == len(expected)
        assert naver.total_hits == 2 * pages

    con = sqlite3.connect(tmp_path / "prices.sqlite")
    columns = ", ".join(f'"{c}"' for c in daily_row(MASTER_STOCKS[0], NOTEBOOK_EXPECTED[0]))
    stored = sorted(con.execute(f'SELECT {columns} FROM "{DAILY_TABLE}"'))
    con.close()
    assert stored == expected


def test_stock_list_from_the_environment_reaches_the_hook(tmp_path, naver, crawl):
    """The README's command: ``NAVER_STOCK_LIST=stocks.csv scrapy crawl darkweb``."""
    stocks = tmp_path / "stocks.csv"
    with open(stocks, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["codeName", "full_code", "marketName", "short_code"])
        writer.writerow(["다온소재", "KR7499990009", "KOSDAQ", "499990"])  # one page
    result = crawl(env={
        "DARKCRAWL_SITE_HOOKS": json.dumps({r"127\.0\.0\.1:\d+": "darkcrawl.sites.naver_stock.NaverStockHook"}),
        "NAVER_STOCK_LIST": str(stocks),
        "NAVER_BASE_URL": naver.base_url,
        "DARKCRAWL_TABLES_DB": str(tmp_path / "tables.sqlite"),
    })
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["darkcrawl/tables/naver_daily_price/new"] == len(naver.expected_rows("499990"))
