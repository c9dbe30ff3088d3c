"""The base of every local server the tests and benchmarks start.

A :class:`Service` writes :meth:`~Service.start` and :meth:`~Service.stop`; it is a
context manager for free (``with Server(...) as server:`` starts it and stops it
on the way out, errors included).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Service", "serve_until_interrupt", "wait_until"]

_S = TypeVar("_S", bound="Service")


class Service:
    """start()/stop() and the context manager around them."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_until(ready: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Call *ready* until it returns something true (True) or *timeout* seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def serve_until_interrupt() -> None:
    """Block until Ctrl-C (for a test web started by hand), then end the line."""
    try:
        # Event.wait in a loop rather than one long wait: keeps the main
        # thread responsive to Ctrl-C on every platform.
        stop = threading.Event()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        print()
