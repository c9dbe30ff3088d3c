"""The hostile test web: 60+ misbehaving hosts on loopback, one address each.

:mod:`.cases` is the table (case -> behaviour -> what a crawl must show),
:mod:`.server` the raw-socket hosts, :mod:`.check` holds a crawl's outputs to the
table.  ``python -m tests.hostile`` starts it by hand.
"""

from __future__ import annotations

from .cases import CASES, EXPECT, SSRF_FRONT, Case, by_stage
from .server import Host, HostileWeb, Recorded
from .web import hostile_web

__all__ = ["CASES", "EXPECT", "SSRF_FRONT", "Case", "Host", "HostileWeb", "Recorded", "by_stage", "hostile_web"]
