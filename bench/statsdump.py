"""Getting a crawler's final Scrapy stats out of its process.

Two ways, tried in order by the runner:

* a JSON file written at shutdown: darkcrawl implements the
  ``DARKCRAWL_STATS_FILE`` setting itself; :class:`JsonStatsDump` is the same
  behaviour for the baseline (enabled only there, so the baseline stays
  plain Scrapy apart from bookkeeping);
* the "Dumping Scrapy stats" block of the log (``STATS_DUMP=True``).
"""

from __future__ import annotations

import ast
import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response

STATS_FILE_SETTING = "DARKCRAWL_STATS_FILE"
HTML_STAT = "bench/html_responses"

# Stats keys a crawler may provide that count HTML pages exactly, best first.
HTML_PAGE_KEYS = (HTML_STAT, "darkcrawl/html_pages")


def _json_default(value: object) -> object:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.timedelta)):
        return str(value)
    return repr(value)


class JsonStatsDump:
    """Extension: count HTML responses and dump the final stats as JSON.

    Writes on ``engine_stopped``, which Scrapy sends after the stats
    collector was closed, so ``finish_time``/``finish_reason`` are in.
    """

    def __init__(self, crawler: Crawler, path: str) -> None:
        self.crawler = crawler
        self.path = Path(path)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        path = crawler.settings.get(STATS_FILE_SETTING)
        if not path:
            from scrapy.exceptions import NotConfigured

            raise NotConfigured(f"{STATS_FILE_SETTING} not set")
        ext = cls(crawler, str(path))
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def response_received(self, response: Response, **_: Any) -> None:
        ctype = response.headers.get(b"Content-Type", b"") or b""
        if b"html" in ctype.lower():
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value(HTML_STAT)

    def engine_stopped(self) -> None:
        assert self.crawler.stats is not None
        data = json.dumps(self.crawler.stats.get_stats(), default=_json_default, indent=1, sort_keys=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(data + "\n")
        os.replace(tmp, self.path)  # a reader never sees half a file


def load_stats_file(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_DUMP_MARK = "Dumping Scrapy stats:"


def _strip_calls(text: str) -> str:
    """Replace ``datetime.datetime(...)``-style reprs (nested parens too) by strings."""
    out: list[str] = []
    i = 0
    pattern = re.compile(r"\b(?:datetime|decimal)\.\w+\(")
    while (m := pattern.search(text, i)) is not None:
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        out.append(repr(text[m.start() : j]))
        i = j
    out.append(text[i:])
    return "".join(out)


def parse_stats_from_log(path: Path) -> dict[str, Any] | None:
    """The last "Dumping Scrapy stats" dict in a Scrapy log, or None."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    at = text.rfind(_DUMP_MARK)
    if at < 0:
        return None
    start = text.find("{", at)
    if start < 0:
        return None
    # The dict is pprint'ed over several lines and ends with a line whose
    # last character is the closing brace; later log lines start with a date.
    lines = text[start:].splitlines()
    block: list[str] = []
    for line in lines:
        block.append(line)
        if line.rstrip().endswith("}"):
            try:
                value = ast.literal_eval(_strip_calls("\n".join(block)))
            except (ValueError, SyntaxError):
                continue
            return value if isinstance(value, dict) else None
    return None


def html_pages(stats: dict[str, Any]) -> tuple[int | None, str]:
    """HTML pages downloaded according to ``stats``, and where the figure came from."""
    for key in HTML_PAGE_KEYS:
        value = stats.get(key)
        if isinstance(value, int):
            return value, key
    received = stats.get("response_received_count")
    if not isinstance(received, int):
        return None, "missing"
    # Without an exact counter: every response minus the non-HTML ones the
    # stats do identify (robots.txt fetched by RobotsTxtMiddleware).
    non_html = stats.get("robotstxt/response_count", 0)
    return received - (non_html if isinstance(non_html, int) else 0), "response_received_count-robotstxt"
