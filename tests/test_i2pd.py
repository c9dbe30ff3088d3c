"""What a real (Debian 2.45.1) i2pd HTTP proxy answers, offline, on loopback.

These pin down the router's own behaviour, independent of darkcrawl, so
product tests can rely on the markers in :mod:`tests.i2pnet`. Requests use
raw ``http.client`` in proxy form (absolute URI plus ``Host``) so nothing
between the test and i2pd rewrites them.
"""

from __future__ import annotations

import base64
import http.client
import secrets
import shlex
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import i2pnet
from tests.components import needs
from tests.i2pnet import (
    HOST_DOWN_DETAIL,
    HOST_DOWN_MARKER,
    HOST_NOT_FOUND_DETAIL,
    HOST_NOT_FOUND_MARKER,
    PROXY_PAGE_TITLE,
    I2pd,
    free_port,
    i2pd_command,
    i2pd_config,
)

pytestmark = needs("i2pd")

# Observed: both error pages come back in milliseconds (no peers, so nothing
# to wait for). The bounds leave room for a loaded machine, not for hangs.
READY_BOUND_S = 10.0
ANSWER_BOUND_S = 30.0
STOP_BOUND_S = 15.0
RSS_BOUND_KIB = 100 * 1024


@dataclass
class ProxyAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def proxy_get(proxy_port: int, host: str, path: str = "/", *, timeout: float = ANSWER_BOUND_S) -> ProxyAnswer:
    """GET ``http://host/path`` through the HTTP proxy on 127.0.0.1:``proxy_port``."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=timeout)
    started = time.monotonic()
    try:
        # Passing Host stops http.client from sending "Host: 127.0.0.1:port".
        conn.request("GET", f"http://{host}{path}", headers={"Host": host, "Connection": "close"})
        response = conn.getresponse()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return ProxyAnswer(response.status, headers, body, time.monotonic() - started)
    finally:
        conn.close()


def random_b32_host() -> str:
    """A syntactically valid, almost surely unused b32 address (32 random bytes -> 52 chars)."""
    label = base64.b32encode(secrets.token_bytes(32)).decode("ascii").rstrip("=").lower()
    assert len(label) == 52
    return f"{label}.b32.i2p"


@pytest.fixture(scope="module")
def i2pd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[I2pd]:
    router = I2pd(tmp_path_factory.mktemp("i2pd"))
    with router:
        pid = router.pid
        yield router
    # Teardown checks: tests must leave no router behind.
    assert not Path(f"/proc/{pid}").exists(), f"i2pd {pid} still running after stop"
    assert not router.killed, "i2pd ignored SIGTERM and had to be killed"


def test_proxy_ready_fast_and_small(i2pd: I2pd, record_property: Callable[[str, object], None]) -> None:
    assert i2pd.ready_seconds is not None
    rss = i2pd.rss_kib()
    record_property("i2pd_ready_seconds", round(i2pd.ready_seconds, 3))
    record_property("i2pd_rss_kib", rss)
    print(f"i2pd ready in {i2pd.ready_seconds:.3f} s, RSS {rss / 1024:.1f} MiB, command {i2pd.command}")
    assert i2pd.ready_seconds < READY_BOUND_S
    assert rss < RSS_BOUND_KIB
    # Only our own loopback listeners: the config must not open the console (7070) or SAM (7656).
    assert i2pd.command[0] == i2pnet.I2PD_BINARY
    assert i2pd.command[1:] == [f"--datadir={i2pd.workdir / 'data'}", f"--conf={i2pd.workdir / 'i2pd.conf'}"]


def _error_page(i2pd: I2pd, host: str, marker: str, detail: str):
    """i2pd's HTTP proxy answers *host* with its 500 error page saying *marker*."""
    answer = proxy_get(i2pd.http_proxy_port, host)
    print(f"{host}: {answer.status} in {answer.seconds:.3f} s, {answer.headers}\n{answer.body[:300]!r}")
    assert answer.status == 500
    assert answer.headers["content-type"] == "text/html; charset=UTF-8"
    assert PROXY_PAGE_TITLE in answer.text
    assert marker in answer.text
    assert detail in answer.text
    return answer


def test_unknown_i2p_host_is_not_found(i2pd: I2pd) -> None:
    answer = _error_page(i2pd, "darkcrawl-no-such-host.i2p", HOST_NOT_FOUND_MARKER, HOST_NOT_FOUND_DETAIL)
    # The page offers jump services for the very name asked for.
    assert "jump/darkcrawl-no-such-host.i2p" in answer.text
    assert answer.seconds < ANSWER_BOUND_S


def test_random_b32_host_is_down(i2pd: I2pd) -> None:
    answer = _error_page(i2pd, random_b32_host(), HOST_DOWN_MARKER, HOST_DOWN_DETAIL)
    assert HOST_NOT_FOUND_MARKER not in answer.text
    assert answer.seconds < ANSWER_BOUND_S


def test_lost_port_race_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # i2pd keeps running without its proxy when the port is taken; I2pd must
    # notice (from /proc and the log) and relaunch on fresh ports.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = int(squatter.getsockname()[1])
        real_free_port = i2pnet.free_port
        calls = 0

        def first_port_taken() -> int:
            nonlocal calls
            calls += 1
            return taken if calls == 1 else real_free_port()

        monkeypatch.setattr(i2pnet, "free_port", first_port_taken)
        router = I2pd(tmp_path, ready_timeout=READY_BOUND_S)
        with router:
            pid = router.pid
            assert router.http_proxy_port != taken
            # http, socks, ntcp2 ports per launch: exactly one relaunch happened.
            assert calls == 6
            answer = proxy_get(router.http_proxy_port, "darkcrawl-no-such-host.i2p")
            assert HOST_NOT_FOUND_MARKER in answer.text
        assert not Path(f"/proc/{pid}").exists()
        assert router.stop_seconds is not None and router.stop_seconds < STOP_BOUND_S
        print(f"i2pd stopped by SIGTERM in {router.stop_seconds:.2f} s (killed={router.killed})")


def test_darkcrawl_launches_i2pd_and_records_its_error_pages(tmp_path: Path, crawl) -> None:
    """The product's own launcher starts i2pd (DARKCRAWL_I2P_CMD), the crawl goes through
    its HTTP proxy, i2pd's "Host not found" page is a proxy error, and the launched
    router is stopped when the crawl ends."""
    http_port, socks_port = free_port(), free_port()
    config = i2pd_config(tmp_path / "i2pd", http_port, socks_port)
    result = crawl(
        "-a", "urls=http://nosuchhost.i2p/",
        settings={"DARC_I2P": 1, "I2P_PORT": http_port, "I2P_WAIT": 30,
                  "DARKCRAWL_I2P_CMD": shlex.join(i2pd_command(config))},
    )
    assert result.returncode == 1, result.log[-2000:]  # the one seed is unknown to I2P: nothing fetched
    assert result.stats["darkcrawl/network/i2p/ready"] is True
    assert result.stats["darkcrawl/network/proxy_error/i2p"] >= 1
    assert result.stats["darkcrawl/network/i2p/reason/I2pHostNotFound"] >= 1
    assert "fetch failed http://nosuchhost.i2p/: i2p: host not in the router's address book" in result.log
    assert not result.files("i2p/http/nosuchhost.i2p/*_raw.html")
    leftover = subprocess.run(["pgrep", "-f", str(config)], capture_output=True, text=True).stdout
    assert leftover == "", f"i2pd launched by darkcrawl still running: {leftover}"
