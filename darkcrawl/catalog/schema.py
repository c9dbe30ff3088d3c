"""The catalogue's tables: one schema, two dialects (SQLite, PostgreSQL).

Every table has a natural key, so writing the same visit again (a re-run, a
rebuild over a live catalogue, two workers) changes nothing.  Times are ISO 8601
UTC strings (the items' timestamps): they sort as text, in both dialects.

Host aggregates (pages, first/last seen, state) are *recomputed* from snapshots
and failures for the hosts a batch touched, never incremented: a batch written
twice gives the same host row.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

#: ``{id}``: the dialect's auto-increment key; ``{big}``: its 64-bit integer
_TABLES = """
CREATE TABLE IF NOT EXISTS catalog_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hosts (
    host TEXT PRIMARY KEY,          -- darc's host: the URL's host[:port], or a gateway's key
    network TEXT NOT NULL,          -- clearnet, tor, tor2web, i2p, zeronet, freenet
    scheme TEXT NOT NULL,           -- of its first visit: the host's folder is network/scheme/host
    first_seen TEXT NOT NULL,       -- first attempt (a page or a failure)
    last_seen TEXT NOT NULL,        -- last attempt
    last_up TEXT,                   -- last page answered with a status below 500
    last_failure TEXT,
    last_reason TEXT,               -- the reason of the last failure
    pages {big} NOT NULL DEFAULT 0, -- snapshots
    failures {big} NOT NULL DEFAULT 0,
    state TEXT NOT NULL,            -- up | down | gated | gone | unknown (facets/liveness.py)
    title TEXT,                     -- the title of its latest page that has one
    title_at TEXT                   -- that page's visit
);
CREATE INDEX IF NOT EXISTS hosts_network ON hosts (network, state);
CREATE INDEX IF NOT EXISTS hosts_last_seen ON hosts (last_seen);
CREATE TABLE IF NOT EXISTS snapshots (
    id {id},
    url TEXT NOT NULL,              -- the URL asked for (the link), before redirects
    timestamp TEXT NOT NULL,        -- the visit: names every file of it
    host TEXT NOT NULL,
    network TEXT NOT NULL,
    final_url TEXT NOT NULL,
    status INTEGER,
    mime TEXT,
    sha256 TEXT,                    -- of the raw document as received
    content_digest TEXT,            -- content-seen's digest of the normalised page
    duplicate_of TEXT,              -- the URL that had this content first
    size {big},                     -- bytes of the raw document
    rendered_size {big},
    screenshot_size {big},
    title TEXT,
    source TEXT,                    -- the page the link was found on
    raw_path TEXT,                  -- files, relative to PATH_DATA
    headers_path TEXT,
    rendered_path TEXT,
    screenshot_path TEXT,
    rendered_at TEXT,
    UNIQUE (url, timestamp)
);
CREATE INDEX IF NOT EXISTS snapshots_host ON snapshots (host, timestamp);
CREATE INDEX IF NOT EXISTS snapshots_time ON snapshots (timestamp);
CREATE INDEX IF NOT EXISTS snapshots_url ON snapshots (url, timestamp);
CREATE TABLE IF NOT EXISTS links (
    source_id {big} NOT NULL,       -- the snapshot the link is on
    target TEXT NOT NULL,
    target_host TEXT,               -- NULL: not a crawlable URL (mailto:, bitcoin:, ...)
    PRIMARY KEY (source_id, target)
);
CREATE INDEX IF NOT EXISTS links_target_host ON links (target_host);
CREATE TABLE IF NOT EXISTS entities (
    id {id},
    kind TEXT NOT NULL,             -- bitcoin, ethereum, email, pgp, and every special-link kind
    value TEXT NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX IF NOT EXISTS entities_value ON entities (value);
CREATE TABLE IF NOT EXISTS sightings (
    entity_id {big} NOT NULL,
    snapshot_id {big} NOT NULL,
    PRIMARY KEY (entity_id, snapshot_id)
);
CREATE INDEX IF NOT EXISTS sightings_snapshot ON sightings (snapshot_id);
CREATE TABLE IF NOT EXISTS failures (
    url TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    stage TEXT NOT NULL,            -- plain | bootstrap | render
    host TEXT NOT NULL,
    network TEXT NOT NULL,
    reason TEXT NOT NULL,           -- a sentence a person can read
    error TEXT NOT NULL,
    partial INTEGER NOT NULL,       -- something was still saved
    redirects TEXT NOT NULL,        -- JSON list, oldest first
    PRIMARY KEY (url, timestamp, stage)
);
CREATE INDEX IF NOT EXISTS failures_host ON failures (host, timestamp);
CREATE INDEX IF NOT EXISTS failures_time ON failures (timestamp);
"""

#: full-text search over each snapshot's title and visible text (rowid = snapshot id)
_SQLITE_FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS page_text USING fts5 (
    title, body, tokenize = 'unicode61 remove_diacritics 2'
);
"""

_POSTGRES_FTS = """
CREATE TABLE IF NOT EXISTS page_text (
    snapshot_id BIGINT PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', body), 'B')
    ) STORED
);
CREATE INDEX IF NOT EXISTS page_text_tsv ON page_text USING GIN (tsv);
"""

_DIALECT = {
    "sqlite": {"id": "INTEGER PRIMARY KEY", "big": "INTEGER"},
    "postgresql": {"id": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "big": "BIGINT"},
}


def statements(dialect: str) -> list[str]:
    """The DDL of the catalogue in *dialect*, its facets' included, one statement per
    entry (idempotent)."""
    from darkcrawl.catalog.facets import build_facets, split_statements

    text = _TABLES.format(**_DIALECT[dialect]) + (_SQLITE_FTS if dialect == "sqlite" else _POSTGRES_FTS)
    return split_statements(text) + [s for facet in build_facets() for s in facet.statements(dialect)]


def dialect_types(dialect: str) -> dict[str, str]:
    """``{id}`` and ``{big}`` of *dialect*, for a facet's DDL."""
    return _DIALECT[dialect]
