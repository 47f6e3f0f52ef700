"""Who is about to miss, or has just missed, immediate care within 72 hours of arrival.

Reporting's KPI says afterwards how many were aided in time; this says it while something can
still be done: per reception centre, the open cases with no immediate aid whose 72 hours end
within the next day, and those whose 72 hours ended in the last week (older misses are for
the reports, not for an alert: the person has moved on to reintegration work or is gone).
Counts only, never who.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from retour_contracts import ReceptionCentre
from retour_reintegration.domain.aid import IMMEDIATE_CARE_WINDOW

DUE_SOON = timedelta(hours=24)
"""A case whose 72 hours end within this is at risk."""
STILL_ACTIONABLE = timedelta(days=7)
"""A case whose 72 hours ended less than this ago is overdue; older ones are history."""


@dataclass(frozen=True)
class CareDeadlines:
    """The arrival-time bounds of the two windows at ``now`` (arrival counts from the start of
    its day, as the 72-hour flag of a grant does: ``Case.arrived_at``)."""

    now: datetime

    @property
    def due_soon_arrived_after(self) -> datetime:
        return self.now - IMMEDIATE_CARE_WINDOW

    @property
    def due_soon_arrived_until(self) -> datetime:
        return self.now + DUE_SOON - IMMEDIATE_CARE_WINDOW

    @property
    def overdue_arrived_after(self) -> datetime:
        return self.now - IMMEDIATE_CARE_WINDOW - STILL_ACTIONABLE


@dataclass(frozen=True)
class CareAtRisk:
    """One centre's open cases without immediate aid, by window."""

    centre: ReceptionCentre
    due_within_24h: int = 0
    overdue: int = 0


def every_centre(found: list[CareAtRisk]) -> list[CareAtRisk]:
    """One figure per centre, zero where nobody is at risk, so a gauge never keeps a stale
    count for a centre that stopped appearing."""
    by_centre = {risk.centre: risk for risk in found}
    return [by_centre.get(centre, CareAtRisk(centre)) for centre in ReceptionCentre]
