"""Configuration of the reporting service, read once from the environment."""

from typing import Literal

from pydantic import Field, HttpUrl

from retour_kit.settings import ConsumingSettings


class Settings(ConsumingSettings):
    service_name: str = "retour-reporting"
    http_port: int = 8004
    database_schema: str = Field(
        default="reporting",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema of the projections. Tests give each run a private one, so a"
        " rebuild there cannot wipe the projections the running service reads.",
    )
    consumer_group: str = Field(default="reporting", min_length=1)
    dashboard_oidc_issuer: HttpUrl | None = Field(
        default=None,
        description="The OpenID Connect issuer (a Keycloak realm's URL) the dashboard signs"
        " analysts in with, by authorization code and PKCE; unset, analysts paste a token.",
    )
    dashboard_oidc_client_id: str = Field(
        default="retour-dashboard",
        min_length=1,
        description="The dashboard's public client at the issuer.",
    )
    report_statement_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A report query running longer is cancelled and answered with 503.",
    )
    report_max_concurrent: int = Field(
        default=4,
        ge=1,
        le=100,
        description="Report queries run at once (their own pool of as many connections);"
        " up to REPORT_MAX_WAITING more wait up to REPORT_QUEUE_WAIT_SECONDS, others get 503.",
    )
    report_max_waiting: int = Field(
        default=8,
        ge=0,
        le=1000,
        description="Report requests that may wait for one of the REPORT_MAX_CONCURRENT places;"
        " any more are answered 503 reports_busy with Retry-After at once.",
    )
    report_queue_wait_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a report request waits for its turn before it is answered"
        " 503 reports_busy with Retry-After.",
    )
    report_plan_cache_mode: Literal["force_custom_plan", "auto", "force_generic_plan"] = Field(
        default="force_custom_plan",
        description="Postgres plan_cache_mode of the reports' connections. The default plans"
        " each execution for its real filters; the reports stay correct and bounded under"
        " the others, which exist to compare plans when diagnosing.",
    )
