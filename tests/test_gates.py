"""Gate detection (darkcrawl/intel/gates.py): real-looking interstitials, and ordinary
pages that must not be taken for one.  Table-driven: each sample is a page as a host
serves it, and the kind (and rule) it must be recognised as, or None."""

from __future__ import annotations

import itertools

import pytest
from scrapy.http import HtmlResponse

from darkcrawl.intel.gates import (
    RULES,
    AnswerHeaders,
    Gate,
    detect,
    is_auth_page,
    markup_signals,
    text_signals,
    worth_checking,
)

ONION = "http://endgamexmplqueuegatexmplqueuegatexmplqueuegatexmplqd.onion"
CSS = "<style>" + "body{background:#1a1e23;color:#fff}.q{margin:0 auto}" * 40 + "</style>"


def page(title: str, body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>"


def nav(*names: str) -> str:
    return "<div class=nav>" + " ".join(f'<a href="/{n.lower()}">{n}</a>' for n in names) + "</div>"


def words(n: int) -> str:
    return " ".join(itertools.islice(itertools.cycle("vendor escrow shipping price review feedback listing".split()), n))


def check(markup: str, *, status: int = 200, url: str = ONION + "/", requested: str | None = None,
          content_type: str = "text/html", headers: dict[str, str] | None = None) -> Gate | None:
    answer = AnswerHeaders.of(headers or {})
    if content_type == "text/plain":
        signals = text_signals(markup, status, answer)
    else:
        root = HtmlResponse(url, body=markup.encode(), encoding="utf-8").selector.root
        signals = markup_signals(root, status, url, answer)
    return detect(signals, requested or url)


# -- interstitials ---------------------------------------------------------------------------

ENDGAME_QUEUE = page(
    "dread Access Queue",
    '<div class=container><div class=inner><div class=logo><div class=text>dread</div></div>'
    "<p>You have been placed in a queue, awaiting forwarding to the platform.</p>"
    '<div class=queue-graphic></div><p class=lg>Your estimated wait time is <span class=eta>&lt;2 minutes</span></p>'
    "<p>Please do not refresh the page, you will be automatically redirected.</p></div></div>",
    head='<meta charset=UTF-8><meta http-equiv="refresh" content="10">' + CSS,
)
ENDGAME_CAPTCHA = page(
    "DDOS Protection",
    '<div class="container"><div class="inner"><div class="logo"><div class="text">SITENAME</div></div>'
    "<p>Prove that you are human. Select the time shown on the clock image.</p>"
    '<form class="ddos_form" method="post"><div class="captchav2"><div class="imgWrap" '
    'style="background-image:url(data:image/jpeg;base64,/9j/4AAQSkZJRg==)"></div></div>'
    '<select name="cap">' + "".join(f"<option value={h:02}>{h:02}</option>" for h in range(12)) + "</select> : "
    '<select name="cap">' + "".join(f"<option value={m:02}>{m:02}</option>" for m in range(60)) + "</select>"
    '<button class="before" type="submit">Verify</button></form></div></div>',
    head=CSS,
)
ENDGAME_BAN = ("403 DDOS fliter killed your path. (You probably sent too many requests at once). "
               "Not calling you a bot, bot, but grab a new identity and try again.")
ENDGAME_IGNORED = page("", "<h1>THINK OF WHAT YOU HAVE DONE!</h1><p>That captcha was generated just for you.</p>"
                           "<p>Don't immedately refresh for a new captcha! You must now wait about a minute.</p>")
ENDGAME_BACKEND = page("502 Timeout", "<center><h1>502 Timeout</h1></center><hr><center><p>It seems this endgame "
                                      "front doesn't have a stable connection to the backend right now.</p></center>")
CLOUDFLARE = page("Just a moment...", "<noscript>Enable JavaScript and cookies to continue</noscript>"
                                      "<h2>Checking your browser before accessing example.org.</h2>"
                                      "<p>This process is automatic. Your browser will redirect shortly.</p>")
DDOS_GUARD = page("DDoS-Guard", "<h1>Checking your browser before accessing</h1><p>DDoS protection by DDoS-Guard</p>")
GENERIC_QUEUE = page("Please wait", "<h2>Anti-DDoS check</h2><p>You are in line. Please wait 5 seconds, "
                                    "you will be redirected.</p>", head='<meta http-equiv="Refresh" content="5; url=/">')
WAITING_ROOM = page("Market", "<p>Waiting room: too many visitors right now. This page reloads by itself.</p>",
                    head='<meta http-equiv="refresh" content="30">')
MARKET_CAPTCHA = page("Security check", "<h3>Enter the captcha to continue to the market</h3>"
                                        '<form method=post action=/gate><img src="/captcha.png">'
                                        '<input name=c><button>Go</button></form>')
NOT_A_ROBOT = page("Welcome", "<form method=post><p>Are you human? Tick: I am not a robot</p>"
                              "<input type=checkbox name=h><input type=submit></form>")
LOGIN_WALL = page("Login - Nemesis Market", "<h2>Login</h2><form method=post action=/login>"
                                            "<input name=username><input type=password name=password>"
                                            "<button>Sign in</button></form><a href=/register>Register</a>"
                                            "<a href=/forgot>Forgot password?</a>")
FORUM_WALL = page("Board index", "<p>You must be logged in to view this forum.</p><form method=post "
                                 "action=./ucp.php?mode=login><label>Username <input name=u></label>"
                                 "<label>Password <input type=PASSWORD name=p></label><input type=submit value=Login>"
                                 "</form>" + nav("Home", "FAQ", "Register"))
I2PD_NOT_FOUND = page("I2Pd HTTP proxy", '<div class="header">Proxy error: Host not found</div><div class="text">'
                                         "Remote host not found in router's addressbook</div>")
I2P_JAVA = page("Warning: Eepsite Unknown", "<h3>Warning: Eepsite Unknown</h3><p>The eepsite was not found in "
                                           "your router's addressbook.</p>")
PRIVOXY = page("500 Internal Privoxy Error", "<h2>500 Internal Privoxy Error</h2><p>Privoxy encountered an error "
                                             "while processing your request:</p><p>Could not load template file "
                                             "<code>forwarding-failed</code> or one of its included components.</p>")
PRIVOXY_SOCKS = page("503 Connect failed", "<p>This is <a href=https://www.privoxy.org/>Privoxy</a> 3.0.34 on "
                                           "localhost, port 8118</p><p>Privoxy was unable to socks5t-forward your "
                                           "request via 127.0.0.1:9050: SOCKS5 host unreachable</p>")
TOR2WEB = page("Tor2web Error", "<h1>Tor2web Error: Onion Unavailable</h1><p>The onion you asked for cannot be "
                                "reached right now.</p>")
TOR_HTTP = page("This is a SOCKs proxy, not an HTTP proxy.", "<h1>Tor is not an HTTP Proxy</h1><p>It appears you "
                                                             "have configured your web browser to use Tor as an "
                                                             "HTTP proxy.</p>")
NGINX_502 = page("502 Bad Gateway", "<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>")
BANNED = page("Access denied", "<h1>You have been banned</h1><p>Too many failed attempts from your circuit.</p>")
RATE_LIMIT = page("Slow down", "<p>Too many requests. Try again in a minute.</p>")


GATE_CASES = [
        ("EndGame queue", ENDGAME_QUEUE, {}, "queue", "endgame-queue", 10.0),
        ("EndGame captcha", ENDGAME_CAPTCHA, {}, "captcha", "captcha", None),
        ("EndGame ban (text/plain)", ENDGAME_BAN, {"content_type": "text/plain"}, "ban", "endgame-ban", None),
        ("EndGame ban (html)", page("", f"<p>{ENDGAME_BAN}</p>"), {}, "ban", "endgame-ban", None),
        ("EndGame captcha failed", page("", "<p>You failed the captcha too many times. Get a new identity and try "
                                            "again.</p>"), {}, "ban", "endgame-new-identity", None),
        ("EndGame ignored captcha", ENDGAME_IGNORED, {}, "ban", "endgame-captcha-ignored", 60.0),
        ("EndGame backend down", ENDGAME_BACKEND, {"status": 502}, "proxy_error", "endgame-backend", None),
        ("Cloudflare check", CLOUDFLARE, {"status": 503}, "captcha", "browser-check", None),
        ("DDoS-Guard check", DDOS_GUARD, {"status": 403}, "captcha", "browser-check", None),
        ("queue refreshing to itself", GENERIC_QUEUE, {}, "queue", "ddos-queue", 5.0),
        ("waiting room", WAITING_ROOM, {}, "queue", "ddos-queue", 30.0),
        ("queue by Refresh header", page("Queue", "<p>Please wait, you are in the queue.</p>"),
         {"headers": {"Refresh": "7"}}, "queue", "ddos-queue", 7.0),
        ("market captcha", MARKET_CAPTCHA, {}, "captcha", "captcha", None),
        ("not a robot", NOT_A_ROBOT, {}, "captcha", "captcha", None),
        ("market login wall at /", LOGIN_WALL, {}, "login", "login-wall", None),
        ("forum page redirected to login", FORUM_WALL,
         {"url": ONION + "/ucp.php?mode=login", "requested": ONION + "/viewtopic.php?t=12"}, "login", "login-wall", None),
        ("forum page answered with login", FORUM_WALL, {"url": ONION + "/viewforum.php?f=3"}, "login", "login-wall", None),
        ("HTTP basic auth", page("401 Authorization Required", "<h1>401</h1>"),
         {"status": 401, "headers": {"WWW-Authenticate": 'Basic realm="staff"'}}, "login", "http-auth", None),
        ("i2pd host not found", I2PD_NOT_FOUND, {"status": 500}, "proxy_error", "i2p-proxy", None),
        ("I2P router eepsite unknown", I2P_JAVA, {"status": 503}, "proxy_error", "i2p-proxy", None),
        ("Privoxy template error", PRIVOXY, {"status": 500}, "proxy_error", "privoxy", None),
        ("Privoxy socks failure", PRIVOXY_SOCKS, {"status": 503}, "proxy_error", "privoxy", None),
        ("Tor2web error", TOR2WEB, {"status": 502}, "proxy_error", "tor2web", None),
        ("tor's SocksPort spoken HTTP to", TOR_HTTP, {"status": 501}, "proxy_error", "tor-http", None),
        ("nginx 502", NGINX_502, {"status": 502}, "proxy_error", "bad-gateway", None),
        ("ban page", BANNED, {"status": 403}, "ban", "banned", None),
        ("429 with Retry-After", page("", "<p>Slow down</p>"), {"status": 429, "headers": {"Retry-After": "30"}},
         "ban", "rate-limited", 30.0),
        ("rate limit text", RATE_LIMIT, {}, "ban", "rate-limited", None),
]


@pytest.mark.parametrize(("name", "markup", "options", "kind", "rule", "wait"), GATE_CASES)
def test_gates_are_recognised(name, markup, options, kind, rule, wait):
    gate = check(markup, **options)
    assert gate is not None, name
    assert (gate.kind, gate.rule, gate.wait) == (kind, rule, wait), name
    assert gate.evidence and len(gate.evidence) < 160 and "\n" not in gate.evidence


# -- ordinary pages ------------------------------------------------------------------------------

FORUM_INDEX = page("Dread - front page", nav("Home", "Popular", "Login", "Register") + "".join(
    f'<div class=post><a href="/post/{i}">Post {i}</a><p>{words(40)}</p></div>' for i in range(20)))
FORUM_WITH_SIDEBAR_LOGIN = page("Board index", "<div class=sidebar><form action=/login method=post>"
                                               "<input name=u><input type=password name=p><button>Login</button>"
                                               "</form></div>" + "".join(f'<a href="/t/{i}">Topic {i}</a> '
                                                                         for i in range(30)) + f"<p>{words(300)}</p>")
SMALL_FORUM_WITH_LOGIN_BOX = page("Tiny board", "<h1>Tiny board</h1><p>" + words(150) + "</p>"
                                                "<form action=/login method=post><input name=u>"
                                                "<input type=password name=p><button>Log in</button></form>"
                                  + "".join(f'<a href="/t/{i}">Topic {i}</a>' for i in range(20)))
ARTICLE_ABOUT_GATES = page("How EndGame works", "<article>" + (
    "EndGame puts you in a queue, then shows a captcha; if you come back early the DDOS filter "
    "killed your path message appears and you have been banned. Login walls and rate limits too. ") * 30
    + "</article>", head='<meta http-equiv="refresh" content="600">')
LOGIN_PAGE = LOGIN_WALL
REGISTER_WITH_CAPTCHA = page("Register", "<form method=post action=/register><input name=u><input type=password "
                                         "name=p><img src=/captcha.png><input name=captcha><button>Register</button>"
                                         "</form>")
CONTACT_WITH_CAPTCHA = page("Contact us", "<form method=post><textarea name=m></textarea><p>Captcha:</p>"
                                          "<img src=/c.png><input name=captcha><button>Send</button></form>")
REDIRECT_PAGE = page("Moved", "<p>Please wait, you will be redirected to our new address.</p>",
                     head='<meta http-equiv="refresh" content="3; url=http://newmirrorxmpl.onion/">')
DASHBOARD = page("Mirror status", "<table><tr><td>mirror 1</td><td>up</td></tr><tr><td>mirror 2</td><td>down</td>"
                                  "</tr></table>", head='<meta http-equiv="refresh" content="60">')
PRODUCT = page("Fresh CC dumps - queue free shipping", nav("Home", "Login", "Cart") + f"<p>{words(400)}</p>"
               "<p>No queue, no captcha, fast delivery. Please wait for vendor confirmation.</p>")
GALLERY = page("Gallery", "".join(f'<a href="/img/{i}.jpg"><img src="/thumb/{i}.jpg"></a>' for i in range(40)))
NOT_FOUND = page("404 Not Found", "<center><h1>404 Not Found</h1></center><hr><center>nginx</center>")
ERROR_500 = page("500 Internal Server Error", "<h1>Internal Server Error</h1><p>The server encountered an error.</p>")
SEARCH_FORM = page("Ahmia", "<form action=/search><input name=q><button>Search</button></form>" + nav("About", "Add"))
PASTE = "proxy error: host not found in a log line somebody pasted\n" + "log line\n" * 400


@pytest.mark.parametrize(
    ("name", "markup", "options"),
    [
        ("forum index with a login link in its nav bar", FORUM_INDEX, {}),
        ("forum with a login box in its sidebar", FORUM_WITH_SIDEBAR_LOGIN, {}),
        ("small forum with a login box", SMALL_FORUM_WITH_LOGIN_BOX, {}),
        ("an article about gates", ARTICLE_ABOUT_GATES, {}),
        ("the login page asked for by name", LOGIN_PAGE, {"url": ONION + "/login"}),
        ("the login page of a phpBB", FORUM_WALL, {"url": ONION + "/ucp.php?mode=login"}),
        ("a register page with a captcha", REGISTER_WITH_CAPTCHA, {"url": ONION + "/register"}),
        ("a contact form with a captcha", CONTACT_WITH_CAPTCHA, {"url": ONION + "/contact.php"}),
        ("a refresh to another address", REDIRECT_PAGE, {}),
        ("a status page that reloads itself", DASHBOARD, {}),
        ("a page that reloads itself at once: a loop, not a queue",
         page("wait", "<p>please wait, checking your browser</p>", head='<meta http-equiv="refresh" content="0;url=/">'),
         {}),
        ("a product page with queue words", PRODUCT, {}),
        ("an image gallery", GALLERY, {}),
        ("a 404", NOT_FOUND, {"status": 404}),
        ("a 500 of the site itself", ERROR_500, {"status": 500}),
        ("a search form", SEARCH_FORM, {}),
        ("a paste quoting a proxy error", PASTE, {"content_type": "text/plain"}),
        ("robots.txt", "User-agent: *\nDisallow: /admin\n", {"content_type": "text/plain"}),
        ("an empty page", page("", ""), {}),
        ("a 401 without WWW-Authenticate", page("Unauthorized", "<p>Unauthorized</p>"), {"status": 401}),
    ],
)
def test_ordinary_pages_are_not_gates(name, markup, options):
    assert check(markup, **options) is None, name


@pytest.mark.parametrize(
    ("url", "auth"),
    [
        ("http://x.onion/login", True),
        ("http://x.onion/user/login?next=/", True),
        ("http://x.onion/signin.php", True),
        ("http://x.onion/ucp.php?mode=login", True),
        ("http://x.onion/index.php?action=register", True),
        ("http://x.onion/forum/posting.php?mode=reply&t=1", True),
        ("http://x.onion/", False),
        ("http://x.onion/viewtopic.php?t=12", False),
        ("http://x.onion/blog/login-tips-for-tor", False),
        ("http://x.onion/catalog?page=2", False),
        ("not a url", False),
    ],
)
def test_auth_pages(url, auth):
    assert is_auth_page(url) is auth


def test_every_rule_has_a_sample():
    """A rule no sample above exercises is a rule nobody checked."""
    assert {rule.name for rule in RULES} <= {case[4] for case in GATE_CASES}


@pytest.mark.parametrize(
    ("status", "content_type", "body", "headers", "worth"),
    [
        (200, "text/html", ENDGAME_QUEUE.encode(), {}, True),  # small, and a refresh
        (200, "text/html", ENDGAME_CAPTCHA.encode() + b"<!--" + b"x" * 20000 + b"-->", {}, True),  # its title
        (200, "text/plain", ENDGAME_BAN.encode(), {}, True),
        (503, "text/html", b"x" * 50000, {}, True),
        (429, "text/html", b"", {}, True),
        (200, "text/html", FORUM_INDEX.encode() * 4, {}, False),
        (200, "text/html", b"<html><head><title>Shop</title></head><body>" + b"a" * 20000 + b"</body></html>",
         {"Refresh": "5"}, True),
        (200, "image/png", b"\x89PNG" + b"\x00" * 100, {}, False),
        (200, "application/pdf", b"%PDF", {}, False),
        (200, "text/html", b"", {}, False),
        (200, "text/html", b"<html><head><title>Login</title></head>" + b"x" * 20000, {}, True),
    ],
)
def test_worth_checking(status, content_type, body, headers, worth):
    assert worth_checking(status, content_type, body, AnswerHeaders.of(headers)) is worth


def test_a_gate_for_the_records():
    gate = check(ENDGAME_QUEUE)
    assert gate is not None
    assert gate.as_dict() == {"kind": "queue", "evidence": 'queue page: "access queue", wait 10 s',
                              "wait": 10.0, "rule": "endgame-queue"}
    assert gate.title == "dread Access Queue" and not gate.needs_person
    assert check(ENDGAME_CAPTCHA).needs_person
