"""The real Kafka broker and PostgreSQL that integration tests run against.

By default: the native local stack that `make test` starts (deploy/local); its addresses and
credentials come from the environment, or from .local/env when run by hand after `make up`.
With RETOUR_TEST_INFRA=testcontainers and a Docker engine, Kafka (KRaft) and Postgres
containers instead. A missing stack is a failure, never a skip: a suite that silently skips its
integration tests proves nothing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVICES = ("intake", "reintegration", "notifications", "reporting")
ENV_FILE = Path(__file__).resolve().parent.parent / ".local" / "env"


@dataclass(frozen=True)
class Infra:
    admin_dsn: str
    kafka_bootstrap: str
    jwt_secret: str
    service_dsns: dict[str, str]

    def dsn(self, service: str) -> str:
        return self.service_dsns[service]


def _env_file_values() -> dict[str, str]:
    if not ENV_FILE.exists():
        return {}
    values: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _native_infra() -> Infra:
    file_values = _env_file_values()

    def need(name: str) -> str:
        value = os.environ.get(name) or file_values.get(name)
        if not value:
            pytest.fail(
                f"{name} is not set: start the local stack with `make up` (or run `make test`)",
                pytrace=False,
            )
        return value

    return Infra(
        admin_dsn=need("RETOUR_PG_ADMIN_DSN"),
        kafka_bootstrap=need("KAFKA_BOOTSTRAP_SERVERS"),
        jwt_secret=need("AUTH_JWT_SECRET"),
        service_dsns={svc: need(f"{svc.upper()}_DATABASE_URL") for svc in SERVICES},
    )


def provide_infra() -> Iterator[Infra]:
    if os.environ.get("RETOUR_TEST_INFRA", "native") == "testcontainers":
        yield from _container_infra()
    else:
        yield _native_infra()


def _container_infra() -> Iterator[Infra]:
    # Only where a Docker engine exists; imported lazily so the native path needs no Docker.
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    from retour_kit.provision import provision
    from retour_kit.topics import ensure_topics, plan_topics

    with (
        PostgresContainer("postgres:15-alpine") as pg,
        KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as kafka,
    ):
        admin = pg.get_connection_url(driver=None)
        host = admin.split("@", 1)[1].split("/", 1)[0]
        passwords = {svc: secrets.token_hex(16) for svc in SERVICES}
        asyncio.run(provision(admin, database="retour", passwords=passwords))
        bootstrap = kafka.get_bootstrap_server()
        asyncio.run(ensure_topics(bootstrap, plan_topics()))
        yield Infra(
            admin_dsn=admin.rsplit("/", 1)[0] + "/retour",
            kafka_bootstrap=bootstrap,
            jwt_secret=secrets.token_hex(32),
            service_dsns={
                svc: f"postgresql://{svc}:{pw}@{host}/retour" for svc, pw in passwords.items()
            },
        )
