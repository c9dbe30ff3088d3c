"""The EndGame-style site (tests/endgame) as an onion service of the private Tor network,
with tor exporting each stream's circuit (``HiddenServiceExportCircuitID haproxy``) and
the site killing circuits through the service's control port, as EndGame does: the crawl
waits the queue out through the same SocksPort, and both stages get behind it with no
ban and no circuit killed."""

from __future__ import annotations

from tests.components import needs
from tests.endgame import PAGES, EndGameSite
from tests.test_endgame import DELAY, HTML_PAGES, check_waited, gate_records, page_records
from tests.test_tor import tor_settings

pytestmark = [needs("tor"), needs("chromium")]


def test_the_crawl_gets_behind_the_queue_through_tor_with_no_ban(tor_network, crawl):
    with EndGameSite(delay=DELAY, proxy_protocol=True) as site:
        onion = tor_network.add_onion(site.port, [("HiddenServiceExportCircuitID", "haproxy")])
        try:
            site.allowed_hosts = {onion.address}  # EndGame kills the circuit of a request for another host
            site.kill_circuit = onion.close_circuit
            result = crawl("-a", f"urls={onion.url}", settings=tor_settings(tor_network, DARKCRAWL_RENDER=1),
                           env={"DARKCRAWL_ALLOW_LOOPBACK": "0"}, timeout=300)
        finally:
            onion.stop()
    assert result.returncode == 0, result.log[-3000:]
    check_waited(site)
    assert not site.killed_circuits
    visits = list(site.visits)
    assert visits and all(visit.circuit is not None for visit in visits)  # tor told the site every circuit
    assert HTML_PAGES | {"/robots.txt", "/static/logo.png"} <= {v.path for v in site.served("content")}
    # the whole visit (the queue, its return, both stages) on one circuit: one SocksPort, no NEWNYM
    assert len({visit.circuit for visit in visits}) == 1
    [gate] = gate_records(result)
    assert gate["Gate"]["kind"] == "queue" and gate["Rendered"] is None
    pages = page_records(result)
    for path in HTML_PAGES:
        assert pages[path]["Rendered"], path
        rendered = (result.data / pages[path]["Rendered"]["Document"]).read_text()
        assert PAGES[path][1].decode().split("<h1>")[1][:8] in rendered, path
    assert result.stats["darkcrawl/gates/passed"] == 1 and "darkcrawl/gates/banned" not in result.stats
