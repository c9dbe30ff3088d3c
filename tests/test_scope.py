import pytest

from darkcrawl.frontier.revisits import RevisitSchedule
from darkcrawl.policy.scope import ListRule, Scope, TrapRules
from darkcrawl.seen.memory import MemorySeenSet


def scope(links=((), (), ""), networks=((), (), ""), mimes=((), (), "")) -> Scope:
    return Scope(
        links=ListRule.build(list(links[0]), list(links[1]), links[2]),
        networks=ListRule.build(list(networks[0]), list(networks[1]), networks[2]),
        mimes=ListRule.build(list(mimes[0]), list(mimes[1]), mimes[2]),
        traps=TrapRules(),
    )


@pytest.mark.parametrize(
    ("lists", "host", "allowed"),
    [
        (((), (), ""), "a.org", True),
        (([r".*\.onion"], (), ""), "x.onion", True),
        (([r".*\.onion"], (), ""), "a.org", False),  # a white list alone is exclusive
        (([r".*\.onion"], (), "0"), "a.org", True),  # darc's LINK_FALLBACK=0 keeps the rest
        (([r".*\.onion"], [r"bad\.onion"], ""), "bad.onion", False),  # black beats white
        (((), [r"ads\..*"], ""), "ADS.example.com", False),  # ignore case
        (((), [r"a\.org"], ""), "a.org:8080", True),  # fullmatch on the host with its port
        (((), (), "1"), "a.org", False),
    ],
)
def test_link_lists(lists, host, allowed):
    assert scope(links=lists).host_allowed(host) is allowed


@pytest.mark.parametrize(
    ("lists", "network", "allowed"),
    [
        ((["tor", "i2p"], (), ""), "tor", True),
        ((["tor", "i2p"], (), ""), "clearnet", False),
        (((), ["null"], ""), "clearnet", False),  # darc's name for the clear web
        (((), ["clear.*"], ""), "clearnet", False),
    ],
)
def test_network_lists(lists, network, allowed):
    assert scope(networks=lists).network_allowed(network) is allowed


@pytest.mark.parametrize(
    ("lists", "content_type", "allowed"),
    [
        (((), [r"image/.*"], ""), "image/png", False),
        (((), [r"image/.*"], ""), "text/html; charset=utf-8", True),
        (([r"text/html"], (), ""), "TEXT/HTML; charset=utf-8", True),
        (([r"text/html"], (), ""), "application/pdf", False),
    ],
)
def test_mime_lists(lists, content_type, allowed):
    assert scope(mimes=lists).mime_allowed(content_type) is allowed


@pytest.mark.parametrize(
    ("url", "host", "reason"),
    [
        ("http://a.org/x/y/z", "a.org", None),
        ("http://a.org/" + "x" * 3000, "a.org", "url_too_long"),
        ("http://a.org/trap/x/trap/y/trap/z", "a.org", "repeated_path_segment"),
        ("http://a.org/a/b/a/b", "a.org", None),
        ("http://a.b.c.d.e.f.g.org/", "a.b.c.d.e.f.g.org", "too_many_subdomains"),
    ],
)
def test_trap_rules(url, host, reason):
    assert TrapRules().reason(url, host) == reason


def test_trap_rules_can_be_switched_off():
    rules = TrapRules(max_url_length=0, max_segment_repeat=0, max_subdomains=0)
    assert rules.reason("http://a.b.c.d.e.f.g.org/t/t/t/t/" + "x" * 5000, "a.b.c.d.e.f.g.org") is None


def test_seen_set():
    seen = MemorySeenSet()
    assert seen.add("http://a.org/") is True
    assert seen.add("http://a.org/") is False
    assert "http://a.org/" in seen and len(seen) == 1


def test_revisit_schedule():
    schedule = RevisitSchedule(60)  # a fixed interval: TIME_CACHE with adaptive revisits off
    schedule.visited("http://a.org/1", 0, 1000, "k1")
    schedule.visited("http://a.org/2", 1, 1010, "k2")
    schedule.visited("http://a.org/1", 0, 1020, "k1")  # fetched again: the first entry is stale
    assert schedule.pop_due(now=1075) == [("http://a.org/2", 1)]
    assert schedule.pop_due(now=1080) == [("http://a.org/1", 0)]
    assert len(schedule) == 0 and schedule.next_due() is None


def test_revisit_disabled_for_infinite_time_cache():
    schedule = RevisitSchedule(float("inf"))
    schedule.visited("http://a.org/", 0, 0, "k")
    assert not schedule.enabled and len(schedule) == 0


# --- trap defences: query normalisation, date templates, admission counters -----

from darkcrawl.policy.scope import date_template, strip_session_params  # noqa: E402
from darkcrawl.policy.traps import TrapGuard, TrapLimits, trap_detail  # noqa: E402


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.org/p", "http://a.org/p"),
        ("http://a.org/p?id=3", "http://a.org/p?id=3"),
        ("http://a.org/p?PHPSESSID=abc123", "http://a.org/p"),
        ("http://a.org/p?id=3&phpsessid=abc&x=1", "http://a.org/p?id=3&x=1"),
        ("http://a.org/p;jsessionid=0A1B2C3D?id=3", "http://a.org/p?id=3"),
        ("http://a.org/p;JSESSIONID=0A1B2C3D", "http://a.org/p"),
        ("http://a.org/p;type=a", "http://a.org/p;type=a"),  # other path parameters stay
        ("http://a.org/p?jsessionid=x&sessionid=y&session_id=z&sessid=w", "http://a.org/p"),
        ("http://a.org/p?utm_source=x&utm_medium=y&q=1", "http://a.org/p?q=1"),
        ("http://a.org/p?fbclid=IwAR0abc&gclid=xyz", "http://a.org/p"),
        ("http://a.org/p?cfid=1&cftoken=2&osCsid=3&zenid=4", "http://a.org/p"),
        # phpBB's sid is a session token; PHP-Nuke's sid is a story number: kept
        ("http://a.org/viewtopic.php?t=1&sid=0123456789abcdef0123456789abcdef", "http://a.org/viewtopic.php?t=1"),
        ("http://a.org/modules.php?name=News&sid=123", "http://a.org/modules.php?name=News&sid=123"),
        # vBulletin's s= is a 32-hex session hash; any other s= is a search
        ("http://a.org/f.php?s=0123456789abcdef0123456789abcdef&f=2", "http://a.org/f.php?f=2"),
        ("http://a.org/search?s=onion+market", "http://a.org/search?s=onion+market"),
        ("http://a.org/p?session=x&sidebar=1&ssid=2", "http://a.org/p?session=x&sidebar=1&ssid=2"),
        ("http://a.org/p?", "http://a.org/p?"),
        ("http://a.org/p?sid=0123456789abcdefXYZ#frag", "http://a.org/p#frag"),
    ],
)
def test_strip_session_params(url, expected):
    assert strip_session_params(url) == expected


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/cal/2024/01", "/cal/{date}"),
        ("/cal/2024/1/", "/cal/{date}/"),
        ("/cal/2031-07-15/events", "/cal/{date}/events"),
        ("/blog/2019/05/12/my-post", "/blog/{date}/my-post"),
        ("calendar.php?month=2024-03", "calendar.php?month={date}"),
        ("/cal/2024/13", None),  # no month 13
        ("/item/12024/01", None),
        ("/about", None),
        ("/year/2024", None),  # a year alone is no calendar
        ("/p/1/2", None),
    ],
)
def test_date_template(path, template):
    assert date_template(path) == template


def guard_run(guard: TrapGuard, urls, service="a.org", depth=1, inside=True):
    return [guard.check(url, service, depth, inside) for url in urls]


def test_query_variants_are_counted_per_path_and_parameter_names():
    guard = TrapGuard(TrapLimits(query_variants=3, date_variants=0, host_depth=0))
    results = guard_run(guard, [f"http://a.org/v.php?t={i}" for i in range(5)])
    assert results == [None, None, None, "query_variants", "query_variants"]
    # another parameter set of the same path, another path, another host: own counts
    assert guard_run(guard, ["http://a.org/v.php?p=1", "http://a.org/w.php?t=9"]) == [None, None]
    assert guard.check("http://b.org/v.php?t=7", "b.org", 1, True) is None
    assert guard.check("http://a.org/v.php", "a.org", 1, True) is None  # no query: not counted


def test_calendar_is_cut_by_its_template():
    guard = TrapGuard(TrapLimits(query_variants=0, date_variants=12, host_depth=0))
    months = [f"http://a.org/cal/{2024 + m // 12}/{m % 12 + 1:02d}" for m in range(20)]
    results = guard_run(guard, months)
    assert results[:12] == [None] * 12 and set(results[12:]) == {"calendar"}
    assert guard.check("http://a.org/blog/2024/01/post", "a.org", 1, True) is None


def test_host_depth_counts_from_where_the_host_was_entered():
    guard = TrapGuard(TrapLimits(query_variants=0, date_variants=0, host_depth=3))
    assert guard.check("http://a.org/", "a.org", 5, inside=False) is None  # entered at depth 5
    assert [guard.check(f"http://a.org/{d}", "a.org", d, True) for d in (6, 7, 8, 9)] == [None, None, None, "host_depth"]
    # a link from another host is an entry, not a step of the chain
    assert guard.check("http://a.org/x", "a.org", 9, inside=False) is None
    assert guard.check("http://b.org/", "b.org", 40, inside=True) is None


def test_limits_switch_off():
    guard = TrapGuard(TrapLimits(links_per_page=0, query_variants=0, date_variants=0, host_depth=0))
    assert set(guard_run(guard, [f"http://a.org/cal/2024/{m}?x={m}" for m in range(1, 13)] * 3, depth=500)) == {None}


def test_trap_records_name_their_bound():
    detail = trap_detail("links_per_page", 99000, 1000, "http://a.org/")
    assert "99000" in detail and "1000" in detail and "DARKCRAWL_MAX_LINKS_PER_PAGE" in detail
    assert "DARKCRAWL_MAX_SITEMAP_URLS" in trap_detail("sitemap_urls", 5, 50000, "")
