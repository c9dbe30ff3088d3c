"""Is a host up, and since when: pure functions over its attempts.

An *attempt* is one plain-stage fetch of one of the host's URLs (or a bootstrap
fetch that failed), with its outcome:

- ``up``: the host answered (a status below 500, or a failure that came after
  its answer began: a body too large, cut, too slow);
- ``gated``: it answered with an interstitial (a DDoS queue, a captcha, a ban
  page, a login wall: darkcrawl.intel.gates), not with its pages;
- ``down``: it did not answer (refused, timed out, no such name; tor's verdict
  for an onion; an I2P router's or a gateway's error page; a 5xx), with the
  reason.

Failures that say nothing about the host (the crawl's own refusals, robots.txt,
a network that was not available locally, a render) are no attempts.

A *check* is the attempts of one host in one time bucket (``window`` seconds,
aligned on the epoch): it is up when any attempt found the host answering, gated
when only a gate answered, else down with the most frequent reason.  One page
that times out while the others load does not make a host flap.  The host's
*state* is its latest check's outcome, ``gone`` when it has been down for
``gone_after`` seconds since it last answered (or since first seen), and its
*transitions* are the changes between consecutive checks.  *Uptime* over a
period is the share of its checks in that period in which it answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

UP, GATED, DOWN, GONE = "up", "gated", "down", "gone"
#: outcomes in which the host answered (a gate is the host's answer too)
ANSWERED = frozenset({UP, GATED})

#: failures that say nothing about the host: refused by the crawl, cut by it, or
#: never sent (the network was not available here)
NOT_AN_ATTEMPT = frozenset({
    "NetworkUnavailable", "HostGivenUp", "HostBackedOff", "AddressRefused", "RobotsTxtDisallowed", "IgnoreRequest",
    "DownloadCancelled", "StopDownload", "ShutdownCancelled", "TrapLimit", "UnsupportedURLSchemeError",
    "NotSupported", "HtmlTooDeep", "NotASitemap",
})
#: failures after the host's answer began: it is up, its page was the trouble
ANSWERED_ERRORS = frozenset({
    "DownloadMaxSize", "ResponseHeadersTooLarge", "HeadersTooLong", "HeadersTooLarge", "BodyTruncated",
    "ChunkedEncodingError", "PotentialDataLoss", "ProtocolError", "SlowDownload", "BodyTimeout",
})
#: the network's verdict on the host (tor's SOCKS reply, a router's or gateway's page)
_VERDICT_PREFIXES = ("Onion", "Socks", "I2p", "Freenet", "Zeronet", "Tor2web", "Privoxy")
_VERDICTS = frozenset({"ProxyError", "HostUnreachable", "NetworkUnreachable", "PortRefused", "StreamTimeout"})
#: stages whose failures are attempts on the host
ATTEMPT_STAGES = frozenset({"plain", "bootstrap"})


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str  # UP, GATED or DOWN
    reason: str | None = None


def visit_outcome(status: int | None, gate: dict[str, object] | None) -> Outcome:
    """A plain-stage fetch that got a response."""
    if gate:
        kind = str(gate.get("kind") or "gate")
        evidence = gate.get("evidence")
        return Outcome(GATED, f"{kind}: {evidence}" if evidence else kind)
    if status is not None and status >= 500:
        return Outcome(DOWN, f"the server answers {status}")
    return Outcome(UP)


def failure_outcome(stage: str, error: str, reason: str, timing: dict[str, object] | None) -> Outcome | None:
    """A failed fetch: its outcome, or None when it says nothing about the host."""
    if stage not in ATTEMPT_STAGES or error in NOT_AN_ATTEMPT:
        return None
    if error in _VERDICTS or error.startswith(_VERDICT_PREFIXES):
        return Outcome(DOWN, reason)
    if error in ANSWERED_ERRORS or (timing and timing.get("ttfb_ms") is not None):
        return Outcome(UP)
    return Outcome(DOWN, reason)


# -- time buckets ---------------------------------------------------------------------


def parse_time(timestamp: str) -> datetime:
    """An item's ISO 8601 timestamp (UTC)."""
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    """As items write their timestamps (so that they sort together as text)."""
    return moment.astimezone(timezone.utc).isoformat()


def bucket_of(timestamp: str, window: float) -> tuple[str, str]:
    """The [start, end) of the *window*-second bucket holding *timestamp*, as ISO text."""
    moment = parse_time(timestamp)
    seconds = moment.timestamp()
    start = datetime.fromtimestamp(seconds - seconds % window, timezone.utc)
    return iso(start), iso(start + timedelta(seconds=window))


# -- checks and states ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    outcome: str
    reason: str | None
    attempts: int
    answered: int


def check_of(attempts: Iterable[tuple[str, str | None]]) -> Check:
    """One bucket's check from its attempts' (outcome, reason)."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    gate_reasons: Counter[str] = Counter()
    for outcome, reason in attempts:
        outcomes[outcome] += 1
        if outcome == DOWN and reason:
            reasons[reason] += 1
        elif outcome == GATED and reason:
            gate_reasons[reason] += 1
    total, answered = sum(outcomes.values()), outcomes[UP] + outcomes[GATED]
    if outcomes[UP]:
        return Check(UP, None, total, answered)
    if outcomes[GATED]:
        return Check(GATED, _most_common(gate_reasons), total, answered)
    return Check(DOWN, _most_common(reasons), total, answered)


def _most_common(counts: Counter[str]) -> str | None:
    # ties go to the reason that sorts first: a rebuild, whatever its order, agrees
    return min(counts, key=lambda r: (-counts[r], r)) if counts else None


def host_state(latest: str, last_answer: str | None, first_seen: str, latest_at: str, gone_after: float) -> str:
    """The host's state from its latest check's outcome (at *latest_at*)."""
    if latest != DOWN:
        return latest
    since = last_answer or first_seen
    if gone_after > 0 and (parse_time(latest_at) - parse_time(since)).total_seconds() >= gone_after:
        return GONE
    return DOWN


@dataclass(frozen=True, slots=True)
class Transition:
    at: str  # the bucket where the new state was first seen
    before: str
    after: str
    reason: str | None


def transitions(checks: Sequence[tuple[str, str, str | None]]) -> list[Transition]:
    """The changes between consecutive checks ((bucket, outcome, reason), oldest first)."""
    out: list[Transition] = []
    for (_, before, _), (at, after, reason) in zip(checks, checks[1:]):
        if after != before:
            out.append(Transition(at, before, after, reason))
    return out


def uptime(checks: Iterable[tuple[str, str]], since: str) -> float | None:
    """The share of checks ((bucket, outcome)) from *since* on in which the host answered;
    None without a check in that period."""
    total = answered = 0
    for bucket, outcome in checks:
        if bucket >= since:
            total += 1
            answered += outcome in ANSWERED
    return answered / total if total else None
