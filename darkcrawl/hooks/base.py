"""The site-hook API: what a hook may change, for the hosts it claims.

A hook is a class built once per crawl (``from_crawler``), registered for host
patterns in ``DARKCRAWL_SITE_HOOKS`` (``{"host regex": "pkg.module.Hook"}``) or by
an installed package through the ``darkcrawl.site_hooks`` entry-point group (the
class then names its hosts in ``hosts``).  Every method has a default that does
nothing, so a hook overrides only what it needs:

- ``start_requests()``: requests of its own at start (a login, a list of pages);
- ``process_request(request, link)``: change the plain-stage request (headers,
  cookies, method, body) before it is scheduled; raise :class:`LinkNoReturn` to
  drop the link (``drop=True``) or keep it for a later visit (``drop=False``);
- ``parse(response)``: return items and requests for a page of its hosts instead
  of the default link extraction (``None`` keeps the default); the page itself is
  saved either way;
- ``page_actions(request)``: browser actions for the render stage (click, scroll,
  fill, wait), as scrapy-playwright ``PageMethod`` objects.

Requests a hook yields may have one of its own methods as callback: the spider
stores the method's name, so the request stays serialisable (JOBDIR, Redis).
A hook that raises costs the page it was handling, never the crawl.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from typing_extensions import Self

    from darkcrawl.links.classify import Link


class LinkNoReturn(Exception):
    """darc's signal from a hook: no response for this link.

    ``drop=True`` removes the link from the crawl; ``drop=False`` keeps it, to be
    visited again when it falls due (``TIME_CACHE``).
    """

    def __init__(self, drop: bool = True) -> None:
        super().__init__("dropped by a site hook" if drop else "kept for later by a site hook")
        self.drop = drop


class SiteHook:
    #: host regexes (full match, ignore case) this hook claims when it is found
    #: through an entry point; DARKCRAWL_SITE_HOOKS names them itself
    hosts: ClassVar[Sequence[str]] = ()

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def start_requests(self) -> Iterable[Request]:
        return ()

    def process_request(self, request: Request, link: Link) -> Request:
        return request

    def parse(self, response: Response) -> Iterable[Any] | None:
        return None

    def page_actions(self, request: Request) -> list[Any]:
        return []
