"""What a registrar's search box may hold, and what each reading of it looks for.

One box, four readings, all tried at once: the SMS reference (the first eight hex digits of
the returnee id, printed in every SMS: "dossier A375151C"), a phone number written any common
way (+223 70 12 34 56, 0022370123456, 70-12-34-56), a national ID (NINA), or names. Name
matching itself (case, accents, spelling variants) happens in the database, through the same
``search_key`` function that indexes the names (migrations/0005_search.sql).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

import phonenumbers

from retour_intake.domain.duplicates import national_id_key

MIN_QUERY = 2
MAX_QUERY = 100
MAX_RESULTS = 20
# Eight hex digits standing alone, so that a pasted "dossier A375151C" is read as well.
_REFERENCE = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}(?![0-9A-Za-z])")
MIN_NAME_LETTERS = 3
"""Fewer letters match half the registry by trigrams and help nobody."""
_HAS_LETTER = re.compile(r"[^\W\d_]")
_LETTERS = re.compile(r"[^\W\d_]")
_HAS_DIGIT = re.compile(r"\d")
MALI = "ML"


class Match(StrEnum):
    REFERENCE = "reference"
    PHONE = "phone"
    NATIONAL_ID = "national_id"
    NAME = "name"


@dataclass(frozen=True)
class ReferenceRange:
    """Ids whose first eight hex digits are the reference: the primary key's range [low, high]."""

    low: UUID
    high: UUID


@dataclass(frozen=True)
class SearchQuery:
    text: str
    reference: ReferenceRange | None
    phone: str | None
    """E.164, as stored."""
    national_id: str | None
    names: str | None
    """The text, when it holds letters and no digit: matched by the database against the
    names."""

    @classmethod
    def read(cls, text: str) -> SearchQuery:
        text = " ".join(text.split())
        return cls(
            text=text,
            reference=_reference(text),
            phone=_phone(text),
            national_id=national_id_key(text) if _HAS_DIGIT.search(text) else None,
            names=_names(text),
        )


def _names(text: str) -> str | None:
    """The text as names: when it holds enough letters and no digit. Names hold no digits,
    and reading a NINA ("NINA00000012345") or a pasted reference as the name "nina" or
    "dossier" made the database look through much of the name index for nobody (22 ms among a
    million people, against under 1 ms for the NINA itself: docs/performance.md)."""
    if _HAS_DIGIT.search(text) or len(_LETTERS.findall(text)) < MIN_NAME_LETTERS:
        return None
    return text


def _reference(text: str) -> ReferenceRange | None:
    found = _REFERENCE.search(text)
    if found is None:
        return None
    prefix = found.group().lower()
    return ReferenceRange(UUID(prefix + "0" * 24), UUID(prefix + "f" * 24))


def _phone(text: str) -> str | None:
    if not _HAS_DIGIT.search(text) or _HAS_LETTER.search(text):
        return None
    # "00" is how an international number is dialled from Mali; phonenumbers wants a "+".
    candidate = "+" + text.lstrip()[2:] if text.lstrip().startswith("00") else text
    try:
        number = phonenumbers.parse(candidate, MALI)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
