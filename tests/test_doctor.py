"""``scrapy doctor``: each check against the real thing (a SOCKS5 greeting server,
Debian's Chromium, a real redis-server, folders), and the command's exit codes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from darkcrawl.doctor import socks5_answers, tcp_answers
from darkcrawl.networks.socks import extended_errors
from tests.components import needs
from tests.conftest import ROOT
from tests.harness import free_port
from tests.harness.procs import stop
from tests.harness.redisserver import RedisServer
from tests.harness.tcp import tcp_server


def greeting_server(reply: bytes):
    """A loopback server answering every connection's first bytes with *reply*."""

    def greet(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            conn.recv(16)
            conn.sendall(reply)

    return tcp_server(greet)


def test_socks5_probe():
    with greeting_server(b"\x05\x00") as port:
        assert socks5_answers("127.0.0.1", port) is None
    with greeting_server(b"HTTP/1.0 400 Bad\r\n\r\n") as port:
        assert "not as a SOCKS5 proxy" in socks5_answers("127.0.0.1", port)
    closed = free_port()
    assert "nothing answers" in socks5_answers("127.0.0.1", closed)
    assert "nothing answers" in tcp_answers("127.0.0.1", closed)


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scrapy", "doctor"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def _line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.split()[1:2] == [name])


def test_everything_answers(tmp_path):
    with greeting_server(b"\x05\x00") as tor, greeting_server(b"") as i2p:
        result = doctor({"PATH_DATA": str(tmp_path), "TOR_PORT": str(tor), "I2P_PORT": str(i2p),
                         "DARC_ZERONET": "0", "DARC_FREENET": "0"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert _line(result.stdout, "tor").startswith("ok")
    assert _line(result.stdout, "i2p").startswith("ok")
    assert _line(result.stdout, "chromium").startswith("ok") and "Chromium" in _line(result.stdout, "chromium")
    assert _line(result.stdout, "PATH_DATA").startswith("ok") and "writable" in _line(result.stdout, "PATH_DATA")
    assert _line(result.stdout, "zeronet").startswith("warn") and "DARC_ZERONET=0" in result.stdout
    assert list(tmp_path.iterdir()) == []  # the doctor leaves nothing behind


def test_failures_name_the_fix(tmp_path):
    (tmp_path / "file").write_text("x")
    result = doctor({"PATH_DATA": str(tmp_path / "file" / "data"), "TOR_PORT": str(free_port()), "DARC_TOR": "0",
                     "DARKCRAWL_CHROMIUM": str(tmp_path / "no-chromium")})
    assert result.returncode == 1
    assert _line(result.stdout, "tor").startswith("FAIL") and "DARC_TOR=0" in _line(result.stdout, "tor")
    assert "apt-get install chromium" in _line(result.stdout, "chromium")
    assert _line(result.stdout, "PATH_DATA").startswith("FAIL")
    assert "3 check(s) failed: PATH_DATA, tor, chromium" in result.stdout


def test_api_url_that_does_not_answer_is_a_warning(tmp_path):
    result = doctor({"PATH_DATA": str(tmp_path), "API_REQUESTS": f"http://127.0.0.1:{free_port()}/requests"})
    assert "nothing answers" in _line(result.stdout, "API_REQUESTS")
    assert _line(result.stdout, "API_REQUESTS").startswith("warn")


@needs("redis-server")
def test_redis_of_a_fleet(tmp_path):
    with RedisServer(tmp_path / "redis") as redis_server:
        result = doctor({"PATH_DATA": str(tmp_path), "SCRAPY_PROJECT": "distributed",
                         "DARKCRAWL_REDIS_URL": redis_server.url})
        assert _line(result.stdout, "redis").startswith("ok"), result.stdout
    down = doctor({"PATH_DATA": str(tmp_path), "SCRAPY_PROJECT": "distributed",
                   "DARKCRAWL_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert _line(down.stdout, "redis").startswith("FAIL")
    assert down.returncode == 1


def test_config_error_is_one_line():
    result = doctor({"TIME_CACHE": "later"})
    assert result.returncode == 2
    assert result.stderr.strip() == "darkcrawl: configuration error: TIME_CACHE='later': expected a number of seconds or 'inf'"


@contextlib.contextmanager
def lone_tor(tmp_path, extended: bool):
    """A real tor client that can reach no relay (its one directory authority is made up,
    on a closed port): enough for tor's own checks of an address."""
    port = free_port()
    flags = " ExtendedErrors" if extended else ""
    nobody = "0" * 40
    torrc = tmp_path / "torrc"
    torrc.write_text("")  # not the system's /etc/tor/torrc
    proc = subprocess.Popen(["tor", "-f", str(torrc), "--SocksPort", f"127.0.0.1:{port}{flags}", "--ControlPort", "0",
                             "--DataDirectory", str(tmp_path / "tor"), "--Log", "err stderr", "--GeoIPFile", "",
                             "--GeoIPv6File", "", "--UseDefaultFallbackDirs", "0",
                             "--DirAuthority", f"nobody orport={free_port()} no-v2 v3ident={nobody} "
                                               f"127.0.0.1:{free_port()} {nobody}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while socks5_answers("127.0.0.1", port, timeout=0.5) is not None:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "tor exited"
            assert time.monotonic() < deadline, "tor never listened"
            time.sleep(0.1)
        yield port
    finally:
        stop(proc, signal.SIGTERM, 10)


@needs("tor")
@pytest.mark.parametrize("extended", [True, False])
def test_a_tor_without_extended_errors_is_named(tmp_path, extended):
    """Tor's extended SOCKS errors are told by tor's own answer for a malformed onion."""
    with lone_tor(tmp_path, extended) as port:
        assert extended_errors("127.0.0.1", port) is extended
        result = doctor({"PATH_DATA": str(tmp_path / "data"), "TOR_PORT": str(port)})
    line = _line(result.stdout, "tor")
    if extended:
        assert line.startswith("ok") and "with ExtendedErrors" in line, line
    else:
        assert line.startswith("warn") and f"SocksPort {port} ExtendedErrors" in line, line
