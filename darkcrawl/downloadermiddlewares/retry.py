"""Scrapy's RetryMiddleware with the failure's reason in its log lines.

Scrapy logs ``Gave up retrying <GET url> (failed 3 times): <reason>`` with
``str(exception)`` as the reason, which is empty for a truncated body, a reset,
broken chunked encoding or a body cut by DOWNLOAD_MAXSIZE.  Here the reason is
darkcrawl.failures' sentence.  The retry stats keep Scrapy's keys
(``retry/reason_count/<exception class>``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import RetryMiddleware

from darkcrawl.failures import EXPECTED_KEY, RECEIVED_KEY, Transfer, failure_reason

if TYPE_CHECKING:
    from scrapy import Request


class _Reason:
    """A retry reason that prints as a sentence and counts as its exception.

    ``get_retry_request`` logs ``%(reason)s`` and, for its stats, calls a callable
    reason (it is meant for an exception class) and names the exception it gets.
    """

    __slots__ = ("exception", "text")

    def __init__(self, exception: Exception, text: str) -> None:
        self.exception = exception
        self.text = text

    def __call__(self) -> Exception:
        return self.exception

    def __str__(self) -> str:
        return self.text


class ReasonRetryMiddleware(RetryMiddleware):
    def _retry(self, request: Request, reason: str | Exception | type[Exception]) -> Request | None:
        if isinstance(reason, Exception):
            maxsize = self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
            text, _error = failure_reason(reason, Transfer.of(request, maxsize))
            reason = _Reason(reason, text)  # type: ignore[assignment]
        retry = super()._retry(request, reason)
        if retry is not None:  # the next attempt counts its own bytes
            retry.meta.pop(RECEIVED_KEY, None)
            retry.meta.pop(EXPECTED_KEY, None)
        return retry
