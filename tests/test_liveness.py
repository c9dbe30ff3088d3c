"""Liveness: the pure rules (darkcrawl/intel/liveness.py) and the catalogue's facet
(darkcrawl/catalog/facets/liveness.py): attempts, checks, states, transitions, uptime, gates."""

from __future__ import annotations

import random
from typing import Any

import pytest

from darkcrawl.catalog.db import CatalogDB
from darkcrawl.catalog.facets.liveness import LivenessFacet
from darkcrawl.catalog.rows import FailureRow, Visit
from darkcrawl.catalog.writer import CatalogWriter
from darkcrawl.intel.liveness import (
    DOWN,
    GATED,
    GONE,
    UP,
    Check,
    Outcome,
    bucket_of,
    check_of,
    failure_outcome,
    host_state,
    transitions,
    uptime,
    visit_outcome,
)
from tests.harness.catalog import catalog_dump, dump_differences

QUEUE = {"kind": "queue", "evidence": "EndGame queue: refresh in 5 s", "wait": 5}


@pytest.mark.parametrize(("status", "gate", "expected"), [
    (200, None, Outcome(UP)),
    (404, None, Outcome(UP)),  # it answered: the page is missing, the host is not
    (302, None, Outcome(UP)),
    (503, None, Outcome(DOWN, "the server answers 503")),
    (200, QUEUE, Outcome(GATED, "queue: EndGame queue: refresh in 5 s")),
    (403, {"kind": "ban"}, Outcome(GATED, "ban")),
])
def test_visit_outcome(status: int, gate: dict[str, Any] | None, expected: Outcome) -> None:
    assert visit_outcome(status, gate) == expected


@pytest.mark.parametrize(("stage", "error", "ttfb", "expected"), [
    ("plain", "OnionDescriptorNotFound", None, DOWN),
    ("plain", "OnionIntroFailed", None, DOWN),
    ("plain", "I2pHostNotFound", 30, DOWN),  # the router answered, not the eepsite
    ("plain", "ProxyError", 30, DOWN),
    ("bootstrap", "ConnectionRefused", None, DOWN),
    ("plain", "ConnectTimeout", None, DOWN),
    ("plain", "DNSLookupError", None, DOWN),
    ("plain", "ConnectionReset", None, DOWN),
    ("plain", "ConnectionReset", 120, UP),  # reset mid-body: it had answered
    ("plain", "DownloadMaxSize", None, UP),
    ("plain", "BodyTruncated", None, UP),
    ("plain", "SomethingNew", None, DOWN),  # an unknown failure before any answer: not reached
    ("plain", "NetworkUnavailable", None, None),  # tor was not running here: nothing learnt of the host
    ("plain", "HostGivenUp", None, None),
    ("plain", "RobotsTxtDisallowed", None, None),
    ("plain", "AddressRefused", None, None),
    ("render", "RenderDeadline", None, None),
    ("bootstrap", "NotASitemap", 20, None),
])
def test_failure_outcome(stage: str, error: str, ttfb: int | None, expected: str | None) -> None:
    found = failure_outcome(stage, error, "why", {"ttfb_ms": ttfb})
    assert (found.outcome if found else None) == expected
    if found is not None and found.outcome == DOWN:
        assert found.reason == "why"


def test_buckets() -> None:
    assert bucket_of("2026-12-07T06:14:06.123456+00:00", 600) == ("2026-12-07T06:10:00+00:00",
                                                                  "2026-12-07T06:20:00+00:00")
    assert bucket_of("2026-12-07T06:20:00+00:00", 600)[0] == "2026-12-07T06:20:00+00:00"
    assert bucket_of("2026-12-07T06:19:59.999999Z", 600)[0] == "2026-12-07T06:10:00+00:00"
    # bucket bounds sort against item timestamps as text
    start, end = bucket_of("2026-12-07T06:14:06.5+00:00", 600)
    assert start <= "2026-12-07T06:10:00.000001+00:00" < end <= "2026-12-07T06:20:00.5+00:00"


@pytest.mark.parametrize(("attempts", "expected"), [
    ([(UP, None), (DOWN, "timeout"), (DOWN, "timeout")], Check(UP, None, 3, 1)),  # one page timing out is no outage
    ([(DOWN, "refused"), (DOWN, "timeout"), (DOWN, "timeout")], Check(DOWN, "timeout", 3, 0)),
    ([(DOWN, "b"), (DOWN, "a")], Check(DOWN, "a", 2, 0)),  # a tie: the same answer in any order
    ([(GATED, "captcha"), (DOWN, "timeout")], Check(GATED, "captcha", 2, 1)),
    ([(GATED, "queue"), (UP, None)], Check(UP, None, 2, 2)),  # through the queue: up
])
def test_check_of(attempts: list[tuple[str, str | None]], expected: Check) -> None:
    assert check_of(attempts) == expected
    assert check_of(reversed(attempts)) == expected


def test_host_state_and_gone() -> None:
    day = 86400.0
    assert host_state(UP, None, "2026-01-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", 30 * day) == UP
    assert host_state(GATED, None, "2026-01-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", 30 * day) == GATED
    assert host_state(DOWN, "2026-02-20T00:00:00+00:00", "2026-01-01T00:00:00+00:00",
                      "2026-03-01T00:00:00+00:00", 30 * day) == DOWN
    assert host_state(DOWN, "2026-01-20T00:00:00+00:00", "2026-01-01T00:00:00+00:00",
                      "2026-03-01T00:00:00+00:00", 30 * day) == GONE
    # never answered: counted from the first attempt
    assert host_state(DOWN, None, "2026-01-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", 30 * day) == GONE
    assert host_state(DOWN, None, "2026-01-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", 0) == DOWN


def test_transitions_and_uptime() -> None:
    checks = [("t1", UP, None), ("t2", UP, None), ("t3", DOWN, "timeout"), ("t4", DOWN, "timeout"),
              ("t5", GATED, "captcha"), ("t6", UP, None)]
    assert [(t.at, t.before, t.after, t.reason) for t in transitions(checks)] == [
        ("t3", UP, DOWN, "timeout"), ("t5", DOWN, GATED, "captcha"), ("t6", GATED, UP, None)]
    pairs = [(b, o) for b, o, _ in checks]
    assert uptime(pairs, "t0") == pytest.approx(4 / 6)
    assert uptime(pairs, "t4") == pytest.approx(2 / 3)
    assert uptime(pairs, "t9") is None


# -- the facet in a catalogue -------------------------------------------------------------

def visit(url: str, ts: str, status: int = 200, gate: dict[str, Any] | None = None, connect: int | None = 5,
          ttfb: int = 40) -> Visit:
    host = url.split("/")[2]
    return Visit(url, ts, host, "tor", "http", False, {"final_url": url, "status": status}, title="t", text="page",
                 timing={"connect_ms": connect, "ttfb_ms": ttfb, "elapsed_ms": ttfb + 5}, gate=gate)


def failure(url: str, ts: str, error: str = "OnionIntroFailed", reason: str = "tor: onion service introduction "
            "failed (offline)") -> FailureRow:
    return FailureRow(url, ts, "plain", url.split("/")[2], "tor", reason, error, False, "[]")


H = "http://a.onion/"


def history() -> tuple[list[Visit], list[FailureRow]]:
    """Up on day 1, a gate on day 2, down from day 3 (one page up in its first bucket), for 40 days."""
    visits = [visit(H, "2026-01-01T10:00:01+00:00"), visit(H + "x", "2026-01-01T10:00:02+00:00"),
              visit(H + "q", "2026-01-02T10:00:00+00:00", gate=QUEUE),
              visit(H + "q", "2026-01-02T10:01:00+00:00", gate=QUEUE),
              visit(H + "y", "2026-01-03T10:00:30+00:00")]
    failures = [failure(H + "z", "2026-01-03T10:00:10+00:00")]
    failures += [failure(H, f"2026-01-{day:02d}T10:00:00+00:00") for day in range(4, 32)]
    failures += [failure(H, f"2026-02-{day:02d}T10:00:00+00:00") for day in range(1, 10)]
    return visits, failures


def liveness(db: CatalogDB) -> dict[str, Any]:
    return db.one("SELECT * FROM host_liveness WHERE host = 'a.onion'") or {}


def test_the_facet_keeps_attempts_checks_state_and_gates(tmp_path) -> None:
    db = CatalogDB.open(str(tmp_path / "c.sqlite"))
    writer = CatalogWriter(db, [LivenessFacet(window=600, gone_after=30 * 86400)])
    visits, failures = history()
    writer.write(visits[:2])
    assert liveness(db)["state"] == UP and db.value("SELECT state FROM hosts") == UP
    writer.write(visits[2:4])
    assert (liveness(db)["state"], liveness(db)["reason"]) == (GATED, "queue: EndGame queue: refresh in 5 s")
    gate = db.one("SELECT * FROM host_gates")
    assert (gate["kind"], gate["evidence_url"], gate["first_seen"]) == ("queue", H + "q", "2026-01-02T10:00:00+00:00")
    assert gate["last_seen"] == "2026-01-02T10:01:00+00:00"
    writer.write(visits[4:], failures[:1])
    assert liveness(db)["state"] == UP  # one page failed, one answered: the bucket is up
    writer.write((), failures[1:20])
    state = liveness(db)
    assert (state["state"], state["since"]) == (DOWN, "2026-01-04T10:00:00+00:00")
    assert state["reason"] == "tor: onion service introduction failed (offline)"
    assert state["last_answer"] == "2026-01-03T10:00:30+00:00"
    writer.write((), failures[20:])
    assert liveness(db)["state"] == GONE and db.value("SELECT state FROM hosts") == GONE
    attempts = db.all("SELECT * FROM attempts WHERE url = ? ORDER BY timestamp", (H,))
    assert attempts[0]["connect_ms"] == 5 and attempts[0]["ttfb_ms"] == 40 and attempts[0]["outcome"] == UP
    assert attempts[-1]["error"] == "OnionIntroFailed" and attempts[-1]["outcome"] == DOWN
    # the gate is not the site's text, nor its title
    assert db.value("SELECT count(*) FROM page_text") == 3
    assert db.value("SELECT title FROM hosts") == "t"


def test_the_same_rows_in_any_order_and_twice(tmp_path) -> None:
    visits, failures = history()
    rows: list[Visit | FailureRow] = [*visits, *failures]
    dumps = []
    for seed in (1, 2):
        random.Random(seed).shuffle(rows)
        db = CatalogDB.open(str(tmp_path / f"{seed}.sqlite"))
        writer = CatalogWriter(db, [LivenessFacet()])
        for start in range(0, len(rows), 7):
            chunk = rows[start : start + 7]
            writer.write([r for r in chunk if isinstance(r, Visit)], [r for r in chunk if isinstance(r, FailureRow)])
        writer.write(visits, failures)  # again: nothing changes
        dumps.append(catalog_dump(db))
    assert dumps[0] == dumps[1], dump_differences(*dumps)


# -- a real crawl ----------------------------------------------------------------------------

def test_a_crawl_keeps_every_attempt_and_exports_it(crawl, tmp_path) -> None:
    """A live site and a dead port: attempts with their times, states with their reasons,
    in the catalogue and in `scrapy catalog --hosts-csv / --attempts-csv`."""
    import csv
    import io
    import subprocess
    import sys

    from tests.harness.ports import free_port
    from tests.test_timing import TimedSite

    dead = free_port()
    with TimedSite() as site:
        result = crawl("-a", f"urls={site.url('/')},http://127.0.0.1:{dead}/",
                       settings={"DARC_REBOOT": 1, "RETRY_TIMES": 0, "DARKCRAWL_RENDER": 0})
    assert result.returncode == 0, result.log[-2000:]
    db = CatalogDB.open(str(result.data / "catalog.sqlite"), readonly=True)
    live_host = site.url("/").split("/")[2]
    states = {row["host"]: row for row in db.all("SELECT * FROM host_liveness")}
    assert states[live_host]["state"] == UP
    assert states[f"127.0.0.1:{dead}"]["state"] == DOWN
    assert states[f"127.0.0.1:{dead}"]["reason"] == "connection refused (nothing listens on that port)"
    slow = db.one("SELECT * FROM attempts WHERE url = ?", [site.url("/slow")])
    assert slow["outcome"] == UP and slow["ttfb_ms"] >= 400
    db.close()
    export = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "--hosts-csv", "-", "--attempts-csv",
                             str(tmp_path / "attempts.csv"), "-s", f"PATH_DATA={result.data}"],
                            capture_output=True, text=True, timeout=60)
    assert export.returncode == 0, export.stderr
    hosts = {row["host"]: row for row in csv.DictReader(io.StringIO(export.stdout))}
    assert hosts[live_host]["state"] == "up" and hosts[f"127.0.0.1:{dead}"]["state"] == "down"
    attempts = list(csv.DictReader((tmp_path / "attempts.csv").open()))
    assert {a["url"] for a in attempts} >= {site.url("/"), site.url("/slow"), f"http://127.0.0.1:{dead}/"}
    shown = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "-s", f"PATH_DATA={result.data}"],
                           capture_output=True, text=True, timeout=60).stdout
    assert "clearnet: 2 hosts (1 up, 1 down)" in shown, shown
