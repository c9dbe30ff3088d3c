"""The viewer's, the API's and the exports' reads of the liveness facet
(:mod:`darkcrawl.catalog.facets.liveness`): each host's state, uptime and gate,
its checks as a timeline, its attempts, and CSV exports of them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from darkcrawl.catalog.queries import Page, paged
from darkcrawl.intel.liveness import ANSWERED, Transition, iso, transitions

if TYPE_CHECKING:
    from darkcrawl.catalog.db import CatalogDB

#: the periods uptime is given over: name -> days
UPTIME_PERIODS: tuple[tuple[str, int], ...] = (("1d", 1), ("7d", 7), ("30d", 30))
#: checks a host's timeline shows at most (30 days of 10-minute checks is 4,320)
TIMELINE_LIMIT = 5000
_CHUNK = 500

HOST_CSV_COLUMNS = ("host", "network", "state", "reason", "since", "first_seen", "last_seen", "last_up",
                    "last_answer", "checks", "uptime_1d", "uptime_7d", "uptime_30d", "gate", "gate_first_seen",
                    "pages", "failures", "title")
ATTEMPT_CSV_COLUMNS = ("host", "url", "timestamp", "stage", "outcome", "status", "reason", "error", "connect_ms",
                       "ttfb_ms")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def liveness_of(db: CatalogDB, hosts: Sequence[str], now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per host: state, reason, since, last_check, last_answer, checks, uptime per period
    (None without a check in it), and its latest gate (None without one)."""
    found: dict[str, dict[str, Any]] = {}
    moment = _now(now)
    starts = {name: iso(moment - timedelta(days=days)) for name, days in UPTIME_PERIODS}
    answered = ", ".join(f"'{o}'" for o in sorted(ANSWERED))
    sums = ", ".join(f"sum(CASE WHEN bucket >= ? THEN 1 ELSE 0 END) AS n_{name}, "
                     f"sum(CASE WHEN bucket >= ? AND outcome IN ({answered}) THEN 1 ELSE 0 END) AS a_{name}"
                     for name, _ in UPTIME_PERIODS)
    for chunk in _chunks(list(hosts)):
        marks = ", ".join("?" * len(chunk))
        for row in db.all(f"SELECT * FROM host_liveness WHERE host IN ({marks})", list(chunk)):
            found[row["host"]] = {**row, "uptime": {name: None for name, _ in UPTIME_PERIODS}, "gate": None}
        params = [value for name, _ in UPTIME_PERIODS for value in (starts[name], starts[name])]
        for row in db.all(f"SELECT host, {sums} FROM host_checks WHERE host IN ({marks}) AND bucket >= ? "
                          "GROUP BY host", [*params, *chunk, starts["30d"]]):
            if row["host"] in found:
                found[row["host"]]["uptime"] = {
                    name: (round(row[f"a_{name}"] / row[f"n_{name}"], 4) if row[f"n_{name}"] else None)
                    for name, _ in UPTIME_PERIODS}
        for row in db.all(f"SELECT * FROM host_gates WHERE host IN ({marks}) ORDER BY last_seen", list(chunk)):
            if row["host"] in found:
                found[row["host"]]["gate"] = _gate(db, row)
    return found


def _gate(db: CatalogDB, row: dict[str, Any]) -> dict[str, Any]:
    snapshot = db.value("SELECT id FROM snapshots WHERE url = ? AND timestamp = ?",
                        [row["evidence_url"], row["evidence_timestamp"]])
    return {"kind": row["kind"], "first_seen": row["first_seen"], "last_seen": row["last_seen"],
            "evidence": {"url": row["evidence_url"], "timestamp": row["evidence_timestamp"],
                         "snapshot_id": snapshot, "text": row["evidence"]}}


def host_gates(db: CatalogDB, host: str) -> list[dict[str, Any]]:
    return [_gate(db, row) for row in db.all("SELECT * FROM host_gates WHERE host = ? ORDER BY first_seen", [host])]


def host_checks(db: CatalogDB, host: str, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
    """The host's checks of the last *days* days, oldest first."""
    since = iso(_now(now) - timedelta(days=days))
    rows = db.all("SELECT bucket, outcome, reason, attempts, answered FROM host_checks WHERE host = ? AND "
                  "bucket >= ? ORDER BY bucket DESC LIMIT ?", [host, since, TIMELINE_LIMIT])
    return list(reversed(rows))


def host_transitions(db: CatalogDB, host: str, limit: int = 50) -> list[Transition]:
    """The host's latest changes of state, newest first."""
    rows = db.all("SELECT bucket, outcome, reason FROM host_checks WHERE host = ? ORDER BY bucket DESC LIMIT ?",
                  [host, TIMELINE_LIMIT])
    checks = [(r["bucket"], r["outcome"], r["reason"]) for r in reversed(rows)]
    return list(reversed(transitions(checks)))[:limit]


def host_attempts(db: CatalogDB, host: str, page: int = 1, limit: int = 50) -> Page:
    return paged(db, f"SELECT {', '.join(ATTEMPT_CSV_COLUMNS)} FROM attempts WHERE host = ? "
                      "ORDER BY timestamp DESC", [host], page, limit)


# -- CSV ----------------------------------------------------------------------------------

def _csv_line(values: Sequence[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return out.getvalue()


def hosts_csv(db: CatalogDB, now: datetime | None = None) -> Iterator[str]:
    """Every host with its liveness, one CSV line each (a header first)."""
    yield _csv_line(HOST_CSV_COLUMNS)
    names = [row["host"] for row in db.all("SELECT host FROM hosts ORDER BY host")]
    for chunk in _chunks(names):
        marks = ", ".join("?" * len(chunk))
        hosts = {row["host"]: row for row in db.all(f"SELECT * FROM hosts WHERE host IN ({marks})", list(chunk))}
        live = liveness_of(db, chunk, now)
        for name in chunk:
            host, state = hosts[name], live.get(name, {})
            uptime, gate = state.get("uptime") or {}, state.get("gate") or {}
            yield _csv_line([name, host["network"], host["state"], state.get("reason"), state.get("since"),
                             host["first_seen"], host["last_seen"], host["last_up"], state.get("last_answer"),
                             state.get("checks"), uptime.get("1d"), uptime.get("7d"), uptime.get("30d"),
                             gate.get("kind"), gate.get("first_seen"), host["pages"], host["failures"],
                             host["title"]])


def attempts_csv(db: CatalogDB, host: str | None = None) -> Iterator[str]:
    """Every attempt (of one host, or all), oldest first, one CSV line each."""
    yield _csv_line(ATTEMPT_CSV_COLUMNS)
    where, params = ("WHERE host = ? ", [host]) if host else ("", [])
    last: tuple[str, str, str] = ("", "", "")
    while True:  # keyset pages: a long history is never one result set in memory
        rows = db.all(f"SELECT {', '.join(ATTEMPT_CSV_COLUMNS)} FROM attempts {where}"
                      f"{'AND' if where else 'WHERE'} (timestamp, url, stage) > (?, ?, ?) "
                      "ORDER BY timestamp, url, stage LIMIT 5000", [*params, *last])
        if not rows:
            return
        for row in rows:
            yield _csv_line([row[c] for c in ATTEMPT_CSV_COLUMNS])
        tail = rows[-1]
        last = (tail["timestamp"], tail["url"], tail["stage"])
