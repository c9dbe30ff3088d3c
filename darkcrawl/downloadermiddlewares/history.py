"""Redirects that keep their history: every hop's status, headers and cookies.

Scrapy's ``RedirectMiddleware`` keeps only the URLs (``redirect_urls``); darc's
``requests`` record has a ``History`` entry per hop with its headers, so each hop
is recorded into the redirected request's meta before it is followed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.http import Request

from darkcrawl.records import headers_dict, reason_phrase, set_cookie_values
from darkcrawl.meta import HISTORY_KEY

if TYPE_CHECKING:
    from scrapy.http import Response


class HistoryRedirectMiddleware(RedirectMiddleware):
    def _engine_started(self) -> None:
        pass  # no Referer handling to look up: darkcrawl never sends a Referer

    def handle_referer(self, request: Request, response: Response) -> None:
        request.headers.pop("Referer", None)

    def process_response(
        self, request: Request, response: Response, spider: object = None
    ) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request) and result is not request:
            hop: dict[str, Any] = {
                "URL": request.url,
                "Method": request.method,
                "Status-Code": response.status,
                "Reason": reason_phrase(response.status),
                "Cookies": set_cookie_values(response),
                "Request": headers_dict(request.headers),
                "Response": headers_dict(response.headers),
            }
            result.meta[HISTORY_KEY] = [*request.meta.get(HISTORY_KEY, ()), hop]
        return result
