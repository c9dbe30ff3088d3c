"""darkcrawl.intel.signatures and .favicon: the signatures of a host's page, on real
bytes (PNG screenshots drawn with Pillow, real texts, real HTML)."""

from __future__ import annotations

import base64
import io
import random

import mmh3
import pytest
from lxml import html as lxml_html
from PIL import Image, ImageDraw

from darkcrawl.intel.favicon import declared_icon, default_icon_url, is_root_url
from darkcrawl.intel.signatures import (
    favicon_hash, from_hex, hamming, image_hash, text_simhash, text_words, title_key, to_hex,
)

# -- favicon ------------------------------------------------------------------------------


def test_murmur3_is_x86_32_with_seed_0():
    # SMHasher's reference vectors of MurmurHash3_x86_32 (seed 0), as signed 32-bit integers
    assert mmh3.hash(b"") == 0
    assert mmh3.hash(b"hello") == 0x248BFA47
    assert mmh3.hash(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723


@pytest.mark.parametrize("size", [0, 1, 57, 58, 200, 1150])
def test_favicon_hash_is_shodans(size):
    data = bytes(random.Random(size).randrange(256) for _ in range(size))
    flat = base64.b64encode(data).decode()
    # MIME base64: a newline every 76 characters and one at the end (57 bytes a line)
    wrapped = "".join(flat[i : i + 76] + "\n" for i in range(0, len(flat), 76))
    assert favicon_hash(data) == mmh3.hash(wrapped.encode())
    if size > 57:  # the wrapping matters: the unwrapped string hashes otherwise
        assert favicon_hash(data) != mmh3.hash((flat + "\n").encode())
    assert -(2**31) <= favicon_hash(data) < 2**31


def test_favicon_hash_is_signed():
    values = {favicon_hash(bytes([n])) for n in range(32)}
    assert min(values) < 0 < max(values)


# -- title and text -------------------------------------------------------------------------


@pytest.mark.parametrize(("title", "key"), [
    (None, None), ("", None), ("   ", None),
    ("  Dream  Market\n- Login ", "dream market - login"),
    ("ＤＲＥＡＭ", "dream"),  # full-width letters: NFKC
    ("Straße", "strasse"),  # case-folded
])
def test_title_key(title, key):
    assert title_key(title) == key


ADDRESS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
OTHER_ADDRESS = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
ONION = "lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion"


def test_words_leave_out_addresses_numbers_and_long_tokens():
    text = f"Send 0.05 BTC to {ADDRESS} before 2026-01-01, mirror {ONION} 24h support"
    assert text_words(text) == ["send", "btc", "to", "before", "mirror", "onion", "support"]


def _prose(seed: int, words: int = 300) -> str:
    vocabulary = ("market vendor shipping escrow review listing order account wallet deposit withdraw "
                  "support ticket forum rules drugs fraud guide digital goods physical stealth tracking "
                  "refund dispute feedback rating trusted seller buyer price quality fast slow worldwide "
                  "europe domestic pgp key verify login register captcha mirror link canary").split()
    rng = random.Random(seed)
    return " ".join(rng.choice(vocabulary) for _ in range(words))


BASE = _prose(1)


@pytest.mark.parametrize(("a", "b", "low", "high"), [
    (BASE, BASE, 0, 0),
    # a clone: only the payment address changed
    (f"{BASE} pay to {ADDRESS}", f"{BASE} pay to {OTHER_ADDRESS}", 0, 0),
    # a few words edited: a few bits
    (BASE, BASE.replace("escrow", "multisig", 2), 0, 8),
    # unrelated texts: about half the bits
    (BASE, _prose(2), 18, 46),
    (BASE, "welcome to our humble blog about gardening tomatoes and beans " * 20, 18, 46),
])
def test_text_simhash_distance(a, b, low, high):
    (first, n), (second, m) = text_simhash(a), text_simhash(b)
    assert n > 100 and m > 5
    assert low <= hamming(first, second) <= high


def test_text_simhash_of_no_text():
    assert text_simhash(None) == (None, 0)
    assert text_simhash("") == (None, 0)
    assert text_simhash("2026 0.05 " + ADDRESS) == (None, 0)
    value, features = text_simhash("login")
    assert features == 1 and 0 <= value < 2**64


def test_hex_round_trip():
    assert to_hex(None) is None and from_hex(None) is None and from_hex("") is None
    for value in (0, 1, 2**63, 2**64 - 1):
        assert len(to_hex(value)) == 16 and from_hex(to_hex(value)) == value


# -- screenshots ------------------------------------------------------------------------------


def screenshot(lines: list[str], *, height: int = 1400, banner: tuple[int, int, int] = (40, 60, 140),
               offset: int = 0) -> bytes:
    """A PNG shaped like a page's full-page screenshot: a banner, lines of text, boxes."""
    image = Image.new("RGB", (1280, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1280, 120), fill=banner)
    draw.text((40, 40), "MARKET", fill="white", font_size=48)
    for n, line in enumerate(lines):
        y = 160 + offset + n * 36
        draw.text((60, y), line, fill="black", font_size=24)
        if n % 4 == 0:
            draw.rectangle((900, y, 1200, y + 28), fill=(200, 200, 210))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


PAGE = [f"listing {n}: {w}" for n, w in enumerate(BASE.split()[:30])]


@pytest.mark.parametrize(("a", "b", "low", "high"), [
    (screenshot(PAGE), screenshot(PAGE), 0, 0),
    # the address line changed
    (screenshot([*PAGE[:10], f"pay to {ADDRESS}", *PAGE[10:]]),
     screenshot([*PAGE[:10], f"pay to {OTHER_ADDRESS}", *PAGE[10:]]), 0, 6),
    # a longer page with the same top: the same hash (only the top viewport is hashed)
    (screenshot(PAGE), screenshot(PAGE, height=5000), 0, 0),
    # another colour scheme and layout: far
    (screenshot(PAGE), screenshot([w[::-1] for w in PAGE], banner=(200, 30, 30), offset=200), 14, 64),
])
def test_image_hash_distance(a, b, low, high):
    assert low <= hamming(image_hash(a), image_hash(b)) <= high


def test_the_whole_page_hash_depends_on_its_length():
    assert image_hash(screenshot(PAGE), None) != image_hash(screenshot(PAGE, height=5000), None)


@pytest.mark.parametrize("data", [b"", b"not a png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_image_hash_of_no_image(data):
    assert image_hash(data) is None


# -- the declared favicon --------------------------------------------------------------------------


@pytest.mark.parametrize(("markup", "url", "icon"), [
    ("<link rel=icon href=/static/i.png>", "http://a.onion/", "http://a.onion/static/i.png"),
    ("<link rel='shortcut icon' href='fav.ico'>", "http://a.onion/dir/page", "http://a.onion/dir/fav.ico"),
    ("<LINK REL=ICON HREF=x.ico>", "http://a.onion/", "http://a.onion/x.ico"),
    ("<base href='http://a.onion/assets/'><link rel=icon href=i.png>", "http://a.onion/", "http://a.onion/assets/i.png"),
    ("<link rel=apple-touch-icon href=t.png><link rel=mask-icon href=m.svg>", "http://a.onion/", None),
    ("<link rel=apple-touch-icon href=t.png><link rel=icon href=i.png>", "http://a.onion/", "http://a.onion/i.png"),
    ("<link rel=icon href='data:image/png;base64,iVBORw0K'>", "http://a.onion/", "data:image/png;base64,iVBORw0K"),
    ("<link rel=icon href=''><link rel=stylesheet href=s.css>", "http://a.onion/", None),
    ("<link rel=icon href='http://[::1'>", "http://a.onion/", None),
    ("<p>no head</p>", "http://a.onion/", None),
])
def test_declared_icon(markup, url, icon):
    assert declared_icon(lxml_html.fromstring(f"<html><head>{markup}</head><body>x</body></html>"), url) == icon


@pytest.mark.parametrize(("url", "network", "root"), [
    ("http://a.onion/", "tor", True),
    ("http://a.onion", "tor", True),
    ("http://a.onion/?lang=en", "tor", False),
    ("http://a.onion/index.html", "tor", False),
    ("http://127.0.0.1:8080/dir/", "clearnet", False),
    ("http://127.0.0.1:43110/1HeLLo4uzjaLetFx6NH3PMwFP3qbRbTf3D/", "zeronet", True),
    ("http://127.0.0.1:43110/1HeLLo4uzjaLetFx6NH3PMwFP3qbRbTf3D/page.html", "zeronet", False),
    ("http://127.0.0.1:43110/", "zeronet", False),
])
def test_is_root_url(url, network, root):
    assert is_root_url(url, network) is root


def test_default_icon_url():
    assert default_icon_url("http://a.onion/") == "http://a.onion/favicon.ico"
