"""Freshness: when each fetched URL falls due again (darc's ``TIME_CACHE``, made adaptive).

The schedule keeps, per URL, its :class:`~darkcrawl.frontier.revisit_policy.UrlState`
(interval, visits, changes ...) and its due time in a heap; per host its
:class:`~darkcrawl.frontier.revisit_policy.HostState` (down, probe); per URL the last
sitemap hint.  The policy decides; this class only applies its decisions to the heap.
The caller passes the time: the crawl passes the visit's timestamp, the benchmark a
simulated clock.

A URL of a host that is down is *parked* when it falls due (not fetched); the host's
probe alone comes back, on the host's schedule, and the first answer from the host
makes its parked URLs due at once.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import replace
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from darkcrawl.frontier.revisit_policy import (
    CHANGED, DOWN, FAILED, GATED, NEW, UNCHANGED, HostState, RevisitPolicy, SitemapHint, UrlState, failure_outcome,
)

#: sitemap hints kept for URLs not fetched yet or waiting: past it new ones are dropped
MAX_HINTS = 1_000_000


def netloc(url: str) -> str:
    """The host part of *url*: the schedule's default host key."""
    return urlsplit(url).netloc.lower()


class RevisitSchedule:
    """A min-heap of (due time, url, depth): fetched URLs wait here until due.

    One entry per URL in ``_due``; an URL scheduled again before it fell due just gets
    a later (or earlier) heap entry, and the stale one is skipped when popped.
    """

    def __init__(self, policy: RevisitPolicy | float, host_of: Callable[[str], str] = netloc,
                 stats: Any = None) -> None:
        if not isinstance(policy, RevisitPolicy):  # a fixed interval (inf: never)
            policy = RevisitPolicy(policy, policy, adaptive=False) if math.isfinite(policy) else None  # type: ignore[assignment]
        self.policy: RevisitPolicy | None = policy  # type: ignore[assignment]
        self.host_of = host_of
        self.stats = stats
        self._heap: list[tuple[float, str, int]] = []
        self._due: dict[str, tuple[float, int]] = {}
        self.states: dict[str, UrlState] = {}
        self.hosts: dict[str, HostState] = {}
        self.hints: dict[str, SitemapHint] = {}
        self._parked: dict[str, dict[str, int]] = {}  # host -> {url: depth}
        self._pulled: set[str] = set()  # fetched because a lastmod said it changed
        self._probing: set[str] = set()  # probes of down hosts under way

    @property
    def enabled(self) -> bool:
        return self.policy is not None

    def _count(self, key: str, n: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"darkcrawl/revisits/{key}", n)

    # -- what the crawl observed ------------------------------------------------------------

    def visited(self, url: str, depth: int, when: float, key: str, host: str | None = None) -> str:
        """A visit of *url* answered at *when* with content *key*: NEW, CHANGED or UNCHANGED."""
        if self.policy is None:
            return NEW
        old = self.states.get(url)
        state = self.policy.visited(old, when, key, self.first_changefreq(url))
        self._drop_hint(url)
        outcome = NEW if old is None or old.visits == 0 else (CHANGED if state.changes > old.changes else UNCHANGED)
        self._count(outcome)
        host = host or self.host_of(url)
        if url in self._pulled:
            self._pulled.discard(url)
            if outcome == UNCHANGED and self.policy.trusts(self.hosts.get(host)):  # its lastmod said it changed
                self._caught_lying(host)
        self._probing.discard(url)
        self._answered(host, url, when)
        self._set_state(url, state)
        self._schedule(url, depth, when + state.interval)
        return outcome

    def failed(self, url: str, depth: int, when: float, error: str, host: str | None = None) -> str:
        """A visit of *url* failed at *when* with *error* (a darkcrawl.failures error name)."""
        if self.policy is None:
            return DOWN
        outcome = failure_outcome(error)
        state = self.policy.failed(self.states.get(url), outcome)
        self._set_state(url, state)
        self._count(f"failed/{outcome}")
        self._schedule(url, depth, when + state.interval)
        if outcome == DOWN:
            self._unreachable(host or self.host_of(url), url, depth, when)
        elif outcome == FAILED or error == GATED:  # the host answered, the page failed (or hid behind a gate)
            self._probing.discard(url)
            self._answered(host or self.host_of(url), url, when)
        return outcome

    def deferred(self, url: str, depth: int, when: float) -> None:
        """Not fetched now (a site hook's decision): due again after the floor."""
        if self.policy is not None:
            self._schedule(url, depth, when + self.policy.floor)

    def hint(self, url: str, hint: SitemapHint, host: str | None = None) -> str | None:
        """A sitemap said this of *url*: "pulled" / "pushed" when it moved its due time."""
        if self.policy is None:
            return None
        state = self.states.get(url)
        if state is None or state.visits == 0:
            self._hinted(host or self.host_of(url), hint)
            if hint.changefreq is not None and (url in self.hints or len(self.hints) < MAX_HINTS):
                self._set_hint(url, hint)  # its first visit starts from the changefreq
            return None
        host = host or self.host_of(url)
        self._hinted(host, hint)
        if not self.policy.trusts(self.hosts.get(host)):
            return None
        if self.policy.hint_lies(state, hint):
            self._caught_lying(host)
            return None
        waiting = self._due.get(url)
        if waiting is None:  # in flight or parked: its visit will decide
            return None
        due, verdict = self.policy.hint_due(state, hint, waiting[0])
        if verdict is not None:
            if verdict == "pulled":
                self._pulled.add(url)
            self._schedule(url, waiting[1], due)
            self._count(f"sitemap/{verdict}")
        return verdict

    # -- hosts --------------------------------------------------------------------------------

    def _answered(self, host: str, url: str, when: float) -> None:
        assert self.policy is not None
        before = self.hosts.get(host)
        after = self.policy.host_answered(before, url)
        if before is not None and before.down:
            parked = self._parked.pop(host, {})
            self._count("hosts_up")
            self._count("released", len(parked))
            for other, depth in parked.items():
                self._schedule(other, depth, when)
        if before is None or before.failures or before.down:
            self._set_host(host, after)  # a change worth saving
        else:
            self.hosts[host] = after  # only its last URL that answered: kept in memory

    def _unreachable(self, host: str, url: str, depth: int, when: float) -> None:
        assert self.policy is not None
        before = self.hosts.get(host)
        if before is not None and before.down and url not in self._probing:
            if url == before.probe_url:  # under way before the host went down: not its probe
                self._schedule(url, depth, when + before.probe_wait)
            return
        self._probing.discard(url)
        after = self.policy.host_failed(before, url)
        self._set_host(host, after)
        if not after.down:
            return
        if before is None or not before.down:
            self._count("hosts_down")
        probe = after.probe_url or url
        waiting = self._due.get(probe)
        parked = self._parked.get(host, {}).pop(probe, depth)
        self._schedule(probe, waiting[1] if waiting else parked, when + after.probe_wait)
        self._count("probes_scheduled")

    def _hinted(self, host: str, hint: SitemapHint) -> None:
        state = self.hosts.get(host)
        if hint.lastmod is not None and (state is None or not state.hinted):
            self._set_host(host, replace(state or HostState(), hinted=True))

    def bootstrap_age(self, host: str) -> float:
        """How old a host's robots.txt and sitemaps may be before a revisit reads them again."""
        if self.policy is None:
            return math.inf
        return self.policy.bootstrap_age(self.hosts.get(host))

    def _caught_lying(self, host: str) -> None:
        assert self.policy is not None
        state = self.hosts.get(host) or HostState()
        self._set_host(host, replace(state, lies=state.lies + 1))
        self._count("sitemap/lies")
        if state.lies + 1 == self.policy.distrust_after:
            self._count("sitemap/distrusted_hosts")

    # -- the heap -----------------------------------------------------------------------------

    def _schedule(self, url: str, depth: int, due: float) -> None:
        self._due[url] = (due, depth)
        heapq.heappush(self._heap, (due, url, depth))
        self._saved_due(url, depth, due)

    def pop_due(self, now: float, limit: int = 10000) -> list[tuple[str, int]]:
        """The URLs due at *now*; those of a down host are parked (its probe excepted)."""
        ready: list[tuple[str, int]] = []
        heap = self._heap
        while heap and heap[0][0] <= now and len(ready) < limit:
            due, url, depth = heapq.heappop(heap)
            waiting = self._due.get(url)
            if waiting is None or waiting[0] != due:
                continue
            del self._due[url]
            host_key = self.host_of(url)
            host = self.hosts.get(host_key)
            if host is not None and host.down and url != host.probe_url:
                if host.probe_url in self._due or host.probe_url in self._probing:
                    self._parked.setdefault(host_key, {})[url] = depth
                    self._count("parked")
                    continue
                # its probe is gone (dropped by a site hook, fetched by another worker): this URL probes
                self._set_host(host_key, replace(host, probe_url=url))
            if host is not None and host.down:
                self._probing.add(url)
                self._count("probes")
            ready.append((url, depth))
        return ready

    def due(self, url: str) -> float | None:
        """When *url* falls due again (None: not waiting)."""
        waiting = self._due.get(url)
        return waiting[0] if waiting else None

    def state(self, url: str) -> UrlState | None:
        return self.states.get(url)

    def hand_off(self, url: str) -> list[object] | None:
        """Forget *url* (popped, to be fetched by another worker of a fleet) and return
        its state, which travels with its request."""
        state = self.states.pop(url, None)
        self._due.pop(url, None)
        self._forget(url)
        return state.as_list() if state is not None else None

    def adopt(self, url: str, state: list[object] | None) -> None:
        """A fleet's revisit of *url* fetched here: its history continues here."""
        if state and url not in self.states:
            self.states[url] = UrlState.from_list(list(state))

    def first_changefreq(self, url: str) -> float | None:
        """The sitemap changefreq *url*'s next visit starts from (only a first visit has one)."""
        hint = self.hints.get(url)
        return hint.changefreq if hint is not None else None

    def next_due(self) -> float | None:
        while self._heap and self._due.get(self._heap[0][1], (None,))[0] != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale entries first
        return self._heap[0][0] if self._heap else None

    def parked(self) -> int:
        return sum(len(urls) for urls in self._parked.values())

    def __len__(self) -> int:
        return len(self._due) + self.parked()

    # -- persistence hooks (StoredRevisitSchedule) --------------------------------------------

    def _set_state(self, url: str, state: UrlState) -> None:
        self.states[url] = state

    def _set_host(self, host: str, state: HostState) -> None:
        self.hosts[host] = state

    def _set_hint(self, url: str, hint: SitemapHint) -> None:
        self.hints[url] = hint

    def _drop_hint(self, url: str) -> None:
        self.hints.pop(url, None)

    def _saved_due(self, url: str, depth: int, due: float) -> None:
        """Called after every change of *url*'s due time."""

    def _forget(self, url: str) -> None:
        """Called when *url* leaves this schedule (handed off)."""
