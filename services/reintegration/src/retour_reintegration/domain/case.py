"""A reintegration case: opened when a returnee is registered, corrected or transferred with the
person (returnee.updated), assigned to a case worker, closed by a case worker (and reopened), or
closed as a duplicate registration when the registration is merged into the person's earlier one
(returnee.merged)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from uuid import UUID

from retour_contracts import (
    ClosureReason,
    MaliRegion,
    ReceptionCentre,
    RegistrationFacts,
    Vulnerability,
)
from retour_reintegration.domain.corrections import CaseFacts, Correction
from retour_reintegration.domain.errors import CaseClosed, CaseMerged, CaseOpen
from retour_reintegration.domain.merges import Merge

__all__ = ["Case", "CaseStatus", "ClosureReason"]
# ClosureReason is the contract's (case.closed carries it); still importable from here.


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Case:
    returnee_id: UUID
    # The facts as they are now: the registration's, corrected. The centre decides who may
    # see and act on the case, so a transfer moves the case with the person.
    reception_centre: ReceptionCentre
    region_of_origin: MaliRegion
    arrival_date: date
    registered_at: datetime
    as_registered: CaseFacts
    """The facts as registered, which the corrections are applied to, in version order."""
    status: CaseStatus = CaseStatus.OPEN
    closure_reason: ClosureReason | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    merged_into: UUID | None = None
    """The registration the person is counted as, when this one was merged into it: that
    registration's case holds what was granted under this one, and serves the person."""
    assigned_to: str | None = None
    """The case worker who has the case (a token subject); None: nobody yet."""
    vulnerabilities: tuple[Vulnerability, ...] = ()
    """The vulnerabilities screened at registration (those found later are the assessments')."""

    @classmethod
    def open_for(cls, registration: RegistrationFacts) -> Case:
        # Deliberately not copied: names, date of birth, phone, national id, consents.
        facts = CaseFacts(
            reception_centre=registration.reception_centre,
            region_of_origin=registration.region_of_origin,
            arrival_date=registration.arrival_date,
        )
        return cls(
            returnee_id=registration.returnee_id,
            reception_centre=facts.reception_centre,
            region_of_origin=facts.region_of_origin,
            arrival_date=facts.arrival_date,
            registered_at=registration.registered_at,
            as_registered=facts,
            vulnerabilities=tuple(registration.vulnerabilities),
        )

    def corrected(self, corrections: Iterable[Correction]) -> Case:
        """The case with its facts recomputed from the registration's and every correction
        received so far (``corrections`` is all of them, not only the new ones): an older
        version read late, or one read twice, changes nothing. Open or closed alike: a closed
        case still belongs to the centre the person is at now."""
        mine = [c for c in corrections if c.returnee_id == self.returnee_id]
        facts = self.as_registered.corrected(mine)
        return replace(
            self,
            reception_centre=facts.reception_centre,
            region_of_origin=facts.region_of_origin,
            arrival_date=facts.arrival_date,
        )

    @property
    def arrived_at(self) -> datetime:
        """Arrival is known to the day; its start (UTC, which is Mali's time) is used, so the
        72-hour flag never misses a late grant."""
        return datetime.combine(self.arrival_date, time.min, tzinfo=UTC)

    @property
    def is_open(self) -> bool:
        return self.status is CaseStatus.OPEN

    def check_is_open(self) -> None:
        if self.merged_into is not None:
            # Closed like any other, but the client can do better than stop: act on the
            # person's case instead.
            raise CaseMerged({self.returnee_id: self.merged_into})
        if not self.is_open:
            raise CaseClosed([self.returnee_id])

    def merged(self, merge: Merge) -> Case:
        """The case of a registration found to be a duplicate (``merge`` as kept: its
        ``merged_into`` is the person's registration now, its time and author the first
        decision's). An open case closes as a duplicate registration, when and by whom the
        merge was decided; a case a case worker had closed already keeps that closure, their
        record of what happened. Either way it points to the person's case from now on."""
        if merge.returnee_id != self.returnee_id:
            raise ValueError("the merge is another registration's")
        if not self.is_open:
            return replace(self, merged_into=merge.merged_into)
        return replace(
            self,
            status=CaseStatus.CLOSED,
            closure_reason=ClosureReason.DUPLICATE_REGISTRATION,
            closed_at=merge.merged_at,
            closed_by=merge.merged_by,
            merged_into=merge.merged_into,
        )

    def close(self, reason: ClosureReason, *, at: datetime, by: str) -> Case:
        self.check_is_open()
        return replace(
            self, status=CaseStatus.CLOSED, closure_reason=reason, closed_at=at, closed_by=by
        )

    def reopen(self) -> Case:
        """The case open again, its closure forgotten (the caller keeps it in the history). A
        duplicate registration's case stays closed: the person's case is the one to reopen."""
        if self.merged_into is not None:
            raise CaseMerged({self.returnee_id: self.merged_into})
        if self.is_open:
            raise CaseOpen(self.returnee_id)
        return replace(
            self, status=CaseStatus.OPEN, closure_reason=None, closed_at=None, closed_by=None
        )

    def assigned(self, case_worker: str) -> Case:
        return replace(self, assigned_to=case_worker)
