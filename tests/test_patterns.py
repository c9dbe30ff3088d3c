from __future__ import annotations

import hashlib
import re

import pytest

from darkcrawl.links.onion import make_onion_address
from darkcrawl.links.patterns import compile_extra_patterns, find_text_links

ONION = "lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion"
ONION2 = make_onion_address(bytes(range(32)))
BAD_ONION = ONION[:10] + "a" + ONION[11:]
GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
P2SH = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
BECH32 = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TAPROOT = "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
XMR = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
SHA1 = hashlib.sha1(b"darkcrawl").hexdigest()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("nothing to see here. 13:37, 2021-01-01", []),
        # --- URLs and GFM-style trailing punctuation
        ("go to http://x.com/a now", ["http://x.com/a"]),
        ("go to http://x.com/a.", ["http://x.com/a"]),
        ("http://x.com/a, http://y.com/b; https://z.com/c: ok", ["http://x.com/a", "http://y.com/b", "https://z.com/c"]),
        ("really?! http://x.com/a?!", ["http://x.com/a"]),
        ("(see http://x.com/a)", ["http://x.com/a"]),
        ("(see http://x.com/a).", ["http://x.com/a"]),
        ("see http://x.com/wiki/Foo_(bar) ok", ["http://x.com/wiki/Foo_(bar)"]),
        ("(http://x.com/wiki/Foo_(bar))", ["http://x.com/wiki/Foo_(bar)"]),
        ("[http://x.com/a]", ["http://x.com/a"]),
        ("'http://x.com/a'", ["http://x.com/a"]),
        ('"http://x.com/a"', ["http://x.com/a"]),
        ("\u201chttp://x.com/a\u201d", ["http://x.com/a"]),
        ("<http://x.com/a>", ["http://x.com/a"]),
        ("http://x.com/?q=a.b&c=d#frag", ["http://x.com/?q=a.b&c=d#frag"]),
        ("HTTPS://X.COM/A", ["HTTPS://X.COM/A"]),
        ("glued:Visithttp://x.com/", ["http://x.com/"]),
        ("ftp://files.x.com/pub ws://x.com/s wss://x.com/s irc://irc.x.org/c ircs://irc.x.org/c",
         ["ftp://files.x.com/pub", "ws://x.com/s", "wss://x.com/s", "irc://irc.x.org/c", "ircs://irc.x.org/c"]),
        # Other schemes ending like ours are not ours.
        ("news://x.com/a sftp://x.com/b gopher://x.com/", []),
        ("http:// nothing", []),
        ("http://.", []),
        # A URL inside another URL's query is part of it.
        ("http://a.com/?next=http://b.com/", ["http://a.com/?next=http://b.com/"]),
        ("http://x.com/a http://x.com/a http://x.com/a.", ["http://x.com/a"]),
        # --- www. hosts (darc bug: "http:www.x")
        ("visit www.example.com today", ["http://www.example.com"]),
        ("visit www.example.com/a/b?c=1.", ["http://www.example.com/a/b?c=1"]),
        ("VISIT WWW.EXAMPLE.COM!", ["http://WWW.EXAMPLE.COM"]),
        ("(www.example.com)", ["http://www.example.com"]),
        ("http://www.example.com/", ["http://www.example.com/"]),
        ("awww.example.com www. www.x x.www.y.com", []),
        # --- e-mail (darc bug: "mailto::addr")
        ("write to admin@example.com.", ["mailto:admin@example.com"]),
        ("John.Doe+tag@mail.example.co.uk, x", ["mailto:John.Doe+tag@mail.example.co.uk"]),
        ("mailto:a.b@c.org", ["mailto:a.b@c.org"]),
        (f"contact: root@{ONION}", [f"mailto:root@{ONION}", f"http://{ONION}/"]),
        ("icon@2x.png", ["mailto:icon@2x.png"]),
        ("not@mail version@1.2.3 @handle a@b.c x@y.1z user@host_name.com", []),
        ("http://user:pw@example.com/a", ["http://user:pw@example.com/a"]),
        ("http://x.com/?to=bob@example.com", ["http://x.com/?to=bob@example.com"]),
        ("x" * 65 + "@example.com", []),
        # --- bitcoin, validated
        (f"donate: {GENESIS}", [f"bitcoin:{GENESIS}"]),
        (f"{P2SH}, {BECH32}. {TAPROOT}", [f"bitcoin:{P2SH}", f"bitcoin:{BECH32}", f"bitcoin:{TAPROOT}"]),
        (f"upper: {BECH32.upper()}", [f"bitcoin:{BECH32.upper()}"]),
        (f"bitcoin:{GENESIS}?amount=1", [f"bitcoin:{GENESIS}"]),
        (f"typo {GENESIS[:-1]}b", []),
        (f"typo {BECH32[:-1]}x", []),
        (f"glued x{GENESIS} {GENESIS}x {GENESIS}0", []),
        ("1" * 34 + " 3333333333333333333333333333", []),
        # --- ethereum, validated, 0x required
        (f"send to {ETH}.", [f"ethereum:{ETH}"]),
        (f"send to {ETH.lower()}", [f"ethereum:{ETH.lower()}"]),
        (f"commit {SHA1}", []),
        (f"sha1 0x{SHA1[:20].upper()}{SHA1[20:]}", []),
        (f"{ETH}0 x{ETH}", []),
        # --- monero, validated
        (f"XMR: {XMR}.", [f"monero:{XMR}"]),
        (f"monero:{XMR}?tx_amount=1", [f"monero:{XMR}"]),
        (f"typo {XMR[:-1]}B", []),
        (f"glued x{XMR} {XMR}x 4{XMR}", []),
        ("48 items, 4 pieces, 8 grams, 444 and 88", []),
        # --- bare onion hosts
        (f"mirror: {ONION}.", [f"http://{ONION}/"]),
        (f"mirror: sub.{ONION}/forum", [f"http://sub.{ONION}/"]),
        (f"mirror: www.{ONION}/forum", [f"http://www.{ONION}/forum"]),  # a www. URL
        (f"MIRROR: {ONION.upper()}", [f"http://{ONION}/"]),
        (f"{ONION} and {ONION2} and {ONION}", [f"http://{ONION}/", f"http://{ONION2}/"]),
        (f"http://{ONION}/page and {ONION}", [f"http://{ONION}/page", f"http://{ONION}/"]),
        (f"http://{ONION}/page", [f"http://{ONION}/page"]),
        (f"see a.b-c.{ONION}", [f"http://a.b-c.{ONION}/"]),
        (f"...{ONION}...", [f"http://{ONION}/"]),
        (f"{ONION}", [f"http://{ONION}/"]),
        (f"57 chars a{ONION} é{ONION}", []),
        (f"bad {BAD_ONION} v2 expyuzz4wqqyqhjn.onion", []),
        (f"tor2web {ONION}.sh x_{ONION} {ONION}_x", []),
        (f"{ONION}.ly/a", []),
        (f"https://{ONION}.ly/a", [f"https://{ONION}.ly/a"]),
        # --- everything together, in order of first appearance
        (
            f"{ETH} then mail a@example.org, then www.x.com and {GENESIS} and {ONION} and http://y.com/.",
            [
                f"ethereum:{ETH}",
                "mailto:a@example.org",
                "http://www.x.com",
                f"bitcoin:{GENESIS}",
                f"http://{ONION}/",
                "http://y.com/",
            ],
        ),
    ],
)
def test_find_text_links(text: str, expected: list[str]) -> None:
    assert find_text_links(text) == expected


# darc's default DARC_URL_PAT-style entries, plus scheme-less ones.
EXTRA = compile_extra_patterns(
    [
        ["bitcoin", r"(?P<url>bitcoin:\w+)", int(re.ASCII)],
        ["magnet", r"(?P<url>magnet:\?xt=urn:btih:[0-9a-fA-F]{40})", 0],
        ["http", r"see (?P<url>[a-z]+\.example)\b", 0],
        ["tel", r"phone (?P<url>\+?[0-9-]{7,})", 0],
        ["http", r"proto (?P<url>//[a-z.]+)", 0],
        ["ed2k", r"(?P<url>\|file\|[^|]+\|\d+\|[0-9A-F]{32}\|/)", 0],
        ["http", r"port (?P<url>localhost:\d+)", 0],
        ["data", r"(?P<url>(?:qqq)?)", 0],  # matches empty strings here: ignored
    ]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a",
         ["magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a"]),
        ("see foo.example please", ["http://foo.example"]),
        ("phone +1-201-555-0123", ["tel:+1-201-555-0123"]),
        ("proto //cdn.x.com", ["http://cdn.x.com"]),
        ("|file|x.iso|1024|0123456789ABCDEF0123456789ABCDEF|/",
         ["ed2k://|file|x.iso|1024|0123456789ABCDEF0123456789ABCDEF|/"]),
        ("port localhost:8080", ["http://localhost:8080"]),
        # A built-in result and an extra one that agree are reported once.
        (f"bitcoin:{GENESIS}", [f"bitcoin:{GENESIS}"]),
    ],
)
def test_find_text_links_extra(text: str, expected: list[str]) -> None:
    assert find_text_links(text, extra=EXTRA) == expected


def test_compile_extra_patterns_result() -> None:
    [(scheme, pattern)] = compile_extra_patterns([["HTTP", r"(?P<url>x)", int(re.IGNORECASE)]])
    assert scheme == "http"
    assert pattern.flags & re.IGNORECASE
    assert compile_extra_patterns([]) == []
    # flags may be left out, as config.py allows
    [(scheme, pattern)] = compile_extra_patterns([("tel", r"(?P<url>\d+)")])
    assert (scheme, pattern.flags & ~re.UNICODE) == ("tel", 0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"http": "x"}, "expected a list"),
        ("[]", "expected a list"),
        (["http"], r"entry 0 .*expected \[scheme, regex, flags\]"),
        ([["http"]], r"entry 0 .*expected \[scheme, regex, flags\]"),
        ([["http", r"(?P<url>x)", 0], ["http", r"(?P<url>x)", 0, 1]], r"entry 1 .*expected"),
        ([[1, r"(?P<url>x)", 0]], "entry 0 .*scheme"),
        ([["ht tp", r"(?P<url>x)", 0]], "entry 0 .*scheme"),
        ([["http", 1, 0]], "entry 0 .*regex must be a string"),
        ([["http", r"(?P<url>x", 0]], "entry 0 .*invalid regex"),
        ([["http", r"(x)", 0]], "entry 0 .*named group 'url'"),
        ([["http", r"(?P<url>x)", "0"]], "entry 0 .*flags"),
        ([["http", r"(?P<url>x)", True]], "entry 0 .*flags"),
        ([["http", r"(?P<url>x)", -1]], "entry 0 .*flags"),
        ([["http", r"(?P<url>x)", int(re.DEBUG)]], "entry 0 .*flags"),
        ([["http", r"(?P<url>x)", int(re.LOCALE)]], "entry 0 .*invalid regex"),
    ],
)
def test_compile_extra_patterns_errors(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_extra_patterns(spec)  # type: ignore[arg-type]
