"""``scrapy shell``, darkcrawl's way: the crawl's routing and settings, but

- a refused or unroutable URL says why (Scrapy's shell drops the reason: ``response``
  is None and the next line fails with an AttributeError);
- nothing is written under ``PATH_DATA`` (no frontier, no link.csv, no pipelines):
  the shell saves nothing;
- a dead host fails at once instead of after retries and backoff waits (64 s for an
  offline ``example.org``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import scrapy.commands.shell as scrapy_shell_command
from scrapy.exceptions import IgnoreRequest
from scrapy.shell import Shell

from darkcrawl.failures import Transfer, failure_reason

if TYPE_CHECKING:
    from argparse import Namespace

    from scrapy import Request, Spider
    from scrapy.http import Response


class DarkcrawlShell(Shell):
    async def _schedule(self, request: Request, spider: Spider | None) -> Response:
        try:
            return await super()._schedule(request, spider)
        except IgnoreRequest as exc:
            print(f"darkcrawl: not fetched: {exc or type(exc).__name__}", file=sys.stderr)
            raise
        except Exception as exc:  # a dead host, DNS, TLS: one line, then the shell goes on
            reason, _error = failure_reason(exc, Transfer.of(request))
            print(f"darkcrawl: fetch failed {request.url}: {reason}", file=sys.stderr)
            raise IgnoreRequest(reason) from exc


@contextlib.contextmanager
def _shell_class(cls: type[Shell]) -> Iterator[None]:
    # Scrapy's command builds its Shell by name from its own module: no seam but this.
    original = scrapy_shell_command.Shell
    scrapy_shell_command.Shell = cls  # type: ignore[misc]
    try:
        yield
    finally:
        scrapy_shell_command.Shell = original  # type: ignore[misc]


class Command(scrapy_shell_command.Command):
    default_settings: ClassVar[dict[str, Any]] = {
        **scrapy_shell_command.Command.default_settings,
        "DARKCRAWL_SHELL": True,  # read by darkcrawl's add-on
    }

    def run(self, args: list[str], opts: Namespace) -> None:
        with _shell_class(DarkcrawlShell):
            super().run(args, opts)
