"""robots.txt enforcement, darc style, on top of Scrapy's middleware (Protego).

Differences from Scrapy's ``RobotsTxtMiddleware``:
- the root path of a host is always allowed (darc does the same: a host is at
  least looked at once);
- a robots.txt answered with an error status counts as "no rules" instead of
  having its error page parsed as rules;
- gateway networks whose "host" is a path on a local gateway (ZeroNet, Freenet)
  have no robots.txt of their own.

Saving robots.txt and following its sitemaps is the spider's host bootstrap, not
this middleware's job: with ``DARC_FORCE=1`` this middleware is off but robots.txt
is still fetched and saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.utils.httpobj import urlparse_cached

if TYPE_CHECKING:
    from scrapy.http import Request, Response
    from scrapy.robotstxt import RobotParser

#: Networks reached through a shared local gateway: no per-site robots.txt.
NO_ROBOTS_NETWORKS = frozenset({"zeronet", "freenet"})


class DarcRobotsTxtMiddleware(RobotsTxtMiddleware):
    async def process_request(self, request: Request, spider: object = None) -> None:
        link = request.meta.get("darkcrawl_link")
        if link and link[0] in NO_ROBOTS_NETWORKS:
            return
        await super().process_request(request)

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        parsed = urlparse_cached(request)
        if parsed.path in ("", "/") and not parsed.query:
            return
        super().process_request_2(rp, request)

    async def _parse_robots(self, response: Response, netloc: str, request: Request) -> None:
        if response.status >= 400:
            response = response.replace(body=b"")
        await super()._parse_robots(response, netloc, request)
