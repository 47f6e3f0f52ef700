"""Categories reports disaggregate by, derived from event fields."""

from enum import StrEnum


class AgeGroup(StrEnum):
    """IOM's published age bands; the only form in which reporting keeps a person's age."""

    CHILD = "0-17"
    ADULT = "18-44"
    OLDER = "45+"


def age_group(age_years: int) -> AgeGroup:
    if age_years < 18:
        return AgeGroup.CHILD
    if age_years < 45:
        return AgeGroup.ADULT
    return AgeGroup.OLDER
