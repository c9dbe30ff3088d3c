"""Facets: the parts of the catalogue that features add beside its core tables.

The core (:mod:`darkcrawl.catalog.schema`, :mod:`darkcrawl.catalog.writer`) holds
hosts, snapshots, links, entities, failures and page text.  A feature that knows
more about a host or a URL (liveness, gates, revisits, clones) is a *facet*: its
own tables, written inside the same transaction as the batch of core rows they
come from, emptied and refilled by a rebuild like the rest.  So every fact has one
place, a rebuild from PATH_DATA still equals the catalogue a crawl kept (the
facets' :meth:`Facet.dump` joins that comparison), and a new facet touches
neither the writer nor the rebuild: it is a :class:`Facet` subclass named in
:func:`facet_classes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings
    from typing_extensions import Self

    from darkcrawl.catalog.db import CatalogDB
    from darkcrawl.catalog.rows import FailureRow, Visit


@dataclass(slots=True)
class Batch:
    """One transaction's rows, as the core wrote them."""

    visits: list[Visit]
    failures: list[FailureRow]
    #: (url, visit timestamp) -> the snapshot's id, for every visit of the batch
    snapshot_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    #: snapshots this batch inserted (a visit written again is not new)
    new_snapshots: set[int] = field(default_factory=set)
    #: failures this batch inserted: (url, timestamp, stage)
    new_failures: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def hosts(self) -> set[str]:
        return {v.host for v in self.visits} | {f.host for f in self.failures}


class Facet:
    """A facet: its tables' DDL, its rows per batch, and how to compare it."""

    #: its tables, dependents first (a PostgreSQL rebuild empties them in this order)
    tables: ClassVar[tuple[str, ...]] = ()
    #: per table, a query of its rows without surrogate keys (sorted by the caller)
    dump_queries: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_settings(cls, settings: BaseSettings | None) -> Self:
        """Built from the crawl's settings (None: the defaults, e.g. for a reader)."""
        return cls()

    def statements(self, dialect: str) -> list[str]:
        """Its DDL in *dialect*, idempotent (``CREATE ... IF NOT EXISTS``)."""
        return []

    def write(self, db: CatalogDB, batch: Batch) -> None:
        """Its rows for *batch*, inside the batch's transaction, after the core rows.
        Idempotent: the same batch written twice changes nothing."""

    def finish(self, db: CatalogDB) -> None:
        """Work that needs every row (a clustering, a recount): after a rebuild, and
        when a crawl's catalogue closes.  Most facets do nothing here."""

    def dump(self, db: CatalogDB) -> dict[str, list[tuple[Any, ...]]]:
        """Its rows without surrogate keys, per table, for comparing two catalogues."""
        return {table: sorted((tuple(row.values()) for row in db.all(sql)), key=repr)
                for table, sql in self.dump_queries.items()}


def split_statements(text: str) -> list[str]:
    """DDL text -> one statement per entry."""
    return [s.strip() for s in text.split(";") if s.strip()]


def facet_classes() -> list[type[Facet]]:
    """Every facet of the catalogue, in writing order.  Imported here rather than at
    the package's import: a facet module imports the catalogue's row types."""
    from darkcrawl.catalog.facets.clones import ClonesFacet
    from darkcrawl.catalog.facets.liveness import LivenessFacet
    from darkcrawl.catalog.facets.revisits import RevisitsFacet

    return [LivenessFacet, RevisitsFacet, ClonesFacet]


def build_facets(settings: BaseSettings | None = None) -> list[Facet]:
    return [cls.from_settings(settings) for cls in facet_classes()]
