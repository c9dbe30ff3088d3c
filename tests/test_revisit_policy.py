"""The adaptive revisit policy (darkcrawl/frontier/revisit_policy.py): pure, table-driven."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from darkcrawl.frontier.revisit_policy import (
    CHANGEFREQ, DOWN, FAILED, NEUTRAL, HostState, RevisitPolicy, SitemapHint, UrlState, changefreq_word,
    content_key, failure_outcome, parse_changefreq, parse_lastmod, parse_time,
)

HOUR, DAY, WEEK = 3600.0, 86400.0, 604800.0
POLICY = RevisitPolicy(HOUR, WEEK)
READ = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc).timestamp()


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=timezone.utc).timestamp()


# -- sitemap hints: untrusted text ------------------------------------------------------------

LASTMODS = [
    ("2026-12-07", (_utc(2026, 12, 7), _utc(2026, 12, 8) - 1e-6)),  # a day: the whole day
    ("2026-12", (_utc(2026, 12, 1), _utc(2027, 1, 1) - 1e-6)),
    ("2026", (_utc(2026, 1, 1), _utc(2027, 1, 1) - 1e-6)),
    ("2026-12-07T10:30Z", (_utc(2026, 12, 7, 10, 30), _utc(2026, 12, 7, 10, 31) - 1e-6)),
    ("2026-12-07T10:30:15+02:00", (_utc(2026, 12, 7, 8, 30, 15), _utc(2026, 12, 7, 8, 30, 16) - 1e-6)),
    ("2026-12-07T10:30:15.5-01:30", (_utc(2026, 12, 7, 12, 0, 15, 500000), _utc(2026, 12, 7, 12, 0, 16, 500000) - 1e-6)),
    ("  2026-12-07  ", (_utc(2026, 12, 7), _utc(2026, 12, 8) - 1e-6)),
    # bad ones are ignored (the caller counts them)
    ("", None), (None, None), ("yesterday", None), ("2026-13-01", None), ("2026-02-30", None),
    ("2026-12-07T25:00Z", None), ("2026-12-07T10:00+25:00", None), ("1970-01-01", None),
    ("2026-12-09", None),  # two days after the read: a lie
    ("2026-12-07" + "x" * 10_000, None), ("9" * 10_000, None),
]


@pytest.mark.parametrize(("text", "span"), LASTMODS)
def test_lastmod(text: str | None, span: tuple[float, float] | None) -> None:
    found = parse_lastmod(text, READ)
    assert found == (pytest.approx(span) if span else None)


@pytest.mark.parametrize(("text", "seconds"), [
    ("hourly", HOUR), ("Daily", DAY), (" weekly ", WEEK), ("always", 0.0), ("never", math.inf),
    ("monthly", CHANGEFREQ["monthly"]), ("sometimes", None), ("", None), (None, None), ("daily" * 1000, None),
])
def test_changefreq(text: str | None, seconds: float | None) -> None:
    assert parse_changefreq(text) == seconds
    if seconds is not None:
        assert changefreq_word(seconds) == text.strip().lower()  # type: ignore[union-attr]


@pytest.mark.parametrize(("error", "outcome"), [
    ("ConnectionRefused", DOWN), ("ConnectTimeout", DOWN), ("OnionUnreachable", DOWN), ("HostGivenUp", DOWN),
    ("DNSLookupError", DOWN), ("ProxyError", DOWN),
    ("NetworkUnavailable", NEUTRAL), ("DownloadCancelled", NEUTRAL), ("ShutdownCancelled", NEUTRAL),
    ("RobotsTxtDisallowed", FAILED), ("DownloadMaxSize", FAILED), ("BodyTruncated", FAILED), ("TLSError", FAILED),
])
def test_failure_outcomes(error: str, outcome: str) -> None:
    assert failure_outcome(error) == outcome


def test_content_key_is_the_digest_else_the_status() -> None:
    assert content_key("ab12", 200) == "ab12"
    assert content_key(None, 404) == content_key("", 404) == "status:404"


# -- a URL's interval ---------------------------------------------------------------------------


def _intervals(policy: RevisitPolicy, keys: list[str], changefreq: float | None = None) -> list[float]:
    """The interval after each visit, each visit made when the one before fell due."""
    state, when, out = None, 0.0, []
    for key in keys:
        state = policy.visited(state, when, key, changefreq if state is None else None)
        out.append(state.interval)
        when += state.interval
    return out


SEQUENCES = [
    # (what the visits found, the intervals after each, in hours)
    ("unchanged: doubles up to the ceiling", "a" * 10, [1, 2, 4, 8, 16, 32, 64, 128, 168, 168]),
    ("changed every visit: stays at the floor", "abcdef", [1, 1, 1, 1, 1, 1]),
]


@pytest.mark.parametrize(("why", "keys", "hours"), SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_interval_sequences(why: str, keys: str, hours: list[float]) -> None:
    assert [i / HOUR for i in _intervals(POLICY, list(keys))] == pytest.approx(hours)


def test_a_change_after_a_long_quiet_comes_back_sooner_but_not_at_the_floor() -> None:
    intervals = _intervals(POLICY, list("a" * 12 + "b"))
    assert intervals[-2] == WEEK
    assert HOUR < intervals[-1] < WEEK  # sooner, not straight to the floor
    assert intervals[-1] >= WEEK / POLICY.shrink


def test_a_page_that_changes_every_six_hours_settles_near_half_that() -> None:
    state, when, intervals = None, 0.0, []
    for _ in range(80):
        state = POLICY.visited(state, when, str(int(when // (6 * HOUR))))
        intervals.append(state.interval)
        when += state.interval
    settled = intervals[-20:]
    assert all(1.5 * HOUR < i < 6 * HOUR for i in settled), [round(i / HOUR, 1) for i in settled]


def test_changes_shrink_and_quiet_grows_monotonically() -> None:
    state = POLICY.visited(None, 0.0, "a")
    for n in range(1, 40):
        changed = n % 4 == 0
        after = POLICY.visited(state, state.last + state.interval, f"k{n // 4}")
        assert (after.interval <= state.interval) if changed else (after.interval >= state.interval)
        assert HOUR <= after.interval <= WEEK
        state = after
    assert state.visits == 40 and state.changes == 10  # "a" -> "k0" too


@pytest.mark.parametrize(("every", "hours"), [
    (HOUR, 0.96), (6 * HOUR, 1.92), (DAY, 3.64), (WEEK, 9.34), (CHANGEFREQ["monthly"], 19.28),
])
def test_the_target_interval_is_freshness_optimal_not_proportional(every: float, hours: float) -> None:
    assert POLICY.target(1.0 / every) / HOUR == pytest.approx(hours, abs=0.01)


def test_a_page_changing_faster_than_visits_can_follow_is_hopeless() -> None:
    assert POLICY.target(4.0 / HOUR) == math.inf  # effort 0.25: mu * rate >= 1
    hopeless = RevisitPolicy(HOUR, WEEK, effort=1.0)
    state = hopeless.visited(hopeless.visited(None, 0.0, "a"), HOUR, "b")
    assert state.interval == 2 * HOUR  # a change it cannot keep up with: it backs off


@pytest.mark.parametrize(("changefreq", "first"), [
    (HOUR, HOUR), (DAY, POLICY.target(1 / DAY)), (0.0, HOUR), (None, HOUR),
    (math.inf, POLICY.target(1 / CHANGEFREQ["monthly"])),  # "never" may lie: as "monthly"
    (CHANGEFREQ["yearly"], POLICY.target(1 / CHANGEFREQ["monthly"])),
])
def test_changefreq_sets_the_first_interval(changefreq: float | None, first: float) -> None:
    assert _intervals(POLICY, ["a"], changefreq) == [first]


def test_changefreq_is_only_a_start() -> None:  # a lying "hourly" on a static page grows like any other
    assert _intervals(POLICY, list("aaaa"), HOUR)[-1] == 8 * HOUR
    assert _intervals(POLICY, list("abcd"), WEEK)[-1] < POLICY.start(WEEK)  # a lying "weekly" on a busy page shrinks


def test_not_adaptive_is_darcs_time_cache() -> None:
    fixed = RevisitPolicy(HOUR, WEEK, adaptive=False)
    assert _intervals(fixed, list("aaaaab"), DAY) == [HOUR] * 6
    assert fixed.failed(None, FAILED).interval == HOUR


def test_failures() -> None:
    state = POLICY.visited(None, 0.0, "a")
    assert POLICY.failed(state, FAILED).interval == 2 * HOUR  # the page keeps failing: asked less often
    assert POLICY.failed(state, DOWN).interval == HOUR  # the host, not the page
    assert POLICY.failed(state, DOWN).failures == 1
    assert POLICY.failed(state, NEUTRAL) == state  # our side: nothing learnt


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="ceiling"):
        RevisitPolicy(DAY, HOUR)
    with pytest.raises(ValueError, match="floor"):
        RevisitPolicy(-1.0, HOUR)


def test_state_round_trips() -> None:
    state = POLICY.visited(POLICY.visited(None, 1.0, "a"), 3601.0, "b")
    assert UrlState.from_list(state.as_list()) == state
    host = HostState(2, True, "http://x/", 7200.0, "http://x/", 1)
    assert HostState.from_list(host.as_list()) == host


def test_iso_timestamps() -> None:
    assert parse_time("2026-12-07T12:00:00+00:00") == READ
    assert parse_time("2026-12-07T12:00:00.5+00:00") == READ + 0.5


# -- a host that is down ----------------------------------------------------------------------


def test_a_host_goes_down_and_its_probe_backs_off() -> None:
    policy = RevisitPolicy(60.0, 4 * HOUR, probe=HOUR, down_after=2)
    host = policy.host_answered(None, "http://x/up")
    host = policy.host_failed(host, "http://x/a")
    assert not host.down and host.failures == 1
    host = policy.host_failed(host, "http://x/b")
    assert host.down and host.probe_url == "http://x/up" and host.probe_wait == HOUR  # its URL that answered last
    assert policy.host_failed(host, "http://x/c") == host  # under way before: tells nothing new
    waits = []
    for _ in range(4):
        host = policy.host_failed(host, "http://x/up")
        waits.append(host.probe_wait)
    assert waits == [2 * HOUR, 4 * HOUR, 4 * HOUR, 4 * HOUR]  # doubled up to the ceiling
    host = policy.host_answered(host, "http://x/up")
    assert not host.down and host.failures == 0 and host.probe_url is None


def test_a_host_never_seen_up_is_probed_with_the_url_that_failed() -> None:
    policy = RevisitPolicy(60.0, DAY, probe=10.0, down_after=1)
    host = policy.host_failed(None, "http://x/a")
    assert host.down and host.probe_url == "http://x/a" and host.probe_wait == 60.0  # the floor bounds it


# -- lastmod moves the due time ---------------------------------------------------------------

VISITED = POLICY.visited(None, READ - DAY, "a")  # visited a day before the read, interval 1 h
DUE = VISITED.last + VISITED.interval

HINT_DUES = [
    ("newer than our copy: due at the read", (READ - HOUR, READ - HOUR + 1), READ + 1200, (READ + 600, "pulled")),
    ("newer, but already due sooner", (READ - HOUR, READ - HOUR + 1), DUE, (DUE, None)),
    # unchanged since our copy: later, but at most push_limit intervals after the visit (a lie is caught)
    ("older than our copy: later", (READ - 2 * DAY, READ - 2 * DAY + 1), DUE, (VISITED.last + 4 * HOUR, "pushed")),
    ("older, read soon after the visit", (READ - 2 * DAY, READ - 2 * DAY + 1), DUE, (READ - DAY + 1800 + HOUR, "pushed")),
    ("a day-long lastmod holding our visit: no telling", (READ - DAY - HOUR, READ - DAY + HOUR), DUE, (DUE, None)),
    ("no lastmod", None, DUE, (DUE, None)),
]


@pytest.mark.parametrize(("why", "lastmod", "due", "expected"), HINT_DUES, ids=[h[0] for h in HINT_DUES])
def test_hint_due(why: str, lastmod: tuple[float, float] | None, due: float, expected: tuple[float, str | None]) -> None:
    read = READ + 600 if "at the read" in why else READ - DAY + 1800 if "soon after" in why else READ
    assert POLICY.hint_due(VISITED, SitemapHint(read, lastmod), due) == expected


def test_hints_read_before_the_last_visit_say_nothing() -> None:
    assert POLICY.hint_due(VISITED, SitemapHint(VISITED.last - 1, (READ - HOUR, READ)), DUE) == (DUE, None)


def test_a_lastmod_older_than_a_seen_change_is_a_lie() -> None:
    state = POLICY.visited(POLICY.visited(None, READ - DAY, "a"), READ - HOUR, "b")  # changed after READ - DAY
    assert POLICY.hint_lies(state, SitemapHint(READ, (READ - 2 * DAY, READ - 2 * DAY + 1)))
    assert not POLICY.hint_lies(state, SitemapHint(READ, (READ - 2 * HOUR, READ - 2 * HOUR + 1)))
    assert not POLICY.hint_lies(VISITED, SitemapHint(READ, (0.0, 1.0)))  # no change seen: nothing to belie
    assert not POLICY.trusts(HostState(lies=POLICY.distrust_after))
    assert POLICY.trusts(HostState(lies=POLICY.distrust_after - 1)) and POLICY.trusts(None)
