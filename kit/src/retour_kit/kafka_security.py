"""How every Kafka client of a process connects: plaintext locally, SASL and TLS when managed.

A managed Kafka (Confluent Cloud, Amazon MSK, Aiven...) needs SASL credentials over TLS. The
same five variables configure every client the process opens (the outbox producer, the
consumers, their dead-letter producer, readiness probes, admin clients), so each client is
built with `kafka_options(bootstrap_servers)`. The variables are part of `ServiceSettings`
too, which validates them at start-up with the other settings.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any, Literal, Self

from aiokafka.helpers import create_ssl_context
from pydantic import Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecuritySettings(BaseSettings):
    """KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
    KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_FILE, KAFKA_TOPIC_CHECK."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # A private CA (self-managed clusters); public CAs come from the system's trust store.
    kafka_ssl_ca_file: FilePath | None = None
    kafka_topic_check: Literal["enforce", "warn"] | None = Field(
        default=None,
        description="At start-up, a topic missing or replicated unsafely (fewer than 3 replicas,"
        " min.insync.replicas below 2) stops the service (enforce) or is logged (warn). Unset:"
        " enforce when tokens come from an identity provider (AUTH_JWKS_URL, production).",
    )

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Self:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                "KAFKA_SECURITY_PROTOCOL SASL_* needs KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME"
                " and KAFKA_SASL_PASSWORD"
            )
        return self

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            cafile = str(self.kafka_ssl_ca_file) if self.kafka_ssl_ca_file else None
            options["ssl_context"] = create_ssl_context(cafile=cafile)
        if self.kafka_security_protocol.startswith("SASL_"):
            assert self.kafka_sasl_password is not None  # checked by the validator
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        return options


@functools.cache
def process_kafka_security() -> KafkaSecuritySettings:
    """Read once per process; settings validation has already rejected bad values."""
    return KafkaSecuritySettings()


def kafka_options(bootstrap_servers: str) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client: where, and how securely."""
    return {"bootstrap_servers": bootstrap_servers, **process_kafka_security().client_options()}


def adopt_principal(env_file_values: Mapping[str, str], principal: str) -> None:
    """Makes ``principal`` (``operator``, or a service) this process's Kafka identity, from a
    stack's env file (``<PRINCIPAL>_KAFKA_SASL_USERNAME`` / ``_PASSWORD``), for tools that run
    beside the services: the benchmark and the drills. Nothing changes when the stack's
    broker needs no credentials, or when the environment already names an identity."""
    protocol = env_file_values.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    if not protocol.startswith("SASL_") or os.environ.get("KAFKA_SASL_USERNAME"):
        return
    prefix = f"{principal.upper()}_KAFKA_SASL_"
    os.environ["KAFKA_SECURITY_PROTOCOL"] = protocol
    os.environ["KAFKA_SASL_MECHANISM"] = env_file_values.get("KAFKA_SASL_MECHANISM", "")
    os.environ["KAFKA_SASL_USERNAME"] = env_file_values[f"{prefix}USERNAME"]
    os.environ["KAFKA_SASL_PASSWORD"] = env_file_values[f"{prefix}PASSWORD"]
    process_kafka_security.cache_clear()
