"""Response bodies of referrals."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from retour_contracts import ReferralStatus
from retour_reintegration.domain.referral import Referral


class ReferralStep(BaseModel):
    """A status the referral took: who recorded it, when."""

    status: ReferralStatus
    changed_at: datetime
    changed_by: str


class ReferralView(Referral):
    history: list[ReferralStep]
    """Oldest first; the first is ``sent``, the last the referral's status."""


class ReferralList(BaseModel):
    items: list[ReferralView]


class ReferralPage(BaseModel):
    items: list[ReferralView]
    next_cursor: str | None
