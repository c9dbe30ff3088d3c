"""``scrapy settings``, showing what a crawl really uses.

Scrapy's command prints the profile's values before add-ons run, so it showed
Scrapy's defaults (``DOWNLOAD_DELAY 0``, ``ROBOTSTXT_OBEY False``, a Scrapy user
agent) and ignored darc's environment variables.  This one applies darkcrawl's
add-on (and so the environment) first, as a crawl does; ``--options`` lists every
option of :mod:`darkcrawl.config`'s table with its value and meaning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.commands.settings import Command as ScrapySettingsCommand

from darkcrawl.command_base import effective_or_config_error
from darkcrawl.config import OPTIONS

if TYPE_CHECKING:
    import argparse


class Command(ScrapySettingsCommand):
    def short_desc(self) -> str:
        return "Get settings values, as a crawl uses them (the profile's add-ons and darc's environment applied)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--options", action="store_true",
                            help="print darkcrawl's options: name, the value a crawl uses, what it means")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        effective = effective_or_config_error(self)
        if effective is None:
            return
        self.settings = effective
        if opts.options:
            for option in OPTIONS:
                print(f"{option.name}\t{effective[option.name]!r}\t{option.help}")
            return
        super().run(args, opts)
