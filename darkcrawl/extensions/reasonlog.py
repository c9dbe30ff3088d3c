"""Failure reasons in Scrapy's own log lines, where Scrapy prints ``str(exception)``.

- RetryMiddleware: ``Gave up retrying <GET url> (failed 3 times): `` ended there
  for a truncated body, a reset, broken chunked encoding, a body over
  DOWNLOAD_MAXSIZE: ``str()`` of those exceptions is empty.  The reason becomes
  darkcrawl.failures' sentence; the retry stats are untouched
  (``retry/reason_count/<exception class>``: Scrapy names them before logging).
- RobotsTxtMiddleware: a robots.txt it could not download was an ERROR with a
  traceback (``Error downloading <GET ...>``).  A dead host is no error of the
  crawl, and the host bootstrap records its failure already: one INFO line with
  the reason instead.

Log filters on Scrapy's two loggers rather than subclasses of the two middlewares:
their behaviour stays Scrapy's, only the words change.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares import retry, robotstxt

from darkcrawl.failures import Transfer, failure_reason

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self


class _ReasonFilter(logging.Filter):
    #: DOWNLOAD_MAXSIZE, for a body Scrapy cancelled without a message (the last crawler's)
    maxsize = 0

    def _reason(self, exc: BaseException, request: Any) -> str:
        meta_of = getattr(request, "meta", None)
        transfer = Transfer.of(request, self.maxsize) if meta_of is not None else Transfer(maxsize=self.maxsize)
        return failure_reason(exc, transfer)[0]

    @classmethod
    def install(cls, logger: logging.Logger, maxsize: int) -> None:
        """Once per logger, however many crawlers a process runs."""
        found = next((f for f in logger.filters if isinstance(f, cls)), None)
        if found is None:
            found = cls()
            logger.addFilter(found)
        found.maxsize = maxsize


class RetryReasonFilter(_ReasonFilter):
    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict) and isinstance(args.get("reason"), BaseException):
            record.args = {**args, "reason": self._reason(args["reason"], args.get("request"))}
        return True


class RobotsErrorFilter(_ReasonFilter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.msg, str) and record.msg.startswith("Error downloading"):
            exc = record.exc_info[1]
            args = record.args if isinstance(record.args, dict) else {}
            if exc is not None:
                request = args.get("request")
                record.msg = "robots.txt not fetched for %(request)s: %(reason)s"
                record.args = {"request": request, "reason": self._reason(exc, None)}
                record.exc_info = None
                record.exc_text = None
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class ReasonLog:
    def __init__(self, maxsize: int) -> None:
        RetryReasonFilter.install(logging.getLogger(retry.__name__), maxsize)
        RobotsErrorFilter.install(logging.getLogger(robotstxt.__name__), maxsize)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler.settings.getint("DOWNLOAD_MAXSIZE"))
