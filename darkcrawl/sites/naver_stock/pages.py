"""Naver Finance daily prices (``/item/sise_day.nhn``): URLs, decoding, parsing.

Pure functions only; the crawl hook that schedules the pages comes later.  The
page layout follows what the seed notebook (``002_ed3d538724effad4``) shows of
``https://finance.naver.com/item/sise_day.nhn?code=005930&page=2``:

* the FIRST ``<table>`` (``class="type2"``) holds the prices, header row
  ``날짜 종가 전일비 시가 고가 저가 거래량``; its data rows come in groups of
  five separated by blank ``<td colspan="7">`` rows (pandas shows them as all-NaN
  rows and the notebook drops them with ``dropna()``);
* the second table (``class="Nnavi"``) is the page navigation ``맨앞 1 … 10 다음
  맨뒤``; the ``맨뒤`` cell is ``<td class="pgRR"><a href="...&page=581">``.  A
  new listing has a single page and no ``pgRR`` cell;
* the body is EUC-KR (``<meta ... charset=euc-kr>`` and the HTTP header).
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import lxml.html
from lxml.etree import ParserError

BASE_URL = "https://finance.naver.com/item/sise_day.nhn"

# Where a site hook's rows land (see darkcrawl.storage.tables.TableWriter):
# keyed like the notebook's table, so a re-run only adds days not yet stored.
DAILY_TABLE = "naver_daily_price"
DAILY_KEY = ("name", "code", "date")

# Header cell text -> DailyPrice field.  Columns are looked up by header text,
# not position, so a reordered or widened table still parses correctly.
_COLUMNS = {
    "날짜": "date",
    "종가": "close",
    "전일비": "change",
    "시가": "open",
    "고가": "high",
    "저가": "low",
    "거래량": "volume",
}

# Words Naver uses for the direction of 전일비, in the <img alt> of 2019 pages
# and in the <span class="blind"> of later ones; 상한/하한 are limit-up/down.
_DOWN_WORDS = ("하락", "하한")
_UP_WORDS = ("상승", "상한")
# Markup hints used when a page carries no words: image names (ico_down.gif,
# ico_up02.gif), the later <em class="bu_p bu_pdn"> bullets, and the colour
# classes of the number itself (nv01 is Naver's blue = fall, red02 = rise).
_DOWN_HINTS = ("ico_down", "bu_pdn", "bu_lower", "nv01")
_UP_HINTS = ("ico_up", "bu_pup", "bu_upper", "red02")

# Thousands separators must group by three, so a mangled "4,5650" is refused
# instead of being read as 45650.
_NUMBER = re.compile(r"([+-]?)\s*(\d{1,3}(?:,\d{3})+|\d+)")
_DATE = re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})")
_CODE = re.compile(r"[0-9A-Z]{6}")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)

# Every label the WHATWG Encoding Standard maps to "euc-kr" really means
# Windows-949 (CP949), a superset: Naver's "euc-kr" pages contain the 8,822
# hangul syllables (e.g. 똠, 햏) that strict EUC-KR cannot decode.
_KOREAN_LABELS = frozenset({
    "euc-kr", "euckr", "euc_kr", "cseuckr", "korean", "ks_c_5601-1987",
    "ks_c_5601-1989", "ksc5601", "ksc_5601", "csksc56011987", "iso-ir-149",
    "windows-949", "x-windows-949", "cp949", "ms949", "uhc",
})

# Markers of Naver's "page not found / wrong code" page, which answers 200.
_ERROR_MARKERS = ("error_content", "페이지를 찾을 수 없습니다", "존재하지 않는 종목")


@dataclass(frozen=True)
class DailyPrice:
    """One row of the 일별시세 table; prices in won, ``change`` signed."""

    date: str  # ISO "YYYY-MM-DD"
    close: int
    change: int  # negative for a fall (하락/하한), 0 for unchanged (보합)
    open: int
    high: int
    low: int
    volume: int


@dataclass(frozen=True)
class Stock:
    """One line of the notebook's ``master`` table."""

    name: str  # codeName
    code: str  # short_code, zero-padded to 6
    market: str  # marketName (KOSPI, KOSDAQ, ...)
    full_code: str  # ISIN, e.g. KR7005930003


# --------------------------------------------------------------------------- URLs


def normalise_code(short_code: str | int) -> str:
    """The 6-character KRX short code from *short_code* as stored anywhere.

    A master table read through pandas/Excel loses leading zeros (``500`` for
    ``000500``); KRX downloads prefix an ``A`` (``A005930``, seen in the
    notebook).  Newer codes may contain letters (``0088M0``), so letters are
    kept rather than rejected.
    """
    if isinstance(short_code, bool):
        raise ValueError(f"not a stock code: {short_code!r}")
    if isinstance(short_code, int):
        if short_code < 0:
            raise ValueError(f"not a stock code: {short_code!r}")
        short_code = str(short_code)
    text = short_code.strip().upper()
    if len(text) == 7 and text.startswith("A"):
        text = text[1:]
    if text.isdigit() and len(text) <= 6:
        text = text.zfill(6)
    if not _CODE.fullmatch(text):
        raise ValueError(f"not a stock code: {short_code!r}")
    return text


def sise_day_url(code: str, page: int) -> str:
    """URL of page *page* (1-based) of the daily prices of *code*."""
    if page < 1:
        raise ValueError(f"page must be >= 1, got {page}")
    return f"{BASE_URL}?{urlencode({'code': normalise_code(code), 'page': page})}"


# ----------------------------------------------------------------------- decoding


def _codec_for(label: str | None) -> str | None:
    """Python codec name for a charset *label*, or None when unknown/absent."""
    if not label:
        return None
    label = label.strip().strip("'\"").lower()
    if label in _KOREAN_LABELS:
        return "cp949"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _sniff_meta(body: bytes) -> str | None:
    """The charset of a ``<meta>`` tag in the first 2 KiB (as browsers prescan)."""
    match = _META_CHARSET.search(body[:2048])
    return match.group(1).decode("ascii") if match else None


def decode_page(body: bytes, declared: str | None) -> str:
    """Decode a Naver page; *declared* is the HTTP header's charset, if any.

    The label comes from the header, else from the ``<meta>`` tag (HTTP wins,
    as in browsers); any EUC-KR label decodes as CP949.  Because CP949
    accepts almost any pair of high bytes, a UTF-8 page mislabelled euc-kr
    would "decode" into silent mojibake, so with a Korean label UTF-8 is
    tried first.  A CP949 *page* is in practice never valid UTF-8: most
    hangul start with 0xB0-0xC1 (UTF-8 continuation or forbidden bytes) or
    have a trail byte >= 0xC0; only ~350 syllables (e.g. 짜 = C2 A5) form
    valid UTF-8 pairs, so a very short body of nothing but those could be
    misread.  Then UTF-8 and CP949 strictly, and CP949 with replacement
    characters as the last resort, so a page never raises here.
    """
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    label = _codec_for(declared) or _codec_for(_sniff_meta(body))
    candidates: list[str] = []
    for codec in ("utf-8" if label == "cp949" else None, label, "utf-8", "cp949"):
        if codec and codec not in candidates:
            candidates.append(codec)
    for codec in candidates:
        try:
            return body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode("cp949", errors="replace")


# ------------------------------------------------------------------------ parsing


def _document(html: str) -> lxml.html.HtmlElement | None:
    if not html.strip():
        return None
    try:
        return lxml.html.document_fromstring(html)
    except (ParserError, ValueError):
        return None


def _page_of(href: str) -> int | None:
    """The ``page`` query parameter of a navigation link, if it is a number."""
    values = parse_qs(urlsplit(href).query).get("page", [])
    return int(values[-1]) if values and values[-1].isdigit() else None


def last_page(html: str) -> int:
    """The number of pages of a stock, read from any of its pages.

    The ``맨뒤`` (``td.pgRR``) link names the last page.  Naver omits that cell
    when there is nothing further to jump to (a new listing with one page, a
    stock with up to 10 pages, or a page in the last block), so then the
    highest page linked in the ``Nnavi`` table is the last one (Naver links
    the current ``td.on`` page too); with no navigation there is one page.
    """
    doc = _document(html)
    if doc is None:
        return 1
    for href in doc.xpath('//td[contains(concat(" ", normalize-space(@class), " "), " pgRR ")]//a/@href'):
        page = _page_of(href)
        if page:
            return page
    pages = [_page_of(h) for h in doc.xpath('//table[contains(concat(" ", normalize-space(@class), " "), " Nnavi ")]//a/@href')]
    return max([p for p in pages if p] + [1])


def _sign(cell: lxml.html.HtmlElement) -> int:
    """-1 when the 전일비 cell marks a fall, else +1.

    Words first (``<img alt="하락">``, ``<span class="blind">하락</span>``, plain
    text), because they are what Naver shows screen readers and are stable;
    then image names and CSS classes; then an explicit minus sign.  A cell
    with no marker is an unchanged day (보합, 0) or unmarked, so +1.
    """
    words = " ".join([cell.text_content(), *cell.xpath(".//img/@alt")])
    if any(word in words for word in _DOWN_WORDS):
        return -1
    if any(word in words for word in _UP_WORDS):
        return 1
    hints = " ".join(cell.xpath(".//@class | .//@src"))
    if any(hint in hints for hint in _DOWN_HINTS):
        return -1
    if any(hint in hints for hint in _UP_HINTS):
        return 1
    match = _NUMBER.search(cell.text_content())
    return -1 if match and match.group(1) == "-" else 1


def parse_number(text: str) -> int:
    """``"45,650"`` -> 45650; exactly one number (optionally signed) or ValueError."""
    found = _NUMBER.findall(text)
    if len(found) != 1:
        raise ValueError(f"expected one number in {text!r}")
    sign, digits = found[0]
    value = int(digits.replace(",", ""))
    return -value if sign == "-" else value


def parse_date(text: str) -> str:
    """``"2019.07.05"`` -> ``"2019-07-05"``; ValueError for anything else."""
    match = _DATE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a date: {text!r}")
    return _dt.date(*map(int, match.groups())).isoformat()


def _price_table(doc: lxml.html.HtmlElement) -> tuple[lxml.html.HtmlElement, dict[str, int]] | None:
    """The first table whose header row names all seven columns, with their positions."""
    for table in doc.iter("table"):
        for row in table.iter("tr"):
            headers = [th.text_content().strip() for th in row.findall("th")]
            if not headers:
                continue
            positions = {_COLUMNS[h]: i for i, h in enumerate(headers) if h in _COLUMNS}
            if len(positions) == len(_COLUMNS):
                return table, positions
            break  # the first header row decides for this table
    return None


def _parse_row(cells: list[lxml.html.HtmlElement], positions: dict[str, int]) -> DailyPrice | None:
    if len(cells) <= max(positions.values()):
        return None  # blank separator rows are a single colspan=7 cell
    text = {field: cells[i].text_content() for field, i in positions.items()}
    try:
        change = parse_number(text["change"])
        return DailyPrice(
            date=parse_date(text["date"]),
            close=parse_number(text["close"]),
            change=abs(change) * _sign(cells[positions["change"]]),
            open=parse_number(text["open"]),
            high=parse_number(text["high"]),
            low=parse_number(text["low"]),
            volume=parse_number(text["volume"]),
        )
    except ValueError:
        return None


def parse_daily_rows(html: str) -> list[DailyPrice]:
    """The price rows of a ``sise_day`` page, newest first as on the page.

    Blank separator rows and rows whose cells do not parse (a dash for a
    suspended day, a partial row) are skipped rather than guessed at.
    """
    doc = _document(html)
    if doc is None:
        return []
    found = _price_table(doc)
    if found is None:
        return []
    table, positions = found
    rows: list[DailyPrice] = []
    for tr in table.iter("tr"):
        price = _parse_row(tr.findall("td"), positions)
        if price is not None:
            rows.append(price)
    return rows


def is_error_page(html: str) -> bool:
    """True for Naver's error page (unknown/delisted code) or anything that is
    not a price page at all.

    Naver answers such codes with HTTP 200 and an ``error_content`` page, so
    the status cannot tell.  A price page past the last row is *not* an
    error: it still has the header row, just no data.
    """
    if any(marker in html for marker in _ERROR_MARKERS):
        return True
    doc = _document(html)
    return doc is None or _price_table(doc) is None


def daily_row(stock: Stock, price: DailyPrice) -> dict[str, object]:
    """A row for ``DAILY_TABLE``: the stock's identity plus the day's prices."""
    return {
        "name": stock.name,
        "code": stock.code,
        "date": price.date,
        "close": price.close,
        "change": price.change,
        "open": price.open,
        "high": price.high,
        "low": price.low,
        "volume": price.volume,
    }


# ---------------------------------------------------------------------- stock list

_MASTER_COLUMNS = ("codeName", "full_code", "marketName", "short_code")


def _stock_from(record: dict[str, object], where: str) -> Stock | None:
    """A Stock from a master record; None for an entirely blank record."""
    values = {k: record.get(k) for k in _MASTER_COLUMNS}
    if all(v is None or str(v).strip() == "" for v in values.values()):
        return None
    name = str(values["codeName"] or "").strip()
    full_code = str(values["full_code"] or "").strip().upper()
    short = values["short_code"]
    if isinstance(short, float) and short.is_integer():
        short = int(short)  # a REAL column, or pandas' float for a column with NaN
    if short is None or str(short).strip() == "":
        # The ISIN embeds the short code: KR7 + 000500 + 00 + check digit.
        short = full_code[3:9] if len(full_code) == 12 else ""
    try:
        code = normalise_code(short if isinstance(short, int) else str(short))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    if not name:
        raise ValueError(f"{where}: no codeName for {code}")
    return Stock(name=name, code=code, market=str(values["marketName"] or "").strip(), full_code=full_code)


def _read_master_sqlite(path: Path) -> list[dict[str, object]]:
    # Read-only URI: a mistyped path must not leave an empty database behind.
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        con.row_factory = sqlite3.Row
        cursor = con.execute("SELECT * FROM master")
        return [dict(row) for row in cursor]
    finally:
        con.close()


def _read_master_csv(data: bytes) -> list[dict[str, object]]:
    try:
        text = data.decode("utf-8-sig")  # also plain UTF-8: the BOM is optional
    except UnicodeDecodeError:
        text = data.decode("cp949")  # Excel on Korean Windows saves CSV as CP949
    return [dict(row) for row in csv.DictReader(io.StringIO(text, newline=""))]


def read_stock_list(path: Path) -> list[Stock]:
    """The stocks of a SQLite file's ``master`` table or of a CSV with the
    same columns (``codeName, full_code, marketName, short_code``).

    The format is told by the SQLite magic header, not the file name.  A
    record with an unusable code raises ValueError naming the record: a
    silently shortened list would look like a complete crawl.  Duplicate
    codes keep their first record.
    """
    with path.open("rb") as handle:
        head = handle.read(16)
    if head == b"SQLite format 3\x00":
        records = _read_master_sqlite(path)
        where = f"{path}: master row"
    else:
        records = _read_master_csv(path.read_bytes())
        where = f"{path}: record"
    if records and ("codeName" not in records[0] or not {"short_code", "full_code"} & set(records[0])):
        raise ValueError(f"{path}: needs columns {', '.join(_MASTER_COLUMNS)}")
    stocks: dict[str, Stock] = {}
    for number, record in enumerate(records, start=1):
        stock = _stock_from(record, f"{where} {number}")
        if stock is not None and stock.code not in stocks:
            stocks[stock.code] = stock
    return list(stocks.values())
