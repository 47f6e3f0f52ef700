"""Key indicators of a cohort: returnees who arrived in the period (and match the filters),
followed through the aid and activities recorded for them so far."""

from __future__ import annotations

from dataclasses import dataclass

from retour_reporting.domain.disclosure import is_small_cell

SHARE_DECIMALS = 4
HOURS_DECIMALS = 2


@dataclass(frozen=True)
class Share:
    people: int
    of: int

    @property
    def value(self) -> float | None:
        return round(self.people / self.of, SHARE_DECIMALS) if self.of else None

    @property
    def small(self) -> bool:
        return is_small_cell(self.people) or is_small_cell(self.of)


@dataclass(frozen=True)
class CohortOutcomes:
    """Counts of cohort members; each returnee counts once per indicator."""

    cohort: int
    aided: int
    immediate_within_72h: int
    """Received immediate-phase aid within 72 hours of the start of their arrival day."""
    reintegration_aided: int
    with_activity: int
    aided_with_activity: int
    median_hours_to_first_aid: float | None
    """Over the aided members: hours from the start of the arrival day to their first aid."""

    @property
    def immediate_assistance_72h(self) -> Share:
        return Share(self.immediate_within_72h, self.cohort)

    @property
    def reintegration_aid(self) -> Share:
        return Share(self.reintegration_aided, self.cohort)

    @property
    def launched_activity(self) -> Share:
        return Share(self.with_activity, self.cohort)

    @property
    def median_is_small(self) -> bool:
        return is_small_cell(self.aided)

    def funnel(self) -> list[tuple[str, int]]:
        """Registered, then aided, then aided *and* in a launched activity: each stage is a
        subset of the one before (unlike ``launched_activity``, which ignores aid)."""
        return [
            ("registered", self.cohort),
            ("aided", self.aided),
            ("activity_launched", self.aided_with_activity),
        ]


@dataclass(frozen=True)
class KpiReport:
    overall: CohortOutcomes
    by_centre: dict[str, CohortOutcomes]
