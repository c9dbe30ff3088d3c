"""The exit code of a crawl, decided from its stats and its finish reason.

The same table serves ``scrapy crawl darkweb`` and ``darkcrawl``: a script (or a
scheduler) can tell "it ran" from "it fetched nothing" from "Tor never came up".
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    NOTHING_FETCHED = 1
    CONFIG_ERROR = 2
    NETWORK_UNAVAILABLE = 3
    INTERRUPTED = 4


#: What each code means, for the README table, the summary and ``--help`` texts.
MEANINGS: Mapping[ExitCode, str] = {
    ExitCode.OK: "the crawl ran and fetched at least one page (or every seed was fetched recently: none was due)",
    ExitCode.NOTHING_FETCHED: "nothing was fetched: every seed failed or was refused, or there was nothing to crawl",
    ExitCode.CONFIG_ERROR: "configuration or usage error: nothing was crawled",
    ExitCode.NETWORK_UNAVAILABLE: "a network the seeds need (Tor, I2P, a gateway) was unavailable",
    ExitCode.INTERRUPTED: "stopped by a signal (Ctrl-C, SIGTERM) before the round ended: run it again to resume",
}

#: Scrapy finish reasons of a crawl stopped from outside.
_INTERRUPTED = frozenset({"shutdown", "cancelled"})
_CONFIG = frozenset({"config_error"})


def pages_fetched(stats: Mapping[str, Any]) -> int:
    """Documents the plain stage got an answer for (any status: a 404 is evidence),
    and renders (a resumed crawl may only have a render left to redo)."""
    return int(stats.get("darkcrawl/pages", 0) or 0) + int(stats.get("darkcrawl/render/pages", 0) or 0)


def unavailable_networks(stats: Mapping[str, Any]) -> dict[str, int]:
    """Requests that failed because their network was not there, by network."""
    prefix = "darkcrawl/network/unavailable/"
    return {key[len(prefix):]: int(value) for key, value in stats.items()
            if key.startswith(prefix) and value}


def missing_networks(stats: Mapping[str, Any]) -> set[str]:
    """Networks a seed needed and did not have (Tor never bootstrapped, I2P off).
    A link to an onion found on a clear-web page while Tor is away is not one: the
    summary lists those."""
    prefix = "darkcrawl/network/unavailable_seeds/"
    return {key[len(prefix):] for key, value in stats.items() if key.startswith(prefix) and value}


def exit_code(stats: Mapping[str, Any], finish_reason: str | None) -> ExitCode:
    """The most serious of what happened: configuration, interruption, a missing
    network, an empty result, in that order."""
    if finish_reason in _CONFIG:
        return ExitCode.CONFIG_ERROR
    if finish_reason in _INTERRUPTED:
        return ExitCode.INTERRUPTED
    if missing_networks(stats):
        return ExitCode.NETWORK_UNAVAILABLE
    if not pages_fetched(stats) and not stats.get("darkcrawl/seeds/not_due"):
        return ExitCode.NOTHING_FETCHED
    return ExitCode.OK
