"""A stop finishes within DARKCRAWL_SHUTDOWN_TIMEOUT and loses nothing: real crawls
(``scrapy crawl`` subprocesses) against a loopback server whose pages never answer,
and a real tor whose launch never completes, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.components import needs
from tests.conftest import ROOT, crawl_argv, run_crawl
from tests.gateways import FakeGateway, html
from tests.harness import free_ports
from tests.harness.http import HttpService, QuietHandler

ONION = "lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion"


class _Handler(QuietHandler):
    def do_GET(self) -> None:
        server: StuckServer = self.server.service
        server.hits.append(self.path)
        if self.path.startswith(server.stuck_paths) and server.stuck.is_set():
            server.release.wait(120)  # hold the connection, say nothing
            return
        if self.path.startswith("/stuck"):
            self.send_body(200, b"<html><body><p>answered at last</p></body></html>")
        else:
            self.send_body(404, b"not here", "text/plain")


class StuckServer(HttpService):
    """``/stuck`` accepts and never answers while :attr:`stuck` is set; then a page."""

    handler_class = _Handler

    def __init__(self, host: str, stuck: tuple[str, ...] = ("/stuck",)) -> None:
        super().__init__(host)
        self.stuck_paths = stuck
        self.stuck = threading.Event()
        self.stuck.set()
        self.release = threading.Event()
        self.hits: list[str] = []
        self.bind()

    @property  # type: ignore[override]
    def url(self) -> str:
        return self.base_url

    def stop(self) -> None:
        self.release.set()
        super().stop()


def _start(workdir: Path, *args: str, settings: dict[str, object]) -> subprocess.Popen[str]:
    argv = crawl_argv(workdir, *args, settings=settings)
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "DARKCRAWL_ALLOW_LOOPBACK": "1"})


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _rows(workdir: Path, table: str = "queue") -> list[tuple]:
    db = sqlite3.connect(workdir / "data" / "job" / "frontier.sqlite")
    try:
        if table == "queue":
            return list(db.execute("SELECT url, state FROM queue"))
        return list(db.execute("SELECT url FROM revisit"))
    finally:
        db.close()


def _stop(proc: subprocess.Popen[str], signals_: int = 1, gap: float = 1.0, timeout: float = 60) -> tuple[str, float]:
    started = time.monotonic()
    for n in range(signals_):
        if n:
            time.sleep(gap)
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=timeout)
    return out, time.monotonic() - started


@pytest.mark.parametrize("robots_stuck", [False, True], ids=["page", "page-and-robots"])
def test_sigterm_cancels_a_stuck_download_within_the_bound_and_it_is_fetched_on_restart(robots_stuck, tmp_path):
    settings = {"DARC_REBOOT": 0, "TIME_CACHE": 3600, "DOWNLOAD_TIMEOUT": 300, "DARKCRAWL_SHUTDOWN_TIMEOUT": 3}
    stuck = ("/stuck", "/robots.txt") if robots_stuck else ("/stuck",)
    with StuckServer(f"127.0.41.{10 + robots_stuck}", stuck) as server:
        url = f"{server.url}/stuck"
        proc = _start(tmp_path, "-a", f"urls={url}", settings=settings)
        try:
            _wait_for(lambda: stuck[-1] in server.hits, 60, "the stuck request to reach the server")
        finally:
            log, took = _stop(proc)
        assert proc.returncode == 4, log[-3000:]  # interrupted
        # the bound (3 s) plus the close itself; the download timeout (300 s) never came into it
        assert took < 25, log[-3000:]
        assert "shutdown bound (3 s) reached: cancelled" in log
        assert "Spider closed (shutdown)" in log
        assert "Traceback" not in log and " ERROR: " not in log, log[-3000:]
        assert f"fetch failed {url}" not in log  # put back, not failed
        stats = json.loads((tmp_path / "stats.json").read_text())
        assert stats["darkcrawl/shutdown/requeued"] >= 1
        assert stats["finish_reason"] == "shutdown"
        states = [state for row_url, state in _rows(tmp_path) if row_url == url]
        assert 0 in states and states.count(0) == 1, states  # pending again, once
        assert (url,) not in _rows(tmp_path, "revisit")  # not recorded as fetched
        assert not list((tmp_path / "data").glob("http/*/*_raw.html"))

        # the next start fetches it
        server.stuck.clear()
        (tmp_path / "stats.json").unlink()
        again = run_crawl(tmp_path, settings={"DARC_REBOOT": 1, "DARKCRAWL_SHUTDOWN_TIMEOUT": 3}, timeout=120)
        assert again.returncode == 0, again.log[-3000:]
        assert "1 requests pending" in again.log or "requests pending" in again.log
        assert server.hits.count("/stuck") >= (1 if robots_stuck else 2)
        saved = {r["[metadata]"]["url"] for r in again.headers_records()}
        assert url in saved, again.log[-3000:]
        assert [state for row_url, state in _rows(tmp_path) if row_url == url and state != 2] == []


def test_a_second_signal_forces_the_stop(tmp_path):
    settings = {"DOWNLOAD_TIMEOUT": 300, "DARKCRAWL_SHUTDOWN_TIMEOUT": 120}
    with StuckServer("127.0.41.2") as server:
        url = f"{server.url}/stuck"
        proc = _start(tmp_path, "-a", f"urls={url}", settings=settings)
        _wait_for(lambda: "/stuck" in server.hits, 60, "the stuck request to reach the server")
        log, _ = _stop(proc, signals_=2)  # (a hang fails at 60 s, well before the 120 s bound)
        assert "Received SIGTERM twice, forcing unclean shutdown" in log, log[-3000:]
        assert "shutdown bound (" not in log, log[-3000:]  # forced, not waited out
        # an unclean stop acknowledges nothing: the request is fetched again on the next start
        assert 2 not in [state for row_url, state in _rows(tmp_path) if row_url == url]


@needs("tor")
@pytest.mark.parametrize("signals_", [1, 2])
def test_sigterm_during_a_tor_launch_aborts_it(signals_, tmp_path):
    """A tor with DisableNetwork never bootstraps: the launch would wait TOR_WAIT (120 s)
    × (TOR_RETRY + 1); SIGTERM ends it at once and the onion's request is put back."""
    socks, control = free_ports(2)
    data_dir = tmp_path / "tor-data"
    settings = {
        "DARC_TOR": 1, "TOR_PORT": socks, "TOR_CTRL": control, "TOR_WAIT": 120, "TOR_RETRY": 3,
        "TOR_CFG": json.dumps({"DisableNetwork": "1"}), "DARKCRAWL_TOR_POOL": 1,
        "DARKCRAWL_TOR_CMD": "/usr/sbin/tor", "DARKCRAWL_TOR_DATA_DIR": str(data_dir),
        "DARKCRAWL_SHUTDOWN_TIMEOUT": 10,
    }
    proc = _start(tmp_path, "-a", f"urls=http://{ONION}/", settings=settings)
    _wait_for(lambda: (data_dir / "control_auth_cookie").exists(), 60, "tor to start")
    time.sleep(1)
    log, _ = _stop(proc, signals_=signals_, gap=0.2)  # (a hang fails at 60 s, before TOR_WAIT)
    assert "tor launch aborted: the crawl is closing" in log
    assert "shutdown bound (" not in log, log[-3000:]  # the launch ended by itself, not cut at 10 s
    if signals_ == 2:
        # the second one may come after the (quick) graceful close or force it: either
        # way the launch thread does not keep the process, or its tor, alive
        _wait_for(lambda: not subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True).stdout, 15,
                  "the launched tor to exit")
        return
    assert proc.returncode == 4, log[-3000:]  # interrupted
    assert "Spider closed (shutdown)" in log
    assert "launch attempt" not in log  # not retried
    assert "Traceback" not in log and " ERROR: " not in log and "SocketClosed" not in log, log[-3000:]
    left = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout
    assert left == "", f"the tor darkcrawl launched is still running: {left}"
    assert (f"http://{ONION}/", 0) in _rows(tmp_path)


@pytest.mark.parametrize("timeout", ["0", "inf"])
def test_the_bound_is_a_setting(timeout, tmp_path):
    # 0 cancels at once; inf waits (the extension is off): both are accepted and a
    # crawl with nothing in flight closes normally
    with StuckServer("127.0.41.3") as server:
        server.stuck.clear()
        result = run_crawl(tmp_path, "-a", f"urls={server.url}/stuck",
                           settings={"DARKCRAWL_SHUTDOWN_TIMEOUT": timeout}, timeout=120)
    assert result.returncode == 0, result.log[-3000:]
    assert result.stats["finish_reason"] == "finished"
    assert ("darkcrawl.extensions.shutdown.ShutdownGuard" in result.log) is (timeout != "inf")


@needs("chromium")
@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_a_render_in_progress_is_cut_at_the_bound_and_redone_on_the_next_start(how, tmp_path):
    """The render callback waits SE_WAIT (120 s) on the page: SIGTERM closes its page at
    the bound; Ctrl-C (SIGINT to the whole process group) kills the browser under it.
    Either way the close is quiet and the render is left for the next start."""
    page = html(text="rendered")
    with FakeGateway({"/": page}) as site:
        url = f"http://127.0.0.1:{site.port}/"
        settings = {"DARKCRAWL_RENDER": 1, "SE_WAIT": 120, "DARKCRAWL_SHUTDOWN_TIMEOUT": 3}
        argv = crawl_argv(tmp_path, "-a", f"urls={url}", settings=settings)
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "DARKCRAWL_ALLOW_LOOPBACK": "1"}, start_new_session=True)
        # the plain page is saved before its render starts; then give the render a moment
        _wait_for(lambda: list((tmp_path / "data").glob("clearnet/http/*/*_raw.html")), 120, "the plain stage")
        time.sleep(3)
        started = time.monotonic()
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        log, _ = proc.communicate(timeout=60)
        took = time.monotonic() - started
        assert proc.returncode == 4, log[-3000:]  # interrupted
        assert took < 25, log[-3000:]
        stats = json.loads((tmp_path / "stats.json").read_text())
        # cut in its callback (left handed out) or in its download (put back as a new row)
        assert (stats.get("darkcrawl/shutdown/render_cut", 0) + stats.get("darkcrawl/shutdown/requeued", 0)) == 1, log
        assert "Traceback" not in log and " ERROR: " not in log and "never retrieved" not in log, log[-3000:]
        assert len([state for row_url, state in _rows(tmp_path) if row_url == url and state != 2]) == 1
        assert not [p for p in (tmp_path / "data").glob("clearnet/http/*/*.html") if not p.name.endswith("_raw.html")]

        again = run_crawl(tmp_path, settings={"DARKCRAWL_RENDER": 1, "SE_WAIT": 0}, timeout=180)
        assert again.returncode == 0, again.log[-3000:]
        assert again.stats.get("darkcrawl/render/pages") == 1, again.log[-3000:]
        assert [p for p in (tmp_path / "data").glob("clearnet/http/*/*.html") if not p.name.endswith("_raw.html")]


@needs("setsid")
def test_the_playwright_driver_is_started_in_a_session_of_its_own(tmp_path, monkeypatch):
    from darkcrawl.extensions.shutdown import driver_in_own_session

    monkeypatch.setenv("PLAYWRIGHT_NODEJS_PATH", "")  # (recorded: the variable is restored after the test)
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    assert driver_in_own_session(first) is True
    wrapper = Path(os.environ["PLAYWRIGHT_NODEJS_PATH"])
    assert wrapper.is_relative_to(first) and os.access(wrapper, os.X_OK)
    # the wrapper runs node through setsid: a new session, out of the terminal's process group
    node = subprocess.Popen([str(wrapper), "-e", "setTimeout(() => {}, 5000)"])
    try:
        _wait_for(lambda: "node" in Path(f"/proc/{node.pid}/comm").read_text(), 10, "node to start")
        assert os.getsid(node.pid) == node.pid != os.getsid(0)  # setsid exec'd in place: node leads a new session
    finally:
        node.kill()
        node.wait()
    # another crawl's wrapper (inherited, or this process's earlier crawl) is not
    # trusted to outlive it: this crawl writes its own
    assert driver_in_own_session(second) is True
    assert Path(os.environ["PLAYWRIGHT_NODEJS_PATH"]).is_relative_to(second)
    wrapper.unlink()
    assert driver_in_own_session(second) is True  # rewritten in place, every crawl
    monkeypatch.setenv("PLAYWRIGHT_NODEJS_PATH", "/opt/node/bin/node")
    assert driver_in_own_session(second) is False  # the operator's own is kept
