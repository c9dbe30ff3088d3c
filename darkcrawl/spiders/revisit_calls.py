"""The spider's part of adaptive revisits: a sitemap's hints into the schedule, and the
URLs that fell due queued again (with their history in a fleet)."""

from __future__ import annotations

import time

from scrapy import Request

from darkcrawl.frontier.revisit_policy import SitemapHint, parse_changefreq, parse_lastmod
from darkcrawl.links.classify import classify
from darkcrawl.meta import REVISIT_STATE_KEY, host_key


class RevisitCalls:
    """Mixed into DarkwebSpider (uses its options, stats, settings, revisits and requests)."""

    def _sitemap_hints(self, hints: dict[str, tuple[str | None, str | None]]) -> None:
        """A sitemap's <lastmod>/<changefreq> of its URLs (untrusted: what does not parse
        is counted and ignored) -> the revisit schedule."""
        if not hints or not self.revisits.enabled:
            return
        now = time.time()
        for loc, (lastmod, changefreq) in hints.items():
            link = classify(loc, self.options.gateways)
            span, every = parse_lastmod(lastmod, now), parse_changefreq(changefreq)
            if lastmod and span is None:
                self.stats.inc_value("darkcrawl/revisits/sitemap/bad_lastmod")
            if changefreq and every is None:
                self.stats.inc_value("darkcrawl/revisits/sitemap/bad_changefreq")
            if link.fetchable and (span is not None or every is not None):
                self.revisits.hint(link.url, SitemapHint(now, span, every), host_key(link.kind, link.host))

    def _schedule_due(self) -> None:
        engine = self.crawler.engine
        if engine is None:
            return
        for url, depth in self.revisits.pop_due(time.time()):
            link = classify(url, self.options.gateways)
            if not link.fetchable:
                continue
            # in a fleet any worker may fetch it: its history goes with it, not left here
            state = self.revisits.hand_off(url) if self.settings.getbool("DARKCRAWL_DISTRIBUTED") else None
            for output in self._requests_for(link, depth, None, revisit=True):
                if isinstance(output, Request):
                    if state is not None and output.callback == self.parse:
                        output.meta[REVISIT_STATE_KEY] = state
                    engine.crawl(output)
            self.stats.inc_value("darkcrawl/revisits")
