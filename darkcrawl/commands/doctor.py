"""``scrapy doctor``: in seconds, whether what a crawl needs answers — Tor, I2P, the
ZeroNet and Freenet gateways, Chromium, Redis (fleets), the API URLs — and whether
``PATH_DATA`` is writable, with the settings a crawl would use.

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 on
a configuration error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from darkcrawl.command_base import QuietCommand, effective_or_config_error
from darkcrawl.doctor import FAIL, run_checks

if TYPE_CHECKING:
    import argparse


class Command(QuietCommand):
    requires_project = True

    def short_desc(self) -> str:
        return "Check in seconds that Tor, I2P, the gateways, Chromium, Redis and the API answer"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        settings = effective_or_config_error(self)
        if settings is None:
            return
        checks = run_checks(settings)
        for check in checks:
            print(check.line())
        failed = [check.name for check in checks if check.status == FAIL]
        if failed:
            print(f"{len(failed)} check(s) failed: {', '.join(failed)}")
            self.exitcode = 1
