"""The crawl's gated hosts: the gate table (:mod:`darkcrawl.policy.gates`) with its stats,
its log lines and its state file, shared by the gate middleware (which holds and paces
requests and reads most answers) and the spider (which reads the pages the middleware
did not look at closely, and records every gate page).

One per crawl (:meth:`GateBook.for_crawler`); ``DARKCRAWL_GATES=0`` has none.  Every
host that showed a gate is in ``PATH_DATA/misc/hosts_gates.json`` (rewritten a second
after a change, and when the crawl closes): its gate, evidence, phase, rounds,
bans, waits, and when it was first and last seen.

Stats: ``darkcrawl/gates/<kind>`` (gate pages met), ``darkcrawl/gates/waits`` (waits
begun: queue rounds and bans), ``darkcrawl/gates/passed`` (waits that ended behind the
gate), ``darkcrawl/gates/banned``, ``darkcrawl/gates/needs_person`` and
``darkcrawl/gates/gave_up`` (hosts), ``darkcrawl/gates/refused`` (requests failed
because of them), ``darkcrawl/gates/wait_seconds``.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

from darkcrawl.config import ConfigError, get_option, options_into
from darkcrawl.storage.cookiestore import CookieImports
from darkcrawl.policy.gates import Action, Admission, GatePolicy, GateTable, Phase
from darkcrawl.storage.paths import GATES_STATE_FILE
from darkcrawl.storage.statefile import StateFile

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from darkcrawl.intel.gates import Gate

logger = logging.getLogger(__name__)

_ATTRIBUTE = "_darkcrawl_gate_book"


def _utc(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GateBook:
    def __init__(self, table: GateTable, stats: StatsCollector, path: Path | None,
                 imports: CookieImports | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table
        self.stats = stats
        self.path = path
        self.imports = imports
        self._clock = clock
        #: key -> (first seen, last seen), wall clock
        self._seen: dict[str, list[float]] = {}
        self.state_file = StateFile(path, self.report) if path is not None else None

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> GateBook | None:
        """The crawl's book (made on first use); None with ``DARKCRAWL_GATES=0``."""
        if hasattr(crawler, _ATTRIBUTE):
            return getattr(crawler, _ATTRIBUTE)
        settings = crawler.settings
        book: GateBook | None = None
        if get_option(settings, "DARKCRAWL_GATES"):
            try:
                policy = options_into(GatePolicy, settings, margin="DARKCRAWL_GATE_MARGIN",
                                      max_wait="DARKCRAWL_GATE_MAX_WAIT", max_rounds="DARKCRAWL_GATE_MAX_ROUNDS",
                                      ban_wait="DARKCRAWL_GATE_BAN_WAIT", rest="DARKCRAWL_GATE_REST",
                                      rate="DARKCRAWL_GATE_RATE", burst="DARKCRAWL_GATE_BURST")
            except ValueError as exc:
                raise ConfigError(f"DARKCRAWL_GATE_*: {exc}") from None
            # `scrapy shell` holds and paces as a crawl does, and writes nothing under PATH_DATA
            path = None if settings.getbool("DARKCRAWL_SHELL") else Path(settings["PATH_DATA"]) / GATES_STATE_FILE
            book = cls(GateTable(policy), crawler.stats, path, CookieImports.for_crawler(crawler))
            if book.state_file is not None:
                crawler.signals.connect(book.state_file.opened, signal=signals.spider_opened)
                crawler.signals.connect(book.state_file.closed, signal=signals.spider_closed)
        setattr(crawler, _ATTRIBUTE, book)
        return book

    # -- before a request -------------------------------------------------------------------

    def cookies_version(self, hostname: str) -> str | None:
        return self.imports.version_of(hostname) if self.imports is not None else None

    def watch_if_imported(self, key: str, hostname: str) -> bool:
        """Start pacing *key* when cookies were imported for its host (a person passed its
        gate: the front is there all the same); True when the host is watched now."""
        if self.imports is None or not self.imports.any() or self.cookies_version(hostname) is None:
            return False
        self.table.watch(key)
        self.stats.inc_value("darkcrawl/gates/imported_hosts")
        logger.info("Host %s has imported cookies: paced as a gated host", key)
        return True

    def admit(self, key: str, hostname: str, lease: float) -> Admission:
        state = self.table.hosts.get(key)
        cookies = self.cookies_version(hostname) if state is not None and state.phase is Phase.PERSON else None
        was = state.phase if state is not None else None
        admission = self.table.admit(key, self._clock(), lease, cookies)
        if was is Phase.PERSON and state is not None and state.phase is not Phase.PERSON:
            logger.info("Host %s: cookies were imported for it: trying them", key)
            self.stats.inc_value("darkcrawl/gates/cookies_tried")
        return admission

    def pace(self, key: str) -> float:
        return self.table.pace(key, self._clock())

    def waiting(self) -> bool:
        return self.table.waiting()

    def phase(self, key: str) -> Phase | None:
        state = self.table.hosts.get(key)
        return state.phase if state is not None else None

    def not_before(self, key: str) -> float:
        state = self.table.hosts.get(key)
        return state.not_before if state is not None else 0.0

    # -- after an answer ------------------------------------------------------------------

    def met(self, key: str, gate: Gate, token: int | None, hostname: str, url: str) -> dict[str, Any]:
        """The host answered *url* with *gate*: the table is told, the stats and the log too.
        Returns the gate as the page's records carry it (what was seen, and what the crawl
        does about it: ``action``, ``round``)."""
        now, wall = self._clock(), time.time()
        state = self.table.hosts.get(key)
        before = (state.phase, state.bans, state.rounds) if state is not None else (None, 0, 0)
        action = self.table.met(key, gate, token, now, self.cookies_version(hostname))
        state = self.table.hosts.get(key)
        self.stats.inc_value(f"darkcrawl/gates/{gate.kind}")
        seen = self._seen.setdefault(key, [wall, wall])
        seen[1] = wall
        record = {**gate.as_dict(), "action": action.value, "first_seen": _utc(seen[0])}
        if state is None:  # a proxy's error page: nothing to keep about the host
            return record
        record["round"] = state.rounds
        if state.reason:
            record["reason"] = state.reason
        self._told(key, gate, action, before, hostname, url)
        self._changed()
        return record

    def _told(self, key: str, gate: Gate, action: Action, before: tuple[Phase | None, int, int], hostname: str,
              url: str) -> None:
        """Stats and log lines of a gate met: once per change, not once per page."""
        was, bans_before, rounds_before = before
        state = self.table.hosts[key]
        if state.bans > bans_before:
            self.stats.inc_value("darkcrawl/gates/banned")
            logger.warning("Host %s banned us (%s) at %s: its cookies are dropped, a fresh start after the wait",
                           key, gate.evidence, url)
        if action is Action.WAIT and was is not Phase.WAIT:
            self.stats.inc_value("darkcrawl/gates/waits")
            logger.info("Host %s is gated (%s): waiting %.1f s before trying again", key, gate.evidence,
                        max(0.0, self.not_before(key) - self._clock()))
        elif action is Action.WAIT and state.rounds > rounds_before:
            self.stats.inc_value("darkcrawl/gates/waits")
        if action is Action.PERSON and was is not Phase.PERSON:
            self.stats.inc_value("darkcrawl/gates/needs_person")
            logger.warning("Host %s needs a person: %s at %s. Its other URLs wait; import a session with "
                           "`scrapy cookies import %s FILE` and the next visit uses it", key, gate.evidence, url,
                           hostname)
        if action is Action.GIVE_UP and was is not Phase.GAVE_UP:
            self.stats.inc_value("darkcrawl/gates/gave_up")
            logger.warning("Host %s given up: %s", key, self.table.hosts[key].reason)

    def passed(self, key: str, token: int | None) -> bool:
        """The host answered with its content; True when that ended a wait."""
        state = self.table.hosts.get(key)
        if state is None:
            return False
        waited_before = state.waited
        if not self.table.passed(key, token, self._clock()):
            return False
        waited = state.waited - waited_before
        self.stats.inc_value("darkcrawl/gates/passed")
        self.stats.inc_value("darkcrawl/gates/wait_seconds", round(waited, 3))
        logger.info("Host %s let us in after %.1f s (%s)", key, waited, state.evidence)
        self._changed()
        return True

    def dropped(self, key: str, token: int | None, error: str) -> bool:
        """The probe's connection died without an answer; True when taken for a ban."""
        state = self.table.hosts.get(key)
        if state is None or not self.table.dropped(key, token, self._clock()):
            return False
        self.stats.inc_value("darkcrawl/gates/banned")
        logger.warning("Host %s closed the connection right after its wait (%s): taken for a ban; its cookies "
                       "are dropped, a fresh start in %.0f s", key, error, max(0.0, state.not_before - self._clock()))
        if state.phase is Phase.GAVE_UP:
            self.stats.inc_value("darkcrawl/gates/gave_up")
            logger.warning("Host %s given up: %s", key, state.reason)
        self._changed()
        return True

    def released(self, key: str, token: int | None) -> None:
        self.table.released(key, token)

    # -- the state file ---------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        now, wall = self._clock(), time.time()
        hosts = []
        for key, state in sorted(self.table.hosts.items()):
            first, last = self._seen.get(key, [wall, wall])
            hosts.append({
                "host": key, "gate": state.kind, "rule": state.rule, "evidence": state.evidence,
                "state": state.phase.value, "first_seen": _utc(first), "last_seen": _utc(last),
                "rounds": state.rounds, "episodes": state.episodes, "passed": state.passed, "bans": state.bans,
                "waited": round(state.waited, 3), "reason": state.reason or None,
                "next_try": _utc(wall - now + state.not_before) if state.phase is not Phase.OPEN
                and math.isfinite(state.not_before) and state.not_before > now else None,
            })
        policy = self.table.policy
        return {"updated": _utc(wall),
                "policy": {"margin": policy.margin, "max_wait": policy.max_wait, "max_rounds": policy.max_rounds,
                           "ban_wait": policy.ban_wait, "rate": policy.rate, "burst": policy.burst},
                "hosts": hosts}

    def _changed(self) -> None:
        if self.state_file is not None:
            self.state_file.changed()
