"""A host's page -> the signatures that tell its clones and mirrors.

* **favicon**: Shodan's ``http.favicon.hash``, MurmurHash3 (x86, 32-bit, signed)
  of the icon's bytes base64-encoded *with* a newline every 76 characters and at
  the end (``base64.encodebytes``): the number an analyst pastes into Shodan.
* **image**: a perceptual hash (``imagehash.phash``, 64 bits) of the top of the
  screenshot, one viewport (width x 9/16 of it): a full-page screenshot squashed
  to 32x32 would depend on the page's length, which a clone's extra line changes.
* **text**: a 64-bit simhash of the visible text's word pairs.  Simhash rather
  than TLSH: its distance is a Hamming distance over 64 bits, so the same
  LSH buckets as the image hash find candidate pairs (TLSH's distance cannot be
  bucketed that way), it needs no minimum input (TLSH refuses texts under 50
  bytes, and onion login pages have a dozen words), and it costs no dependency.
  Words holding a digit and words longer than 24 characters (addresses, onion
  names, prices, counters, dates) are left out: a clone that only changed the
  payment address has the text of its original.
* **title**: the title, case-folded and with its white space collapsed.

Pure functions; numpy, Pillow and imagehash are imported on first use only (a
crawl that never signs a page never loads them).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import unicodedata
from collections import Counter
from typing import Any

#: Shodan's hash is signed; 64-bit hashes are kept as 16 hex digits (both SQL dialects)
HASH_BITS = 64
#: characters of visible text signed (a root page longer than this is signed by its start)
MAX_TEXT = 50_000
#: the screenshot's top that is hashed: its width times this (a 1280x720 viewport)
VIEWPORT_RATIO = 9 / 16
#: pixels of a screenshot past which it is not decoded (Chromium's are capped at 1280 x 12,000)
MAX_PIXELS = 40_000_000

_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_LONGEST_WORD = 24
_SPACE = re.compile(r"\s+")


def favicon_hash(data: bytes) -> int:
    """Shodan's ``http.favicon.hash`` of an icon's bytes."""
    import mmh3

    return int(mmh3.hash(base64.encodebytes(data)))


def title_key(title: str | None) -> str | None:
    """*title* as compared: NFKC, case-folded, white space collapsed; None when empty."""
    if not title:
        return None
    key = _SPACE.sub(" ", unicodedata.normalize("NFKC", title).casefold()).strip()
    return key or None


def text_words(text: str) -> list[str]:
    """The words of *text* that sign it (see the module's note on what is left out)."""
    return [w for w in _WORD.findall(text[:MAX_TEXT].casefold())
            if len(w) <= _LONGEST_WORD and not _DIGIT.search(w)]


def text_features(text: str) -> Counter[str]:
    """Word pairs, counted (a text of one word: that word)."""
    words = text_words(text)
    if len(words) < 2:
        return Counter(words)
    return Counter(f"{a} {b}" for a, b in zip(words, words[1:]))


def _feature_hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")


def text_simhash(text: str | None) -> tuple[int | None, int]:
    """(simhash of *text*, how many distinct features made it); (None, 0) for no text.

    Each feature votes with its count on each of the 64 bits of its own hash;
    the sign of each bit's sum is the bit.  numpy does the 64 x features votes."""
    features = text_features(text or "")
    if not features:
        return None, 0
    import numpy as np

    hashes = np.array([_feature_hash(f) for f in features], dtype=np.uint64)
    weights = np.array(list(features.values()), dtype=np.int64)
    shifts = np.arange(HASH_BITS, dtype=np.uint64)
    bits = ((hashes[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.int64)
    votes = (weights[:, None] * (2 * bits - 1)).sum(axis=0)
    value = 0
    for bit in np.flatnonzero(votes > 0):
        value |= 1 << int(bit)
    return value, len(features)


def image_hash(png: bytes, ratio: float | None = VIEWPORT_RATIO) -> int | None:
    """The pHash of a screenshot's top (width x *ratio*; None: the whole image),
    None when the bytes are no image Pillow can read."""
    import imagehash
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(png)) as image:
            width, height = image.size
            if not width or not height or width * height > MAX_PIXELS:
                return None
            if ratio is not None and height > width * ratio:
                image = image.crop((0, 0, width, max(1, round(width * ratio))))
            digest: Any = imagehash.phash(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return int(str(digest), 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def to_hex(value: int | None) -> str | None:
    return None if value is None else f"{value:016x}"


def from_hex(text: str | None) -> int | None:
    return None if not text else int(text, 16)
