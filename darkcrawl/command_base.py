"""What darkcrawl's own Scrapy commands share (outside ``darkcrawl/commands``: Scrapy
registers every command class defined in that package, a base class too)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.commands import ScrapyCommand

from darkcrawl.config import ConfigError, load
from darkcrawl.preflight import effective_settings
from darkcrawl.report.outcome import ExitCode

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


class QuietCommand(ScrapyCommand):
    """A command that runs no crawl and prints its own lines only (Scrapy's log off);
    its long help is its module's docstring."""

    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def long_desc(self) -> str:
        return (sys.modules[type(self).__module__].__doc__ or "").strip()


def loaded_or_config_error(command: ScrapyCommand, name: str) -> BaseSettings | None:
    """A copy of the command's settings with darkcrawl's options loaded (darc's
    environment applied); None after ``<name>: configuration error: ...`` was
    printed and the command's exit code set."""
    assert command.settings is not None
    settings = command.settings.copy()
    try:
        load(settings, os.environ)
    except ConfigError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        command.exitcode = int(ExitCode.CONFIG_ERROR)
        return None
    return settings


def effective_or_config_error(command: ScrapyCommand) -> BaseSettings | None:
    """The settings a crawl would use; None after the one-line configuration error
    was printed and the command's exit code set."""
    from darkcrawl.commands.crawl import config_error_line

    assert command.settings is not None
    try:
        return effective_settings(command.settings)
    except ConfigError as exc:
        print(config_error_line(exc), file=sys.stderr)
        command.exitcode = int(ExitCode.CONFIG_ERROR)
        return None
