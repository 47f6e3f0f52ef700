"""Amounts written the way people in Mali read them: ``350 000 FCFA``."""

from __future__ import annotations

from decimal import Decimal

# The CFA franc as it is written locally; other currencies keep their ISO code.
LOCAL_CURRENCY_NAMES = {"XOF": "FCFA"}


def format_money(amount: Decimal | str | int, currency: str = "XOF") -> str:
    """``350000`` XOF -> ``350 000 FCFA``; ``1500.5`` EUR -> ``1 500,50 EUR``.

    Thousands are grouped with a plain space: a no-break space is not in the GSM-7 alphabet
    and would make an SMS cost more than twice as much. XOF has no minor unit, so whole
    francs show no decimals; a fraction, should one come, is shown rather than rounded away.
    """
    value = Decimal(amount)
    whole, _, fraction = format(abs(value), "f").partition(".")
    grouped = f"{int(whole):,}".replace(",", " ")
    fraction = fraction.rstrip("0")
    number = f"{grouped},{fraction.ljust(2, '0')}" if fraction else grouped
    sign = "-" if value < 0 else ""
    return f"{sign}{number} {LOCAL_CURRENCY_NAMES.get(currency.upper(), currency.upper())}"
