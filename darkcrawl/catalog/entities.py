"""The entities of a page: what an analyst searches across a crawl.

Pure functions.  Addresses, e-mail and the other special links come from the
page's links (every one already classified and, for coins, checksum-validated
by :mod:`darkcrawl.links`); PGP public keys from its text, named by their
OpenPGP fingerprint (what ``gpg --fingerprint`` prints), so the same key pasted
on two sites, armoured differently, is one entity.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import unquote

from darkcrawl.links.classify import Gateways, classify

#: special-link kinds kept as entities, and the name the catalogue gives them
ENTITY_KINDS = {"bitcoin": "bitcoin", "ethereum": "ethereum", "monero": "monero", "mail": "email",
                "magnet": "magnet", "ed2k": "ed2k", "tel": "tel", "irc": "irc", "ws": "ws"}
#: longest value kept (a magnet link can carry kilobytes of trackers)
MAX_VALUE = 2048

_PGP_BLOCK = re.compile(
    r"-----BEGIN PGP PUBLIC KEY BLOCK-----(.*?)-----END PGP PUBLIC KEY BLOCK-----", re.DOTALL)
_ARMOR_HEADER = re.compile(r"^[A-Za-z-]+: .*$")


def email_value(url: str) -> str | None:
    """``mailto:Name@Example.COM?subject=x`` -> ``name@example.com``."""
    address = unquote(url.split(":", 1)[1].split("?", 1)[0]).strip()
    if "@" not in address or " " in address:
        return None
    return address.lower()


def link_entities(links: Iterable[str], gateways: Gateways | None = None) -> set[tuple[str, str]]:
    """``(kind, value)`` of every entity among a page's links."""
    found: set[tuple[str, str]] = set()
    for url in links:
        if url[:4].lower() in ("http", "data", "java"):  # the bulk of links: no entity
            continue
        link = classify(url) if gateways is None else classify(url, gateways)
        kind = ENTITY_KINDS.get(link.kind)
        if kind is None:
            continue
        value = email_value(link.url) if kind == "email" else link.value
        if value and len(value) <= MAX_VALUE:
            found.add((kind, value))
    return found


def _armored_bytes(armored: str) -> bytes | None:
    """The binary of an ASCII-armoured block (headers and CRC line dropped)."""
    lines = [line.strip() for line in armored.replace("\r", "").split("\n")]
    body = [line for line in lines if line and not _ARMOR_HEADER.match(line) and not line.startswith("=")]
    try:
        return base64.b64decode("".join(body), validate=False)
    except (binascii.Error, ValueError):
        return None


def _first_packet(data: bytes) -> tuple[int, bytes] | None:
    """(tag, body) of the first OpenPGP packet (RFC 4880 section 4.2)."""
    if not data or not data[0] & 0x80:
        return None
    if data[0] & 0x40:  # new format
        tag, length_octet = data[0] & 0x3F, data[1] if len(data) > 1 else 0
        if length_octet < 192:
            start, length = 2, length_octet
        elif length_octet < 224:
            start, length = 3, ((length_octet - 192) << 8) + data[2] + 192
        elif length_octet == 255:
            start, length = 6, int.from_bytes(data[2:6], "big")
        else:
            return None  # partial lengths: not used for key packets
    else:  # old format
        tag, kind = (data[0] >> 2) & 0x0F, data[0] & 0x03
        if kind == 3:
            return None
        size = (1, 2, 4)[kind]
        start, length = 1 + size, int.from_bytes(data[1 : 1 + size], "big")
    body = data[start : start + length]
    return (tag, body) if len(body) == length else None


def pgp_fingerprint(armored: str) -> str | None:
    """The fingerprint of the primary key of an armoured public key block:
    SHA-1 over ``0x99``, the 2-octet length and the key packet (v4, RFC 4880
    section 12.2), SHA-256 over ``0x9B`` and a 4-octet length for v6 keys."""
    data = _armored_bytes(armored)
    packet = _first_packet(data) if data else None
    if packet is None or packet[0] != 6 or not packet[1]:
        return None
    body = packet[1]
    if body[0] == 4:
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    if body[0] in (5, 6):
        return hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    return None


def pgp_entities(text: str) -> set[tuple[str, str]]:
    """``("pgp", fingerprint)`` of every public key block in *text*; a block too
    damaged to read is kept by the SHA-256 of its armour, so it is still found."""
    found: set[tuple[str, str]] = set()
    if "-----BEGIN PGP PUBLIC KEY BLOCK" not in text:
        return found
    for match in _PGP_BLOCK.finditer(text):
        fingerprint = pgp_fingerprint(match.group(1))
        if fingerprint is None:
            fingerprint = "armour-sha256:" + hashlib.sha256(" ".join(match.group(1).split()).encode()).hexdigest()
        found.add(("pgp", fingerprint))
    return found
