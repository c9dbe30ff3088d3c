"""Validation of cryptocurrency addresses found in page text.

darc took any base58-looking word for a Bitcoin address and any 40-hex string (a
SHA-1, a git commit…) for an Ethereum address.  Checking the built-in checksums
removes nearly all of those false positives for the price of a hash per candidate.
"""

from __future__ import annotations

import functools
import hashlib

__all__ = ["is_bitcoin_address", "is_ethereum_address", "is_monero_address", "keccak256", "to_checksum_address"]

# --------------------------------------------------------------------------- bitcoin

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}
# P2PKH (version 0x00, "1…") and P2SH (0x05, "3…") mainnet version bytes.
_LEGACY_VERSIONS = frozenset((0x00, 0x05))
# 1 version byte + 20-byte hash160 + 4-byte checksum.
_LEGACY_LENGTH = 25

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(_BECH32_CHARSET)}
_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONST = 1  # BIP-173, witness version 0
_BECH32M_CONST = 0x2BC830A3  # BIP-350, witness versions 1..16
_MAINNET_HRP = "bc"
# hrp "bc" + separator "1" + 6 checksum chars leave 82 of the 90 allowed for data.
_BECH32_MAX_LENGTH = 90


def _b58_number(s: str) -> int | None:
    """The number *s* writes in base58, None when it holds another character."""
    num = 0
    index = _B58_INDEX
    for char in s:
        digit = index.get(char)
        if digit is None:
            return None
        num = num * 58 + digit
    return num


def _is_legacy_address(s: str) -> bool:
    if not 26 <= len(s) <= 35 or s[0] not in "13":
        return False
    num = _b58_number(s)
    if num is None or num >> (8 * _LEGACY_LENGTH):
        return False
    raw = num.to_bytes(_LEGACY_LENGTH, "big")
    # Base58check encodes each leading zero byte as a leading "1"; requiring the
    # counts to match rejects non-canonical strings that decode to the same bytes.
    if len(s) - len(s.lstrip("1")) != _LEGACY_LENGTH - len(raw.lstrip(b"\0")):
        return False
    if raw[0] not in _LEGACY_VERSIONS:
        return False
    digest = hashlib.sha256(hashlib.sha256(raw[:-4]).digest()).digest()
    return digest[:4] == raw[-4:]


# XOR of the generators selected by each possible 5-bit "top" value, so the
# polymod does one table look-up per character instead of five bit tests.
_BECH32_TOP_TABLE = tuple(
    functools.reduce(lambda acc, i: acc ^ (_BECH32_GEN[i] if top >> i & 1 else 0), range(5), 0)
    for top in range(32)
)


def _bech32_polymod(values: list[int]) -> int:
    table = _BECH32_TOP_TABLE
    chk = 1
    for value in values:
        chk = ((chk & 0x1FFFFFF) << 5 ^ value) ^ table[chk >> 25]
    return chk


def _convert_5_to_8(data: list[int]) -> bytes | None:
    """Regroup 5-bit words into bytes; None if the padding is invalid (BIP-173)."""
    acc = 0
    bits = 0
    out = bytearray()
    for value in data:
        acc = (acc << 5) | value
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    # At most 4 bits of padding, and they must be zero.
    if bits >= 5 or acc & ((1 << bits) - 1):
        return None
    return bytes(out)


def _is_segwit_address(s: str) -> bool:
    if len(s) > _BECH32_MAX_LENGTH:
        return False
    lower = s.lower()
    if s != lower and s != s.upper():
        return False  # BIP-173 forbids mixed case
    hrp, sep, data_part = lower.rpartition("1")
    if not sep or hrp != _MAINNET_HRP or len(data_part) < 7:
        return False  # 1 witness-version word + 6 checksum words at least
    index = _BECH32_INDEX
    data: list[int] = []
    for char in data_part:
        digit = index.get(char)
        if digit is None:
            return False
        data.append(digit)
    # The hrp enters the checksum as its high bits, a zero, then its low bits.
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    const = _bech32_polymod(expanded + data)
    version = data[0]
    if version > 16:
        return False
    if const != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        return False
    program = _convert_5_to_8(data[1:-6])
    if program is None or not 2 <= len(program) <= 40:
        return False
    return version != 0 or len(program) in (20, 32)


def is_bitcoin_address(s: str) -> bool:
    """True if ``s`` is a mainnet Bitcoin address with a valid checksum.

    Accepts legacy base58check P2PKH (``1…``) and P2SH (``3…``) addresses and
    native segwit ``bc1`` addresses: bech32 for witness v0, bech32m for v1+ (taproot).
    """
    if not s:
        return False
    if s[0] in "13":
        return _is_legacy_address(s)
    if s[:3] in ("bc1", "BC1"):
        return _is_segwit_address(s)
    return False


# -------------------------------------------------------------------------- ethereum
# Ethereum uses the original Keccak padding (0x01), not the FIPS-202 SHA-3 padding
# (0x06) that hashlib.sha3_256 implements, so the hashes differ and we need our own.
# Only mixed-case addresses need it, so a plain-Python permutation is fine.

_MASK64 = (1 << 64) - 1
_KECCAK_RC = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip
# Rotation offsets r[x][y] for lane (x, y), lanes indexed x + 5 * y.
_KECCAK_ROT = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)
# rho and pi folded into one table, B[y, 2x + 3y] = rot(A[x, y], r[x, y]), as
# (source lane, destination lane, left shift, right shift) so the hot loop does
# no index arithmetic.
_KECCAK_RHO_PI = tuple(
    (x + 5 * y, y + 5 * ((2 * x + 3 * y) % 5), _KECCAK_ROT[x][y], 64 - _KECCAK_ROT[x][y])
    for x in range(5)
    for y in range(5)
)
_KECCAK256_RATE = 136  # bytes: 1600-bit state minus 2 * 256-bit capacity


def _keccak_f1600(lanes: list[int]) -> None:
    """The Keccak-f[1600] permutation, in place, on 25 little-endian 64-bit lanes."""
    mask = _MASK64
    rho_pi = _KECCAK_RHO_PI
    b = [0] * 25
    for rc in _KECCAK_RC:
        # theta
        c0 = lanes[0] ^ lanes[5] ^ lanes[10] ^ lanes[15] ^ lanes[20]
        c1 = lanes[1] ^ lanes[6] ^ lanes[11] ^ lanes[16] ^ lanes[21]
        c2 = lanes[2] ^ lanes[7] ^ lanes[12] ^ lanes[17] ^ lanes[22]
        c3 = lanes[3] ^ lanes[8] ^ lanes[13] ^ lanes[18] ^ lanes[23]
        c4 = lanes[4] ^ lanes[9] ^ lanes[14] ^ lanes[19] ^ lanes[24]
        d = (
            c4 ^ ((c1 << 1 | c1 >> 63) & mask),
            c0 ^ ((c2 << 1 | c2 >> 63) & mask),
            c1 ^ ((c3 << 1 | c3 >> 63) & mask),
            c2 ^ ((c4 << 1 | c4 >> 63) & mask),
            c3 ^ ((c0 << 1 | c0 >> 63) & mask),
        )
        # rho and pi
        for src, dst, left, right in rho_pi:
            lane = lanes[src] ^ d[src % 5]
            b[dst] = (lane << left | lane >> right) & mask if left else lane
        # chi
        for y in range(0, 25, 5):
            b0, b1, b2, b3, b4 = b[y : y + 5]
            lanes[y] = b0 ^ (~b1 & b2)
            lanes[y + 1] = b1 ^ (~b2 & b3)
            lanes[y + 2] = b2 ^ (~b3 & b4)
            lanes[y + 3] = b3 ^ (~b4 & b0)
            lanes[y + 4] = b4 ^ (~b0 & b1)
        # iota
        lanes[0] ^= rc


def _keccak_sponge(data: bytes, suffix: int) -> bytes:
    """256-bit-output Keccak sponge; ``suffix`` is the domain padding byte.

    0x01 gives Ethereum's Keccak-256, 0x06 gives FIPS-202 SHA3-256: the latter lets
    tests check the permutation against hashlib.
    """
    rate = _KECCAK256_RATE
    padded = bytearray(data)
    padded += b"\0" * (rate - len(padded) % rate)
    padded[len(data)] ^= suffix
    padded[-1] ^= 0x80
    lanes = [0] * 25
    for offset in range(0, len(padded), rate):
        for i in range(rate // 8):
            start = offset + 8 * i
            lanes[i] ^= int.from_bytes(padded[start : start + 8], "little")
        _keccak_f1600(lanes)
    return b"".join(lane.to_bytes(8, "little") for lane in lanes[:4])


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as used by Ethereum (pre-standard padding, unlike hashlib.sha3_256)."""
    return _keccak_sponge(data, 0x01)


_HEX_CHARS = frozenset("0123456789abcdefABCDEF")


# A donation address sits in the footer of every page of a site, and one Keccak
# costs ~150 us in pure Python, so the checksummed form is memoised.
@functools.lru_cache(maxsize=4096)
def _eip55(body: str) -> str:
    digest = keccak256(body.encode("ascii")).hex()
    # A letter is upper-cased when the matching nibble of the hash is >= 8.
    return "".join(c.upper() if h in "89abcdef" else c for c, h in zip(body, digest))


def to_checksum_address(address: str) -> str:
    """EIP-55 form of a ``0x`` + 40-hex address (case of the input is ignored)."""
    return "0x" + _eip55(address[2:].lower())


def is_ethereum_address(s: str) -> bool:
    """True if ``s`` is ``0x`` + 40 hex digits and, when mixed case, EIP-55 valid.

    All-lower and all-upper addresses carry no checksum and are accepted as is;
    a mixed-case one claims an EIP-55 checksum, so a wrong one means a typo or
    not an address at all.
    """
    if len(s) != 42 or not s.startswith("0x"):
        return False
    body = s[2:]
    if not _HEX_CHARS.issuperset(body):
        return False
    if body == body.lower() or body == body.upper():
        return True
    return to_checksum_address(s) == s


# ---------------------------------------------------------------------------- monero
# Monero's base58 is Bitcoin's alphabet applied to 8-byte blocks (11 characters
# each, a shorter last block), not to the whole number; the last 4 bytes are the
# first 4 of the Keccak-256 of the rest.  The first byte is the network's tag.

#: characters of an encoded block of 0..8 bytes
_XMR_BLOCK_CHARS = (0, 2, 3, 5, 6, 7, 9, 10, 11)
_XMR_BLOCK_BYTES = {chars: size for size, chars in enumerate(_XMR_BLOCK_CHARS)}
#: mainnet tags: standard address (18, "4..."), integrated (19, "4..."), subaddress (42, "8...")
_XMR_TAGS = {95: frozenset((18, 42)), 106: frozenset((19,))}


def _monero_b58decode(s: str) -> bytes | None:
    out = bytearray()
    for start in range(0, len(s), 11):
        block = s[start : start + 11]
        size = _XMR_BLOCK_BYTES.get(len(block))
        if not size:
            return None
        num = _b58_number(block)
        if num is None or num >> (8 * size):
            return None  # not base58, or overflows its block: not an encoding
        out += num.to_bytes(size, "big")
    return bytes(out)


def is_monero_address(s: str) -> bool:
    """True if ``s`` is a mainnet Monero address with a valid checksum: standard
    (95 characters, ``4...``), subaddress (95, ``8...``) or integrated (106, ``4...``)."""
    tags = _XMR_TAGS.get(len(s))
    if tags is None or s[0] not in "48":
        return False
    raw = _monero_b58decode(s)
    if raw is None or raw[0] not in tags:
        return False
    return keccak256(raw[:-4])[:4] == raw[-4:]
