from datetime import date

from pydantic import Field

from retour_intake.domain.commands import DEFAULT_PROGRAMME_START
from retour_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "retour-intake"
    http_port: int = 8001
    programme_start: date = Field(
        default=DEFAULT_PROGRAMME_START,
        description="First day of the programme: an arrival before it is refused (422).",
    )
