"""``scrapy doctor``: in seconds, whether what a crawl needs answers — Tor, I2P, the
ZeroNet and Freenet gateways, Chromium, Redis (fleets), the API URLs — and whether
``PATH_DATA`` is writable, with the settings a crawl would use.

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 on
a configuration error.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.commands import ScrapyCommand

from darkcrawl.commands.crawl import config_error_line
from darkcrawl.config import ConfigError
from darkcrawl.doctor import FAIL, run_checks
from darkcrawl.preflight import effective_settings
from darkcrawl.report.outcome import ExitCode

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def short_desc(self) -> str:
        return "Check in seconds that Tor, I2P, the gateways, Chromium, Redis and the API answer"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            settings = effective_settings(self.settings)
        except ConfigError as exc:
            print(config_error_line(exc), file=sys.stderr)
            self.exitcode = int(ExitCode.CONFIG_ERROR)
            return
        checks = run_checks(settings)
        for check in checks:
            print(check.line())
        failed = [check.name for check in checks if check.status == FAIL]
        if failed:
            print(f"{len(failed)} check(s) failed: {', '.join(failed)}")
            self.exitcode = 1
