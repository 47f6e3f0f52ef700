"""Response bodies of referrals."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from retour_contracts import ReferralStatus
from retour_reintegration.domain.referral import Referral
from retour_reintegration.views import examples as ex
from retour_reintegration.views.examples import examples


class ReferralStep(BaseModel):
    """A status the referral took: who recorded it, when."""

    model_config = ConfigDict(json_schema_extra=examples(ex.referral_step))

    status: ReferralStatus
    changed_at: datetime
    changed_by: str


class ReferralView(Referral):
    model_config = ConfigDict(json_schema_extra=examples(ex.sent_referral, ex.accepted_referral))

    history: list[ReferralStep]
    """Oldest first; the first is ``sent``, the last the referral's status."""


class ReferralList(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.referral_list))

    items: list[ReferralView]


class ReferralPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=examples(ex.referral_page))

    items: list[ReferralView]
    next_cursor: str | None
