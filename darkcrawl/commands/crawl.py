"""``scrapy crawl``, with darkcrawl's exit codes (see darkcrawl.report.outcome).

Scrapy's own command exits 0 whatever happened (1 only when the crawler could not
be built); this one returns what the crawl's report decided: 0 ok, 1 nothing
fetched, 2 configuration error, 3 a network unavailable, 4 interrupted.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from darkcrawl.config import ConfigError
from darkcrawl.extensions.report import EXIT_CODE_KEY
from darkcrawl.preflight import check_settings
from darkcrawl.report.outcome import ExitCode

if TYPE_CHECKING:
    import argparse

    from scrapy.crawler import Crawler


def crawl_exit_code(crawler: Crawler, bootstrap_failed: bool) -> int:
    """The exit code a finished crawler reported; one that never started is Scrapy's 1."""
    try:
        code = crawler.stats.get_value(EXIT_CODE_KEY)
    except RuntimeError:  # the crawl never started: no stats
        code = None
    if code is not None:
        return int(code)
    return int(ExitCode.NOTHING_FETCHED) if bootstrap_failed else 0


def config_error_line(exc: ConfigError) -> str:
    return f"darkcrawl: configuration error: {exc}"


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) < 1:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        assert self.crawler_process and self.settings is not None
        try:
            check_settings(self.settings)
        except ConfigError as exc:
            print(config_error_line(exc), file=sys.stderr)
            self.exitcode = int(ExitCode.CONFIG_ERROR)
            return
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        self.exitcode = crawl_exit_code(crawler, self.crawler_process.bootstrap_failed)
