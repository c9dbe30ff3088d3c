"""A crawl's JSON state file (``misc/hosts_backoff.json``, ``misc/hosts_gates.json``):
rewritten atomically a moment after it changes (changes within that moment go in one
write) and when the crawl closes; a crawl that has nothing to say leaves no file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.utils.asyncio import call_later

from darkcrawl.storage.atomic import atomic_write

if TYPE_CHECKING:
    from scrapy.utils.asyncio import CallLaterResult

#: Changes within this many seconds go to the file in one write.
SAVE_DELAY = 1.0


class StateFile:
    """*report* makes the file's content; its ``"hosts"`` list empty and no file yet: no file."""

    def __init__(self, path: Path, report: Callable[[], dict[str, Any]], delay: float = SAVE_DELAY) -> None:
        self.path = path
        self.report = report
        self.delay = delay
        self._call: CallLaterResult | None = None
        self._open = False

    def changed(self) -> None:
        if self._open and self._call is None:
            self._call = call_later(self.delay, self.save)

    def save(self) -> None:
        self._call = None
        report = self.report()
        if report.get("hosts") or self.path.exists():
            atomic_write(self.path, json.dumps(report, indent=1).encode())

    def opened(self) -> None:
        self._open = True

    def closed(self) -> None:
        self._open = False
        if self._call is not None:
            self._call.cancel()
            self._call = None
        self.save()
