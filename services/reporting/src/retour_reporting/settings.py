"""Configuration of the reporting service, read once from the environment."""

from typing import Literal

from pydantic import Field

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
        description="Report queries run at once (their own pool); more wait for a free"
        " connection up to DATABASE_ACQUIRE_TIMEOUT_SECONDS, then get 503.",
    )
    report_plan_cache_mode: Literal["force_custom_plan", "auto", "force_generic_plan"] = Field(
        default="force_custom_plan",
        description="Postgres plan_cache_mode of the reports' connections. The default plans"
        " each execution for its real filters; the reports stay correct and bounded under"
        " the others, which exist to compare plans when diagnosing.",
    )
