from datetime import date
from uuid import uuid4

from retour_intake.domain.duplicates import (
    KnownPerson,
    MatchStrength,
    PersonKeys,
    assess_duplicates,
    match_strength,
)
from retour_intake.domain.names import full_name_key, normalise_name


def keys(
    given: str = "Aïssata",
    family: str = "Koné",
    born: date | None = date(1990, 5, 1),
    birth_year: int | None = None,
    phone: str | None = None,
) -> PersonKeys:
    year = birth_year if birth_year is not None else (born.year if born else 1990)
    return PersonKeys.of(
        given_name=given, family_name=family, birth_date=born, birth_year=year, phone=phone
    )


class TestNormalisation:
    def test_case_accents_and_spacing_do_not_matter(self) -> None:
        assert normalise_name("  AÏSSATA   Koné-Traoré ") == "aissata kone traore"

    def test_word_order_does_not_matter_for_the_full_name(self) -> None:
        assert full_name_key("Koné", "Aïssata") == full_name_key("aissata", "KONE")


class TestMatchStrength:
    def test_same_name_and_date_of_birth_is_strong(self) -> None:
        assert match_strength(keys(), keys(given="AISSATA", family="kone")) is MatchStrength.STRONG

    def test_same_name_and_phone_is_strong_even_with_other_birth_dates(self) -> None:
        new = keys(born=date(1980, 1, 1), phone="+22365012345")
        old = keys(born=date(1990, 1, 1), phone="+22365012345")
        assert match_strength(new, old) is MatchStrength.STRONG

    def test_same_name_with_an_estimate_within_two_years_is_strong(self) -> None:
        estimated = keys(born=None, birth_year=1992)
        assert match_strength(estimated, keys()) is MatchStrength.STRONG

    def test_same_name_with_an_estimate_three_years_off_is_no_match(self) -> None:
        estimated = keys(born=None, birth_year=1993)
        assert match_strength(estimated, keys()) is None

    def test_same_name_and_close_but_different_dates_of_birth_is_weak(self) -> None:
        assert match_strength(keys(born=date(1991, 2, 2)), keys()) is MatchStrength.WEAK

    def test_same_common_name_with_distant_dates_of_birth_is_no_match(self) -> None:
        assert match_strength(keys(born=date(1970, 2, 2)), keys()) is None

    def test_same_phone_under_another_name_is_weak(self) -> None:
        new = keys(given="Moussa", family="Traoré", phone="+22365012345")
        assert match_strength(new, keys(phone="+22365012345")) is MatchStrength.WEAK

    def test_same_family_name_and_date_of_birth_is_weak(self) -> None:
        assert match_strength(keys(given="Awa"), keys()) is MatchStrength.WEAK


def test_assessment_separates_strong_and_weak_matches() -> None:
    strong, weak, other = uuid4(), uuid4(), uuid4()
    known = [
        KnownPerson(strong, keys()),
        KnownPerson(weak, keys(given="Awa")),
        KnownPerson(other, keys(given="Moussa", family="Traoré", born=date(1960, 1, 1))),
    ]
    assessment = assess_duplicates(keys(), known)
    assert assessment.strong == (strong,)
    assert assessment.weak == (weak,)
    assert assessment.all_matches == (strong, weak)
