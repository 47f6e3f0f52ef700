"""How long an SMS is, in what it costs: segments of GSM-7 septets or UCS-2 code units.

A message whose characters all belong to the GSM 03.38 alphabet travels as GSM-7: 160 septets
fit in one SMS; a longer one is split into parts of 153 (7 septets go to the concatenation
header). The extension table (``^{}\\[~]|€`` and form feed) costs two septets per character,
an escape and the character, and a pair is never split across parts. Any other character
switches the *whole* message to UCS-2: 70 code units in one SMS, 67 per part, and a character
outside the Basic Multilingual Plane (an emoji) takes two units that are never split either.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# Characters a French or English text commonly holds that GSM-7 lacks, and their closest
# GSM-7 spelling; accented letters are handled generically (their base letter).
_GSM7_SPELLING = {
    "\u2019": "'",
    "\u2018": "'",
    "\u201c": '"',
    "\u201d": '"',
    "«": '"',
    "»": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "œ": "oe",
    "Œ": "OE",
    "\u00a0": " ",
    "\u202f": " ",
}
ELLIPSIS = "..."


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsLength:
    encoding: Encoding
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2)."""
    segments: int


@dataclass(frozen=True)
class FittedSms:
    text: str
    length: SmsLength
    adjustment: Literal["none", "transliterated", "shortened"]


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def measure(text: str) -> SmsLength:
    if is_gsm7(text):
        costs = [2 if char in GSM7_EXTENSION else 1 for char in text]
        return SmsLength(Encoding.GSM7, sum(costs), _segments(costs, single=160, part=153))
    costs = [len(char.encode("utf-16-be")) // 2 for char in text]
    return SmsLength(Encoding.UCS2, sum(costs), _segments(costs, single=70, part=67))


def _segments(costs: Iterable[int], *, single: int, part: int) -> int:
    costs = list(costs)
    if sum(costs) <= single:
        return 1
    # Fill parts greedily: a character (an escape pair, a surrogate pair) that does not fit
    # whole in the current part starts the next one, as phones and gateways split.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def to_gsm7(text: str) -> str:
    """``text`` spelled with GSM-7 characters only: accents dropped where GSM-7 lacks the
    accented letter (ê -> e, ç -> c, ï -> i), typographic punctuation made plain, and
    anything else replaced by ``?``."""
    return "".join(_gsm7_spelling(char) for char in text)


def _gsm7_spelling(char: str) -> str:
    if char in GSM7_BASIC or char in GSM7_EXTENSION:
        return char
    if char in _GSM7_SPELLING:
        return _GSM7_SPELLING[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and is_gsm7(base) else "?"


def fit(text: str, max_segments: int) -> FittedSms:
    """``text`` within ``max_segments``: as written when it fits (UCS-2 keeps every accent);
    else spelled in GSM-7, which holds more than twice as many characters per part; else
    shortened at a word boundary and marked with an ellipsis."""
    length = measure(text)
    if length.segments <= max_segments:
        return FittedSms(text, length, "none")
    plain = to_gsm7(text)
    length = measure(plain)
    if length.segments <= max_segments:
        return FittedSms(plain, length, "transliterated")
    shortened = _shorten(plain, max_segments)
    return FittedSms(shortened, measure(shortened), "shortened")


def _shorten(gsm7_text: str, max_segments: int) -> str:
    words = gsm7_text.split(" ")
    kept: list[str] = []
    for word in words:
        candidate = " ".join([*kept, word]) + ELLIPSIS
        if measure(candidate).segments > max_segments:
            break
        kept.append(word)
    if not kept:  # a single word longer than the budget: cut inside it
        cut = gsm7_text
        while cut and measure(cut + ELLIPSIS).segments > max_segments:
            cut = cut[:-1]
        return cut + ELLIPSIS
    return " ".join(kept).rstrip(" ,;:") + ELLIPSIS
