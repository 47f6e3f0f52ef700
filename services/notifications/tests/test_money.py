from decimal import Decimal

import pytest

from retour_notifications.domain.money import format_money
from retour_notifications.domain.sms_text import is_gsm7


@pytest.mark.parametrize(
    ("amount", "written"),
    [
        ("350000", "350 000 FCFA"),
        (Decimal("1000"), "1 000 FCFA"),
        (999, "999 FCFA"),
        ("1250000", "1 250 000 FCFA"),
        ("75000.00", "75 000 FCFA"),
        ("1500.5", "1 500,50 FCFA"),
    ],
)
def test_cfa_francs_are_written_the_local_way(amount: str | int | Decimal, written: str) -> None:
    assert format_money(amount, "XOF") == written


def test_other_currencies_keep_their_code() -> None:
    assert format_money("1500.5", "eur") == "1 500,50 EUR"


def test_written_amounts_stay_within_the_gsm7_alphabet() -> None:
    # A no-break space would turn the whole SMS into UCS-2 and more than double its cost.
    assert is_gsm7(format_money("12345678", "XOF"))
