"""Freshness: when each fetched URL falls due again (darc's TIME_CACHE)."""

from __future__ import annotations

import heapq
import math


class RevisitSchedule:
    """A min-heap of (due time, url, depth): fetched URLs wait here until due.

    One entry per fetched URL; an URL fetched again before it fell due (e.g. through
    a redirect) just gets a later entry, and the stale one is skipped when popped.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._heap: list[tuple[float, str, int]] = []
        self._due: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return math.isfinite(self.interval)

    def fetched(self, url: str, depth: int, now: float) -> None:
        if not self.enabled:
            return
        due = now + self.interval
        self._due[url] = due
        heapq.heappush(self._heap, (due, url, depth))

    def pop_due(self, now: float, limit: int = 10000) -> list[tuple[str, int]]:
        ready: list[tuple[str, int]] = []
        heap = self._heap
        while heap and heap[0][0] <= now and len(ready) < limit:
            due, url, depth = heapq.heappop(heap)
            if self._due.get(url) == due:
                del self._due[url]
                ready.append((url, depth))
        return ready

    def due(self, url: str) -> float | None:
        """When *url* falls due again (None: not waiting)."""
        return self._due.get(url)

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._due)
