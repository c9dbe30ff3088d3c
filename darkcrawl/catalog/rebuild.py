"""``PATH_DATA`` -> catalogue rows: what ``scrapy catalog --rebuild`` reads.

Every visit has a headers record (``<network>/<scheme>/<host>/<sha256>_<ts>.json``)
that names its raw document and, once rendered, its rendered DOM and screenshot;
failures are the lines of ``misc/failures.jsonl``.  Records are read in visit
order, so hosts' titles and states come out as the crawl left them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from darkcrawl.catalog.db import CatalogDB, is_postgres
from darkcrawl.catalog.facets import Facet, build_facets
from darkcrawl.catalog.documents import ExtraPatterns, document_facts, rendered_facts
from darkcrawl.catalog.rows import FailureRow, TargetCache, Visit, failure_row, sha256, with_facts
from darkcrawl.catalog.writer import CatalogWriter
from darkcrawl.config import get_option
from darkcrawl.links.classify import NETWORKS, Gateways
from darkcrawl.links.patterns import compile_extra_patterns
from darkcrawl.storage.paths import FAILURES_FILE, HEADERS_RECORD

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class RebuildSource:
    """How the catalogue reads pages (the crawl's pipeline and a rebuild alike), and
    the PATH_DATA a rebuild reads."""

    root: Path
    gateways: Gateways
    extra: ExtraPatterns
    max_text: int
    targets: TargetCache = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", TargetCache(self.gateways))

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RebuildSource:
        return cls(Path(settings["PATH_DATA"]), Gateways.from_settings(settings),
                   tuple(compile_extra_patterns(settings["DARC_URL_PAT"] or [])),
                   get_option(settings, "DARKCRAWL_CATALOG_MAX_TEXT"))


def record_paths(root: Path) -> list[Path]:
    """Every headers record under *root*, in visit order (the timestamp in the name)."""
    found = []
    for network in NETWORKS:
        base = root / network
        if base.is_dir():
            found.extend(p for p in base.glob("*/*/*.json") if HEADERS_RECORD.match(p.name))
    return sorted(found, key=lambda p: (p.name[65:], str(p)))


def _read(root: Path, relative: str | None) -> bytes | None:
    if not relative:
        return None
    try:
        return (root / relative).read_bytes()
    except OSError:
        return None


def _size(root: Path, relative: str | None) -> int | None:
    try:
        return (root / relative).stat().st_size if relative else None
    except OSError:
        return None


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def record_visits(source: RebuildSource, path: Path) -> list[Visit]:
    """The visit of one headers record, and its render when it has one."""
    try:
        record: dict[str, Any] = json.loads(path.read_bytes())
        meta = record["[metadata]"]
        url, timestamp, network, host = meta["url"], record["Timestamp"], meta["proxy"], meta["host"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("catalog rebuild: %s is no headers record (%s): skipped", path, exc)
        return []
    root = source.root
    scheme = url.split(":", 1)[0].lower()
    document = record.get("Document")
    body = _read(root, document)
    final_url = record.get("URL") or url
    columns = {
        "final_url": final_url, "status": record.get("Status-Code"), "mime": record.get("Content-Type"),
        "sha256": sha256(body), "content_digest": record.get("Content-Digest"),
        "duplicate_of": record.get("Duplicate-Of"), "size": len(body) if body is not None else None,
        "source": meta.get("backref"), "raw_path": document if body is not None else None,
        "headers_path": str(path.relative_to(root)),
    }
    visit = Visit(url, timestamp, host, network, scheme, False, columns,
                  timing=_dict_or_none(record.get("Timing")), gate=_dict_or_none(record.get("Gate")),
                  sitemap_changefreq=_str_or_none(record.get("Sitemap-Changefreq")))
    facts = (document_facts(final_url, body, record.get("Response"), record.get("Content-Type") or "",
                            source.extra, source.max_text) if body and not record.get("Duplicate-Of") else None)
    visits = [with_facts(visit, facts.links if facts else None, facts.title if facts else None,
                     facts.text if facts else None, source.targets)]
    rendered = record.get("Rendered")
    if isinstance(rendered, dict) and rendered.get("Document"):
        visits.append(_render_visit(source, url, timestamp, host, network, scheme, rendered))
    return visits


def _render_visit(source: RebuildSource, url: str, timestamp: str, host: str, network: str, scheme: str,
                  rendered: dict[str, Any]) -> Visit:
    html = _read(source.root, rendered["Document"])
    final_url = rendered.get("URL") or url
    screenshot = rendered.get("Screenshot")
    columns = {
        "final_url": final_url, "rendered_path": rendered["Document"] if html is not None else None,
        "screenshot_path": screenshot if _size(source.root, screenshot) is not None else None,
        "rendered_size": len(html) if html is not None else None,
        "screenshot_size": _size(source.root, screenshot), "rendered_at": rendered.get("Timestamp"),
    }
    facts = rendered_facts(final_url, html, source.extra, source.max_text) if html is not None else None
    visit = Visit(url, timestamp, host, network, scheme, True, columns)
    return with_facts(visit, facts.links if facts else None, facts.title if facts else None,
                  facts.text if facts else None, source.targets)


def failure_rows(source: RebuildSource) -> Iterator[FailureRow]:
    path = source.root / FAILURES_FILE
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, line in enumerate(handle, 1):
            try:
                yield failure_row(json.loads(line), source.gateways)
            except ValueError:  # a torn last line (a crash mid-append): the rest still counts
                logger.warning("catalog rebuild: %s line %d is not JSON: skipped", path, number)


@dataclass(slots=True)
class RebuildReport:
    records: int = 0
    snapshots: int = 0
    renders: int = 0
    failures: int = 0


_TABLES = ("sightings", "entities", "links", "page_text", "failures", "snapshots", "hosts")


def _fill(db: CatalogDB, source: RebuildSource, batch: int, facets: list[Facet] | None) -> RebuildReport:
    writer = CatalogWriter(db, facets)
    report = RebuildReport()
    pending: list[Visit] = []
    for path in record_paths(source.root):
        pending.extend(record_visits(source, path))
        report.records += 1
        if len(pending) >= batch:
            counts = writer.write(pending)
            report.snapshots, report.renders = report.snapshots + counts.snapshots, report.renders + counts.renders
            pending = []
    counts = writer.write(pending)
    report.snapshots, report.renders = report.snapshots + counts.snapshots, report.renders + counts.renders
    failures = list(failure_rows(source))
    for start in range(0, len(failures), batch):
        report.failures += writer.write((), failures[start : start + batch]).failures
    writer.finish()
    return report


def rebuild_catalog(location: str, source: RebuildSource, batch: int = 500,
                    facets: list[Facet] | None = None) -> RebuildReport:
    """The catalogue at *location* made again from *source* alone.

    SQLite: built beside the old one and moved over it, so a reader sees the old
    catalogue or the new one, never half of one.  PostgreSQL: emptied and filled
    (other workers should not be writing meanwhile)."""
    if is_postgres(location):
        db = CatalogDB.open(location)
        try:
            with db.transaction():
                tables = [t for facet in build_facets() for t in facet.tables] + list(_TABLES)
                db.execute(f"TRUNCATE {', '.join(tables)}")
            return _fill(db, source, batch, facets)
        finally:
            db.close()
    target = Path(location)
    scratch = target.with_name(target.name + ".rebuild")
    for leftover in (scratch, *(scratch.with_name(scratch.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    db = CatalogDB.open(str(scratch))
    try:
        report = _fill(db, source, batch, facets)
        db.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it, to move over the old one
    finally:
        db.close()
    for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        stale.unlink(missing_ok=True)
    scratch.replace(target)
    return report
