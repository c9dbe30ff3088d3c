"""The crawl's state on disk, in one SQLite file: what survives a kill -9.

``JOBDIR/frontier.sqlite`` holds:

* ``queue``: every request admitted to the frontier, as JSON
  (:mod:`darkcrawl.frontier.serialize`): pending (0), handed out (1), done (2);
  a done row keeps its URL only;
* ``revisit``: when each fetched URL falls due again, and its revisit state (interval,
  visits, changes: :mod:`darkcrawl.frontier.revisit_policy`, as a JSON list);
  ``revisit_hosts``: the hosts that are down (their probe) or whose sitemaps lied;
  ``revisit_hints``: sitemap hints of URLs not visited yet;
* ``hosts``: when each host was bootstrapped and how many pages it was given;
* ``meta``: the seen-set watermark (see :meth:`FrontierStore.checkpoint`).

Why it cannot lose a URL: changes are grouped into transactions committed every
``commit_delay`` seconds; SQLite in WAL mode writes a transaction whole or not
at all, so a kill -9 takes the file back to the last commit, where a page that was
not yet marked done is still pending *and* the requests its callback made are not
there either: the page is fetched again and makes them again.  Requests handed out
but not done are put back when the store reopens.

The URL-seen set is kept in memory (and by :class:`CompactSeenSet` in its own
file, saved only here, right after a commit: it never holds a URL the queue lacks).
On reopen, the URLs of rows added since its last save go back into it.  An exact
in-memory seen set that is not saved gets the URLs of every row back: done rows are
then kept for it.
"""

from __future__ import annotations

import heapq
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

from darkcrawl.config import get_option
from darkcrawl.frontier.revisit_policy import HostState, RevisitPolicy, SitemapHint, UrlState
from darkcrawl.frontier.revisits import RevisitSchedule, netloc
from darkcrawl.frontier.host_ledger import MemoryHostLedger

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

logger = logging.getLogger(__name__)

PENDING, LEASED, DONE = 0, 1, 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slot TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    url TEXT NOT NULL,
    data BLOB
);
CREATE INDEX IF NOT EXISTS queue_next ON queue (slot, priority DESC, id) WHERE state = 0;
CREATE TABLE IF NOT EXISTS hosts (key TEXT PRIMARY KEY, bootstrapped REAL, pages INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
CREATE TABLE IF NOT EXISTS revisit (url TEXT PRIMARY KEY, depth INTEGER NOT NULL, due REAL NOT NULL, state TEXT);
CREATE TABLE IF NOT EXISTS revisit_hosts (key TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revisit_hints (url TEXT PRIMARY KEY, read REAL NOT NULL, first REAL, last REAL,
                                          changefreq REAL);
"""

#: where the store lives on the crawler (one per crawl, shared by its components)
_ATTRIBUTE = "_darkcrawl_frontier_store"


class FrontierStore:
    def __init__(self, path: Path | str, commit_delay: float = 0.05, checkpoint_interval: float = 300.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.commit_delay = commit_delay
        self.checkpoint_interval = checkpoint_interval
        # isolation_level=None: transactions are opened and committed here, explicitly
        self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit is durable once it is in the OS; a process crash loses
        # nothing committed, only a power cut may lose the last commits.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._migrate()
        self._in_tx = False
        self._commit_call: Any = None
        self._next_checkpoint = time.monotonic() + checkpoint_interval
        self.seen: Any = None
        self.hosts: StoredHostLedger | None = None
        self.closed = False

    def _migrate(self) -> None:
        """A JOBDIR from before adaptive revisits: its ``revisit`` rows keep their due
        time, and their URLs start adapting from their next visit."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(revisit)")}
        if "state" not in columns:
            self.db.execute("ALTER TABLE revisit ADD COLUMN state TEXT")

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> Self | None:
        """The crawl's store (made on first use), or None when the crawl keeps no state (no JOBDIR)."""
        store = getattr(crawler, _ATTRIBUTE, None)
        if store is None:
            jobdir = crawler.settings.get("JOBDIR")
            if not jobdir:
                return None
            store = cls(
                Path(jobdir) / "frontier.sqlite",
                commit_delay=get_option(crawler.settings, "DARKCRAWL_FRONTIER_COMMIT_DELAY"),
                checkpoint_interval=get_option(crawler.settings, "DARKCRAWL_SEEN_SAVE_INTERVAL"),
            )
            setattr(crawler, _ATTRIBUTE, store)
            crawler.signals.connect(store.close, signal=signals.engine_stopped)
        return store

    # -- transactions -----------------------------------------------------------------

    def _write(self) -> sqlite3.Connection:
        # every change goes through here: open a transaction, commit it soon
        if not self._in_tx:
            self.db.execute("BEGIN")
            self._in_tx = True
            if self.commit_delay > 0:
                from twisted.internet import reactor

                self._commit_call = reactor.callLater(self.commit_delay, self.commit)  # type: ignore[attr-defined]
        return self.db

    def commit(self) -> None:
        if self._commit_call is not None and self._commit_call.active():
            self._commit_call.cancel()
        self._commit_call = None
        if self._in_tx:
            if self.hosts is not None:
                self.hosts.flush(self.db)
            self.db.execute("COMMIT")
            self._in_tx = False
        if self.commit_delay <= 0:
            return
        if time.monotonic() >= self._next_checkpoint:
            self.checkpoint()

    # -- the queue ----------------------------------------------------------------------

    def push(self, slot: str, priority: int, url: str, data: bytes) -> int:
        cursor = self._write().execute(
            "INSERT INTO queue (slot, priority, url, data) VALUES (?, ?, ?, ?)", (slot, priority, url, data)
        )
        if self.commit_delay <= 0:
            self.commit()
        return cursor.lastrowid  # type: ignore[return-value]

    def pop(self, slot: str) -> tuple[int, bytes] | None:
        row = self.db.execute(
            "SELECT id, data FROM queue WHERE slot = ? AND state = 0 ORDER BY priority DESC, id LIMIT 1", (slot,)
        ).fetchone()
        if row is None:
            return None
        self._write().execute("UPDATE queue SET state = 1 WHERE id = ?", (row[0],))
        if self.commit_delay <= 0:
            self.commit()
        return row[0], row[1]

    def done(self, row_id: int) -> None:
        self._write().execute("UPDATE queue SET state = 2, data = NULL WHERE id = ?", (row_id,))
        if self.commit_delay <= 0:
            self.commit()

    def requeue_leased(self) -> int:
        """Put back what was handed out but not done when the last process stopped."""
        count = self._write().execute("UPDATE queue SET state = 0 WHERE state = 1").rowcount
        self.commit()
        return count

    def pending_by_slot(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT slot, count(*) FROM queue WHERE state = 0 GROUP BY slot"))

    def count(self, state: int) -> int:
        return self.db.execute("SELECT count(*) FROM queue WHERE state = ?", (state,)).fetchone()[0]

    # -- the seen set -------------------------------------------------------------------

    def attach_seen(self, seen: Any) -> int:
        """Give *seen* back the URLs it lacks after a restart; from now on save it here only.

        Returns how many URLs were given back."""
        self.seen = seen
        if self._saves(seen):
            seen.save_on_request_only()  # saved by checkpoint(), after a commit, never on its own
            watermark = int(self._meta("seen_watermark") or 0)
        else:
            watermark = 0
        added = 0
        for (url,) in self.db.execute("SELECT url FROM queue WHERE id > ?", (watermark,)):
            added += seen.add(url)
        return added

    def checkpoint(self) -> None:
        """Commit, save the seen set, then forget done rows it now holds."""
        self._next_checkpoint = time.monotonic() + self.checkpoint_interval
        seen = self.seen
        if self._in_tx:
            self.commit()  # calls back here only through the interval, now reset
        if seen is None or not self._saves(seen):
            return
        watermark = self.db.execute("SELECT coalesce(max(id), 0) FROM queue").fetchone()[0]
        try:
            seen.save()
        except OSError as exc:
            logger.warning("cannot save the seen set: %s", exc)
            return
        # saved first, watermark second: a crash in between re-adds a few URLs, loses none
        db = self._write()
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seen_watermark', ?)", (watermark,))
        db.execute("DELETE FROM queue WHERE state = 2 AND id <= ?", (watermark,))
        self.commit()

    @staticmethod
    def _saves(seen: Any) -> bool:
        """Whether *seen* keeps a file of its own (the compact set with a path)."""
        return callable(getattr(seen, "save_on_request_only", None)) and getattr(seen, "path", None) is not None

    def _meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def urls(self, state: int) -> Iterator[str]:
        for (url,) in self.db.execute("SELECT url FROM queue WHERE state = ?", (state,)):
            yield url

    # -- life ---------------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.checkpoint()
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
        self.closed = True


class StoredHostLedger(MemoryHostLedger):
    """The in-memory ledger, loaded from and written back to the frontier store."""

    def __init__(self, store: FrontierStore | None) -> None:
        super().__init__()
        self._dirty: set[str] = set()
        self.store = store
        if store is not None:
            for key, bootstrapped, pages in store.db.execute("SELECT key, bootstrapped, pages FROM hosts"):
                if bootstrapped is not None:
                    self.bootstrapped[key] = bootstrapped
                if pages:
                    self.page_counts[key] = pages
            store.hosts = self

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(FrontierStore.for_crawler(crawler))

    def claim_bootstrap(self, key: str, now: float, older_than: float | None) -> bool:
        claimed = super().claim_bootstrap(key, now, older_than)
        if claimed:
            self._touch(key)
        return claimed

    def count_page(self, key: str) -> None:
        super().count_page(key)
        self._touch(key)

    def _touch(self, key: str) -> None:
        if self.store is not None:
            self._dirty.add(key)
            self.store._write()  # committed with the requests they go with

    def flush(self, db: sqlite3.Connection) -> None:
        if not self._dirty:
            return
        db.executemany(
            "INSERT OR REPLACE INTO hosts (key, bootstrapped, pages) VALUES (?, ?, ?)",
            [(key, self.bootstrapped.get(key), self.page_counts[key]) for key in self._dirty],
        )
        self._dirty.clear()


class StoredRevisitSchedule(RevisitSchedule):
    """The revisit schedule, written through to the store: a restart keeps every URL's
    due time, interval and history, and every host's probe."""

    def __init__(self, policy: RevisitPolicy | float, store: FrontierStore | None, host_of: Any = netloc,
                 stats: Any = None) -> None:
        super().__init__(policy, host_of, stats)
        self.store = store
        if store is None or not self.enabled:
            return
        for url, depth, due, state in store.db.execute("SELECT url, depth, due, state FROM revisit"):
            self._due[url] = (due, depth)
            self._heap.append((due, url, depth))
            if state:
                self.states[url] = UrlState.from_list(json.loads(state))
        heapq.heapify(self._heap)
        for key, state in store.db.execute("SELECT key, state FROM revisit_hosts"):
            self.hosts[key] = HostState.from_list(json.loads(state))
        for url, read, first, last, changefreq in store.db.execute(
                "SELECT url, read, first, last, changefreq FROM revisit_hints"):
            self.hints[url] = SitemapHint(read, (first, last) if first is not None else None, changefreq)

    def _writable(self) -> sqlite3.Connection | None:
        if self.store is None or self.store.closed:
            return None
        return self.store._write()

    def _saved_due(self, url: str, depth: int, due: float) -> None:
        # a popped URL keeps its row until it is scheduled again: a crash in between re-pops it
        db = self._writable()
        if db is not None:
            state = self.states.get(url)
            db.execute("INSERT OR REPLACE INTO revisit (url, depth, due, state) VALUES (?, ?, ?, ?)",
                       (url, depth, due, json.dumps(state.as_list()) if state else None))

    def _forget(self, url: str) -> None:
        db = self._writable()
        if db is not None:
            db.execute("DELETE FROM revisit WHERE url = ?", (url,))

    def _set_host(self, host: str, state: HostState) -> None:
        super()._set_host(host, state)
        db = self._writable()
        if db is not None:
            db.execute("INSERT OR REPLACE INTO revisit_hosts (key, state) VALUES (?, ?)",
                       (host, json.dumps(state.as_list())))

    def _set_hint(self, url: str, hint: SitemapHint) -> None:
        super()._set_hint(url, hint)
        db = self._writable()
        if db is not None:
            first, last = hint.lastmod or (None, None)
            db.execute("INSERT OR REPLACE INTO revisit_hints (url, read, first, last, changefreq) VALUES (?, ?, ?, ?, ?)",
                       (url, hint.read, first, last, hint.changefreq))

    def _drop_hint(self, url: str) -> None:
        if self.hints.pop(url, None) is not None:
            db = self._writable()
            if db is not None:
                db.execute("DELETE FROM revisit_hints WHERE url = ?", (url,))
