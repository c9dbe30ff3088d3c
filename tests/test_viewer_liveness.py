"""The viewer's liveness: ``/api/hosts`` (state, reason, since, uptime, gate), the CSV exports,
and a host's timeline, changes of state and attempts, browsed in a real Chromium.

The fixture catalogue (tests/viewer_catalogue.py) has the onion up, then down with tor's
reason, then behind a queue, then up again, and the eepsite unknown to its router."""

from __future__ import annotations

import csv
import io

from darkcrawl.intel.liveness import bucket_of
from tests.components import needs
from tests.test_viewer import any_site, beacon, browser, get, get_json, page, site  # noqa: F401 (fixtures)
from tests.viewer_catalogue import I2P, ONION


def _host(site, name: str) -> dict:
    return next(h for h in get_json(f"{site.url}/api/hosts?limit=100")["items"] if h["host"] == name)


def test_api_hosts_has_state_reason_uptime_and_gate(any_site):
    onion = _host(any_site, ONION)
    assert onion["state"] == "up" and onion["reason"] is None and onion["checks"] == 4
    # up again since the bucket of its last check (the one before was the queue)
    assert onion["since"] == bucket_of(any_site.ids["liveness_onion"][3], 600)[0]
    # 4 checks in 30 days, 3 of them answered (the queue is an answer); in 7 days: down, gated, up
    assert onion["uptime"] == {"1d": 1.0, "7d": 0.6667, "30d": 0.75}
    gate = onion["gate"]
    assert gate["kind"] == "queue" and gate["evidence"]["snapshot_id"] == any_site.ids["gate"]
    assert gate["evidence"]["text"] == "EndGame-style queue: refresh in 5 s"
    eepsite = _host(any_site, I2P)
    assert eepsite["state"] == "down" and eepsite["reason"] == "i2p: host not in the router's address book"
    assert eepsite["uptime"]["1d"] is None or eepsite["uptime"]["7d"] == 0.0
    assert eepsite["gate"] is None
    assert [h["host"] for h in get_json(f"{any_site.url}/api/hosts?state=down")["items"]] == [I2P]


def test_hosts_and_attempts_as_csv(any_site):
    status, headers, body = get(f"{any_site.url}/api/hosts.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["X-Content-Type-Options"] == "nosniff"
    rows = {row["host"]: row for row in csv.DictReader(io.StringIO(body.decode()))}
    assert rows[ONION]["state"] == "up" and rows[ONION]["gate"] == "queue" and rows[ONION]["uptime_30d"] == "0.75"
    assert rows[I2P]["state"] == "down" and "address book" in rows[I2P]["reason"]
    status, _headers, body = get(f"{any_site.url}/api/host/{ONION}/attempts.csv")
    attempts = list(csv.DictReader(io.StringIO(body.decode())))
    assert [a["outcome"] for a in attempts] == ["up", "down", "gated", "up"]  # oldest first
    assert attempts[0]["connect_ms"] == "830" and attempts[1]["error"] == "OnionIntroFailed"
    paged = get_json(f"{any_site.url}/api/host/{ONION}/attempts?limit=2")
    assert len(paged["items"]) == 2 and paged["next"] == 2 and paged["items"][0]["outcome"] == "up"


@needs("chromium")
def test_a_hosts_liveness_in_the_browser(page, site):
    page.goto(f"{site.url}/host/{ONION}")
    facts = page.locator("dl.facts")
    assert facts.locator(".badge.state-up").count() == 1
    assert "1d 100% · 7d 67% · 30d 75%" in facts.inner_text()
    assert page.locator("svg.timeline rect.tick").count() == 4
    assert page.locator("svg.timeline rect.tl-down").count() == 1
    changes = page.locator("h3:has-text('Changes of state') + .scroll tbody tr, h3:has-text('Changes of state') + table tbody tr")
    assert changes.count() == 3  # up -> down -> gated -> up
    page.click("dl.facts >> text=evidence")
    page.wait_for_url(f"**/snapshot/{site.ids['gate']}")
    page.goto(f"{site.url}/hosts?state=down")
    assert page.locator("tbody tr").count() == 1 and page.locator("tbody", has_text=I2P).count() == 1
