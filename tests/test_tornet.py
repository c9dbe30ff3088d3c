"""Real fetches through a private Tor network on loopback (see tests/harness/tornet).

Everything here goes through real tor processes: a client SocksPort with
ExtendedErrors, real v3 onion services, real HSDir lookups. The SOCKS5
client is the hand-written one in :mod:`tests.harness.tornet.socks` (ATYP=3, so Tor
resolves the names), shared with the fixture's own readiness check.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import stem.process
from stem import Signal
from stem.control import Controller

from tests.harness.tornet import TorNetwork, free_ports
from tests.harness.tornet.fixtures import tor_network  # noqa: F401  (pytest fixture, used by name)
from tests.harness.tornet.network import TOR_CMD
from tests.harness.tornet.sites import MAIN_TITLE, OTHER_TITLE
from tests.harness.tornet.socks import SocksError, http_get, socks5_connect

# Valid v3 address (ed25519 base point, correct checksum) that nobody publishes.
# stem 1.8 calls the deprecated Thread.setDaemon() in Controller.from_port.
pytestmark = pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning")

UNPUBLISHED = "lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion"


def _flip_first_char(address: str) -> str:
    # Stays base32 and 56 characters, so only the checksum is wrong.
    return ("b" if address[0] != "b" else "c") + address[1:]


def test_network_shape(tor_network: TorNetwork) -> None:
    assert len(tor_network.dir_authorities) == 5
    assert len(tor_network.onions) == 2
    for onion in tor_network.onions:
        assert onion.address.endswith(".onion") and len(onion.address) == 62
        assert onion.url == f"http://{onion.address}/"
    assert tor_network.cookie_path.stat().st_size == 32  # tor's control auth cookie
    config = tor_network.client_config()
    assert config["DirAuthority"] == tor_network.dir_authorities
    assert config["TestingTorNetwork"] == "1"


def test_fetch_main_onion(tor_network: TorNetwork) -> None:
    main, other = tor_network.onions
    reply = http_get(tor_network.socks_port, main.url)
    assert reply.status == 200
    assert f"<title>{MAIN_TITLE}</title>" in reply.text
    assert f'href="http://{main.address}/a.html"' in reply.text

    reply = http_get(tor_network.socks_port, f"http://{main.address}/b.html")
    assert reply.status == 200
    assert f'href="http://{other.address}/"' in reply.text

    reply = http_get(tor_network.socks_port, f"http://{main.address}/missing.html")
    assert reply.status == 404


def test_fetch_other_onion(tor_network: TorNetwork) -> None:
    main, other = tor_network.onions
    reply = http_get(tor_network.socks_port, other.url)
    assert reply.status == 200
    assert f"<title>{OTHER_TITLE}</title>" in reply.text
    assert f'href="http://{main.address}/"' in reply.text


def test_unpublished_onion_is_descriptor_not_found(tor_network: TorNetwork) -> None:
    with pytest.raises(SocksError) as failure:
        socks5_connect(tor_network.socks_port, UNPUBLISHED, 80, timeout=60)
    assert failure.value.code == 0xF0


def test_malformed_onion_is_invalid_address(tor_network: TorNetwork) -> None:
    bad = _flip_first_char(tor_network.onions[0].address)
    with pytest.raises(SocksError) as failure:
        socks5_connect(tor_network.socks_port, bad, 80, timeout=60)
    assert failure.value.code == 0xF6


def test_concurrent_fetches(tor_network: TorNetwork) -> None:
    """A crawler's access pattern: many small pages over a few parallel streams."""
    main, other = tor_network.onions
    urls = [f"http://{main.address}{path}" for path in ("/", "/a.html", "/b.html")] + [other.url]
    urls *= 10

    def timed(url: str) -> float:
        started = time.monotonic()
        assert http_get(tor_network.socks_port, url, timeout=60).status == 200
        return time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        latencies = list(pool.map(timed, urls))
    # Loose bound: this guards against multi-second stalls (backlog, guard
    # reuse), not against a busy machine; typical is tens of milliseconds.
    assert statistics.median(latencies) < 2.0


def test_newnym_through_control_port(tor_network: TorNetwork) -> None:
    with Controller.from_port(address="127.0.0.1", port=tor_network.control_port) as controller:
        controller.authenticate()  # cookie, found via PROTOCOLINFO
        controller.signal(Signal.NEWNYM)
        assert controller.get_newnym_wait() > 0
    # Closing a test's controller must not take the session's client down,
    # and NEWNYM (which drops cached onion descriptors) must not break fetches.
    reply = http_get(tor_network.socks_port, tor_network.onions[0].url, timeout=60)
    assert reply.status == 200


def test_second_client_launched_by_stem_joins(tor_network: TorNetwork, tmp_path: Path) -> None:
    """What the product's stem launcher does: a fresh client on the same network."""
    socks_port, control_port = free_ports(2)
    config: dict[str, str | list[str]] = {
        **tor_network.client_config(),
        "SocksPort": f"127.0.0.1:{socks_port} ExtendedErrors",
        "ControlPort": f"127.0.0.1:{control_port}",
        "CookieAuthentication": "1",
        "DataDirectory": str(tmp_path / "client2"),
    }
    process = stem.process.launch_tor_with_config(
        config=config, tor_cmd=TOR_CMD, take_ownership=True, timeout=60
    )
    try:
        reply = http_get(socks_port, tor_network.onions[1].url, timeout=60)
        assert reply.status == 200
        assert f"<title>{OTHER_TITLE}</title>" in reply.text
        with pytest.raises(SocksError) as failure:
            socks5_connect(socks_port, UNPUBLISHED, 80, timeout=60)
        assert failure.value.code == 0xF0
    finally:
        process.terminate()
        process.wait(10)


def test_an_extra_onion_with_its_own_options_is_started_and_stopped(tor_network: TorNetwork) -> None:
    """``add_onion``: one more service in a tor of its own, with its own options (here tor
    exports the circuit of each stream, as EndGame fronts want it), whose circuits can be
    closed through its control port, and which can be taken off the network."""
    import ipaddress

    from tests.harness.http import QuietHandler, serving

    class Handler(QuietHandler):
        def setup(self) -> None:
            super().setup()
            self.server.lines.append(self.rfile.readline(256))  # tor's PROXY line comes first

        def do_GET(self) -> None:  # noqa: N802
            self.send_body(200, b"<html><body>extra onion</body></html>")

    with serving(Handler, lines=[]) as server:
        onion = tor_network.add_onion(server.server_port, [("HiddenServiceExportCircuitID", "haproxy")])
        try:
            assert onion.address.endswith(".onion") and onion.url == f"http://{onion.address}/"
            assert onion.address not in {o.address for o in tor_network.onions}
            reply = http_get(tor_network.socks_port, onion.url)
            assert reply.status == 200 and "extra onion" in reply.text
            line = server.lines[-1].decode()
            assert line.startswith("PROXY TCP6 fc00:dead:beef:4dad:"), line
            circuit = int(ipaddress.IPv6Address(line.split()[2])) & 0xFFFFFFFF
            assert onion.close_circuit(circuit)
            assert not onion.close_circuit(circuit)  # closed already
        finally:
            onion.stop()
        assert not onion.running
        with pytest.raises(OSError):  # a SocksError (introduction failed), or no answer at all
            http_get(tor_network.socks_port, onion.url, timeout=60)
