"""Clones and mirrors in the catalogue: a crawl (render stage on) of a small
generated web of clones (tests/clonesites.py) ends with the right clusters and
phishing flags; ``scrapy catalog --rebuild`` makes the same; so does a rebuild
into PostgreSQL; the clones facet writes idempotently."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.catalog.facets.clones import ClonesFacet
from darkcrawl.catalog.rebuild import RebuildSource, record_paths, record_visits
from darkcrawl.catalog.writer import CatalogWriter
from darkcrawl.intel.clusters import cluster_id
from darkcrawl.intel.signatures import favicon_hash
from darkcrawl.links.classify import Gateways
from tests.clonesites import WebPlan, crawl_web, plan_web
from tests.components import needs
from tests.conftest import ROOT
from tests.harness.catalog import catalog_dump, dump_differences

#: two families (one with phishing clones, one with mirrors only), an unrelated site,
#: and three sites on one template
PLAN = WebPlan(families=2, phishing_families=1, unrelated=1, templates=1, per_template=3)


@pytest.fixture(scope="module")
def clone_crawl(tmp_path_factory):
    work = tmp_path_factory.mktemp("clones")
    specs = plan_web(PLAN, seed=19)  # a declared icon, a site without one, a login wall
    result = crawl_web(work, specs)
    assert result.returncode == 0, result.log[-3000:]
    return specs, result


def _clusters(db: CatalogDB) -> dict[str, dict]:
    found = {row["cluster"]: {**row, "members": []} for row in db.all("SELECT * FROM clone_clusters")}
    for row in db.all("SELECT host, cluster FROM clone_members ORDER BY host"):
        found[row["cluster"]]["members"].append(row["host"])
    return found


@needs("chromium")
def test_a_crawl_finds_the_families_and_flags_the_phishing_one(clone_crawl):
    specs, result = clone_crawl
    db = CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True)
    found = _clusters(db)
    families: dict[str, list] = {}
    for spec in specs:
        families.setdefault(spec.family, []).append(spec)
    expected = {tuple(sorted(s.host for s in members)) for members in families.values() if len(members) > 1}
    assert {tuple(c["members"]) for c in found.values()} == expected
    for cluster in found.values():
        members = [s for s in specs if s.host in cluster["members"]]
        assert cluster["cluster"] == cluster_id(min(cluster["members"])) and cluster["size"] == len(members)
        phishing = any(s.phishing for s in members)
        assert bool(cluster["suspected_phishing"]) is phishing
        addresses = {tuple(a) for a in json.loads(cluster["addresses"])}
        if not phishing:
            assert addresses == set()
            continue
        # the original's and a clone's at least (a copy whose root page is byte for byte another's
        # is not followed past it: its deposit page, and its address, may not be seen)
        assert ("bitcoin", next(s.address for s in members if s.role == "original")) in addresses
        assert addresses & {("bitcoin", s.address) for s in members if s.role == "clone"}
        assert addresses <= {("bitcoin", s.address) for s in members}
    # every host signed: its root page, a screenshot unless a mirror's copy, a text, a favicon when it has one
    signed = {row["host"]: row for row in db.all("SELECT * FROM clone_signatures")}
    assert set(signed) == {s.host for s in specs}
    for spec in specs:
        row = signed[spec.host]
        assert row["url"] == spec.url and row["root"] == 1
        if row["duplicate_of"] is None:
            assert row["image_hash"] and row["text_hash"] and row["screenshot_path"], spec
        icon = spec.design.favicon
        assert row["favicon_hash"] == (favicon_hash(icon) if icon else None), spec
    db.close()


@needs("chromium")
def test_a_rebuild_makes_the_same_clusters(clone_crawl, tmp_path):
    _specs, result = clone_crawl
    before = catalog_dump(CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True))
    assert before["clone_clusters"] and before["clone_members"] and before["clone_signatures"]
    proc = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "--rebuild", "-s", f"PATH_DATA={result.data}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = catalog_dump(CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True))
    assert after == before, dump_differences(after, before)


@needs("chromium")
def test_a_postgresql_rebuild_makes_the_same_clusters(clone_crawl, postgres_url):
    _specs, result = clone_crawl
    proc = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "--rebuild", "-s", f"PATH_DATA={result.data}",
                           "-s", f"DARKCRAWL_CATALOG_URL={postgres_url}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fleet = catalog_dump(CatalogDB.open(postgres_url))
    sqlite = catalog_dump(CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True))
    assert fleet == sqlite, dump_differences(fleet, sqlite)
    assert any(row[3] for row in fleet["clone_clusters"])  # a suspected phishing cluster


@needs("chromium")
def test_the_facet_writes_idempotently_and_signs_each_host_once(clone_crawl, tmp_path):
    _specs, result = clone_crawl
    source = RebuildSource(result.data, Gateways(), (), 100_000)
    visits = [v for path in record_paths(result.data) for v in record_visits(source, path)]
    db = CatalogDB.open(str(tmp_path / "catalog.sqlite"))
    facet = ClonesFacet(result.data)
    writer = CatalogWriter(db, [facet])
    writer.write(visits)
    writer.finish()
    once = catalog_dump(db)
    writer.write(visits)  # a batch written twice, then a deep page of every host: nothing changes
    writer.write([v for v in visits if v.url.endswith("/deposit")])
    writer.finish()
    assert catalog_dump(db) == once
    assert db.value("SELECT count(*) FROM clone_signatures WHERE url NOT LIKE '%/'") == 0
    db.close()


@needs("chromium")
def test_a_long_crawl_clusters_between_batches(clone_crawl, tmp_path, monkeypatch):
    """Every CLUSTER_INTERVAL seconds of writing, not only at the end."""
    from darkcrawl.catalog.facets import clones

    _specs, result = clone_crawl
    source = RebuildSource(result.data, Gateways(), (), 100_000)
    visits = [v for path in record_paths(result.data) for v in record_visits(source, path)]
    db = CatalogDB.open(str(tmp_path / "catalog.sqlite"))
    writer = CatalogWriter(db, [ClonesFacet(result.data)])
    writer.write(visits)
    assert db.value("SELECT count(*) FROM clone_clusters") == 0  # not yet: the interval has not passed
    monkeypatch.setattr(clones, "CLUSTER_INTERVAL", 0.0)
    writer.write(visits[:1])
    assert db.value("SELECT count(*) FROM clone_clusters") > 0
    db.close()
