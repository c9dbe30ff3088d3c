from __future__ import annotations

import base64
import hashlib

import pytest

from darkcrawl.links.onion import make_onion_address, onion_identity

# Valid but unpublished: built from the ed25519 base point.
BASE_POINT = "lbtgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztgmztmn5ad.onion"
RANGE = make_onion_address(bytes(range(32)))
ZEROS = make_onion_address(bytes(32))
# Real, published services (DuckDuckGo, the Tor Project).
DDG = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion"
TORPROJECT = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion"


def _address(pubkey: bytes, version: int, checksum_version: int = 3) -> str:
    """Independent re-implementation of the rend-spec-v3 encoding, as an oracle."""
    checksum = hashlib.sha3_256(b".onion checksum" + pubkey + bytes((checksum_version,))).digest()[:2]
    return base64.b32encode(pubkey + checksum + bytes((version,))).decode().lower() + ".onion"


def _flip(address: str, index: int) -> str:
    char = address[index]
    return address[:index] + ("b" if char != "b" else "c") + address[index + 1 :]


V2_ERR = "v2 onion address (retired by Tor in 2021)"
NOT_B32 = "malformed onion address: not base32"
BAD_SUM = "malformed onion address: bad checksum"


@pytest.mark.parametrize(
    ("host", "identity", "reason"),
    [
        (BASE_POINT, BASE_POINT, None),
        (RANGE, RANGE, None),
        (ZEROS, ZEROS, None),
        (DDG, DDG, None),
        (TORPROJECT, TORPROJECT, None),
        # Subdomains are chosen by the service; the identity strips them.
        ("www." + BASE_POINT, BASE_POINT, None),
        ("a.b-c.www." + RANGE, RANGE, None),
        ("expyuzz4wqqyqhjn.onion", None, V2_ERR),
        ("www.expyuzz4wqqyqhjn.onion", None, V2_ERR),
        (_flip(RANGE, 10), None, BAD_SUM),
        (_flip(BASE_POINT, 0), None, BAD_SUM),
        # Version byte changed, checksum still over the constant 3: a version error.
        (_address(bytes(range(32)), 4), None, "malformed onion address: version byte 4, expected 3"),
        (_address(bytes(range(32)), 2), None, "malformed onion address: version byte 2, expected 3"),
        (_address(bytes(range(32)), 3, checksum_version=4), None, BAD_SUM),
        ("1" * 56 + ".onion", None, NOT_B32),
        (RANGE[:55] + "8.onion", None, NOT_B32),
        (RANGE[:55] + "=.onion", None, NOT_B32),
        (RANGE[:55] + ".onion", None, "malformed onion address: 55 characters, expected 56"),
        ("a" + RANGE, None, "malformed onion address: 57 characters, expected 56"),
        ("x.onion", None, "malformed onion address: 1 characters, expected 56"),
        (".onion", None, "malformed onion address: 0 characters, expected 56"),
        ("www..onion", None, "malformed onion address: 0 characters, expected 56"),
        ("example.com", None, "not an .onion hostname"),
        # Lower-casing is the caller's job: upper case is not the base32 alphabet here.
        (BASE_POINT.upper().replace(".ONION", ".onion"), None, NOT_B32),
    ],
)
def test_onion_identity(host: str, identity: str | None, reason: str | None) -> None:
    assert onion_identity(host) == (identity, reason)


def test_make_onion_address_matches_oracle() -> None:
    for pubkey in (bytes(range(32)), bytes(32), b"\xff" * 32, bytes(range(100, 132))):
        assert make_onion_address(pubkey) == _address(pubkey, 3)


def test_make_onion_address_base_point() -> None:
    base_point = bytes.fromhex("58" + "66" * 31)  # ed25519 B, compressed
    assert make_onion_address(base_point) == BASE_POINT


@pytest.mark.parametrize("pubkey", [b"", bytes(31), bytes(33)])
def test_make_onion_address_rejects_bad_key_length(pubkey: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        make_onion_address(pubkey)


def test_onion_identity_is_cached() -> None:
    onion_identity(RANGE)
    before = onion_identity.cache_info().hits
    onion_identity(RANGE)
    assert onion_identity.cache_info().hits == before + 1
