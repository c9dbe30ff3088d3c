"""The Redis client of a worker: scrapy-redis's, patient with a Redis that restarts.

A worker that loses Redis (a restart, a failover, a network blip) keeps retrying
every command with jittered exponential backoff for ``DARKCRAWL_REDIS_RETRY_TIMEOUT``
seconds (``inf``: for ever) instead of dying; it logs when Redis goes away and when
it is back.  The calls block the worker meanwhile: it has nothing to do without its
frontier, and blocking keeps every request, ack and seen-mark in order.  The scripts
make a retried call harmless (see :mod:`darkcrawl.distributed.scripts`).
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.backoff import EqualJitterBackoff, NoBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, RedisError, TimeoutError
from redis.retry import Retry
from scrapy_redis import connection, defaults

from darkcrawl.config import get_option

if TYPE_CHECKING:
    import redis
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

DEFAULT_URL = "redis://127.0.0.1:6379/0"
RETRY_ERRORS = (ConnectionError, TimeoutError, BusyLoadingError, socket.timeout)


def redis_url(settings: BaseSettings) -> str:
    return settings.get("DARKCRAWL_REDIS_URL") or settings.get("REDIS_URL") or DEFAULT_URL


def shown_url(url: str) -> str:
    """The URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        auth, _, host = rest.rpartition("@")
        user = auth.split(":", 1)[0]
        return f"{scheme}://{user + ':' if user else ''}********@{host}"
    return url


class PatientRetry(Retry):
    """Retries until a time budget is spent, not a number of attempts."""

    def __init__(self, budget: float, on_outage: Callable[[float], None] | None = None) -> None:
        super().__init__(EqualJitterBackoff(cap=2.0, base=0.05), -1, RETRY_ERRORS)
        self.budget = budget
        self.on_outage = on_outage

    def __deepcopy__(self, memo: dict[int, Any]) -> PatientRetry:
        # redis-py copies the retry of every connection: share the callback, not a copy of its owner
        return type(self)(self.budget, self.on_outage)

    def call_with_retry(self, do: Callable[[], Any], fail: Callable[..., Any],
                        is_retryable: Callable[[Exception], bool] | None = None,
                        with_failure_count: bool = False) -> Any:
        self._backoff.reset()
        failures = 0
        started = 0.0
        while True:
            try:
                result = do()
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                now = time.monotonic()
                if failures == 1:
                    started = now
                    logger.warning("Redis unreachable (%s): retrying for up to %s s", error,
                                   "ever" if math.isinf(self.budget) else f"{self.budget:g}")
                if now - started >= self.budget:
                    raise
                time.sleep(min(self._backoff.compute(failures), max(0.0, started + self.budget - now)))
            else:
                if failures:
                    down = time.monotonic() - started
                    logger.warning("Redis is back after %.1f s", down)
                    if self.on_outage is not None:
                        self.on_outage(down)
                return result


def _params(settings: BaseSettings) -> dict[str, Any]:
    params: dict[str, Any] = dict(defaults.REDIS_PARAMS)
    params.update(settings.getdict("REDIS_PARAMS"))
    params.pop("retry_on_timeout", None)  # the retry below covers timeouts
    params.update(
        url=redis_url(settings),
        socket_connect_timeout=min(float(params.get("socket_connect_timeout") or 5), 5.0),
        client_name="darkcrawl",
    )
    return params


def from_settings(settings: BaseSettings, on_outage: Callable[[float], None] | None = None,
                  on_round_trip: Callable[[], None] | None = None) -> redis.Redis:
    """scrapy-redis's client (``REDIS_PARAMS`` apply) on ``DARKCRAWL_REDIS_URL``/``REDIS_URL``;
    *on_round_trip* is called at each of its round trips (:func:`count_round_trips`)."""
    params = _params(settings)
    params.update(
        retry=PatientRetry(get_option(settings, "DARKCRAWL_REDIS_RETRY_TIMEOUT"), on_outage),
        retry_on_error=list(RETRY_ERRORS),
        health_check_interval=15,
    )
    client = connection.get_redis(**params)
    if on_round_trip is not None:
        count_round_trips(client, on_round_trip)
    return client


def count_round_trips(client: redis.Redis, count: Callable[[], None]) -> None:
    """Call *count* whenever *client* sends something and waits for the answer: a command,
    a script call or a whole pipeline is one round trip; so is a health-check PING, a
    retry and a reconnection's handshake.  What a fleet's Redis has to answer, as the
    worker sees it, for the cost of a function call."""
    pool = client.connection_pool
    base: Any = pool.connection_class  # the URL's: TCP, TLS or a Unix socket

    class Counted(base):  # type: ignore[misc,valid-type]
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            count()
            super().send_packed_command(command, check_health)

    pool.connection_class = Counted


def check(settings: BaseSettings) -> None:
    """Fail fast (RuntimeError) on a wrong URL or a Redis that is not there at all."""
    params = _params(settings)
    params["retry"] = Retry(NoBackoff(), 0)
    client = connection.get_redis(**params)
    try:
        client.ping()
    except RedisError as exc:
        raise RuntimeError(f"cannot reach Redis at {shown_url(params['url'])}: {exc}") from None
    finally:
        client.close()
