from decimal import Decimal

from pydantic import Field

from retour_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "retour-reintegration"
    http_port: int = 8002
    reintegration_budget_xof: Decimal = Field(
        default=Decimal("1000000"),
        gt=0,
        description="Cash and business start-up grants one returnee may receive, in XOF; only"
        " a supervisor or an admin may grant beyond it.",
    )
    registrations_topic: str = Field(
        default="returnee.registered",
        min_length=1,
        description="Where registrations are read from; another name reads a copy (a replay).",
    )
    consumer_group: str = Field(default="reintegration", min_length=1)
    consumer_session_timeout_ms: int = Field(
        default=10_000,
        ge=6_000,  # the broker's group.min.session.timeout.ms
        description="How long a crashed instance keeps its partitions before the group moves"
        " them to another one.",
    )
