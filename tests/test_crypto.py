from __future__ import annotations

import hashlib

import pytest

from darkcrawl.links.crypto import (
    _keccak_sponge,
    is_bitcoin_address,
    is_ethereum_address,
    is_monero_address,
    keccak256,
    to_checksum_address,
)

GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
P2SH = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
BECH32 = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TAPROOT = "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"


def _swap(s: str, index: int, alphabet: str) -> str:
    """Change one character to another one of the same alphabet."""
    char = s[index]
    other = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
    return s[:index] + other + s[index + 1 :]


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        (GENESIS, True),
        (P2SH, True),
        (BECH32, True),
        (TAPROOT, True),
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", True),
        # BIP-173 / BIP-350 valid mainnet vectors.
        ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", True),
        ("bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", True),
        ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", True),
        ("BC1SW50QGDZ25J", True),
        ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", True),
        # One character changed: the checksum catches it.
        (_swap(GENESIS, 10, B58), False),
        (_swap(GENESIS, 33, B58), False),
        (_swap(P2SH, 5, B58), False),
        (_swap(BECH32, 20, BECH), False),
        (_swap(BECH32, 41, BECH), False),
        (_swap(TAPROOT, 30, BECH), False),
        # Legacy: wrong leading character, length, alphabet.
        ("2A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", False),
        (GENESIS[:-1], False),
        (GENESIS + "a", False),
        ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0", False),  # "0" is not base58
        ("1" * 34, False),
        # Testnet / other networks are not mainnet.
        ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", False),
        ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", False),
        # BIP-173 / BIP-350 invalid vectors.
        ("tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", False),  # wrong hrp
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", False),  # bech32 for v1
        ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", False),  # bech32 for v16
        ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", False),  # bech32 for v2
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", False),  # bech32m for v0
        ("BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", False),  # version 17
        ("bc1pw5dgrnzv", False),  # 1-byte program
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav", False),  # 41 bytes
        ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", False),  # v0 with a 16-byte program
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", False),  # > 4 padding bits
        ("bc1gmk9yu", False),  # empty data section
        ("bc1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", False),  # mixed case
        ("bc1" + "q" * 88, False),  # longer than 90
        ("", False),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", False),
    ],
)
def test_is_bitcoin_address(address: str, valid: bool) -> None:
    assert is_bitcoin_address(address) is valid


SHA1_EMPTY = hashlib.sha1(b"").hexdigest()  # da39a3ee5e6b4b0d3255bfef95601890afd80709


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        # EIP-55 test vectors.
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", True),
        ("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", True),
        ("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", True),
        ("0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", True),
        ("0x52908400098527886E0F7030069857D2E4169EE7", True),
        ("0x8617E340B3D01FA5F11F306F4090FD50E238070D", True),
        ("0xde709f2102306220921060314715629080e2fb77", True),
        ("0x27b1fdb04752bbc536007a920d24acb045561c26", True),
        # Single-case addresses carry no checksum: accepted.
        ("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", True),
        ("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", True),
        # One letter with its case flipped: bad checksum.
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", False),
        ("0xfb6916095ca1df60bB79Ce92cE3Ea74c37c5d359", False),
        # A SHA-1 dressed up as an address with arbitrary mixed case.
        ("0x" + SHA1_EMPTY[:20].upper() + SHA1_EMPTY[20:], False),
        ("0xDa39a3ee5e6b4b0d3255bfef95601890afd80709", False),
        # Shape errors.
        (SHA1_EMPTY, False),  # no 0x
        ("0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", False),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", False),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", False),
        ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", False),
        ("", False),
    ],
)
def test_is_ethereum_address(address: str, valid: bool) -> None:
    assert is_ethereum_address(address) is valid


@pytest.mark.parametrize(
    ("data", "digest"),
    [
        (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        (b"The quick brown fox jumps over the lazy dog", "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"),
        (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
    ],
)
def test_keccak256_vectors(data: bytes, digest: str) -> None:
    assert keccak256(data).hex() == digest


@pytest.mark.parametrize("length", [0, 1, 55, 135, 136, 137, 271, 272, 273, 1000])
def test_keccak_permutation_matches_hashlib_sha3(length: int) -> None:
    # SHA3-256 is the same sponge with another padding byte: hashlib checks our
    # permutation, including multi-block absorption, at every block boundary.
    data = (bytes(range(256)) * 4)[:length]
    assert _keccak_sponge(data, 0x06) == hashlib.sha3_256(data).digest()


def test_to_checksum_address() -> None:
    assert to_checksum_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == (
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    )


# The Monero General Fund's published donation address: a standard address (tag 18).
XMR = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"


def _xmr_encode(raw: bytes) -> str:
    """Monero's block base58 (8-byte blocks, 11 characters each): to make test addresses."""
    sizes = (0, 2, 3, 5, 6, 7, 9, 10, 11)
    out = []
    for start in range(0, len(raw), 8):
        block = raw[start : start + 8]
        num, chars = int.from_bytes(block, "big"), []
        for _ in range(sizes[len(block)]):
            num, digit = divmod(num, 58)
            chars.append(B58[digit])
        out.append("".join(reversed(chars)))
    return "".join(out)


def _xmr(tag: int, body: bytes) -> str:
    data = bytes([tag]) + body
    return _xmr_encode(data + keccak256(data)[:4])


_KEYS = bytes(range(64))


@pytest.mark.parametrize(
    ("address", "valid"),
    [
        (XMR, True),
        (_xmr(42, _KEYS), True),  # a subaddress: "8..."
        (_xmr(19, _KEYS + bytes(8)), True),  # an integrated address (payment id): 106 characters
        (_swap(XMR, 50, B58), False),  # one character changed: the checksum catches it
        (_swap(XMR, 94, B58), False),
        (XMR[:-1], False),
        (XMR + "A", False),
        (_xmr(24, _KEYS), False),  # a stagenet tag: not mainnet
        (_xmr(18, _KEYS + bytes(8)), False),  # a standard tag at the integrated length
        (XMR[:40] + "0" + XMR[41:], False),  # "0" is not base58
        ("4" + "z" * 94, False),  # a block that overflows 8 bytes
        ("", False),
    ],
)
def test_is_monero_address(address: str, valid: bool) -> None:
    assert is_monero_address(address) is valid


def test_the_test_encoder_reproduces_a_real_address() -> None:
    from darkcrawl.links.crypto import _monero_b58decode

    raw = _monero_b58decode(XMR)
    assert raw is not None and len(raw) == 69 and _xmr_encode(raw) == XMR
