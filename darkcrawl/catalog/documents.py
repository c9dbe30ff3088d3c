"""A stored document's facts, parsed as the crawl parsed it.

The crawl reads a page's links, title and text from the response's tree; a
rebuild (and a page the crawl did not parse, a site hook's) reads them from the
saved file, through the same Scrapy response class and the same
:func:`~darkcrawl.links.extract.page_facts`, so both give the same rows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

from scrapy.http import TextResponse
from scrapy.http.headers import Headers
from scrapy.responsetypes import responsetypes

from darkcrawl.links.extract import PageFacts, page_facts, rendered_tree, truncated_depth
from darkcrawl.storage.paths import HTML_TYPES

logger = logging.getLogger(__name__)

ExtraPatterns = Sequence[tuple[str, re.Pattern[str]]]


def document_facts(url: str, body: bytes, headers: Mapping[str, str] | None, content_type: str,
                   extra: ExtraPatterns, max_text: int) -> PageFacts | None:
    """The facts of a fetched document at *url* (its final URL), None when it is
    not HTML or cannot be parsed."""
    if content_type not in HTML_TYPES or not body:
        return None
    scrapy_headers = Headers(dict(headers or {}))
    cls = responsetypes.from_args(headers=scrapy_headers, url=url, body=body)
    try:
        response = cls(url=url, body=body, headers=scrapy_headers)
        if not isinstance(response, TextResponse):
            return None
        root = response.selector.root
        cut = truncated_depth(root)
        return page_facts(root, url, extra, markup=response.text if cut else None, max_text=max_text)
    except Exception as exc:  # hostile markup and encodings: the page's facts only are lost
        logger.debug("cannot parse %s: %r", url, exc)
        return None


def rendered_facts(url: str, html: bytes, extra: ExtraPatterns, max_text: int) -> PageFacts | None:
    """The facts of a rendered DOM (saved as UTF-8), parsed as the render stage parses it."""
    markup = html.decode("utf-8", "replace")
    try:
        root = rendered_tree(markup)
        cut = truncated_depth(root)
        return page_facts(root, url, extra, markup=markup if cut else None, max_text=max_text)
    except Exception as exc:
        logger.debug("cannot parse the rendered %s: %r", url, exc)
        return None
