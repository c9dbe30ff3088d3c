"""What the viewer and its JSON API read: paged queries over the catalogue, both dialects.

Every list is one page (``LIMIT``/``OFFSET``, one row more than asked to tell
whether a next page exists) ordered by an indexed column, so a page costs the
same on a catalogue of a million snapshots as on ten.  Totals come from the
``hosts`` aggregates, never from a ``COUNT(*)`` over ``snapshots``.

Full-text search is where the dialects differ: SQLite's FTS5 (``MATCH`` and
``snippet()``) and PostgreSQL's ``tsvector`` (``websearch_to_tsquery`` and
``ts_headline``).  Snippets hold crawled text: they are marked with two
private-use characters (:data:`MARK_START`, :data:`MARK_END`), never with HTML,
and :func:`snippet_html` escapes them before it turns the marks into ``<mark>``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from darkcrawl.catalog.db import CatalogDB

MARK_START = "\ue000"
MARK_END = "\ue001"
MAX_LIMIT = 500
_TERM = re.compile(r"[^\s\"]+")
_MARKS = re.compile(f"([{MARK_START}{MARK_END}])")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: its rows, and whether another page follows."""

    rows: list[dict[str, Any]]
    page: int
    limit: int
    more: bool

    def as_json(self) -> dict[str, Any]:
        return {"page": self.page, "limit": self.limit, "next": self.page + 1 if self.more else None,
                "items": self.rows}


def bounded(page: Any, limit: Any, default: int = 50) -> tuple[int, int]:
    """*page* (1-based) and *limit* from a query string, clamped to sane values."""
    try:
        number = max(1, int(page))
    except (TypeError, ValueError):
        number = 1
    try:
        size = min(MAX_LIMIT, max(1, int(limit)))
    except (TypeError, ValueError):
        size = default
    return number, size


def paged(db: CatalogDB, sql: str, params: list[Any], page: int, limit: int) -> Page:
    rows = db.all(f"{sql} LIMIT ? OFFSET ?", [*params, limit + 1, (page - 1) * limit])
    return Page(rows[:limit], page, limit, len(rows) > limit)


def fts5_query(text: str) -> str:
    """A user's words as FTS5 syntax that cannot be an FTS5 expression: each term
    quoted (AND between them); ``""`` when there is nothing to look for."""
    return " ".join(f'"{term}"' for term in _TERM.findall(text))


def snippet_html(snippet: str | None) -> str:
    """A snippet marked with the private-use marks, as safe HTML with ``<mark>``.

    Every piece of text is escaped; marks become tags only in pairs, so a page that
    holds the private-use characters itself cannot leave a tag open."""
    out: list[str] = []
    marked = False
    for part in _MARKS.split(snippet or ""):
        if part == MARK_START and not marked:
            out.append("<mark>")
            marked = True
        elif part == MARK_END and marked:
            out.append("</mark>")
            marked = False
        elif part not in (MARK_START, MARK_END):
            out.append(html.escape(part))
    if marked:
        out.append("</mark>")
    return "".join(out)


# -- overview -------------------------------------------------------------------------


def overview(db: CatalogDB) -> dict[str, Any]:
    """Hosts and pages per network and state (from the host aggregates), and the
    newest snapshot: cheap enough to poll while a crawl runs."""
    rows = db.all("SELECT network, state, COUNT(*) AS hosts, COALESCE(SUM(pages), 0) AS pages, "
                  "COALESCE(SUM(failures), 0) AS failures FROM hosts GROUP BY network, state "
                  "ORDER BY network, state")
    networks: dict[str, dict[str, int]] = {}
    for row in rows:
        entry = networks.setdefault(row["network"], {"hosts": 0, "up": 0, "down": 0, "pages": 0, "failures": 0})
        entry["hosts"] += int(row["hosts"])
        entry[row["state"] if row["state"] in ("up", "down") else "down"] += int(row["hosts"])
        entry["pages"] += int(row["pages"])
        entry["failures"] += int(row["failures"])
    latest = db.one("SELECT id, url, timestamp FROM snapshots ORDER BY id DESC LIMIT 1")
    return {
        "hosts": sum(n["hosts"] for n in networks.values()),
        "pages": sum(n["pages"] for n in networks.values()),
        "up": sum(n["up"] for n in networks.values()),
        "down": sum(n["down"] for n in networks.values()),
        "networks": networks,
        "latest": latest,
    }


def pages_per_day(db: CatalogDB, days: int = 90) -> list[tuple[str, int]]:
    """Snapshots per day, for the last *days* days that have any (read from the
    timestamp index only)."""
    rows = db.all("SELECT substr(timestamp, 1, 10) AS day, COUNT(*) AS n FROM snapshots "
                  "GROUP BY substr(timestamp, 1, 10) ORDER BY day DESC LIMIT ?", [days])
    return [(row["day"], int(row["n"])) for row in reversed(rows)]


# -- hosts ----------------------------------------------------------------------------

def hosts(db: CatalogDB, *, network: str = "", state: str = "", q: str = "", page: int = 1,
          limit: int = 50) -> Page:
    where, params = [], []
    if network:
        where.append("h.network = ?")
        params.append(network)
    if state:
        where.append("h.state = ?")
        params.append(state)
    if q:
        where.append("(LOWER(h.host) LIKE ? OR LOWER(COALESCE(h.title, '')) LIKE ?)")
        like = f"%{q.lower().replace('%', '').replace('_', '')}%"
        params += [like, like]
    sql = ("SELECT h.host, h.network, h.scheme, h.state, h.first_seen, h.last_seen, h.last_up, h.pages, "
           "h.failures, h.title, h.last_reason FROM hosts h")
    if where:
        sql += " WHERE " + " AND ".join(where)
    # last_seen alone: a second sort key would sort every host instead of reading the index
    found = paged(db, sql + " ORDER BY h.last_seen DESC", params, page, limit)
    for row in found.rows:
        # per row of the page only: in the query itself, OFFSET would compute it for every skipped row too
        row["screenshot_id"] = db.value(
            "SELECT id FROM snapshots WHERE host = ? AND screenshot_path IS NOT NULL "
            "ORDER BY timestamp DESC LIMIT 1", [row["host"]])
    return found


def host(db: CatalogDB, name: str) -> dict[str, Any] | None:
    return db.one("SELECT * FROM hosts WHERE host = ?", [name])


def networks(db: CatalogDB) -> list[str]:
    return [row["network"] for row in db.all("SELECT DISTINCT network FROM hosts ORDER BY network")]


def host_snapshots(db: CatalogDB, name: str, page: int = 1, limit: int = 50) -> Page:
    return paged(db, "SELECT id, url, timestamp, status, mime, title, size, screenshot_path, rendered_path "
                  "FROM snapshots WHERE host = ? ORDER BY timestamp DESC", [name], page, limit)


def latest_snapshot(db: CatalogDB, name: str) -> dict[str, Any] | None:
    return db.one("SELECT * FROM snapshots WHERE host = ? ORDER BY timestamp DESC LIMIT 1", [name])


def host_screenshots(db: CatalogDB, name: str, limit: int = 8) -> list[dict[str, Any]]:
    return db.all("SELECT id, url, timestamp FROM snapshots WHERE host = ? AND screenshot_path IS NOT NULL "
                  "ORDER BY timestamp DESC LIMIT ?", [name, limit])


def host_failures(db: CatalogDB, name: str, limit: int = 20) -> list[dict[str, Any]]:
    return db.all("SELECT url, timestamp, stage, reason FROM failures WHERE host = ? "
                  "ORDER BY timestamp DESC LIMIT ?", [name, limit])


#: a host page reads the links and entities of this many of its newest pages
#: (a forum of 100,000 pages would otherwise cost a scan of all their links)
RECENT_PAGES = 200
#: and this many links pointing at it
INBOUND_SCAN = 20000

_RECENT = "(SELECT id FROM snapshots WHERE host = ? ORDER BY timestamp DESC LIMIT ?)"


def links_out(db: CatalogDB, name: str, limit: int = 200) -> list[dict[str, Any]]:
    """Distinct targets linked from the host's newest pages."""
    return db.all(f"SELECT l.target, MAX(l.target_host) AS target_host FROM links l WHERE l.source_id IN {_RECENT} "
                  "GROUP BY l.target ORDER BY l.target LIMIT ?", [name, RECENT_PAGES, limit])


def links_in(db: CatalogDB, name: str, limit: int = 200) -> list[dict[str, Any]]:
    """Hosts whose pages link to *name*, with how many links (of the first
    :data:`INBOUND_SCAN` links read)."""
    return db.all("SELECT s.host, COUNT(*) AS links FROM (SELECT source_id FROM links WHERE target_host = ? "
                  "LIMIT ?) l JOIN snapshots s ON s.id = l.source_id WHERE s.host <> ? GROUP BY s.host "
                  "ORDER BY links DESC, s.host LIMIT ?", [name, INBOUND_SCAN, name, limit])


def host_entities(db: CatalogDB, name: str, limit: int = 200) -> list[dict[str, Any]]:
    """Entities on the host's newest pages, with on how many of them."""
    return db.all("SELECT e.id, e.kind, e.value, COUNT(*) AS pages FROM sightings g "
                  f"JOIN entities e ON e.id = g.entity_id WHERE g.snapshot_id IN {_RECENT} "
                  "GROUP BY e.id, e.kind, e.value ORDER BY e.kind, e.value LIMIT ?", [name, RECENT_PAGES, limit])


# -- snapshots ------------------------------------------------------------------------


def snapshot(db: CatalogDB, snapshot_id: int) -> dict[str, Any] | None:
    return db.one("SELECT * FROM snapshots WHERE id = ?", [snapshot_id])


def previous_snapshot(db: CatalogDB, row: dict[str, Any]) -> dict[str, Any] | None:
    """The visit of the same URL just before *row*."""
    return db.one("SELECT * FROM snapshots WHERE url = ? AND timestamp < ? ORDER BY timestamp DESC LIMIT 1",
                  [row["url"], row["timestamp"]])


def snapshot_links(db: CatalogDB, snapshot_id: int, limit: int = 500) -> list[dict[str, Any]]:
    return db.all("SELECT target, target_host FROM links WHERE source_id = ? ORDER BY target LIMIT ?",
                  [snapshot_id, limit])


def snapshot_entities(db: CatalogDB, snapshot_id: int) -> list[dict[str, Any]]:
    return db.all("SELECT e.id, e.kind, e.value FROM sightings g JOIN entities e ON e.id = g.entity_id "
                  "WHERE g.snapshot_id = ? ORDER BY e.kind, e.value LIMIT 500", [snapshot_id])


def page_text(db: CatalogDB, snapshot_id: int) -> str | None:
    key = "rowid" if db.dialect == "sqlite" else "snapshot_id"
    return db.value(f"SELECT body FROM page_text WHERE {key} = ?", [snapshot_id])


# -- search ---------------------------------------------------------------------------


def search(db: CatalogDB, q: str, page: int = 1, limit: int = 20, *, best: bool = False) -> Page:
    """Snapshots whose title or text match *q*, each with a marked snippet: newest
    first (read in index order: as fast for a word on every page as for a rare one),
    or best first when *best* (ranks every match first)."""
    if db.dialect == "sqlite":
        match = fts5_query(q)
        if not match:
            return Page([], page, limit, False)
        sql = ("SELECT s.id, s.url, s.host, s.network, s.timestamp, s.title, "
               f"snippet(page_text, 1, '{MARK_START}', '{MARK_END}', '\u2026', 12) AS snippet "
               "FROM page_text JOIN snapshots s ON s.id = page_text.rowid WHERE page_text MATCH ? "
               + ("ORDER BY rank" if best else "ORDER BY page_text.rowid DESC"))
        return paged(db, sql, [match], page, limit)
    if not q.strip():
        return Page([], page, limit, False)
    # the page of hits first, then a headline for those only: a projection under
    # OFFSET would run ts_headline on every skipped hit
    order = "ORDER BY ts_rank(p.tsv, query) DESC, p.snapshot_id DESC" if best else "ORDER BY p.snapshot_id DESC"
    options = f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=8, MaxFragments=2"
    rows = db.all(
        "SELECT s.id, s.url, s.host, s.network, s.timestamp, s.title, "
        "ts_headline('simple', t.body, websearch_to_tsquery('simple', ?), ?) AS snippet "
        "FROM (SELECT p.snapshot_id, p.body, row_number() OVER () AS n FROM (SELECT p.snapshot_id, p.body "
        f"FROM page_text p, websearch_to_tsquery('simple', ?) AS query WHERE p.tsv @@ query {order} "
        "LIMIT ? OFFSET ?) AS p) AS t JOIN snapshots s ON s.id = t.snapshot_id ORDER BY t.n",
        [q, options, q, limit + 1, (page - 1) * limit])
    return Page(rows[:limit], page, limit, len(rows) > limit)


# -- entities -------------------------------------------------------------------------


def entities(db: CatalogDB, q: str = "", kind: str = "", page: int = 1, limit: int = 50) -> Page:
    """Entities whose value starts with *q* (a range over the value index), or all."""
    where, params = [], []
    if q:
        where.append("value >= ? AND value < ?")
        params += [q, q + "\U0010ffff"]
    if kind:
        where.append("kind = ?")
        params.append(kind)
    sql = "SELECT id, kind, value FROM entities"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return paged(db, sql + " ORDER BY value, kind", params, page, limit)


def entity(db: CatalogDB, entity_id: int) -> dict[str, Any] | None:
    return db.one("SELECT id, kind, value FROM entities WHERE id = ?", [entity_id])


def entity_urls(db: CatalogDB, entity_ids: list[int], per_entity: int = 5) -> dict[int, list[str]]:
    """A few URLs each entity was seen on (newest first)."""
    found: dict[int, list[str]] = {i: [] for i in entity_ids}
    for entity_id in entity_ids:
        rows = db.all("SELECT DISTINCT s.url, s.timestamp FROM sightings g JOIN snapshots s ON s.id = g.snapshot_id "
                      "WHERE g.entity_id = ? ORDER BY s.timestamp DESC LIMIT ?", [entity_id, per_entity])
        found[entity_id] = list(dict.fromkeys(row["url"] for row in rows))
    return found


def entity_hosts(db: CatalogDB, entity_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """Every host *entity_id* was seen on, with the first and last time."""
    return db.all("SELECT s.host, MAX(s.network) AS network, MIN(s.timestamp) AS first_seen, "
                  "MAX(s.timestamp) AS last_seen, COUNT(*) AS pages FROM sightings g "
                  "JOIN snapshots s ON s.id = g.snapshot_id WHERE g.entity_id = ? "
                  "GROUP BY s.host ORDER BY first_seen LIMIT ?", [entity_id, limit])


def entity_pages(db: CatalogDB, entity_id: int, page: int = 1, limit: int = 100) -> Page:
    return paged(db, "SELECT s.id, s.url, s.host, s.network, s.timestamp, s.title FROM sightings g "
                  "JOIN snapshots s ON s.id = g.snapshot_id WHERE g.entity_id = ? ORDER BY s.timestamp, s.id",
                  [entity_id], page, limit)


# -- revisits (darkcrawl.catalog.facets.revisits) -------------------------------------


def _facet_row(db: CatalogDB, sql: str, params: list[Any]) -> dict[str, Any] | None:
    try:
        return db.one(sql, params)
    except Exception:  # a catalogue from before the facet (read-only: not upgraded): no row
        return None


def url_revisits(db: CatalogDB, url: str) -> dict[str, Any] | None:
    """How often *url* changed, its revisit interval (s) and when it is due next."""
    return _facet_row(db, "SELECT visits, changes, failures, every, next_due, last_change, changefreq "
                          "FROM revisits WHERE url = ?", [url])


def host_revisits(db: CatalogDB, name: str) -> dict[str, Any] | None:
    """The host's URLs' revisits in one: how many, visits and changes, shortest and
    longest interval, the next one due."""
    row = _facet_row(db, "SELECT COUNT(*) AS urls, SUM(visits) AS visits, SUM(changes) AS changes, "
                         "MIN(every) AS shortest, MAX(every) AS longest, MIN(next_due) AS next_due "
                         "FROM revisits WHERE host = ?", [name])
    return row if row and row["urls"] else None


# -- clones and mirrors (the clones facet: darkcrawl/catalog/facets/clones.py) ------------------


def clusters(db: CatalogDB, *, flagged: bool = False, page: int = 1, limit: int = 50) -> Page:
    """Clusters of clones and mirrors, suspected phishing ones first, then the largest."""
    where = " WHERE suspected_phishing = 1" if flagged else ""
    try:
        return paged(db, "SELECT cluster, representative, size, suspected_phishing, addresses, title "
                     f"FROM clone_clusters{where} ORDER BY suspected_phishing DESC, size DESC, cluster", [], page, limit)
    except Exception:  # a catalogue from before the facet (read-only: not upgraded): none
        return Page([], page, limit, False)


def cluster(db: CatalogDB, cluster_id: str) -> dict[str, Any] | None:
    return _facet_row(db, "SELECT cluster, representative, size, suspected_phishing, addresses, title "
                          "FROM clone_clusters WHERE cluster = ?", [cluster_id])


def cluster_members(db: CatalogDB, cluster_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """A cluster's hosts with their distances to its representative, the addresses
    each shows, the snapshot that signed it (``snapshot_id``) and a screenshot
    (``screenshot_id``: of that page, else the host's latest, else, for a
    byte-for-byte copy, the copied page's)."""
    rows = db.all("SELECT m.host, m.image_distance, m.text_distance, m.same_favicon, m.same_title, m.addresses, "
                  "h.network, h.state, h.title, g.url, g.timestamp, g.favicon_hash, g.duplicate_of "
                  "FROM clone_members m JOIN hosts h ON h.host = m.host "
                  "LEFT JOIN clone_signatures g ON g.host = m.host WHERE m.cluster = ? ORDER BY m.host LIMIT ?",
                  [cluster_id, limit])
    for row in rows:
        row["snapshot_id"] = db.value("SELECT id FROM snapshots WHERE url = ? AND timestamp = ?",
                                      [row["url"], row["timestamp"]]) if row["url"] else None
        row["screenshot_id"] = db.value(
            "SELECT id FROM snapshots WHERE host = ? AND screenshot_path IS NOT NULL "
            "ORDER BY (url = ?) DESC, timestamp DESC LIMIT 1", [row["host"], row["url"] or ""])
        if row["screenshot_id"] is None and row["duplicate_of"]:  # a byte-for-byte copy: the page it copies
            row["screenshot_id"] = db.value("SELECT id FROM snapshots WHERE url = ? AND screenshot_path IS NOT NULL "
                                            "ORDER BY timestamp DESC LIMIT 1", [row["duplicate_of"]])
    return rows


def host_clusters(db: CatalogDB, names: list[str]) -> dict[str, dict[str, Any]]:
    """The cluster of each of *names* that is in one: id, size, suspected phishing."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        try:
            rows = db.all("SELECT m.host, c.cluster, c.size, c.suspected_phishing FROM clone_members m "
                          "JOIN clone_clusters c ON c.cluster = m.cluster "
                          f"WHERE m.host IN ({', '.join('?' * len(chunk))})", chunk)
        except Exception:  # a catalogue from before the facet (read-only: not upgraded): in none
            return {}
        for row in rows:
            found[row.pop("host")] = row
    return found
