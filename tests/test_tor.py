"""darkcrawl on a real private Tor network (tests/harness/tornet): onion crawling end to end,
failure reasons, darkcrawl's own stem launcher joining the network, NEWNYM, and
``scrapy shell`` through Tor."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from scrapy import Spider
from scrapy.utils.test import get_crawler

from darkcrawl.networks.tor import TorNetwork
from tests.components import needs, require
from tests.conftest import ROOT, logged_at
from tests.harness import free_ports

UNPUBLISHED = "lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion"


def tor_settings(network, **more):
    # the fixture's tor is already running: darkcrawl connects, launches nothing
    return {"TOR_PORT": network.socks_port, "TOR_CTRL": network.control_port, "DARC_TOR": 0,
            "DARKCRAWL_TOR_POOL": 1, **more}


def test_onion_site_crawled_end_to_end(tor_network, crawl):
    main, other = tor_network.onions
    result = crawl("-a", f"urls={main.url}", settings=tor_settings(tor_network),
                   env={"DARKCRAWL_ALLOW_LOOPBACK": "0"})
    assert result.returncode == 0, result.log[-3000:]
    saved = {r["[metadata]"]["url"] for r in result.headers_records()}
    assert {main.url, main.url + "a.html", main.url + "b.html", other.url} <= saved
    assert result.files(f"tor/http/{main.address}/*_raw.html")
    assert result.stats["darkcrawl/transport/socks"] >= 4
    assert result.stats["darkcrawl/network/tor/ready"] is True
    assert result.stats["darkcrawl/network/tor/extended_errors"] is True  # a tor it did not launch: checked
    new_hosts = {i["url"] for i in result.items if "sitemaps" in i}
    assert {main.url, other.url} <= new_hosts


def test_unpublished_and_malformed_onions_give_their_reasons(tor_network, crawl, tmp_path):
    malformed = UNPUBLISHED[:55] + ("b" if UNPUBLISHED[55] != "b" else "c") + ".onion"
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"http://{UNPUBLISHED}/\nhttp://{malformed}/\n")
    result = crawl("-a", f"seeds={seeds}", settings=tor_settings(tor_network, RETRY_TIMES=0))
    assert result.returncode == 1  # nothing could be fetched
    assert f"{seeds}:2: malformed onion address" in result.log
    assert result.stats["darkcrawl/fetch_error/OnionUnreachable"] >= 1
    assert result.stats["darkcrawl/network/tor/socks_reply/0xf0"] >= 1
    assert result.stats["darkcrawl/network/tor/reason/OnionDescriptorNotFound"] >= 1
    assert (f"fetch failed http://{UNPUBLISHED}/: tor: onion service descriptor not found (unpublished or gone)"
            in result.log)
    failures = [json.loads(line) for line in (result.data / "misc" / "failures.jsonl").read_text().splitlines()]
    mine = [f for f in failures if f["url"] == f"http://{UNPUBLISHED}/" and f["stage"] == "plain"]
    assert mine and all(f["error"] == "OnionDescriptorNotFound" for f in mine), mine
    assert not result.files(f"tor/http/{UNPUBLISHED}/*")


def test_darkcrawl_launches_its_own_tor_into_the_network(tor_network, crawl, tmp_path):
    """The stem launcher: nothing listens on TOR_PORT, so darkcrawl launches tor with
    TOR_CFG (the private network's authorities) merged in, waits for its bootstrap,
    crawls the onion through a pool of 2 SocksPorts, and stops that tor at the end."""
    socks, control = free_ports(2)
    data_dir = tmp_path / "tor-data"
    result = crawl(
        "-a", f"urls={tor_network.onions[1].url}",
        settings={"DARC_TOR": 1, "TOR_PORT": socks, "TOR_CTRL": control, "TOR_WAIT": 60,
                  "TOR_CFG": json.dumps(tor_network.client_config()), "DARKCRAWL_TOR_POOL": 2,
                  "DARKCRAWL_TOR_CMD": "/usr/sbin/tor", "DARKCRAWL_TOR_DATA_DIR": str(data_dir)},
        timeout=240,
    )
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["darkcrawl/network/tor/ready"] is True, "\n".join(
        line for line in result.log.splitlines() if "tor" in line.lower())[-3000:]
    assert result.files(f"tor/http/{tor_network.onions[1].address}/*_raw.html")
    assert "SocketClosed" not in result.log  # the control connection closes quietly
    left = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout
    assert left == "", f"the tor darkcrawl launched is still running: {left}"


def test_newnym_is_rate_limited(tor_network):
    crawler = get_crawler(Spider, {"ADDONS": {"darkcrawl.addon.Addon": 0}, **tor_settings(tor_network)})
    crawler._apply_settings()
    tor = TorNetwork.from_crawler(crawler)
    assert tor.newnym() is True
    assert tor.newnym() is False  # tor honours one NEWNYM per 10 s: not even asked
    assert crawler.stats.get_value("darkcrawl/network/tor/newnym") == 1
    assert crawler.stats.get_value("darkcrawl/network/tor/newnym_skipped") == 1


def test_scrapy_shell_fetches_through_tor(tor_network):
    main = tor_network.onions[0]
    argv = [sys.executable, "-m", "scrapy", "shell", main.url, "--nolog", "-c", "(response.status, response.url)"]
    for name, value in tor_settings(tor_network).items():
        argv += ["-s", f"{name}={value}"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == f"(200, '{main.url}')", proc.stdout + proc.stderr[-2000:]


_PROXIES_OF = '''
import json, sys
from scrapy import Spider
from scrapy.utils.test import get_crawler
from darkcrawl.networks.tor import TorNetwork
settings = {"ADDONS": {"darkcrawl.addon.Addon": 0}, "TOR_PORT": 9050, "TOR_CTRL": 9051,
            "DARKCRAWL_TOR_POOL": int(sys.argv[1])}
tor = TorNetwork.from_crawler(get_crawler(Spider, settings))
print(json.dumps([tor.proxy_for(service) for service in sys.argv[2:]]))
'''


@pytest.mark.parametrize(("pool", "ports"), [(1, {9050}), (3, {9050, 9052, 9053})])
def test_services_stay_on_their_port(pool, ports):
    """Each onion service's requests leave through one SocksPort of the pool (never the
    control port), the same one in every crawl process: in two processes with different
    hash seeds, every service gets the port it got here, and the services share the pool."""
    services = [f"service{i}.onion" for i in range(40)]
    crawler = get_crawler(Spider, {"ADDONS": {"darkcrawl.addon.Addon": 0}, "TOR_PORT": 9050, "TOR_CTRL": 9051,
                                   "DARKCRAWL_TOR_POOL": pool})
    here = [TorNetwork.from_crawler(crawler).proxy_for(s) for s in services]
    assert {int(proxy.rsplit(":", 1)[1]) for proxy in here} == ports
    assert all(proxy.startswith("socks5h://127.0.0.1:") for proxy in here)
    for seed in ("1", "2"):
        proc = subprocess.run([sys.executable, "-c", _PROXIES_OF, str(pool), *services], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(proc.stdout) == here


def test_no_onion_or_i2p_name_reaches_the_local_resolver(tor_network, tmp_path):
    """A DNS canary is the crawl's only resolver: it must see the clear-web names (the
    positive control, proving it watches) and never an .onion or .i2p name."""
    from tests.conftest import run_crawl
    from tests.dnscanary import DnsCanary, isolated_command
    from tests.gateways import FakeGateway, html

    require("dns-canary")
    require("chromium")  # the render stage is part of this crawl
    main = tor_network.onions[0]
    i2p_pages = {"http://site.i2p/": html("http://other.i2p/", "http://canary-i2p-link.example/")}
    with DnsCanary() as canary, FakeGateway(i2p_pages) as i2p_proxy:
        items = tmp_path / "items.jsonl"
        command = isolated_command(
            [sys.executable, "-m", "scrapy", "crawl", "darkweb", "-O", f"{items}:jsonlines"], canary, tmp_path)
        result = run_crawl(
            tmp_path, "-a", f"urls={main.url},http://site.i2p/,http://canary-check.example/",
            # the render stage too: Chromium must not resolve the onion locally either
            settings=tor_settings(tor_network, I2P_PORT=i2p_proxy.port, RETRY_TIMES=0, DARKCRAWL_RENDER=1),
            env={"DARKCRAWL_ALLOW_LOOPBACK": "0"}, command=command,
        )
        names = set(canary.names)
    assert result.returncode == 0, result.log[-3000:]
    assert "canary-check.example" in names  # the canary sees what the crawl resolves
    assert result.files(f"tor/http/{main.address}/*_raw.html")  # and the onion was crawled
    assert result.files(f"tor/http/{main.address}/*.png")  # and rendered in Chromium through Tor
    assert result.stats["playwright/context_count"] >= 1
    assert i2p_proxy.hits["http://other.i2p/"] == 1
    leaked = {n for n in names if n.endswith((".onion", ".i2p"))}
    assert not leaked, f"leaked to the local resolver: {leaked}"


def test_everything_through_tor(tor_network, darknet, crawl):
    """With DARKCRAWL_CLEARNET_VIA_TOR the clear web goes through Tor too: the private
    network has no exit relays, so the page cannot be fetched, and the site never
    sees a direct connection."""
    darknet.reset_hits()
    result = crawl("-a", f"urls={darknet.url('other', '/')}",
                   settings=tor_settings(tor_network, DARKCRAWL_CLEARNET_VIA_TOR=1, RETRY_TIMES=0,
                                         DOWNLOAD_TIMEOUT=3))
    assert result.returncode == 1  # nothing could be fetched
    assert result.stats["darkcrawl/transport/socks"] >= 1
    assert darknet["other"].hits["/"] == 0
    assert not result.files("clearnet/http/*/*_raw.html")


@pytest.mark.parametrize(
    ("first", "size", "control", "expected"),
    [(9050, 4, 9051, [9050, 9052, 9053, 9054]), (9050, 1, 9051, [9050]), (9150, 3, 9051, [9150, 9151, 9152]),
     (9050, 0, 9051, [9050])],
)
def test_the_socks_pool_skips_the_control_port(first, size, control, expected):
    from darkcrawl.networks.tor import pool_ports

    assert pool_ports(first, size, control) == expected


# -- what tor says while it bootstraps (darkcrawl.networks.torcontrol) -------------------

_STUCK = ('WARN BOOTSTRAP PROGRESS=14 TAG=handshake SUMMARY="Handshaking with a relay" WARNING="DONE" '
          'REASON=DONE COUNT=12 RECOMMENDATION=warn HOSTID="43620A05" HOSTADDR="37.221.208.216:9100"')


def test_bootstrap_status_fields():
    from darkcrawl.networks.torcontrol import bootstrap_status

    status = bootstrap_status(_STUCK)
    assert status["SEVERITY"] == "WARN"
    assert (status["PROGRESS"], status["TAG"], status["SUMMARY"]) == ("14", "handshake", "Handshaking with a relay")
    assert (status["REASON"], status["COUNT"], status["HOSTADDR"]) == ("DONE", "12", "37.221.208.216:9100")
    assert bootstrap_status("")["SEVERITY"] == ""


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        # tor's own verdict before the first relay: the network
        (_STUCK, "tor cannot reach any relay (stuck at 14% 'handshake', tor says: the connection was closed during "
                 "the handshake; 12 connections failed, last relay tried 37.221.208.216:9100): no network, or a "
                 "firewall; bridges may be needed"),
        ('WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" '
         'REASON=CONNECTREFUSED COUNT=10 RECOMMENDATION=warn HOSTADDR="1.2.3.4:443"',
         "tor cannot reach any relay (stuck at 5% 'conn', tor says: connection refused; 10 connections failed, "
         "last relay tried 1.2.3.4:443): no network, or a firewall; bridges may be needed"),
        ('WARN BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting" WARNING="No route to host" REASON=NOROUTE '
         'RECOMMENDATION=warn',
         "tor cannot reach any relay (stuck at 0% 'starting', tor says: no route to host): no network, or a "
         "firewall; bridges may be needed"),
        # an unknown reason keeps tor's words
        ('WARN BOOTSTRAP PROGRESS=10 TAG=conn_done WARNING="Something new" REASON=NEWTHING RECOMMENDATION=warn',
         "tor cannot reach any relay (stuck at 10% 'conn_done', tor says: Something new): no network, or a "
         "firewall; bridges may be needed"),
        # not (yet) hopeless: tor only noted a failure, or got past the first relay
        ('WARN BOOTSTRAP PROGRESS=14 TAG=handshake WARNING="DONE" REASON=DONE COUNT=3 RECOMMENDATION=ignore', None),
        ('WARN BOOTSTRAP PROGRESS=50 TAG=loading_descriptors WARNING="Connection refused" REASON=CONNECTREFUSED '
         'COUNT=40 RECOMMENDATION=warn', None),
        ('NOTICE BOOTSTRAP PROGRESS=14 TAG=handshake SUMMARY="Handshaking with a relay"', None),
        ("", None),
    ],
)
def test_unreachable_reason(phase, expected):
    from darkcrawl.networks.torcontrol import bootstrap_status, unreachable_reason

    assert unreachable_reason(bootstrap_status(phase)) == expected


def test_a_whole_wait_without_a_relay_is_the_network_too():
    from darkcrawl.networks.torcontrol import bootstrap_status, unreachable_reason

    early = bootstrap_status('WARN BOOTSTRAP PROGRESS=14 TAG=handshake WARNING="DONE" REASON=DONE COUNT=3 '
                             'RECOMMENDATION=ignore HOSTADDR="1.2.3.4:443"')
    assert unreachable_reason(early) is None  # tor may still get through
    assert unreachable_reason(early, waited_out=True).startswith(
        "tor cannot reach any relay (stuck at 14% 'handshake', tor says: the connection was closed during the "
        "handshake; 3 connections failed")
    # no failure noted (DisableNetwork, a slow start) or past the first relay: a retry may help
    assert unreachable_reason(bootstrap_status("NOTICE BOOTSTRAP PROGRESS=0 TAG=starting"), waited_out=True) is None
    assert unreachable_reason(bootstrap_status('WARN BOOTSTRAP PROGRESS=50 TAG=loading_descriptors WARNING="DONE" '
                                               'REASON=DONE RECOMMENDATION=ignore'), waited_out=True) is None


@needs("tor")
def test_offline_tor_fails_fast_with_its_reason(crawl, tmp_path):
    """This machine has no internet: a real tor launched with its default config is the
    offline first run.  Tor says within seconds that no relay answers; the launch fails
    then, is not retried, the onion's requests fail with the reason and the round ends."""
    socks, control = free_ports(2)
    data_dir = tmp_path / "tor-data"
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"http://{UNPUBLISHED}/\n")
    wait, retry = 60, 3
    result = crawl("-a", f"seeds={seeds}", settings={
        "DARC_TOR": 1, "TOR_PORT": socks, "TOR_CTRL": control, "TOR_WAIT": wait, "TOR_RETRY": retry,
        "DARKCRAWL_TOR_POOL": 1, "DARKCRAWL_TOR_CMD": "/usr/sbin/tor", "DARKCRAWL_TOR_DATA_DIR": str(data_dir)},
        timeout=wait * (retry + 1) + 60)
    assert result.returncode == 3, result.log[-3000:]  # the seeds need Tor
    # one launch, given up on tor's word before its TOR_WAIT ran out (not after 60 s × 4 tries)
    assert len(re.findall(r"launching tor: ", result.log)) == 1, result.log[-3000:]
    waited = logged_at(result.log, "tor unavailable: ") - logged_at(result.log, "tor launched ")
    assert waited.total_seconds() < wait, result.log[-3000:]
    assert "tor unavailable: tor cannot reach any relay (stuck at" in result.log, result.log[-3000:]
    assert "no network, or a firewall; bridges may be needed" in result.log
    assert f"fetch failed http://{UNPUBLISHED}/: tor is not available: tor cannot reach any relay" in result.log
    assert "launch attempt" not in result.log  # not retried
    # the launch shows its progress while a person waits
    assert re.search(r"launching tor: \S*tor ", result.log), result.log[-3000:]
    assert re.search(r"tor bootstrap \d+%: \w", result.log), result.log[-3000:]
    assert "SocketClosed" not in result.log and "Traceback" not in result.log
    assert result.stats["darkcrawl/network/unavailable/tor"] >= 1
    assert result.stats["darkcrawl/network/tor/ready"] is False
    assert result.stats["darkcrawl/network/tor/unreachable"].startswith("tor cannot reach any relay")
    assert result.stats["finish_reason"] == "finished"
    left = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout
    assert left == "", f"the tor darkcrawl launched is still running: {left}"


def test_an_onion_with_proof_of_work_defenses_is_crawled(tor_network, crawl):
    """Onion proof-of-work (tor >= 0.4.8, ``HiddenServicePoWDefensesEnabled``): the service
    puts ``pow-params`` in its descriptor and the client tor solves what it asks, which a
    crawler sees only as a slower connect (DARKCRAWL_CONNECT_TIMEOUT_DARKNET allows for it).
    Without an attack the suggested effort stays 0 (the service raises it every few minutes
    under load), so this shows the crawl reaching a defended service, not a solve under load."""
    import warnings

    from stem.control import Controller
    from stem.descriptor.hidden_service import HiddenServiceDescriptorV3

    from tests.harness.tornet.sites import TinySite

    with TinySite("pow") as site:
        site.set_pages({"/": "<html><head><title>pow-defended</title></head><body><p>behind a PoW defense</p>"
                             "<a href='/b.html'>b</a></body></html>",
                        "/b.html": "<html><head><title>b</title></head><body><p>second page</p></body></html>"})
        onion = tor_network.add_onion(site.port, {"HiddenServicePoWDefensesEnabled": "1"})
        try:
            result = crawl("-a", f"urls={onion.url}", settings=tor_settings(tor_network),
                           env={"DARKCRAWL_ALLOW_LOOPBACK": "0"})
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "setDaemon", DeprecationWarning)
                with Controller.from_port(address="127.0.0.1", port=tor_network.control_port) as controller:
                    controller.authenticate()
                    raw = controller.get_info(f"hs/client/desc/id/{onion.address.removesuffix('.onion')}")
        finally:
            onion.stop()
    inner = str(HiddenServiceDescriptorV3.from_str(raw).decrypt(onion.address))
    assert re.search(r"^pow-params v1 \S+ \d+ ", inner, re.M), inner[:2000]
    assert result.returncode == 0, result.log[-3000:]
    assert site.hits("/") >= 1 and site.hits("/b.html") == 1
    assert result.files(f"tor/http/{onion.address}/*_raw.html")


class _AcceptAndDrop:
    """A service's web server that accepts each connection and closes it without a byte:
    tor's stream opens (the SOCKS reply is a success), then ends with no answer."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed: the test is over
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_three_ways_an_onion_is_down_give_three_recorded_reasons(tor_network, crawl, tmp_path):
    """An onion with no descriptor, a service taken off the network (its descriptor still at
    the HSDirs) and one whose server accepts and drops: each failure has its own reason, in
    the stats, in misc/failures.jsonl and in the catalogue's hosts (``scrapy catalog
    --hosts-csv``), never one generic "connection error"."""
    import csv
    import io

    from tests.harness.tornet.sites import TinySite

    dropping = _AcceptAndDrop()
    with TinySite("soon-gone") as site:
        site.set_pages({"/": "<html><head><title>soon gone</title></head><body>here for now</body></html>"})
        stopped = tor_network.add_onion(site.port)
        stopped.stop()  # off the network, as a real service that goes down
    drops = tor_network.add_onion(dropping.port)
    try:
        seeds = tmp_path / "seeds.txt"
        seeds.write_text(f"http://{UNPUBLISHED}/\n{stopped.url}\n{drops.url}\n")
        result = crawl("-a", f"seeds={seeds}", settings=tor_settings(tor_network, RETRY_TIMES=0, DOWNLOAD_TIMEOUT=90),
                       env={"DARKCRAWL_ALLOW_LOOPBACK": "0"}, timeout=300)
    finally:
        drops.stop()
        dropping.close()
    assert result.returncode == 1, result.log[-3000:]  # nothing could be fetched
    assert dropping.accepted >= 1  # the stream reached the server: the drop is the site's
    failures = [json.loads(line) for line in (result.data / "misc" / "failures.jsonl").read_text().splitlines()]
    errors = {url: {f["error"] for f in failures if f["url"] == url and f["stage"] == "plain"}
              for url in (f"http://{UNPUBLISHED}/", stopped.url, drops.url)}
    assert errors[f"http://{UNPUBLISHED}/"] == {"OnionDescriptorNotFound"}, failures
    # the introduction points answer that the service is gone (or stop answering at all)
    [gone] = errors[stopped.url]
    assert gone in {"OnionIntroFailed", "OnionIntroTimeout", "OnionRendezvousFailed"}, failures
    [dropped] = errors[drops.url]
    assert dropped not in {"OnionDescriptorNotFound", gone}, failures
    assert dropped in {"NoResponse", "ConnectionReset"}, failures  # tor did its part: the site dropped us
    for error in ("OnionDescriptorNotFound", gone):
        assert result.stats[f"darkcrawl/network/tor/reason/{error}"] >= 1
    reasons = {f["url"]: f["reason"] for f in failures}
    assert len({reasons[f"http://{UNPUBLISHED}/"], reasons[stopped.url], reasons[drops.url]}) == 3, reasons
    export = subprocess.run([sys.executable, "-m", "scrapy", "catalog", "--hosts-csv", "-",
                             "-s", f"PATH_DATA={result.data}"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert export.returncode == 0, export.stderr
    hosts = {row["host"]: row for row in csv.DictReader(io.StringIO(export.stdout))}
    for url in (f"http://{UNPUBLISHED}/", stopped.url, drops.url):
        host = url.split("/")[2]
        assert hosts[host]["state"] == "down" and hosts[host]["reason"] == reasons[url], hosts[host]
