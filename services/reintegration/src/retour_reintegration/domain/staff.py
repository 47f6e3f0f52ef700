"""Case workers as reintegration knows them.

Reintegration has no directory of staff: the identity provider has, and says in each token who
the holder is (its subject), what they may do (roles) and where they work (centres). So the
service learns its case workers from their own requests, and keeps a roster: each case worker
with the centres their latest token named and when it was seen. A case is assigned only to a
case worker on the roster at the case's centre: someone who has used reintegration there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from retour_contracts import ReceptionCentre

ROSTER_REFRESH = timedelta(hours=1)
"""A case worker already on the roster with the same centres is written again at most this
often: ``last_seen`` is for a supervisor's eyes (who is still around), not an audit trail."""


@dataclass(frozen=True)
class CaseWorkerSeen:
    subject: str
    centres: frozenset[ReceptionCentre]
    seen_at: datetime

    def same_as(self, other: CaseWorkerSeen | None) -> bool:
        """Whether recording this sighting would tell the roster nothing new."""
        return (
            other is not None
            and other.centres == self.centres
            and self.seen_at - other.seen_at < ROSTER_REFRESH
        )
