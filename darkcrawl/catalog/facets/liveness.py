"""Liveness: every attempt on a host, its checks, its state, and the gates in front of it.

Tables (rules in :mod:`darkcrawl.intel.liveness`):

- ``attempts``: one row per plain-stage fetch or failed fetch that tells about the
  host: time, outcome (up, gated, down), status, reason, error, connect time and
  time to first byte;
- ``host_checks``: one row per host and time bucket (``DARKCRAWL_LIVENESS_WINDOW``
  seconds): the check's outcome and reason, recomputed from that bucket's attempts
  whenever one comes in;
- ``host_liveness``: one row per host: its state (up, down, gated, gone), the
  reason, since when, its last check and the last time it answered; the same state
  goes to ``hosts.state``;
- ``host_gates``: per host and kind of interstitial, first and last seen, and the
  snapshot that is the evidence (the first one).

Everything is recomputed from ``attempts`` for the buckets and hosts a batch
touched, so the order in which batches arrive (a fleet, a rebuild) does not
matter: a rebuild gives the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, ClassVar

from darkcrawl.catalog.facets import Batch, Facet, split_statements
from darkcrawl.config import get_option
from darkcrawl.intel.liveness import (
    ANSWERED,
    bucket_of,
    check_of,
    failure_outcome,
    host_state,
    visit_outcome,
)

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from typing_extensions import Self

    from darkcrawl.catalog.db import CatalogDB

_DDL = """
CREATE TABLE IF NOT EXISTS attempts (
    url TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    stage TEXT NOT NULL,            -- plain | bootstrap
    host TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- up | gated | down
    status INTEGER,
    reason TEXT,
    error TEXT,
    connect_ms INTEGER,             -- NULL: a pooled connection, or none was made
    ttfb_ms INTEGER,
    PRIMARY KEY (url, timestamp, stage)
);
CREATE INDEX IF NOT EXISTS attempts_host ON attempts (host, timestamp);
CREATE TABLE IF NOT EXISTS host_checks (
    host TEXT NOT NULL,
    bucket TEXT NOT NULL,           -- the start of its time bucket
    outcome TEXT NOT NULL,
    reason TEXT,
    attempts INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    PRIMARY KEY (host, bucket)
);
CREATE TABLE IF NOT EXISTS host_liveness (
    host TEXT PRIMARY KEY,
    state TEXT NOT NULL,            -- up | gated | down | gone
    reason TEXT,
    since TEXT NOT NULL,            -- the first check of the current state
    last_check TEXT NOT NULL,
    last_answer TEXT,               -- the last attempt the host answered (up or gated)
    checks INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS host_gates (
    host TEXT NOT NULL,
    kind TEXT NOT NULL,             -- queue | captcha | ban | login | proxy_error
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    evidence_url TEXT NOT NULL,     -- the first gated snapshot: (url, timestamp)
    evidence_timestamp TEXT NOT NULL,
    evidence TEXT,                  -- what was recognised, in words
    PRIMARY KEY (host, kind)
);
"""

_ATTEMPT_COLUMNS = ("url", "timestamp", "stage", "host", "outcome", "status", "reason", "error", "connect_ms",
                    "ttfb_ms")


class LivenessFacet(Facet):
    tables: ClassVar[tuple[str, ...]] = ("host_gates", "host_liveness", "host_checks", "attempts")
    dump_queries: ClassVar[dict[str, str]] = {
        "attempts": f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM attempts",
        "host_checks": "SELECT host, bucket, outcome, reason, attempts, answered FROM host_checks",
        "host_liveness": "SELECT host, state, reason, since, last_check, last_answer, checks FROM host_liveness",
        "host_gates": "SELECT host, kind, first_seen, last_seen, evidence_url, evidence_timestamp, evidence "
                      "FROM host_gates",
    }

    def __init__(self, window: float = 600.0, gone_after: float = 30 * 86400.0) -> None:
        self.window = window
        self.gone_after = gone_after

    @classmethod
    def from_settings(cls, settings: BaseSettings | None) -> Self:
        if settings is None:
            return cls()
        return cls(get_option(settings, "DARKCRAWL_LIVENESS_WINDOW"), get_option(settings, "DARKCRAWL_GONE_AFTER"))

    def statements(self, dialect: str) -> list[str]:
        return split_statements(_DDL)

    def write(self, db: CatalogDB, batch: Batch) -> None:
        rows = _attempt_rows(batch)
        if not rows:
            return
        db.insert_many("attempts", _ATTEMPT_COLUMNS, rows, "url, timestamp, stage")
        buckets = {(row[3], bucket_of(row[1], self.window)) for row in rows}
        for host, (start, end) in sorted(buckets):
            self._check(db, host, start, end)
        for host in sorted({row[3] for row in rows}):
            self._state(db, host)
        self._gates(db, batch)

    # -- checks and states ------------------------------------------------------------

    def _check(self, db: CatalogDB, host: str, start: str, end: str) -> None:
        attempts = db.execute("SELECT outcome, reason FROM attempts WHERE host = ? AND timestamp >= ? "
                              "AND timestamp < ?", (host, start, end)).fetchall()
        check = check_of((row["outcome"], row["reason"]) for row in attempts)
        db.execute("INSERT INTO host_checks (host, bucket, outcome, reason, attempts, answered) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (host, bucket) DO UPDATE SET outcome = excluded.outcome, "
                   "reason = excluded.reason, attempts = excluded.attempts, answered = excluded.answered",
                   (host, start, check.outcome, check.reason, check.attempts, check.answered))

    def _state(self, db: CatalogDB, host: str) -> None:
        latest = db.execute("SELECT bucket, outcome, reason FROM host_checks WHERE host = ? ORDER BY bucket DESC "
                            "LIMIT 1", (host,)).fetchone()
        other = db.execute("SELECT max(bucket) AS b FROM host_checks WHERE host = ? AND outcome != ?",
                           (host, latest["outcome"])).fetchone()["b"]
        since = db.execute("SELECT min(bucket) AS b FROM host_checks WHERE host = ? AND bucket > ?",
                           (host, other or "")).fetchone()["b"]
        checks = db.execute("SELECT count(*) AS n FROM host_checks WHERE host = ?", (host,)).fetchone()["n"]
        answers = db.execute(f"SELECT max(timestamp) AS t FROM attempts WHERE host = ? AND outcome IN "
                             f"({', '.join('?' * len(ANSWERED))})", (host, *sorted(ANSWERED))).fetchone()["t"]
        first = db.execute("SELECT min(timestamp) AS t FROM attempts WHERE host = ?", (host,)).fetchone()["t"]
        last = db.execute("SELECT max(timestamp) AS t FROM attempts WHERE host = ?", (host,)).fetchone()["t"]
        state = host_state(latest["outcome"], answers, first, last, self.gone_after)
        db.execute("INSERT INTO host_liveness (host, state, reason, since, last_check, last_answer, checks) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET state = excluded.state, "
                   "reason = excluded.reason, since = excluded.since, last_check = excluded.last_check, "
                   "last_answer = excluded.last_answer, checks = excluded.checks",
                   (host, state, latest["reason"], since, last, answers, checks))
        db.execute("UPDATE hosts SET state = ? WHERE host = ?", (state, host))

    # -- gates ------------------------------------------------------------------------------

    def _gates(self, db: CatalogDB, batch: Batch) -> None:
        """Each kind of gate a host showed: first and last seen, the first sighting as evidence."""
        seen: dict[tuple[str, str], list[tuple[str, str, str | None]]] = defaultdict(list)
        for visit in batch.visits:
            if visit.gate and not visit.render:
                evidence = visit.gate.get("evidence")
                seen[(visit.host, str(visit.gate.get("kind") or "gate"))].append(
                    (visit.timestamp, visit.url, str(evidence) if evidence else None))
        for (host, kind), sightings in sorted(seen.items()):
            first, last_seen = min(sightings), max(sightings)[0]
            row = db.execute("SELECT first_seen, last_seen, evidence_url, evidence FROM host_gates "
                             "WHERE host = ? AND kind = ?", (host, kind)).fetchone()
            if row is not None:
                last_seen = max(last_seen, row["last_seen"])
                if row["first_seen"] <= first[0]:  # the evidence stays the earliest sighting
                    first = (row["first_seen"], row["evidence_url"], row["evidence"])
            db.execute("INSERT INTO host_gates (host, kind, first_seen, last_seen, evidence_url, evidence_timestamp, "
                       "evidence) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host, kind) DO UPDATE SET "
                       "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
                       "evidence_url = excluded.evidence_url, evidence_timestamp = excluded.evidence_timestamp, "
                       "evidence = excluded.evidence",
                       (host, kind, first[0], last_seen, first[1], first[0], first[2]))


def _attempt_rows(batch: Batch) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for visit in batch.visits:
        if visit.render:
            continue
        status = visit.columns.get("status")
        outcome = visit_outcome(status, visit.gate)
        timing = visit.timing or {}
        rows.append((visit.url, visit.timestamp, "plain", visit.host, outcome.outcome, status, outcome.reason, None,
                     timing.get("connect_ms"), timing.get("ttfb_ms")))
    for failure in batch.failures:
        timing = {"ttfb_ms": failure.ttfb_ms}
        found = failure_outcome(failure.stage, failure.error, failure.reason, timing)
        if found is None:
            continue
        rows.append((failure.url, failure.timestamp, failure.stage, failure.host, found.outcome, None,
                     found.reason, failure.error, failure.connect_ms, failure.ttfb_ms))
    return rows
