"""Money: exact decimal amounts, serialised as JSON strings, ISO 4217 currencies."""

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from retour_contracts import Money


def test_defaults_to_xof() -> None:
    assert Money(amount=Decimal(1500)).currency == "XOF"


@pytest.mark.parametrize(
    ("amount", "wire"),
    [
        (Decimal("350000"), "350000"),
        (Decimal("1500.50"), "1500.5"),
        (Decimal("0.1"), "0.1"),
        (Decimal("1E+3"), "1000"),
        ("25000.00", "25000"),
    ],
)
def test_amount_is_a_canonical_json_string(amount: Decimal | str, wire: str) -> None:
    money = Money.model_validate({"amount": amount})
    assert json.loads(money.model_dump_json()) == {"amount": wire, "currency": "XOF"}
    assert Money.model_validate_json(money.model_dump_json()) == money


def test_python_dump_keeps_decimal() -> None:
    assert Money(amount=Decimal("12.5")).model_dump()["amount"] == Decimal("12.5")


@pytest.mark.parametrize("amount", ["0", "-5", "1.005", "NaN", "Infinity", "abc"])
def test_invalid_amounts(amount: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money.model_validate({"amount": amount})
    assert info.value.errors()[0]["loc"] == ("amount",)


@pytest.mark.parametrize("currency", ["ABC", "XXX", "XAU", "EURO", "12"])
def test_invalid_currencies(currency: str) -> None:
    with pytest.raises(ValidationError) as info:
        Money.model_validate({"amount": "10", "currency": currency})
    assert info.value.errors()[0]["loc"] == ("currency",)


def test_currency_is_upper_cased() -> None:
    assert Money.model_validate({"amount": "10", "currency": "eur"}).currency == "EUR"
