"""Money: a positive decimal amount and an ISO 4217 currency.

The amount travels as a JSON *string* ("350000", "1500.5"), never as a JSON number: JSON numbers
are read as binary floats by many consumers (JavaScript, pandas), which silently loses cents.
Python callers may still pass ``int``, ``str`` or ``Decimal``.
"""

from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer, WithJsonSchema

from retour_contracts.models.types import ContractModel, CurrencyCode

AMOUNT_PATTERN = r"^(?:0|[1-9][0-9]*)(?:\.[0-9]{1,2})?$"


def _canonical(value: Decimal) -> str:
    # normalize() drops trailing zeros ("1.50" -> "1.5") and "f" avoids exponents ("1E+3"), so the
    # same amount always gives the same bytes on the wire.
    return format(value.normalize(), "f")


Amount = Annotated[
    Decimal,
    Field(gt=0, decimal_places=2),
    PlainSerializer(_canonical, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": "Positive amount as a decimal string, at most 2 decimal places.",
            "examples": ["350000", "1500.5"],
        }
    ),
]


class Money(ContractModel):
    """An amount of money. Defaults to the CFA franc (XOF), the currency of Mali."""

    amount: Amount
    currency: CurrencyCode = "XOF"
