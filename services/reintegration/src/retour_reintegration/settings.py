from decimal import Decimal

from pydantic import Field

from retour_kit.settings import ConsumingSettings


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
