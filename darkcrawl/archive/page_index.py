"""The CDXJ index of a WACZ (cdxj-indexer's), and its pages from darkcrawl's metadata records.

A module of its own so that cdxj-indexer (and surt and tldextract behind it, ~0.3 s
to import) is loaded when a WACZ is packaged, not by every ``scrapy`` command.
"""

from __future__ import annotations

from typing import Any

from cdxj_indexer.main import CDXJIndexer


class PageIndexer(CDXJIndexer):
    """cdxj-indexer's CDXJ index, collecting the pages from darkcrawl's metadata records."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pages: dict[tuple[str, str], dict[str, str]] = {}

    def filter_record(self, record: Any) -> bool:
        if record.rec_type == "metadata":
            self._page(record)
        return super().filter_record(record)

    def _page(self, record: Any) -> None:
        stream = getattr(record, "buffered_stream", None)
        if stream is None:
            return
        fields: dict[str, str] = {}
        for line in stream.read().decode("utf-8", "replace").splitlines():
            name, _, value = line.partition(": ")
            fields.setdefault(name, value)
        stream.seek(0)
        if fields.get("page") != "yes":
            return
        url = record.rec_headers.get_header("WARC-Target-URI")
        date = record.rec_headers.get_header("WARC-Date")
        self.pages[(url, date)] = {"id": record.rec_headers.get_header("WARC-Record-ID").strip("<>").rsplit(":", 1)[-1],
                                   "url": url, "ts": date, "title": fields.get("title") or url}
