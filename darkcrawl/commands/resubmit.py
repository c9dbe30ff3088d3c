"""``scrapy resubmit``: deliver the payloads left in ``PATH_DATA/api`` to the API.

Payloads stay spooled when the API was down, slow or unset during a crawl, or when
the crawl was killed.  This sends each one (oldest first) to the URL configured for
its event (``API_NEW_HOST``, ``API_REQUESTS``, ``API_SELENIUM``, from the settings
profile, ``-s`` or the environment), with the same idempotency key a crawl uses,
and deletes it once the API answered 2xx.  darc's own leftovers (same layout) are
delivered too.

Exit status: 0 when nothing is left in the spool, 1 when something is (no URL for
its event, the API refused it or stayed unreachable), 2 on a configuration error.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from darkcrawl.command_base import QuietCommand, loaded_or_config_error
from darkcrawl.submission import API_SETTINGS, EVENTS
from darkcrawl.submission.spool import Outcome, Spool, make_client, send

if TYPE_CHECKING:
    import argparse

    import httpx2

#: POSTs at once; a dead endpoint costs one round of attempts, not one per file
CONCURRENCY = 16


@dataclass
class Report:
    counts: dict[str, Counter[str]] = field(default_factory=lambda: {e: Counter() for e in EVENTS})

    def add(self, event: str, what: str) -> None:
        self.counts[event][what] += 1

    @property
    def left(self) -> int:
        return sum(c[k] for c in self.counts.values() for k in ("failed", "rejected", "skipped", "kept"))


async def resubmit(spool: Spool, urls: dict[str, str], retries: int, *, timeout: float = 30.0,
                   backoff: float = 0.5) -> Report:
    report = Report()
    down: set[str] = set()
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(client: httpx2.AsyncClient, event: str, path: Path) -> None:
        async with limit:
            if event in down:  # it failed every attempt for an earlier payload: don't insist
                report.add(event, "skipped")
                return
            result = await send(client, urls[event], path, retries=retries, backoff=backoff, root=spool.root,
                                on_retry=lambda: report.add(event, "retried"))
            if result.outcome is Outcome.DELIVERED:
                spool.done(path)
                report.add(event, "delivered")
            elif result.outcome is Outcome.FAILED:
                down.add(event)
                report.add(event, "failed")
                print(f"{event}: {path.name}: {result.detail}")
            elif result.outcome is Outcome.REJECTED:
                report.add(event, "rejected")
                print(f"{event}: {path.name}: refused, {result.detail}")

    async with make_client(timeout, CONCURRENCY) as client:
        tasks: set[asyncio.Task[None]] = set()
        for event, path in spool.pending():
            if event not in urls:
                report.add(event, "kept")
                continue
            # bounded: at most a few batches of tasks exist, however big the spool
            while len(tasks) >= 4 * CONCURRENCY:
                _done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            tasks.add(asyncio.create_task(one(client, event, path)))
        if tasks:
            await asyncio.wait(tasks)
    spool.prune()
    return report


class Command(QuietCommand):  # no crawl: it runs its own asyncio loop, not Twisted's
    requires_project = False

    def syntax(self) -> str:
        return "[-s PATH_DATA=DIR] [-s API_REQUESTS=URL ...]"

    def short_desc(self) -> str:
        return "Deliver the API payloads left in PATH_DATA/api"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        settings = loaded_or_config_error(self, "resubmit")
        if settings is None:
            return
        spool = Spool(Path(settings["PATH_DATA"]))
        urls = {event: settings[name] for event, name in API_SETTINGS.items() if settings[name]}
        report = asyncio.run(resubmit(spool, urls, settings.getint("API_RETRY")))
        for event in EVENTS:
            counts = report.counts[event]
            if counts:
                shown = [f"{what} {counts[what]}" for what in
                         ("delivered", "retried", "failed", "rejected", "skipped") if counts[what]]
                if counts["kept"]:
                    shown.append(f"kept {counts['kept']} (no {API_SETTINGS[event]})")
                print(f"{event}: {', '.join(shown)}")
        left = report.left
        print(f"resubmit: {sum(c['delivered'] for c in report.counts.values())} delivered, {left} left in {spool.dir}")
        self.exitcode = 0 if left == 0 else 1
