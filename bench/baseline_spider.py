"""Baseline: a plain Scrapy CrawlSpider, as a typical project would write it.

Run standalone (never through ``scrapy runspider`` inside the project dir,
which would load darkcrawl's project settings into the baseline)::

    python -m bench.baseline_spider --seed http://127.0.0.1:18000/index.html \
        --stats-file /tmp/stats.json
"""

from __future__ import annotations

import argparse
from typing import Any

from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule

# Default Scrapy settings except for these. Note that Scrapy keys download
# slots by host name without the port, so all bench hosts (127.0.0.1:*)
# share one slot and CONCURRENT_REQUESTS_PER_DOMAIN caps the whole crawl.
BASELINE_SETTINGS: dict[str, Any] = {
    "ROBOTSTXT_OBEY": False,
    "LOG_LEVEL": "INFO",
    "TELNETCONSOLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "DOWNLOAD_DELAY": 0,
    "COOKIES_ENABLED": True,  # Scrapy's default; darkcrawl records cookies too
    "REACTOR_THREADPOOL_MAXSIZE": 10,
}


class BaselineSpider(CrawlSpider):
    name = "baseline"
    allowed_domains = ["127.0.0.1"]  # noqa: RUF012 - Scrapy's own convention
    rules = (Rule(LinkExtractor(), follow=True),)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", required=True, help="start URL")
    parser.add_argument("--stats-file", help="write the final stats here as JSON")
    args = parser.parse_args(argv)

    # Imported here so that importing this module (e.g. to read the
    # settings) does not pull in the reactor machinery.
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from bench.statsdump import STATS_FILE_SETTING

    settings = Settings()
    settings.setdict(BASELINE_SETTINGS, priority="cmdline")
    if args.stats_file:
        # Bookkeeping only: counts HTML responses and dumps the stats.
        settings.set(STATS_FILE_SETTING, args.stats_file, priority="cmdline")
        settings.set("EXTENSIONS", {"bench.statsdump.JsonStatsDump": 1000}, priority="cmdline")
    process = CrawlerProcess(settings, install_root_handler=True)
    process.crawl(BaselineSpider, start_urls=[args.seed])
    process.start()


if __name__ == "__main__":
    main()
