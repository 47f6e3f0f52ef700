from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from retour_kit.settings import ConsumingSettings
from retour_reintegration.domain.follow_up import DEFAULT_PERIODS, parse_periods


class Settings(ConsumingSettings):
    service_name: str = "retour-reintegration"
    http_port: int = 8002
    consumer_group: str = Field(default="reintegration", min_length=1)
    reintegration_budget_xof: Decimal = Field(
        default=Decimal("1000000"),
        gt=0,
        description="Cash and business start-up grants one returnee may receive, in XOF; only"
        " a supervisor or an admin may grant beyond it.",
    )
    immediate_care_check_seconds: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="How often the open cases at risk of missing immediate care are counted"
        " (the reintegration_immediate_care_pending gauge and its alerts).",
    )
    follow_up_periods_months: Annotated[tuple[int, ...], NoDecode] = Field(
        default=DEFAULT_PERIODS,
        description="When a new case's monitoring visits fall due, in calendar months after"
        ' arrival, e.g. "3,6,12": ascending, each 1 to 60. Cases opened before a change keep'
        " their visits.",
    )

    @field_validator("follow_up_periods_months", mode="before")
    @classmethod
    def _periods(cls, value: Any) -> tuple[int, ...]:
        return parse_periods(value if isinstance(value, str) else tuple(value))
