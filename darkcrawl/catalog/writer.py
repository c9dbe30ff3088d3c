"""Batches of rows -> the catalogue, one transaction per batch.

Idempotent: every row has its natural key (a snapshot is its URL and visit time,
a failure its URL, time and stage), so a batch written twice (a re-run, a
rebuild, a retried transaction) adds nothing.  Host rows are locked first, in
host order, and merged in Python: two workers writing one PostgreSQL catalogue
serialise on the hosts they share and never deadlock; their counts add up
because only rows that were new in this transaction count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.catalog.facets import Batch, Facet, build_facets
from darkcrawl.catalog.rows import FailureRow, Visit

#: the stages whose failures can say the host did not answer (a render cut by its
#: budget says nothing about the host being up)
DOWN_STAGES = frozenset(("plain", "bootstrap"))
#: failures of one page, refused by the crawl itself: the host answered
PAGE_ERRORS = frozenset(("RobotsTxtDisallowed", "DownloadMaxSize", "HtmlTooDeep", "AddressRefused",
                         "HeadersTooLarge", "TrapLimit"))

_PAGE_COLUMNS = ("final_url", "status", "mime", "sha256", "content_digest", "duplicate_of", "size", "source",
                 "raw_path", "headers_path")
_RENDER_COLUMNS = ("final_url", "rendered_path", "screenshot_path", "rendered_size", "screenshot_size",
                   "rendered_at")


@dataclass(frozen=True, slots=True)
class _SnapshotSQL:
    """The statements that write one kind of visit (a fetch, a render) into ``snapshots``."""

    columns: tuple[str, ...]
    insert: str
    update: str
    update_titled: str

    @classmethod
    def of(cls, columns: tuple[str, ...]) -> _SnapshotSQL:
        names = ("url", "timestamp", "host", "network", "title", *columns)
        sets = ", ".join(f"{c} = ?" for c in columns)
        where = "WHERE url = ? AND timestamp = ? RETURNING id, rendered_at"
        return cls(columns,
                   f"INSERT INTO snapshots ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
                   "ON CONFLICT (url, timestamp) DO NOTHING RETURNING id, rendered_at",
                   f"UPDATE snapshots SET {sets} {where}", f"UPDATE snapshots SET {sets}, title = ? {where}")


_SNAPSHOT_SQL = {False: _SnapshotSQL.of(_PAGE_COLUMNS), True: _SnapshotSQL.of(_RENDER_COLUMNS)}


@dataclass(slots=True)
class _HostChange:
    network: str
    scheme: str
    first: str
    last: str
    last_up: str | None = None
    last_failure: str | None = None
    last_reason: str | None = None
    new_pages: int = 0
    new_failures: int = 0
    title: str | None = None
    title_at: str | None = None

    def seen(self, when: str) -> None:
        self.first = min(self.first, when)
        self.last = max(self.last, when)


@dataclass(slots=True)
class WriteCounts:
    snapshots: int = 0
    renders: int = 0
    failures: int = 0
    links: int = 0
    sightings: int = 0
    hosts: set[str] = field(default_factory=set)


def _later(a: str | None, b: str | None) -> str | None:
    return b if a is None or (b is not None and b > a) else a


class CatalogWriter:
    def __init__(self, db: CatalogDB, facets: list[Facet] | None = None) -> None:
        self.db = db
        #: written after the core rows, in the same transaction (darkcrawl.catalog.facets)
        self.facets = build_facets() if facets is None else facets
        self._entity_ids: dict[tuple[str, str], int] = {}  # committed ones only
        self._texts: dict[int, tuple[int, str, str, bool]] = {}  # this transaction's, written last
        self._links: list[tuple[int, str, str | None]] = []
        self._sightings: list[tuple[int, int]] = []

    def write(self, visits: Iterable[Visit], failures: Iterable[FailureRow] = ()) -> WriteCounts:
        visits, failures = list(visits), list(failures)
        counts = WriteCounts()
        if not visits and not failures:
            return counts
        changes = self._changes(visits, failures)
        new_entities: dict[tuple[str, str], int] = {}
        self._texts, self._links, self._sightings = {}, [], []
        batch = Batch(visits, failures)
        with self.db.transaction():
            current = self._lock_hosts(changes)
            for visit in visits:
                self._write_visit(visit, changes[visit.host], counts, new_entities, batch)
            for failure in failures:
                self._write_failure(failure, changes[failure.host], counts, batch)
            self._update_hosts(changes, current)
            self.db.insert_many("links", ("source_id", "target", "target_host"), self._links, "source_id, target")
            self.db.insert_many("sightings", ("entity_id", "snapshot_id"), self._sightings, "entity_id, snapshot_id")
            self._flush_texts()
            for facet in self.facets:
                facet.write(self.db, batch)
        self._entity_ids.update(new_entities)
        if len(self._entity_ids) > 200_000:  # a bounded cache: it only saves lookups
            self._entity_ids.clear()
        counts.hosts = set(changes)
        return counts

    # -- hosts ------------------------------------------------------------------------

    @staticmethod
    def _changes(visits: list[Visit], failures: list[FailureRow]) -> dict[str, _HostChange]:
        changes: dict[str, _HostChange] = {}
        for visit in visits:
            change = changes.get(visit.host)
            if change is None:
                change = changes[visit.host] = _HostChange(visit.network, visit.scheme, visit.timestamp, visit.timestamp)
            change.seen(visit.timestamp)
        for failure in failures:
            change = changes.get(failure.host)
            if change is None:
                scheme = failure.url.split(":", 1)[0].lower() if ":" in failure.url else ""
                change = changes[failure.host] = _HostChange(failure.network, scheme, failure.timestamp,
                                                             failure.timestamp)
            change.seen(failure.timestamp)
        return changes

    def finish(self) -> None:
        """The facets' work that needs every row (after a rebuild, at a crawl's close)."""
        for facet in self.facets:
            with self.db.transaction():
                facet.finish(self.db)

    def _lock_hosts(self, changes: dict[str, _HostChange]) -> dict[str, dict[str, Any]]:
        hosts = sorted(changes)
        self.db.executemany(
            "INSERT INTO hosts (host, network, scheme, first_seen, last_seen, state) VALUES (?, ?, ?, ?, ?, 'unknown') "
            "ON CONFLICT (host) DO NOTHING",
            [(h, changes[h].network, changes[h].scheme, changes[h].first, changes[h].last) for h in hosts])
        lock = " FOR UPDATE" if self.db.dialect == "postgresql" else ""
        current: dict[str, dict[str, Any]] = {}
        for start in range(0, len(hosts), 500):
            chunk = hosts[start : start + 500]
            rows = self.db.execute(
                f"SELECT * FROM hosts WHERE host IN ({', '.join('?' * len(chunk))}) ORDER BY host{lock}", chunk)
            current.update((row["host"], dict(row)) for row in rows.fetchall())
        return current

    def _update_hosts(self, changes: dict[str, _HostChange], current: dict[str, dict[str, Any]]) -> None:
        rows = []
        for host, change in sorted(changes.items()):
            row = current[host]
            last_up = _later(row["last_up"], change.last_up)
            last_failure = _later(row["last_failure"], change.last_failure)
            reason = change.last_reason if last_failure == change.last_failure and change.last_failure else row["last_reason"]
            title, title_at = row["title"], row["title_at"]
            if change.title_at is not None and (title_at is None or change.title_at >= title_at):
                title, title_at = change.title, change.title_at
            rows.append((min(row["first_seen"], change.first), max(row["last_seen"], change.last), last_up,
                         last_failure, reason, row["pages"] + change.new_pages, row["failures"] + change.new_failures,
                         title, title_at, host))
        # the state (up, down, gated, gone) is the liveness facet's (catalog/facets/liveness.py)
        self.db.executemany(
            "UPDATE hosts SET first_seen = ?, last_seen = ?, last_up = ?, last_failure = ?, last_reason = ?, "
            "pages = ?, failures = ?, title = ?, title_at = ? WHERE host = ?", rows)

    # -- snapshots ----------------------------------------------------------------------

    def _write_visit(self, visit: Visit, change: _HostChange, counts: WriteCounts,
                     new_entities: dict[tuple[str, str], int], batch: Batch) -> None:
        found, new = self._upsert_snapshot(visit)
        if found is None:
            return
        snapshot_id, rendered = found["id"], found["rendered_at"] is not None
        batch.snapshot_ids[(visit.url, visit.timestamp)] = snapshot_id
        if new:
            batch.new_snapshots.add(snapshot_id)
            change.new_pages += 1
        counts.renders += visit.render
        counts.snapshots += new
        status = visit.columns.get("status")
        if not visit.render and status is not None and status < 500 and not visit.gate:
            change.last_up = _later(change.last_up, visit.timestamp)
        # an interstitial (a gate) is a state of the host, not its content: not its title, not indexed
        if visit.title and not visit.gate and (change.title_at is None or visit.timestamp >= change.title_at):
            change.title, change.title_at = visit.title, visit.timestamp
        if visit.text is not None and not visit.gate and (visit.render or not rendered):  # the rendered text, once there is one
            self._index_text(snapshot_id, visit.title or "", visit.text, new)
        self._write_links(snapshot_id, visit, counts)
        self._write_entities(snapshot_id, visit, counts, new_entities)

    def _upsert_snapshot(self, visit: Visit) -> tuple[Any, bool]:
        """The snapshot's row (id, rendered_at) once written, and whether it is new."""
        sql = _SNAPSHOT_SQL[visit.render]
        values = [visit.columns.get(c) for c in sql.columns]
        key = [visit.url, visit.timestamp]
        if visit.render:  # its fetch is (nearly always) there already; the render's title wins
            row = self.db.execute(sql.update_titled, [*values, visit.title, *key]).fetchone()
            if row is not None:
                return row, False
        row = self.db.execute(sql.insert, [*key, visit.host, visit.network, visit.title, *values]).fetchone()
        if row is not None:
            return row, True
        # written before: a fetch written again keeps the render's title, if it has one
        row = self.db.execute(sql.update, [*values, *key]).fetchone()
        if row is not None and row["rendered_at"] is None and visit.title is not None:
            self.db.execute("UPDATE snapshots SET title = ? WHERE id = ?", (visit.title, row["id"]))
        return row, False

    def _index_text(self, snapshot_id: int, title: str, text: str, new: bool) -> None:
        """Queued: the batch's text goes in last, in one statement.  FTS5 writes its
        pending terms out at every later statement of the transaction (its
        savepoint), so text inserted between other writes cost 3x as much."""
        if self.db.dialect == "postgresql":  # NUL is the one character PostgreSQL's text refuses
            title, text = title.replace("\x00", ""), text.replace("\x00", "")
        earlier = self._texts.get(snapshot_id)  # a fetch and its render in one batch: the render's, last
        self._texts[snapshot_id] = (snapshot_id, title, text, new and (earlier is None or earlier[3]))

    def _flush_texts(self) -> None:
        texts, self._texts = list(self._texts.values()), {}
        if not texts:
            return
        if self.db.dialect == "sqlite":
            rewritten = [t[0] for t in texts if not t[3]]
            if rewritten:
                self.db.execute("DELETE FROM page_text WHERE rowid IN (SELECT value FROM json_each(?))",
                                (json.dumps(rewritten),))
            self.db.insert_many("page_text", ("rowid", "title", "body"), [t[:3] for t in texts])
        else:
            self.db.executemany(
                "INSERT INTO page_text (snapshot_id, title, body) VALUES (?, ?, ?) ON CONFLICT (snapshot_id) "
                "DO UPDATE SET title = excluded.title, body = excluded.body", [t[:3] for t in texts])

    def _write_links(self, snapshot_id: int, visit: Visit, counts: WriteCounts) -> None:
        self._links.extend((snapshot_id, self._clean(t), h) for t, h in visit.links)
        counts.links += len(visit.links)

    def _clean(self, value: str) -> str:
        return value.replace("\x00", "") if self.db.dialect == "postgresql" else value

    def _entity_id(self, key: tuple[str, str], new_entities: dict[tuple[str, str], int]) -> int:
        known = self._entity_ids.get(key) or new_entities.get(key)
        if known is not None:
            return known
        kind, value = key[0], self._clean(key[1])
        self.db.execute("INSERT INTO entities (kind, value) VALUES (?, ?) ON CONFLICT (kind, value) DO NOTHING",
                        (kind, value))
        entity_id = int(self.db.execute("SELECT id FROM entities WHERE kind = ? AND value = ?",
                                        (kind, value)).fetchone()["id"])
        new_entities[key] = entity_id
        return entity_id

    def _write_entities(self, snapshot_id: int, visit: Visit, counts: WriteCounts,
                        new_entities: dict[tuple[str, str], int]) -> None:
        if not visit.entities:
            return
        rows = [(self._entity_id(key, new_entities), snapshot_id) for key in sorted(visit.entities)]
        self._sightings.extend(rows)
        counts.sightings += len(rows)

    # -- failures -------------------------------------------------------------------------

    def _write_failure(self, failure: FailureRow, change: _HostChange, counts: WriteCounts, batch: Batch) -> None:
        row = self.db.execute(
            "INSERT INTO failures (url, timestamp, stage, host, network, reason, error, partial, redirects) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (url, timestamp, stage) DO NOTHING RETURNING url",
            (self._clean(failure.url), failure.timestamp, failure.stage, failure.host, failure.network,
             self._clean(failure.reason), failure.error, int(failure.partial), failure.redirects)).fetchone()
        if row is None:
            return
        batch.new_failures.add((failure.url, failure.timestamp, failure.stage))
        counts.failures += 1
        change.new_failures += 1
        if (failure.stage in DOWN_STAGES and failure.error not in PAGE_ERRORS) and (change.last_failure is None or failure.timestamp >= change.last_failure):
            change.last_failure, change.last_reason = failure.timestamp, failure.reason
