"""Service configuration read once from unprefixed environment variables.

Every service subclasses `ServiceSettings`, overriding only `service_name` and
`http_port`, and calls `load_settings` at its entry point. Field names map to
environment variable names by upper-casing (`database_url` -> `DATABASE_URL`).
"""

import os
import sys
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    HttpUrl,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.networks import UrlConstraints
from pydantic_core import ErrorDetails, MultiHostUrl
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from retour_contracts import EventSpec
from retour_kit.kafka_security import KafkaSecuritySettings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

MIN_JWT_SECRET_LENGTH = 32

# asyncpg accepts only these two schemes (not "postgresql+asyncpg").
_postgres_url = TypeAdapter(
    Annotated[MultiHostUrl, UrlConstraints(allowed_schemes=["postgres", "postgresql"])]
)


def _validated_postgres_dsn(value: str) -> str:
    try:
        url = _postgres_url.validate_python(value)
    except ValidationError as error:
        # Re-raised as a one-line ValueError so the message reads well next to the env name.
        raise ValueError(error.errors()[0]["msg"]) from None
    if not url.hosts() or not url.hosts()[0].get("host"):
        raise ValueError("a host is required, e.g. postgresql://user:password@host:5432/db")
    return str(url)


PostgresDsn = Annotated[str, AfterValidator(_validated_postgres_dsn)]


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class ServiceSettings(KafkaSecuritySettings):
    """Configuration shared by every retour service."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    DEPRECATED_NAMES: ClassVar[dict[str, str]] = {}
    """Old setting name -> the name that replaced it; the old one is still read (an alias of
    the field) for one release, and a warning says so at start."""

    @classmethod
    def deprecated_names_in_use(cls, environ: Mapping[str, str] | None = None) -> list[str]:
        # Environment names are matched regardless of case, as the settings themselves read them.
        present = {name.upper() for name in (os.environ if environ is None else environ)}
        return [
            f"{old.upper()} is read for one more release only: rename it {new.upper()}"
            for old, new in cls.DEPRECATED_NAMES.items()
            if old.upper() in present and new.upper() not in present
        ]

    service_name: str = "retour-service"
    # repr=False: the DSN usually carries the password and settings do end up in reprs.
    database_url: PostgresDsn = Field(repr=False)
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092", min_length=1)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    http_max_body_bytes: int = Field(default=64 * 1024, gt=0)
    log_level: Annotated[LogLevel, BeforeValidator(_upper)] = "INFO"
    auth_jwt_secret: SecretStr | None = None
    auth_jwks_url: HttpUrl | None = None
    auth_audience: str | None = None
    auth_issuer: str | None = None
    migrate_on_start: bool = True
    otel_exporter_otlp_endpoint: HttpUrl | None = Field(
        default=None,
        description="Where the service sends its traces, over OTLP/HTTP (Jaeger's collector,"
        " http://127.0.0.1:4318 locally); unset, no spans are recorded (retour_kit.telemetry).",
    )
    database_statement_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Postgres cancels any statement of the service that runs longer.",
    )
    database_acquire_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How long a request or a consumer waits for a free pooled connection.",
    )
    database_connect_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long opening a connection to Postgres may take before it fails.",
    )
    # The outbox relay's leadership (retour_kit.outbox): how soon it moves to another replica.
    relay_lease_seconds: float = Field(
        default=10.0,
        ge=2,
        le=20,
        description="A relay leader silent this long (frozen, cut off) loses its Postgres"
        " session, and with it the leadership, to a standby replica.",
    )
    relay_kafka_give_up_seconds: float = Field(
        default=10.0,
        ge=1,
        le=60,
        description="A relay leader that has failed to publish for this long steps down, so a"
        " replica that can reach Kafka takes over.",
    )
    # Retention (retour_kit.retention): how long the kit's tables keep a row.
    idempotency_retention_days: int = Field(
        default=7,
        ge=1,
        description="Stored Idempotency-Key responses are deleted this long after the request;"
        " a retry with the key after that is a new request. At least a day: registrars on poor"
        " connections retry for hours, and each retry must still find the first response.",
    )
    retention_interval_seconds: float = Field(
        default=3600.0,
        ge=1,
        le=86400,
        description="How often expired rows are looked for (the first pass comes soon after"
        " start); at least once a day, so no row outlives its retention by more than a day.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values and the process environment only: no .env files or secret
        # directories, so what a pod runs with is exactly what its manifest says.
        return (init_settings, env_settings)

    @field_validator("auth_jwt_secret")
    @classmethod
    def _secret_is_long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < MIN_JWT_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_JWT_SECRET_LENGTH} characters")
        return secret

    @model_validator(mode="after")
    def _a_token_key_source(self) -> Self:
        if self.auth_jwt_secret is None and self.auth_jwks_url is None:
            raise ValueError(
                "set AUTH_JWKS_URL (identity provider, RS256), or AUTH_JWT_SECRET (local"
                " HS256); both only for development (retour_kit.auth)"
            )
        return self


TopicName = Annotated[str, Field(min_length=1, max_length=249)]


def _topic_setting(event: str, old_name: str | None = None) -> Any:
    names = [f"{event.replace('.', '_')}_topic", *([old_name] if old_name else [])]
    return Field(
        default=event,
        validation_alias=AliasChoices(*names),
        description=f"Where {event} is read from; another name reads a copy (replays, tests).",
    )


class ConsumingSettings(ServiceSettings):
    """Settings of a service that consumes events: one vocabulary for all of them.

    The topic of an event is read from ``<EVENT_NAME>_TOPIC`` (``RETURNEE_REGISTERED_TOPIC``);
    the names some services used before (``REGISTRATIONS_TOPIC``, ``AID_TOPIC``,
    ``ACTIVITIES_TOPIC``) are still read for one release.
    """

    DEPRECATED_NAMES: ClassVar[dict[str, str]] = {
        "registrations_topic": "returnee_registered_topic",
        "aid_topic": "aid_granted_topic",
        "activities_topic": "activity_launched_topic",
    }

    consumer_group: str = Field(min_length=1)
    consumer_session_timeout_ms: int = Field(
        default=10_000,
        ge=6_000,
        description="How long a crashed instance keeps its partitions before the group moves them.",
    )
    consumer_max_records: int = Field(
        default=2000,
        ge=1,
        description="Records fetched per poll; each partition's share is one transaction.",
    )
    consumer_systematic_failure_threshold: int = Field(
        default=5,
        ge=2,
        description="Different records of one topic failing the same way (type and code), none"
        " applied in between, that pause the consumer instead of dead-lettering them.",
    )
    consumer_systematic_failure_window_seconds: float = Field(
        default=120.0, gt=0, description="How far back those failures count."
    )
    consumer_failure_verdict_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a partition waits when its record failed with too little evidence"
        " to tell a poison record from a broken consumer (a quiet topic); the other partitions"
        " go on, then the record is tried once more. At most the window.",
    )
    consumer_pause_probe_seconds: float = Field(
        default=5.0,
        gt=0,
        description="First wait before a paused consumer retries its first failing record;"
        " doubled after each failure up to the cap.",
    )
    consumer_pause_probe_cap_seconds: float = Field(default=120.0, gt=0)
    inbox_retention_days: int = Field(
        default=30,
        ge=1,
        description="Applied events stay in the inbox this long, so a redelivery is skipped; an"
        " event delivered again later (a consumer group reset further back) is applied again."
        " At least a day: a redelivery after a crash, a rebalance or an outage comes within"
        " minutes or hours, and must still be skipped.",
    )
    returnee_registered_topic: TopicName = _topic_setting(
        "returnee.registered", "registrations_topic"
    )
    aid_granted_topic: TopicName = _topic_setting("aid.granted", "aid_topic")
    activity_launched_topic: TopicName = _topic_setting("activity.launched", "activities_topic")
    returnee_erased_topic: TopicName = _topic_setting("returnee.erased")
    consent_changed_topic: TopicName = _topic_setting("consent.changed")
    returnee_updated_topic: TopicName = _topic_setting("returnee.updated")
    returnee_merged_topic: TopicName = _topic_setting("returnee.merged")
    case_assigned_topic: TopicName = _topic_setting("case.assigned")
    case_closed_topic: TopicName = _topic_setting("case.closed")
    case_reopened_topic: TopicName = _topic_setting("case.reopened")
    reintegration_plan_agreed_topic: TopicName = _topic_setting("reintegration.plan_agreed")
    referral_updated_topic: TopicName = _topic_setting("referral.updated")
    follow_up_scheduled_topic: TopicName = _topic_setting("follow_up.scheduled")
    reintegration_assessed_topic: TopicName = _topic_setting("reintegration.assessed")
    returnee_expected_topic: TopicName = _topic_setting("returnee.expected")
    expected_arrival_closed_topic: TopicName = _topic_setting("expected_arrival.closed")

    @model_validator(mode="after")
    def _probe_cap_covers_first_probe(self) -> Self:
        if self.consumer_pause_probe_cap_seconds < self.consumer_pause_probe_seconds:
            raise ValueError(
                "CONSUMER_PAUSE_PROBE_CAP_SECONDS must be at least CONSUMER_PAUSE_PROBE_SECONDS"
            )
        if (
            self.consumer_failure_verdict_wait_seconds
            > self.consumer_systematic_failure_window_seconds
        ):
            raise ValueError(
                "CONSUMER_FAILURE_VERDICT_WAIT_SECONDS must not exceed"
                " CONSUMER_SYSTEMATIC_FAILURE_WINDOW_SECONDS"
            )
        return self

    def topic_of(self, spec: EventSpec[Any]) -> str:
        """The topic this service reads ``spec``'s events from."""
        name = f"{spec.topic.replace('.', '_')}_topic"
        topic: str = getattr(self, name)
        return topic


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def load_settings(settings_cls: type[SettingsT]) -> SettingsT:
    """Read the environment once; on bad configuration, explain and exit with status 2."""
    try:
        return settings_cls()
    except ValidationError as error:
        service = settings_cls.model_fields["service_name"].default
        sys.stderr.write(f"{service}: invalid configuration: {describe_errors(error)}\n")
        raise SystemExit(2) from None


def describe_errors(error: ValidationError) -> str:
    """One line naming each bad variable by its environment name, never echoing values."""
    return "; ".join(_describe(detail) for detail in error.errors())


def _describe(detail: ErrorDetails) -> str:
    message = detail["msg"].removeprefix("Value error, ")
    if message[1:2].islower():  # "Field required" -> "field required", but keep "URL ..."
        message = message[:1].lower() + message[1:]
    if not detail["loc"]:
        return message
    env_name = "_".join(str(part) for part in detail["loc"]).upper()
    return f"{env_name}: {message}"
