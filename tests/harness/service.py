"""The base of every local server the tests and benchmarks start.

A :class:`Service` writes :meth:`~Service.start` and :meth:`~Service.stop`; it is a
context manager for free (``with Server(...) as server:`` starts it and stops it
on the way out, errors included).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

__all__ = ["Service", "wait_until"]

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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
