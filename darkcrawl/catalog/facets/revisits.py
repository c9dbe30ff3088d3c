"""The revisits facet: per URL, how often it changed and when it is visited next.

One row per URL: visits that answered, how many found it changed since the visit
before (its content digest, else its status, differed), failures, the last visit and
the last change, the revisit interval and the next due time.  They are folded from the
URL's snapshots and plain-stage failures in visit order through the crawl's own
policy (:mod:`darkcrawl.frontier.revisit_policy`), so the catalogue shows the interval
the crawl used, and a rebuild from PATH_DATA gives the same rows: the one input that
is no snapshot column, the sitemap ``changefreq`` a first visit started from, is in
its headers record (``Sitemap-Changefreq``, :attr:`Visit.sitemap_changefreq`).

A batch whose observations of a URL all come after the ones folded so far is folded
onto the row's saved state; anything else (a failure written after later visits, as a
rebuild writes them, a visit written again) refolds the URL's whole history.  A batch
costs a few queries whatever its size (rows and histories are read ``IN (...)``).

A visit that met an interstitial (``gate``, darkcrawl.intel.gates) saw the host, not the
page: it moves nothing (the liveness facet's ``attempts`` tell a refold which visits
those were; that facet is written first).

What a row cannot know: sitemap ``lastmod`` reads between visits move the crawl's own
due time (sooner or later) without a visit, and a down host's URLs wait for its probe;
``next_due`` is the time planned at the last visit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from darkcrawl.catalog.facets import Batch, Facet, split_statements
from darkcrawl.catalog.schema import dialect_types
from darkcrawl.frontier.revisit_policy import (
    CHANGEFREQ, GATED, RevisitPolicy, UrlState, content_key, failure_outcome, parse_time,
)

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from typing_extensions import Self

    from darkcrawl.catalog.db import CatalogDB

_DDL = """
CREATE TABLE IF NOT EXISTS revisits (
    url TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    visits {big} NOT NULL,          -- visits that answered
    changes {big} NOT NULL,         -- of those, how many found it changed since the one before
    failures {big} NOT NULL,        -- plain-stage failures (the page's, or its host down)
    last_visit TEXT,
    last_change TEXT,
    last_seen TEXT NOT NULL,        -- its last visit or failure: what the row is folded up to
    every {real} NOT NULL,          -- the revisit interval after it (s)
    next_due TEXT NOT NULL,         -- last_seen + every
    changefreq TEXT,                -- the sitemap changefreq its first visit started from
    state TEXT NOT NULL             -- the policy's state (JSON), to fold later visits onto
);
CREATE INDEX IF NOT EXISTS revisits_host ON revisits (host, next_due)
"""

_COLUMNS = ("url", "host", "visits", "changes", "failures", "last_visit", "last_change", "last_seen", "every",
            "next_due", "changefreq", "state")

#: one observation: (timestamp, 0 for a visit / 1 for a failure, content key or error name, changefreq)
Observation = tuple[str, int, str, "str | None"]


def iso(seconds: float) -> str:
    """Seconds since the epoch -> the items' ISO 8601 UTC form."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


@dataclass(slots=True)
class _Fold:
    """A URL's policy state and the timestamps of its row, folded one observation at a time."""

    state: UrlState | None = None
    changefreq: str | None = None
    last_visit: str | None = None
    last_change: str | None = None
    last_seen: str = ""
    last_when: float = 0.0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> _Fold:
        return cls(UrlState.from_list(json.loads(row["state"])), row["changefreq"], row["last_visit"],
                   row["last_change"], row["last_seen"], parse_time(row["last_seen"]))

    def add(self, policy: RevisitPolicy, observation: Observation, first_changefreq: str | None) -> None:
        timestamp, failed, what, _hint = observation
        when = parse_time(timestamp)
        if failed:
            self.state = policy.failed(self.state, failure_outcome(what))
        else:
            first = self.state is None or self.state.visits == 0
            if first and first_changefreq is not None:
                self.changefreq = first_changefreq
            changes = self.state.changes if self.state else 0
            self.state = policy.visited(self.state, when, what,
                                        CHANGEFREQ.get(self.changefreq or "") if first else None)
            self.last_visit = timestamp
            if self.state.changes > changes:
                self.last_change = timestamp
        self.last_seen, self.last_when = timestamp, when

    def row(self, url: str, host: str) -> tuple[Any, ...]:
        state = self.state
        assert state is not None
        return (url, host, state.visits, state.changes, state.failures, self.last_visit, self.last_change,
                self.last_seen, state.interval, iso(self.last_when + state.interval), self.changefreq,
                json.dumps(state.as_list()))


class RevisitsFacet(Facet):
    tables: ClassVar[tuple[str, ...]] = ("revisits",)
    dump_queries: ClassVar[dict[str, str]] = {
        "revisits": f"SELECT {', '.join(_COLUMNS[:-1])} FROM revisits",
    }

    def __init__(self, policy: RevisitPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_settings(cls, settings: BaseSettings | None) -> Self:
        return cls(RevisitPolicy.for_catalogue(settings))

    def statements(self, dialect: str) -> list[str]:
        real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
        return split_statements(_DDL.format(real=real, **dialect_types(dialect)))

    def write(self, db: CatalogDB, batch: Batch) -> None:
        observed: dict[str, tuple[str, set[Observation]]] = {}
        for visit in batch.visits:
            if visit.render:
                continue
            if visit.gate:  # an interstitial: the page itself was not seen
                observation: Observation = (visit.timestamp, 1, GATED, None)
            else:
                key = content_key(visit.columns.get("content_digest"), visit.columns.get("status"))
                observation = (visit.timestamp, 0, key, visit.sitemap_changefreq)
            observed.setdefault(visit.url, (visit.host, set()))[1].add(observation)
        for failure in batch.failures:
            if failure.stage == "plain":
                observed.setdefault(failure.url, (failure.host, set()))[1].add(
                    (failure.timestamp, 1, failure.error, None))
        urls = sorted(observed)
        saved = {row["url"]: row for row in _chunked(db, f"SELECT {', '.join(_COLUMNS)} FROM revisits", urls)}
        # a URL whose new observations do not all follow its row's (or that has no row: a
        # catalogue from before the facet may hold its earlier visits) is refolded whole
        refold = [url for url in urls if url not in saved or min(observed[url][1])[0] <= saved[url]["last_seen"]]
        histories = self._histories(db, refold)
        rows = [self._fold(url, observed[url][0], sorted(observed[url][1]), saved.get(url), histories.get(url))
                for url in urls]
        db.executemany(
            f"INSERT INTO revisits ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
            f"ON CONFLICT (url) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS[1:])}", rows)

    def _fold(self, url: str, host: str, found: list[Observation], row: dict[str, Any] | None,
              history: list[Observation] | None) -> tuple[Any, ...]:
        """*url*'s row: *found* folded onto *row*, or its whole *history* refolded."""
        hint = next((o[3] for o in found if o[3] is not None), None)
        if history is None:
            assert row is not None
            fold, history = _Fold.from_row(row), found  # only what is new: folded onto the row
        else:
            fold = _Fold()
            hint = row["changefreq"] if row is not None and row["changefreq"] else hint
        for observation in history:
            fold.add(self.policy, observation, hint)
        return fold.row(url, host)

    @staticmethod
    def _histories(db: CatalogDB, urls: list[str]) -> dict[str, list[Observation]]:
        """Every visit and plain-stage failure of each of *urls* in the catalogue (this
        batch's too), in order."""
        found: dict[str, set[Observation]] = {url: set() for url in urls}
        # gated visits are known from the liveness facet's attempts, written before this one
        for r in _chunked(db, "SELECT s.url, s.timestamp, s.content_digest, s.status, a.outcome FROM snapshots s "
                              "LEFT JOIN attempts a ON a.url = s.url AND a.timestamp = s.timestamp "
                              "AND a.stage = 'plain'", urls, "s.status IS NOT NULL", column="s.url"):
            found[r["url"]].add((r["timestamp"], 1, GATED, None) if r["outcome"] == "gated" else
                                (r["timestamp"], 0, content_key(r["content_digest"], r["status"]), None))
        for r in _chunked(db, "SELECT url, timestamp, error FROM failures", urls, "stage = 'plain'"):
            found[r["url"]].add((r["timestamp"], 1, r["error"], None))
        return {url: sorted(observations) for url, observations in found.items()}


#: URLs per ``IN (...)`` list
_CHUNK = 500


def _chunked(db: CatalogDB, select: str, urls: list[str], where: str = "", column: str = "url") -> list[dict[str, Any]]:
    """*select* ``WHERE url IN (...)`` (and *where*) over *urls*, a few hundred at a time."""
    rows: list[dict[str, Any]] = []
    for start in range(0, len(urls), _CHUNK):
        chunk = urls[start : start + _CHUNK]
        extra = f" AND {where}" if where else ""
        rows += db.all(f"{select} WHERE {column} IN ({', '.join('?' * len(chunk))}){extra}", chunk)
    return rows
