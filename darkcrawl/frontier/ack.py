"""Tell a queue when the engine is done with a request it handed out.

A crash-proof queue must not forget a request when it hands it out (a kill -9
before its page is saved would lose it) but when the engine is done with it: its
callback or errback has run, the items it made went through every pipeline, and
the requests it made were queued.  Scrapy has no signal for that moment; the
engine calls its ``_remove_request`` exactly then (Scrapy 2.13 to 2.19: after
``_handle_downloader_output``, which awaits the whole scrape, redirects included).
If a Scrapy upgrade changes that, the kill -9 test of ``tests/test_frontier.py``
(every page fetched after a restart) fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scrapy import Request

logger = logging.getLogger(__name__)


def call_when_done(engine: Any, done: Callable[[Request], None]) -> None:
    """Call ``done(request)`` once *engine* has finished with each request it took from its scheduler."""
    remove = engine._remove_request

    def _remove_request(result: Any, request: Request) -> Any:
        try:
            done(request)
        except Exception:  # the engine must go on; the request is just fetched again after a crash
            logger.exception("cannot acknowledge %s", request)
        return remove(result, request=request)

    engine._remove_request = _remove_request
