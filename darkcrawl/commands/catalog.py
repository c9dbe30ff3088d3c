"""``scrapy catalog``: what the crawl catalogue holds, and ``--rebuild`` to make it
again from ``PATH_DATA`` alone.

The catalogue (``PATH_DATA/catalog.sqlite``, or ``DARKCRAWL_CATALOG_URL`` for a
fleet's PostgreSQL) is derived data: ``--rebuild`` reads every headers record,
document, render and ``misc/failures.jsonl`` and writes the same rows a crawl
writes, so crawls made before the catalogue existed get one too.  Run it while
no crawl writes to the catalogue.

Exit status: 0 done, 2 on a configuration error or a catalogue that cannot be
opened.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from darkcrawl.catalog.facets import build_facets
from darkcrawl.catalog.liveness_queries import attempts_csv, hosts_csv
from darkcrawl.catalog.db import CatalogDB, CatalogError, catalog_location, is_postgres, redact
from darkcrawl.catalog.rebuild import RebuildSource, rebuild_catalog
from darkcrawl.command_base import QuietCommand, loaded_or_config_error
from darkcrawl.config import get_option
from darkcrawl.report.outcome import ExitCode

if TYPE_CHECKING:
    import argparse


#: the order states are counted in (darkcrawl.intel.liveness)
STATE_ORDER = ("up", "gated", "down", "gone", "unknown")


def summary(db: CatalogDB) -> list[str]:
    """The catalogue in a few lines: hosts and pages per network, entities, failures."""
    lines = []
    states: dict[str, dict[str, int]] = {}
    for row in db.all("SELECT network, state, count(*) AS n FROM hosts GROUP BY network, state"):
        states.setdefault(row["network"], {})[row["state"]] = int(row["n"])
    for row in db.all("SELECT network, count(*) AS hosts, sum(pages) AS pages FROM hosts GROUP BY network "
                      "ORDER BY network"):
        counts = states.get(row["network"], {})
        said = ", ".join(f"{counts[s]} {s}" for s in STATE_ORDER if counts.get(s)) or "none tried"
        lines.append(f"{row['network']}: {row['hosts']} hosts ({said}), {row['pages'] or 0} pages")
    entities = db.all("SELECT kind, count(*) AS n FROM entities GROUP BY kind ORDER BY kind")
    if entities:
        lines.append("entities: " + ", ".join(f"{row['kind']} {row['n']}" for row in entities))
    lines.append(f"failures: {db.value('SELECT count(*) FROM failures')}")
    return lines


class Command(QuietCommand):
    requires_project = False

    def syntax(self) -> str:
        return ("[--rebuild] [--hosts-csv FILE] [--attempts-csv FILE] [-s PATH_DATA=DIR] "
                "[-s DARKCRAWL_CATALOG_URL=postgresql://...]")

    def short_desc(self) -> str:
        return "Show the crawl catalogue, or rebuild it from PATH_DATA"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--rebuild", action="store_true", help="make the catalogue again from PATH_DATA alone")
        parser.add_argument("--hosts-csv", metavar="FILE", help="write every host with its liveness (state, reason, "
                            "uptime, gate) as CSV to FILE (- for standard output)")
        parser.add_argument("--attempts-csv", metavar="FILE", help="write every attempt on every host (time, "
                            "outcome, reason, connect and first-byte times) as CSV to FILE (- for standard output)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        settings = loaded_or_config_error(self, "catalog")
        if settings is None:
            return
        root = Path(settings["PATH_DATA"])
        location = catalog_location(root, get_option(settings, "DARKCRAWL_CATALOG_URL"))
        try:
            if opts.rebuild:
                source = RebuildSource.from_settings(settings)
                started = time.monotonic()
                report = rebuild_catalog(location, source, get_option(settings, "DARKCRAWL_CATALOG_BATCH"),
                                         build_facets(settings))
                print(f"catalog: rebuilt {redact(location)} from {root} in {time.monotonic() - started:.1f} s: "
                      f"{report.records} records, {report.snapshots} snapshots, {report.renders} renders, "
                      f"{report.failures} failures")
            db = CatalogDB.open(location, readonly=not opts.rebuild and not is_postgres(location))
        except CatalogError as exc:
            print(f"catalog: {exc}")
            self.exitcode = ExitCode.CONFIG_ERROR
            return
        try:
            exports = [(opts.hosts_csv, hosts_csv), (opts.attempts_csv, attempts_csv)]
            if any(target for target, _ in exports):
                for target, lines in exports:
                    if target:
                        _export(lines(db), target)
                return
            print(f"catalog: {redact(location)}")
            for line in summary(db):
                print("  " + line)
        finally:
            db.close()


def _export(lines: Iterator[str], target: str) -> None:
    if target == "-":
        sys.stdout.writelines(lines)
        return
    with open(target, "w", encoding="utf-8", newline="") as out:
        out.writelines(lines)
