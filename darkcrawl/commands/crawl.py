"""``scrapy crawl``, with darkcrawl's exit codes (see darkcrawl.report.outcome).

Scrapy's own command exits 0 whatever happened (1 only when the crawler could not
be built); this one returns what the crawl's report decided: 0 ok, 1 nothing
fetched, 2 configuration error, 3 a network unavailable, 4 interrupted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from darkcrawl.extensions.report import EXIT_CODE_KEY
from darkcrawl.report.outcome import ExitCode

if TYPE_CHECKING:
    import argparse

    from scrapy.crawler import Crawler


def crawl_exit_code(crawler: Crawler, bootstrap_failed: bool) -> int:
    """The exit code a finished crawler reported; a crawler that never ran is a
    configuration error when it said so, else Scrapy's 1."""
    code = crawler.stats.get_value(EXIT_CODE_KEY) if crawler.stats is not None else None
    if code is not None:
        return int(code)
    return int(ExitCode.NOTHING_FETCHED) if bootstrap_failed else 0


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) < 1:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        self.exitcode = crawl_exit_code(crawler, self.crawler_process.bootstrap_failed)
