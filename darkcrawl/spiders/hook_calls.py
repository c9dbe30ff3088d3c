"""Site-hook plumbing of the darkweb spider: run a hook's methods, adopt the requests
it yields (a hook method as callback is stored by name, so requests stay
serialisable), and make a failing hook cost one page, never the crawl."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scrapy import Request

from darkcrawl.links.classify import classify
from darkcrawl.meta import HOOK_KEY, LINK_KEY, SLOT_KEY, slot_key

if TYPE_CHECKING:
    from scrapy.http import Response

    from darkcrawl.hooks.base import SiteHook

logger = logging.getLogger(__name__)


class SiteHooks:
    """Mixed into DarkwebSpider (uses its hook registry, seen set and stats)."""


    def _hook_parse(self, response: Response, host: str) -> list[Any] | None:
        """The outputs of the hook handling this page, or None for the default parsing.

        A request a hook made with one of its methods as callback goes back to that
        method; other pages of a hook's hosts go to its ``parse``."""
        named = response.meta.get(HOOK_KEY)
        hook = self.hooks.by_name(named[0]) if named else self.hooks.for_host(host)
        if hook is None:
            return None
        try:
            result = getattr(hook, named[1])(response) if named else hook.parse(response)
        except Exception:
            self._hook_failed(hook, response.url)
            return []
        if result is None:
            return [] if named else None
        return list(self._hook_outputs(hook, result, response.url))

    def _hook_outputs(self, hook: SiteHook, result: Iterable[Any], where: str) -> Iterator[Any]:
        """Items and (adopted) requests from a hook; a failure costs this page only."""
        try:
            for output in result:
                yield self._adopt(hook, output) if isinstance(output, Request) else output
        except Exception:
            self._hook_failed(hook, where)

    def _hook_failed(self, hook: SiteHook, where: str) -> None:
        logger.exception("site hook %s failed on %s", type(hook).__name__, where)
        self.stats.inc_value(f"darkcrawl/hooks/error/{type(hook).__name__}")

    def _adopt(self, hook: SiteHook, request: Request) -> Request:
        """A hook's request, made serialisable: a hook method as callback is stored by name."""
        callback = request.callback
        meta = dict(request.meta)
        if callback is not None and getattr(callback, "__self__", None) is hook:
            meta[HOOK_KEY] = (type(hook).__name__, callback.__name__)
        link = classify(request.url, self.options.gateways)
        if link.fetchable:
            self.seen.add(link.url)
            meta.setdefault(LINK_KEY, (link.kind, link.host, link.service))
            meta.setdefault(SLOT_KEY, slot_key(link.kind, link.service))
        meta.setdefault("depth", 0)
        return request.replace(callback=self.parse, errback=self.on_error, meta=meta)
