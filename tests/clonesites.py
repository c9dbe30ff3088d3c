"""A generated web of clones and mirrors, for the clone clustering's tests and its
benchmark (``python -m bench.clones``).  Deterministic for a seed.

* a **family** is one site (a market, a shop, a forum, a blog, a login-walled
  service) and its copies: exact **mirrors** (the same bytes), near mirrors (the
  same page saying which mirror it is), and **phishing clones**: the same site
  showing another payment address, with one or two small changes (a notice
  banner, two listings swapped, the header's colour nudged, a font size, a
  sentence added, the footer gone, the title's suffix);
* **unrelated** sites, one family each;
* **template** sites: unrelated sites built on one shared template (the same
  CSS, layout, favicon, navigation and boilerplate, a title of the same pattern),
  the hard negatives.

Each host is a real HTTP server on loopback (its own port): ``/`` and
``/deposit`` (the address, and on some sites the root page shows it too), a
favicon at ``/favicon.ico`` or declared in the page, or none.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tests.gateways import FakeGateway

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import CrawlResult

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
SKELETONS = ("market", "shop", "forum", "blog", "service")
EDITS = ("banner", "swap", "tint", "font", "extra", "nofooter", "title")
_SYLLABLES = ("ka", "lo", "mi", "ra", "to", "ven", "dor", "ix", "qua", "zel", "ber", "nox", "tri", "sa", "gon",
              "pha", "lux", "cry", "mar", "tek", "vel", "dra", "kon", "sil", "bit", "ark", "neo", "sha", "rum")
_WORDS = ("quality fast shipping stealth escrow vendor trusted review rating order account wallet deposit "
          "withdraw support ticket refund dispute feedback seller buyer price worldwide domestic tracking "
          "package secure encrypted verified premium discount bulk sample guarantee reship policy rules "
          "community members posts thread reply moderator announcement update service available online "
          "anonymous privacy protection payment confirm balance minimum maximum fee instant daily weekly "
          "product category listing new popular best offer limited stock origin destination delivery").split()


def bitcoin_address(rng: random.Random) -> str:
    """A valid P2PKH address (base58check of a random hash160)."""
    payload = b"\x00" + rng.randbytes(20)
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    num, chars = int.from_bytes(raw, "big"), []
    while num:
        num, digit = divmod(num, 58)
        chars.append(B58[digit])
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + "".join(reversed(chars))


def _name(rng: random.Random, syllables: int = 3) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()


def _prose(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


@dataclass
class Design:
    """What a site looks like and says: a template plus its own content."""

    skeleton: str
    palette: tuple[str, str, str]  # header, accent, page background
    font: str
    nav: tuple[str, ...]
    boilerplate: tuple[str, ...]  # the template's own sentences (footer, rules)
    favicon: bytes | None
    favicon_declared: bool
    name: str = ""
    title: str = ""
    listings: list[tuple[str, str]] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    address_on_root: bool = True
    edits: tuple[str, ...] = ()
    mirror_note: str = ""


@dataclass
class SiteSpec:
    family: str  # the ground truth: one family, one site
    role: str  # original, mirror, near-mirror, clone, unrelated, template
    design: Design
    address: str
    gateway: FakeGateway | None = None

    @property
    def host(self) -> str:
        assert self.gateway is not None
        return f"127.0.0.1:{self.gateway.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}/"

    @property
    def phishing(self) -> bool:
        return self.role == "clone"


def favicon_png(rng: random.Random) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    colour = tuple(rng.randrange(40, 220) for _ in range(3))
    if rng.random() < 0.5:
        draw.ellipse((2, 2, 30, 30), fill=colour)
    else:
        draw.rectangle((4, 4, 28, 28), fill=colour)
    draw.text((10, 8), rng.choice("ABCDEFGHKMNPRSTVXZ"), fill="white")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _template(rng: random.Random, skeleton: str | None = None) -> Design:
    palette = (f"#{rng.randrange(0x202020, 0xA0A0A0):06x}", f"#{rng.randrange(0x404040, 0xF0F0F0):06x}",
               rng.choice(("#ffffff", "#f4f4f0", "#15171c", "#eef2f7")))
    return Design(skeleton or rng.choice(SKELETONS), palette, rng.choice(("sans-serif", "serif", "monospace")),
                  tuple(_name(rng, 2) for _ in range(rng.randint(3, 6))),
                  tuple(_prose(rng, rng.randint(10, 25)) for _ in range(rng.randint(2, 4))),
                  favicon_png(rng) if rng.random() < 0.8 else None, rng.random() < 0.4)


def _content(rng: random.Random, design: Design, title_pattern: str | None = None) -> Design:
    name = _name(rng)
    return replace(design, name=name,
                   title=(title_pattern or "{} " + rng.choice(("Market", "Shop", "Forum", "Store", "Escrow")))
                   .format(name),
                   listings=[(f"{_name(rng, 2)} {rng.choice(_WORDS)}", f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}")
                             for _ in range(rng.randint(6, 14))],
                   paragraphs=[_prose(rng, rng.randint(25, 70)) for _ in range(rng.randint(2, 4))],
                   address_on_root=rng.random() < 0.6)


# -- HTML ---------------------------------------------------------------------------------------


def _css(d: Design) -> str:
    header, accent, page = d.palette
    if "tint" in d.edits:
        header = "#" + "".join(f"{min(255, int(header[i:i + 2], 16) + 18):02x}" for i in (1, 3, 5))
    text = "#ddd" if page == "#15171c" else "#222"
    size = 16 if "font" in d.edits else 15
    return (f"body{{margin:0;background:{page};color:{text};font:{size}px {d.font}}}"
            f"header{{background:{header};color:#fff;padding:18px 32px;display:flex;gap:24px;align-items:center}}"
            f"header b{{font-size:28px}} nav a{{color:#fff;margin-right:14px}}"
            f".notice{{background:#c8102e;color:#fff;padding:10px 32px}} main{{padding:24px 32px}}"
            f".grid{{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}}"
            f".card{{border:1px solid {accent};padding:10px;border-radius:6px}} .card i{{display:block;height:60px;"
            f"background:{accent};margin-bottom:6px}} table{{width:100%;border-collapse:collapse}}"
            f"td,th{{border-bottom:1px solid {accent};padding:6px}} .side{{float:left;width:200px}}"
            f".login{{width:360px;margin:40px auto;border:2px solid {accent};padding:20px}}"
            f"footer{{padding:18px 32px;border-top:3px solid {accent};font-size:13px}}"
            f"code{{background:{accent};color:#000;padding:2px 4px}}")


def _listings(d: Design) -> str:
    items = list(d.listings)
    if "swap" in d.edits and len(items) > 3:
        items[1], items[2] = items[2], items[1]
    if d.skeleton in ("market", "shop"):
        cards = "".join(f"<div class=card><i></i><b>{n}</b><br>{p} USD</div>" for n, p in items)
        return f"<h2>Featured listings</h2><div class=grid>{cards}</div>"
    rows = "".join(f"<tr><td>{n}</td><td>{p}</td></tr>" for n, p in items)
    return f"<h2>Latest</h2><table><tr><th>topic</th><th>replies</th></tr>{rows}</table>"


def _body(d: Design, address: str, root: bool) -> str:
    """The root page's main part, or the deposit page's."""
    paragraphs = list(d.paragraphs) + (["Withdrawals are instant and escrow is free for everyone."]
                                       if "extra" in d.edits else [])
    prose = "".join(f"<p>{p}</p>" for p in paragraphs)
    if not root:
        return f"<h2>Deposit</h2><p>Send your deposit to</p><p><code>{address}</code></p>"
    pay = f"<p>Deposit address: <code>{address}</code></p>" if d.address_on_root else ""
    if d.skeleton == "service":
        main = (f"<div class=login><h2>Sign in to {d.name}</h2><p>username</p><p>password</p>"
                f"<button>Login</button></div>{prose}{pay}")
    elif d.skeleton == "blog":
        main = "".join(f"<article><h2>{n}</h2><p>{p}</p></article>" for (n, _), p in zip(d.listings, paragraphs)) + pay
    else:
        side = "<div class=side>" + "".join(f"<p>{n}</p>" for n in d.nav) + "</div>" if d.skeleton == "market" else ""
        main = f"{side}<div>{prose}{pay}{_listings(d)}</div>"
    return main


def page(d: Design, address: str, root: bool) -> bytes:
    title = d.title + (" | Official" if "title" in d.edits else "")
    icon = "<link rel=icon href='/static/icon.png'>" if d.favicon and d.favicon_declared else ""
    notice = "<div class=notice>New mirror! Bookmark this address, the old one is down.</div>" \
        if "banner" in d.edits else ""
    nav = "".join(f"<a href='/'>{n}</a>" for n in d.nav) + "<a href='/deposit'>Deposit</a>"
    footer = "" if "nofooter" in d.edits else "<footer>" + " ".join(d.boilerplate) + "</footer>"
    mirror = f"<p>{d.mirror_note}</p>" if d.mirror_note else ""
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{title}</title>{icon}"
            f"<style>{_css(d)}</style></head><body>{notice}<header><b>{d.name}</b><nav>{nav}</nav></header>"
            f"<main>{mirror}{_body(d, address, root)}</main>{footer}</body></html>").encode()


def pages_of(spec: SiteSpec) -> dict[str, tuple[int, str, bytes]]:
    d = replace(spec.design, mirror_note=spec.design.mirror_note.format(host=spec.host))
    found = {"/": (200, "text/html; charset=utf-8", page(d, spec.address, True)),
             "/deposit": (200, "text/html; charset=utf-8", page(d, spec.address, False))}
    if d.favicon:
        found["/static/icon.png" if d.favicon_declared else "/favicon.ico"] = (200, "image/png", d.favicon)
    return found


# -- the web --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebPlan:
    families: int = 12  # sites with copies
    phishing_families: int = 8  # of them, those with phishing clones (the others: mirrors only)
    unrelated: int = 20
    templates: int = 4  # shared templates
    per_template: int = 5  # unrelated sites on each


def _family(rng: random.Random, index: int, phishing: bool) -> list[SiteSpec]:
    design = _content(rng, _template(rng))
    address = bitcoin_address(rng)
    family = f"family-{index}"
    specs = [SiteSpec(family, "original", design, address)]
    for _ in range(rng.randint(1, 2)):
        specs.append(SiteSpec(family, "mirror", design, address))
    if rng.random() < 0.5:
        specs.append(SiteSpec(family, "near-mirror", replace(design, mirror_note="You are on the mirror {host}."),
                              address))
    if phishing:
        for _ in range(rng.randint(2, 3)):
            edits = tuple(rng.sample(EDITS, rng.randint(1, 2)))
            specs.append(SiteSpec(family, "clone", replace(design, edits=edits), bitcoin_address(rng)))
    return specs


def plan_web(plan: WebPlan = WebPlan(), seed: int = 7) -> list[SiteSpec]:
    rng = random.Random(seed)
    specs: list[SiteSpec] = []
    for index in range(plan.families):
        specs += _family(rng, index, index < plan.phishing_families)
    for index in range(plan.unrelated):
        specs.append(SiteSpec(f"unrelated-{index}", "unrelated", _content(rng, _template(rng)), bitcoin_address(rng)))
    for group in range(plan.templates):
        template = _template(rng, rng.choice(("market", "shop", "service")))
        pattern = "{} " + rng.choice(("Market", "Shop", "Store"))
        for index in range(plan.per_template):
            specs.append(SiteSpec(f"template-{group}-{index}", "template", _content(rng, template, pattern),
                                  bitcoin_address(rng)))
    return specs


@contextmanager
def serving(specs: list[SiteSpec]) -> Iterator[list[SiteSpec]]:
    """Every site on a loopback port of its own, for the time of the block."""
    with ExitStack() as stack:
        for spec in specs:
            spec.gateway = FakeGateway({})
            spec.gateway.pages.update(pages_of(spec))
            stack.enter_context(spec.gateway)
        yield specs


def true_pairs(specs: list[SiteSpec]) -> set[tuple[str, str]]:
    """Host pairs of one family: what a perfect clustering joins."""
    by_family: dict[str, list[str]] = {}
    for spec in specs:
        by_family.setdefault(spec.family, []).append(spec.host)
    return {tuple(sorted((a, b))) for hosts in by_family.values() for i, a in enumerate(hosts) for b in hosts[i + 1:]}


def crawl_web(work: Path, specs: list[SiteSpec]) -> CrawlResult:
    """A real crawl of *specs* (one round, render stage on), while they are served."""
    from tests.conftest import run_crawl

    with serving(specs):
        seeds = work / "seeds.txt"
        seeds.write_text("".join(spec.url + "\n" for spec in specs))
        return run_crawl(work, "-a", f"seeds={seeds}", settings={"DARKCRAWL_RENDER": 1, "DOWNLOAD_TIMEOUT": 30},
                         timeout=400)
