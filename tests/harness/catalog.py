"""A catalogue's contents without its surrogate keys: what two catalogues are
compared by (incremental vs rebuilt, SQLite vs PostgreSQL, one worker vs two)."""

from __future__ import annotations

from typing import Any

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.catalog.facets import build_facets

_SNAPSHOT_COLUMNS = ("url", "timestamp", "host", "network", "final_url", "status", "mime", "sha256",
                     "content_digest", "duplicate_of", "size", "rendered_size", "screenshot_size", "title", "source",
                     "raw_path", "headers_path", "rendered_path", "screenshot_path", "rendered_at")


def _rows(db: CatalogDB, sql: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(row.values()) for row in db.all(sql)), key=repr)


def catalog_dump(db: CatalogDB) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, the facets' too (darkcrawl.catalog.facets)."""
    facets: dict[str, list[tuple[Any, ...]]] = {}
    for facet in build_facets():
        facets.update(facet.dump(db))
    return {**_core_dump(db), **facets}


def _core_dump(db: CatalogDB) -> dict[str, list[tuple[Any, ...]]]:
    text_key = "p.rowid" if db.dialect == "sqlite" else "p.snapshot_id"
    return {
        "hosts": _rows(db, "SELECT host, network, scheme, first_seen, last_seen, last_up, last_failure, last_reason, "
                           "pages, failures, state, title, title_at FROM hosts"),
        "snapshots": _rows(db, f"SELECT {', '.join(_SNAPSHOT_COLUMNS)} FROM snapshots"),
        "links": _rows(db, "SELECT s.url, s.timestamp, l.target, l.target_host FROM links l "
                           "JOIN snapshots s ON s.id = l.source_id"),
        "sightings": _rows(db, "SELECT e.kind, e.value, s.url, s.timestamp FROM sightings g "
                               "JOIN entities e ON e.id = g.entity_id JOIN snapshots s ON s.id = g.snapshot_id"),
        "failures": _rows(db, "SELECT url, timestamp, stage, host, network, reason, error, partial, redirects "
                              "FROM failures"),
        "text": _rows(db, f"SELECT s.url, s.timestamp, p.title, p.body FROM page_text p "
                          f"JOIN snapshots s ON s.id = {text_key}"),
    }


def dump_differences(a: dict[str, list[Any]], b: dict[str, list[Any]]) -> dict[str, Any]:
    """Per table that differs: a few rows only in *a*, and only in *b* (for an assert message)."""
    out = {}
    for table in a:
        if a[table] != b[table]:
            only_a, only_b = set(a[table]) - set(b[table]), set(b[table]) - set(a[table])
            out[table] = {"only_first": sorted(only_a, key=repr)[:3], "only_second": sorted(only_b, key=repr)[:3],
                          "sizes": (len(a[table]), len(b[table]))}
    return out
