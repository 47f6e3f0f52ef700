"""Reading a search box: which of reference, phone, national ID and names it may be."""

from __future__ import annotations

from uuid import UUID

import pytest

from retour_intake.domain.duplicates import KnownPerson, PersonKeys, assess_duplicates
from retour_intake.domain.search import SearchQuery


def test_a_reference_pasted_with_its_words_is_read_too() -> None:
    query = SearchQuery.read("dossier A375151C")
    assert query.reference is not None
    assert query.reference.low == UUID("a375151c-0000-0000-0000-000000000000")


@pytest.mark.parametrize("written", ["NINA00000012345", "dossier A375151C", "nina 1234-56"])
def test_a_text_with_digits_is_never_searched_as_names(written: str) -> None:
    assert SearchQuery.read(written).names is None


def test_too_few_letters_search_no_name() -> None:
    assert SearchQuery.read("Ba").names is None
    assert SearchQuery.read("Bah").names == "Bah"


def test_an_sms_reference_is_a_range_of_ids() -> None:
    query = SearchQuery.read(" A375151C ")
    assert query.reference is not None
    assert query.reference.low == UUID("a375151c-0000-0000-0000-000000000000")
    assert query.reference.high == UUID("a375151c-ffff-ffff-ffff-ffffffffffff")
    assert query.phone is None


@pytest.mark.parametrize(
    "written",
    [
        "+223 70 12 34 56",
        "0022370123456",
        "70 12 34 56",
        "70-12-34-56",
        "70.12.34.56",
        "223 70123456",
    ],
)
def test_a_malian_number_written_any_common_way_is_one_phone(written: str) -> None:
    assert SearchQuery.read(written).phone == "+22370123456"


def test_names_are_left_to_the_database_and_digits_read_as_a_national_id() -> None:
    names = SearchQuery.read("Aïssata  Kulibali")
    assert (names.names, names.phone, names.national_id, names.reference) == (
        "Aïssata Kulibali",
        None,
        None,
        None,
    )
    nina = SearchQuery.read("nina 1234-56")
    assert nina.national_id == "NINA123456" and nina.phone is None


def keys(given: str, national_id: str | None) -> PersonKeys:
    """A Diarra born in 1990, no phone: only the given name and the national ID vary."""
    return PersonKeys.of(
        given_name=given,
        family_name="Diarra",
        birth_date=None,
        birth_year=1990,
        phone=None,
        national_id=national_id,
    )


def test_the_same_national_id_is_a_strong_duplicate_whatever_the_names() -> None:
    earlier = KnownPerson(UUID(int=1), keys("Moussa", "NINA 1234-56"))
    assert assess_duplicates(keys("Awa", "nina123456"), [earlier]).strong == (UUID(int=1),)
    assert assess_duplicates(keys("Awa", "NINA999"), [earlier]).strong == ()
    assert assess_duplicates(keys("Awa", None), [earlier]).strong == ()


@pytest.mark.parametrize("placeholder", ["N/A", "0", "néant", "none", "------", "ABCDEFG"])
def test_a_placeholder_typed_for_a_missing_number_is_no_national_id(placeholder: str) -> None:
    earlier = KnownPerson(UUID(int=1), keys("Moussa", placeholder))
    assert keys("Awa", placeholder).national_id is None
    assert assess_duplicates(keys("Awa", placeholder), [earlier]).strong == ()
