"""Site hooks used by tests/test_hooks.py (importable by the crawl subprocess)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy import FormRequest, Request

from darkcrawl.hooks import LinkNoReturn, SiteHook


class LoginHook(SiteHook):
    """Logs in through the site's form before crawling its members' area."""

    def start_requests(self) -> Iterator[Request]:
        base = self.crawler.settings["LOGIN_SITE_URL"]
        yield FormRequest(f"{base}/login", formdata={"user": "analyst", "password": "secret"},
                          callback=self.after_login)

    def after_login(self, response: Any) -> Iterator[Request]:
        # the session cookie is in the crawl's jar now; the default parsing takes over
        yield Request(response.urljoin("/members/"))


class PickyHook(SiteHook):
    """Drops links with 'drop' in them, keeps 'later' ones for later, and fails on 'boom'."""

    def process_request(self, request: Request, link: Any) -> Request:
        if "drop" in request.url:
            raise LinkNoReturn(drop=True)
        if "later" in request.url:
            raise LinkNoReturn(drop=False)
        request.headers["X-Hooked"] = "1"
        return request

    def parse(self, response: Any) -> Any:
        if "boom" in response.url:
            raise RuntimeError("hook bug")
        return None  # default parsing


class RevealHook(SiteHook):
    """Render-stage actions: click the button that reveals the hidden content."""

    def page_actions(self, request: Request) -> list[Any]:
        from scrapy_playwright.page import PageMethod

        return [PageMethod("click", "#reveal"), PageMethod("wait_for_selector", "#secret:not([hidden])")]


class HeaderHook(SiteHook):
    """Found through the ``darkcrawl.site_hooks`` entry point: claims its hosts itself."""

    hosts = (r"127\.0\.0\.1:\d+",)

    def process_request(self, request: Request, link: Any) -> Request:
        request.headers["X-From-Entry-Point"] = "yes"
        return request
