"""A fleet's catalogue on a real PostgreSQL: two workers of the distributed
profile (one Redis, one shared PATH_DATA) write one catalogue; it holds each
page once, its host counts add up, its full-text search answers, and it equals
the SQLite catalogue ``scrapy catalog --rebuild`` makes from the same files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from darkcrawl.catalog.db import CatalogDB
from tests.conftest import ROOT
from tests.darknet import Darknet
from tests.harness.catalog import catalog_dump, dump_differences
from tests.harness.redisserver import RedisServer
from tests.test_distributed import Worker, assert_finished, redis_server, workers  # noqa: F401 (fixtures)


def test_two_workers_share_one_postgresql_catalogue(darknet: Darknet, redis_server: RedisServer,  # noqa: F811
                                                    postgres_url: str, tmp_path: Path,
                                                    workers: Callable[..., Worker]) -> None:  # noqa: F811
    shared = {"PATH_DATA": str(tmp_path / "data"), "DARKCRAWL_CATALOG_URL": postgres_url,
              "DARKCRAWL_CATALOG_BATCH": 20}
    first = workers(tmp_path / "w1", redis_server.url, "-a", f"urls={darknet.url('main', '/')}", settings=shared)
    second = workers(tmp_path / "w2", redis_server.url, settings=shared)
    first.wait(180), second.wait(180)
    assert_finished(first, second)
    pages = first.stats["darkcrawl/pages"] + second.stats["darkcrawl/pages"]
    assert first.stats["darkcrawl/catalog/snapshots"] > 0 and second.stats["darkcrawl/catalog/snapshots"] > 0

    db = CatalogDB.open(postgres_url)
    assert db.value("SELECT count(*) FROM snapshots") == pages
    assert db.value("SELECT count(DISTINCT url) FROM snapshots") == pages  # each page once across the fleet
    assert db.value("SELECT sum(pages) FROM hosts") == pages  # both workers' counts, none lost to the other
    hits = db.all("SELECT s.url FROM page_text p JOIN snapshots s ON s.id = p.snapshot_id "
                  "WHERE p.tsv @@ websearch_to_tsquery('simple', ?)", ("mentioned",))
    assert [hit["url"] for hit in hits] == [darknet.url("main", "/text-only.html")]

    # the same schema and the same rows as the SQLite catalogue made from the files
    rebuilt = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "--rebuild", "-s",
                              f"PATH_DATA={tmp_path / 'data'}", "-s", "DARKCRAWL_CATALOG_URL="],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    sqlite = catalog_dump(CatalogDB.open(str(tmp_path / "data" / "catalog.sqlite"), readonly=True))
    fleet = catalog_dump(db)
    assert fleet == sqlite, dump_differences(fleet, sqlite)

    # and `scrapy catalog` reads the fleet's catalogue as it reads a SQLite one
    shown = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "-s", f"DARKCRAWL_CATALOG_URL={postgres_url}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "clearnet: 3 hosts (3 up)" in shown.stdout, shown.stdout + shown.stderr
