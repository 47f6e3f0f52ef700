"""Reusable field types and the base class of every contract model.

Each type normalises its input (UTC, upper-case codes, E.164) so that two producers that mean the
same thing emit the same bytes, and documents its wire form in the JSON Schema.
"""

import re
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import phonenumbers
import pycountry
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

H = TypeVar("H", bound=Hashable)

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"

PERSONAL_DATA_MARK = "x-personal-data"
"""JSON Schema keyword set to ``true`` on objects that identify a person.

Tooling keys off this mark (``personal_field_names``, a later encryption step), so a personal
object is handled as one unit and never listed field by field by hand.
"""

SEALED_PERSONAL_DATA_MARK = "x-sealed-personal-data"
"""JSON Schema keyword set to ``true`` on an encrypted personal object (``SealedPersonal``):
personal data that only the holder of the returnee's data key can read."""


class ContractModel(BaseModel):
    """Base of every event and nested object.

    * ``extra="ignore"``: consumers must keep reading when a producer adds an optional field first
      (tolerant reader). Never switch to ``forbid`` on a consumed contract.
    * ``frozen``: an event is a fact; handlers must not rewrite it in place.
    * whitespace is stripped so a trailing space typed at a reception desk does not create a
      different value (names, partner, commune).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


# C0 and C1 control characters, DEL included: never part of a name, a label or an address.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RefusesControlCharacters(BaseModel):
    """Mixed into the models that take text from people (the services' API commands): a
    control character in any text field, a NUL from a fuzzer or a tab pasted from a
    spreadsheet, is refused with the field named (Postgres refuses NUL in jsonb outright).

    Not applied to the consumed contracts themselves: a consumer keeps reading what was
    published before the rule existed.
    """

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        texts = value if isinstance(value, list | tuple) else (value,)
        if any(isinstance(text, str) and _CONTROL_CHARACTERS.search(text) for text in texts):
            raise ValueError("control characters are not allowed")
        return value


def _to_utc(value: datetime) -> datetime:
    # AwareDatetime already rejected naive values; UTC makes ordering and reporting unambiguous.
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, normalised to UTC. A naive value is a validation error."""


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _known_country(value: str) -> str:
    if pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"unknown ISO 3166-1 alpha-2 country code {value!r}")
    return value


def _string_schema(pattern: str, description: str) -> WithJsonSchema:
    # Spelled out because pydantic drops the pattern from the schema once a BeforeValidator
    # normalises the input; the published schema describes the normalised (emitted) form.
    return WithJsonSchema({"type": "string", "pattern": pattern, "description": description})


COUNTRY_PATTERN = r"^[A-Z]{2}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}$"

CountryCode = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=COUNTRY_PATTERN),
    AfterValidator(_known_country),
    _string_schema(COUNTRY_PATTERN, "ISO 3166-1 alpha-2 country code, upper-case (CI, DZ, LY)."),
]

# Codes that pycountry lists under ISO 4217 but that are not money a returnee can receive:
# test and "no currency" codes, precious metals and bond-market units.
_NOT_MONEY = frozenset({"XTS", "XXX", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD"})


def _known_currency(value: str) -> str:
    if value in _NOT_MONEY or pycountry.currencies.get(alpha_3=value) is None:
        raise ValueError(f"unknown ISO 4217 currency code {value!r}")
    return value


CurrencyCode = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=CURRENCY_PATTERN),
    AfterValidator(_known_currency),
    _string_schema(CURRENCY_PATTERN, "ISO 4217 currency code (XOF: CFA franc, used in Mali)."),
]

LanguageTag = Annotated[
    str,
    BeforeValidator(_lower),
    StringConstraints(pattern=LANGUAGE_PATTERN),
    _string_schema(LANGUAGE_PATTERN, "BCP-47 primary language subtag (fr, en, bm for Bambara)."),
]


# Validation context set by parse_envelope for events read off Kafka.
FROM_THE_WIRE = "retour.from_the_wire"
_CANONICAL_E164 = re.compile(E164_PATTERN)


def _e164(value: str, info: ValidationInfo) -> str:
    if info.context and info.context.get(FROM_THE_WIRE) and _CANONICAL_E164.match(value):
        # A number on the wire was parsed, checked against its country's numbering plan and
        # normalised by the producer that accepted it. Consumers check its E.164 form only:
        # libphonenumber's full check cost two thirds of parsing an event (docs/performance.md).
        return value
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not an international phone number (E.164, e.g. +223...): {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its country code")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# The input may contain spaces or dashes ("+223 76 12 34 56"); the stored and emitted value is
# strict E.164, which is what the schema documents. The pattern is therefore not enforced before
# parsing, only published.
PhoneNumber = Annotated[
    str,
    AfterValidator(_e164),
    _string_schema(E164_PATTERN, "Phone number in E.164 form, e.g. +22365012345."),
]


def _reject_duplicates(values: list[H]) -> list[H]:
    seen: set[H] = set()
    for item in values:
        if item in seen:
            raise ValueError(f"duplicate value {str(item)!r}")
        seen.add(item)
    return values


UniqueList = Annotated[
    list[H],
    AfterValidator(_reject_duplicates),
    Field(json_schema_extra={"uniqueItems": True}),
]
"""A list whose items must be distinct (``uniqueItems`` in the schema)."""
