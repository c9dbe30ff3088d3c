"""Checks a crawl's settings before anything starts, so that a mistake is one line
naming the setting, the value and what is expected, and no traceback.

The add-on validates darkcrawl's options too, but it runs inside Scrapy's crawler
start-up, where an exception becomes an asyncio traceback; the ``crawl`` command
and ``darkcrawl`` call :func:`check_settings` first.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scrapy.settings import BaseSettings
from scrapy.utils.misc import load_object

from darkcrawl.config import ConfigError
from darkcrawl.render.browser import browser_missing, chromium_binary

#: Scrapy settings darkcrawl sets or relies on, and what each must be.
def _number(value: Any) -> float:
    number = float(value)
    if number < 0:
        raise ValueError
    return number


def _count(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = int(str(value).strip()) if not isinstance(value, int) else value
    if number < 0:
        raise ValueError
    return number


def _flag(value: Any) -> bool:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    if str(value).strip().lower() in {"0", "1", "true", "false", "yes", "no", "on", "off", ""}:
        return True
    raise ValueError


def _level(value: Any) -> str:
    if isinstance(value, int) or str(value).upper() in logging.getLevelNamesMapping():
        return str(value)
    raise ValueError


SCRAPY_SETTINGS: Mapping[str, tuple[Callable[[Any], Any], str]] = {
    "DOWNLOAD_DELAY": (_number, "a number of seconds (0 or more)"),
    "DOWNLOAD_TIMEOUT": (_number, "a number of seconds (0 or more)"),
    "DOWNLOAD_MAXSIZE": (_count, "a number of bytes (0: no limit)"),
    "DOWNLOAD_WARNSIZE": (_count, "a number of bytes (0: no warning)"),
    "CONCURRENT_REQUESTS": (_count, "a whole number of requests"),
    "CONCURRENT_REQUESTS_PER_DOMAIN": (_count, "a whole number of requests"),
    "CONCURRENT_ITEMS": (_count, "a whole number of items"),
    "RETRY_TIMES": (_count, "a whole number of retries"),
    "REDIRECT_MAX_TIMES": (_count, "a whole number of redirects"),
    "DEPTH_LIMIT": (_count, "a whole number (0: no limit)"),
    "URLLENGTH_LIMIT": (_count, "a whole number of characters"),
    "CLOSESPIDER_TIMEOUT": (_number, "a number of seconds (0: none)"),
    "CLOSESPIDER_ITEMCOUNT": (_count, "a whole number (0: none)"),
    "CLOSESPIDER_PAGECOUNT": (_count, "a whole number (0: none)"),
    "ROBOTSTXT_OBEY": (_flag, "0 or 1"),
    "HTTPERROR_ALLOW_ALL": (_flag, "0 or 1"),
    "LOG_LEVEL": (_level, "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
}


def check_scrapy_settings(settings: BaseSettings) -> None:
    for name, (parse, expected) in SCRAPY_SETTINGS.items():
        value = settings.get(name)
        if value is None:
            continue
        try:
            parse(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r}: expected {expected}") from None


def check_writable_folder(name: str, path: str) -> None:
    """*path* is, or can be created as, a folder this process may write in."""
    folder = Path(path).expanduser()
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "" if probe == folder else f" ({probe} is a file)"
        raise ConfigError(f"{name}={path!r}: expected a folder, but it is not one{where}")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}={path!r}: {probe} is not writable by this user")


def effective_settings(settings: BaseSettings) -> BaseSettings:
    """A copy of *settings* as a crawl will have them: every add-on of the profile
    applied in order (darc's environment variables with them).  Raises
    :class:`ConfigError` as the add-ons do."""
    from darkcrawl.addon import Addon

    trial = settings.copy()
    for path, _priority in sorted(trial.getdict("ADDONS").items(), key=lambda entry: entry[1]):
        cls = load_object(path) if isinstance(path, str) else path
        addon = cls(quiet=True) if cls is Addon else cls()
        addon.update_settings(trial)
    return trial


def check_settings(settings: BaseSettings) -> None:
    """Raise :class:`ConfigError` with a one-line reason for the first setting that
    cannot work: darkcrawl's options (environment applied, as the add-on does), the
    Scrapy settings it relies on, the browser of the render stage, and the output folder."""
    trial = effective_settings(settings)
    check_scrapy_settings(trial)
    if trial.getbool("DARKCRAWL_RENDER"):
        missing = browser_missing(chromium_binary(trial["DARKCRAWL_CHROMIUM"]))
        if missing:
            raise ConfigError(f"DARKCRAWL_CHROMIUM: {missing}")
    check_writable_folder("PATH_DATA", trial["PATH_DATA"])
    if trial.get("JOBDIR"):
        check_writable_folder("JOBDIR", trial["JOBDIR"])
