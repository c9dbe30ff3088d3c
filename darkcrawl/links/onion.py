"""Validation of Tor v3 onion service addresses (rend-spec-v3, section 6).

A v3 address label is the base32 encoding of ``PUBKEY(32) || CHECKSUM(2) || VERSION(1)``
with ``CHECKSUM = SHA3-256(".onion checksum" || PUBKEY || VERSION)[:2]``.  Checking
it costs a SHA3 hash, which is why :func:`onion_identity` is memoised: the crawler
sees the same few thousand hosts over and over.
"""

from __future__ import annotations

import base64
import functools
import hashlib

__all__ = ["onion_identity", "make_onion_address", "V3_LABEL_LENGTH"]

#: Length of a v3 address label (35 bytes in base32 without padding).
V3_LABEL_LENGTH = 56
#: Length of a v2 label (80-bit truncated SHA-1 of an RSA key, base32).
_V2_LABEL_LENGTH = 16
_VERSION = 3
_CHECKSUM_PREFIX = b".onion checksum"
_SUFFIX = ".onion"
# RFC 4648 alphabet, lower case only: callers lower-case hostnames once, up front,
# so accepting upper case here would only hide a caller bug.
_BASE32_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def _checksum(pubkey: bytes) -> bytes:
    # The version byte hashed is the constant 3, not the byte found in the address:
    # that is why a wrong version byte is reported as such, not as a bad checksum.
    return hashlib.sha3_256(_CHECKSUM_PREFIX + pubkey + bytes((_VERSION,))).digest()[:2]


def make_onion_address(pubkey: bytes) -> str:
    """Return the v3 onion hostname (``<56 chars>.onion``) of an ed25519 public key.

    Any 32 bytes give a syntactically valid address, which makes this handy for
    building test fixtures without real keys.
    """
    if len(pubkey) != 32:
        raise ValueError(f"ed25519 public key must be 32 bytes, got {len(pubkey)}")
    raw = pubkey + _checksum(pubkey) + bytes((_VERSION,))
    return base64.b32encode(raw).decode("ascii").lower() + _SUFFIX


@functools.lru_cache(maxsize=65536)
def onion_identity(host: str) -> tuple[str | None, str | None]:
    """Return ``(identity, None)`` for a valid v3 onion host, else ``(None, reason)``.

    ``host`` must already be lower-cased and carry no port; it ends in ``.onion`` and
    may have subdomains (``www.<56 chars>.onion``).  The identity is the service
    address with subdomains stripped, i.e. what Tor actually connects to.
    """
    if not host.endswith(_SUFFIX):
        return None, "not an .onion hostname"
    # The service label is the one right before ".onion"; anything left of it is
    # a subdomain chosen by the service and irrelevant to Tor.
    label = host[: -len(_SUFFIX)].rpartition(".")[2]
    length = len(label)
    if length == _V2_LABEL_LENGTH:
        return None, "v2 onion address (retired by Tor in 2021)"
    if length != V3_LABEL_LENGTH:
        return None, f"malformed onion address: {length} characters, expected {V3_LABEL_LENGTH}"
    if not _BASE32_CHARS.issuperset(label):
        return None, "malformed onion address: not base32"
    # 56 base32 chars are exactly 35 bytes: no padding, no leftover bits to check.
    raw = base64.b32decode(label.upper())
    pubkey, checksum, version = raw[:32], raw[32:34], raw[34]
    if version != _VERSION:
        return None, f"malformed onion address: version byte {version}, expected {_VERSION}"
    if checksum != _checksum(pubkey):
        return None, "malformed onion address: bad checksum"
    return label + _SUFFIX, None
