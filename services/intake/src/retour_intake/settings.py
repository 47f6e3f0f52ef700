from datetime import date
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from retour_intake.adapters.data_keys import LocalMasterKeys, MasterKey
from retour_intake.domain.commands import DEFAULT_PROGRAMME_START
from retour_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "retour-intake"
    http_port: int = 8001
    database_schema: str = Field(
        default="intake",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema of the registry, its outbox and its keys. Only a sandbox moves"
        " it: `make bench` runs a second intake over registries of a million people there.",
    )
    programme_start: date = Field(
        default=DEFAULT_PROGRAMME_START,
        description="First day of the programme: an arrival before it is refused (422).",
    )
    master_key: SecretStr = Field(
        description=(
            "The master key that wraps every returnee's data key: `<id>:<base64 of 32 random"
            " bytes>` (e.g. `2026-11:$(head -c 32 /dev/urandom | base64)`). Losing it loses"
            " every sealed personal block on Kafka: see docs/operations.md."
        )
    )
    previous_master_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Comma-separated older master keys, same form, still unwrapping data keys until"
            " `retour-intake rewrap-keys` has moved them all to MASTER_KEY."
        ),
    )
    data_key_cache_seconds: int = Field(
        default=60,
        ge=0,
        le=60,
        description=(
            "How long a service may keep a data key it obtained. At most 60 s: an erasure must"
            " reach every holder within a minute."
        ),
    )
    expected_arrival_close_after_days: int = Field(
        default=30,
        gt=0,
        description=(
            "Days after the later of its expected date and the day its manifest was received"
            " that an expected person who never registered is closed (lapsed): their personal"
            " data and data key are destroyed."
        ),
    )
    expected_arrival_check_seconds: float = Field(
        default=3600,
        gt=0,
        description="How often each intake replica looks for expected people to close.",
    )
    expected_arrivals_max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        gt=0,
        description=(
            "The largest manifest (POST /expected-arrivals, JSON or CSV) accepted; every other"
            " route keeps HTTP_MAX_BODY_BYTES. A 5,000-person manifest is about 1.5 MB."
        ),
    )

    @field_validator("master_key")
    @classmethod
    def _master_key_readable(cls, value: SecretStr) -> SecretStr:
        MasterKey.parse(value.get_secret_value())
        return value

    @field_validator("previous_master_keys")
    @classmethod
    def _previous_keys_readable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _previous(value)
        return value

    @model_validator(mode="after")
    def _ids_distinct(self) -> Self:
        ids = [self._current().id, *(key.id for key in self._older())]
        if len(set(ids)) != len(ids):
            raise ValueError("MASTER_KEY and PREVIOUS_MASTER_KEYS repeat a master key id")
        return self

    def master_keys(self) -> LocalMasterKeys:
        return LocalMasterKeys(self._current(), self._older())

    def _current(self) -> MasterKey:
        return MasterKey.parse(self.master_key.get_secret_value())

    def _older(self) -> list[MasterKey]:
        return _previous(self.previous_master_keys) if self.previous_master_keys else []


def _previous(value: SecretStr) -> list[MasterKey]:
    return [MasterKey.parse(part) for part in value.get_secret_value().split(",") if part.strip()]
