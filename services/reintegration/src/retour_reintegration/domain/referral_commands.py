"""What a case worker submits about referrals."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import ConfigDict

from retour_contracts.examples import PLAN_ITEM_ID
from retour_reintegration.domain.commands import Command


class SendReferral(Command):
    """Refers an item of the agreed plan to the partner it names."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"plan_item_id": str(PLAN_ITEM_ID)}]})

    plan_item_id: UUID


class ChangeReferralStatus(Command):
    """The partner's answer (accepted, declined), then its delivery (completed)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "accepted"}]})

    status: Literal["accepted", "declined", "completed"]
