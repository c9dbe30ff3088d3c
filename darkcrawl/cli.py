"""``darkcrawl [-f FILE] [URL ...]``: darc's command line, running the same crawl as
``scrapy crawl darkweb``.

Run inside the project (where ``scrapy.cfg`` is) it uses the project's settings
profile; elsewhere it uses darkcrawl's add-on alone.  darc's environment variables
work the same either way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.conf import closest_scrapy_cfg
from scrapy.utils.project import get_project_settings

from darkcrawl import __version__
from darkcrawl.commands.crawl import config_error_line, crawl_exit_code
from darkcrawl.config import ConfigError
from darkcrawl.preflight import check_settings
from darkcrawl.report.outcome import ExitCode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="darkcrawl",
        description="Crawl the dark web and the clear web, keeping evidence (darc on Scrapy).",
    )
    parser.add_argument("-v", "--version", action="version", version=f"darkcrawl {__version__}")
    parser.add_argument("-f", "--file", action="append", default=[], metavar="FILE",
                        help="read seed links from FILE (one per line, '#' comments); repeatable")
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help="set a Scrapy/darkcrawl setting, e.g. -s TIME_CACHE=inf")
    parser.add_argument("-t", "--type", choices=("crawler", "loader"),
                        help="accepted for darc compatibility: one darkcrawl process runs both stages")
    parser.add_argument("link", nargs="*", help="seed links")
    return parser


def crawl_settings(overrides: Sequence[str]) -> Settings:
    if closest_scrapy_cfg():
        settings = get_project_settings()
    else:
        settings = Settings({
            "BOT_NAME": "darkcrawl",
            "SPIDER_MODULES": ["darkcrawl.spiders"],
            "ADDONS": {"darkcrawl.addon.Addon": 0},
            "TWISTED_DNS_RESOLVER": "darkcrawl.dns.GuardedResolver",
        })
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"-s expects NAME=VALUE, got {item!r}")
        settings.set(name.strip(), value, priority="cmdline")
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = [path for path in args.file if not _readable(path)]
    if missing:
        parser.error(f"seeds file not found: {', '.join(missing)}")
    if not args.file and not args.link:
        parser.error("give seed links, or -f FILE")
    try:
        settings = crawl_settings(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        check_settings(settings)
    except ConfigError as exc:
        print(config_error_line(exc), file=sys.stderr)
        return int(ExitCode.CONFIG_ERROR)
    from darkcrawl.spiders.darkweb import DarkwebSpider

    process = CrawlerProcess(settings)
    kwargs = {}
    if args.file:
        kwargs["seeds"] = ",".join(args.file)
    if args.link:
        kwargs["urls"] = ",".join(args.link)
    try:
        crawler = process.create_crawler(DarkwebSpider)
        process.crawl(crawler, **kwargs)
        process.start()
    except ConfigError as exc:
        print(config_error_line(exc), file=sys.stderr)
        return int(ExitCode.CONFIG_ERROR)
    return crawl_exit_code(crawler, getattr(process, "bootstrap_failed", False))


def _readable(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_file()


if __name__ == "__main__":
    sys.exit(main())
