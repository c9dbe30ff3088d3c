"""A local submission API for tests: darc's ``demo/api.py`` receiver, on a real socket.

``POST /api/new_host``, ``/api/requests``, ``/api/selenium`` take darc's JSON
payloads.  Payloads are recorded by their ``Idempotency-Key`` header, and a
second delivery of a key is answered 200 but only counted (``duplicates``): the
receiver-side half of the spool's at-least-once delivery.

Failure modes a test controls:

* ``fail_next(n)``: the next *n* POSTs get a 500 (nothing recorded);
* ``delay``: seconds to wait *after* recording a payload and before answering, so
  a client killed meanwhile has been heard but never got its 2xx;
* ``down()`` / ``up()``: close the listening socket (and open connections), then
  listen again on the same port.

Run ``python -m tests.apiserver`` to get one on the command line.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from collections.abc import Callable
from typing import Any

from tests.harness.http import TrackingHTTPServer
from tests.harness.service import Service, wait_until

HOST = "127.0.0.1"
EVENTS = ("new_host", "requests", "selenium")


class _Server(TrackingHTTPServer):
    # The crawl and resubmit POST up to 16 at once: the backlog of 128 takes the bursts.
    allow_reuse_address = True  # up() binds the same port again at once

    def __init__(self, api: ApiServer, port: int) -> None:
        self.api = api
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients killed mid-request are what the tests do


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        event = self.path.removeprefix("/api/")
        if event not in EVENTS:
            self._reply(404, {"error": "no such event"})
            return
        api = self.server.api
        status, answer = api._receive(event, self.headers.get("Idempotency-Key"), body)
        with api._lock:
            api.in_progress += 1
        try:
            if status == 200 and api.delay and api._stopping.wait(api.delay):
                self.close_connection = True  # going down: never answer
                return
            self._reply(status, answer)
        finally:
            with api._lock:
                api.in_progress -= 1


class ApiServer(Service):
    """The test API; a context manager.  ``url(event)`` is what API_* settings take."""

    def __init__(self, *, delay: float = 0.0, port: int = 0) -> None:
        self.delay = delay
        self.port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._fail = 0
        self._fail_status = 500
        #: event -> idempotency key -> payload (the first delivery of each key)
        self.received: dict[str, dict[str, dict[str, Any]]] = {event: {} for event in EVENTS}
        #: event -> number of deliveries of a key already received
        self.duplicates: collections.Counter[str] = collections.Counter()
        #: every POST answered, failures included
        self.posts = 0
        self.failed = 0
        #: POSTs received and not yet answered
        self.in_progress = 0
        #: time.monotonic() of each first delivery, for rates
        self.arrivals: list[float] = []

    # -- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._server = _Server(self, self.port)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"apiserver-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.down()

    def down(self) -> None:
        """Stop listening (connections are refused) and cut open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join(5)

    def up(self) -> None:
        """Listen again, on the same port."""
        if self._server is None:
            self.start()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def url(self, event: str) -> str:
        return f"http://{HOST}:{self.port}/api/{event}"

    # -- behaviour ----------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._fail = count
            self._fail_status = status

    def _receive(self, event: str, key: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.posts += 1
            if self._fail > 0:
                self._fail -= 1
                self.failed += 1
                return self._fail_status, {"error": "failing on purpose"}
        if not key:
            return 400, {"error": "no Idempotency-Key"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": "not JSON"}
        with self._lock:
            if key in self.received[event]:
                self.duplicates[event] += 1
                return 200, {"status": "duplicate"}
            self.received[event][key] = payload
            self.arrivals.append(time.monotonic())
        return 200, {"status": "ok"}

    # -- reading ------------------------------------------------------------------

    def keys(self, event: str) -> set[str]:
        with self._lock:
            return set(self.received[event])

    def count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.received.values())

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        return wait_until(predicate, timeout, interval=0.02)

    def reset(self) -> None:
        with self._lock:
            for records in self.received.values():
                records.clear()
            self.duplicates.clear()
            self.arrivals.clear()
            self.posts = self.failed = self._fail = 0


if __name__ == "__main__":
    with ApiServer() as api:
        for name in EVENTS:
            print(api.url(name))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
