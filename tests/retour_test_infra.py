"""The real Kafka broker and PostgreSQL that integration tests run against.

By default: the native local stack that `make test` starts (deploy/local); its addresses and
credentials come from the environment, or from .local/env when run by hand after `make up`.
Its Kafka requires SASL: the tests authenticate as the operator principal (a super user: they
create throwaway topics and groups), except the ACL tests, which use the services' principals.
With RETOUR_TEST_INFRA=testcontainers and a Docker engine, Kafka (KRaft) and Postgres
containers instead. A missing stack is a failure, never a skip: a suite that silently skips its
integration tests proves nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import functools
import inspect
import os
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

import httpx
import pytest

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from retour_kit.consuming import EventConsumer

SERVICES = ("intake", "reintegration", "notifications", "reporting")
PARTNERS = ("partner-example",)
KEYCLOAK_SECRETS = (
    "KC_BOOTSTRAP_ADMIN_PASSWORD",
    "RETOUR_KEYCLOAK_DEMO_PASSWORD",
    "RETOUR_KEYCLOAK_PARTNER_SECRET",
    "RETOUR_KEYCLOAK_REPORTING_SECRET",
)
"""The partners' principals `make up` creates (retour_contracts.catalog.PARTNERS)."""


async def _fresh_idempotency_key(request: httpx.Request) -> None:
    if request.method in ("POST", "PATCH") and "Idempotency-Key" not in request.headers:
        request.headers["Idempotency-Key"] = str(uuid.uuid4())


FRESH_IDEMPOTENCY_KEYS: dict[str, list[Callable[..., Any]]] = {"request": [_fresh_idempotency_key]}
"""httpx event hooks: a POST or PATCH sent without an Idempotency-Key gets a fresh one, as
every client of retour sends one (demo/). Tests of the key itself send their own, and the test
of the 428 uses a client without these hooks."""
ENV_FILE = Path(__file__).resolve().parent.parent / ".local" / "env"
T = TypeVar("T")


@dataclass(frozen=True)
class KafkaPrincipal:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Infra:
    admin_dsn: str
    kafka_bootstrap: str
    jwt_secret: str
    master_key: str
    """Intake's MASTER_KEY: an in-process intake shares the running one's key store."""
    service_dsns: dict[str, str]
    # Stops or starts the broker, for tests of behaviour during a Kafka outage.
    kafka_power: Callable[[bool], None] | None = None
    kafka_sasl_mechanism: str | None = None
    """None: the broker takes unauthenticated clients (testcontainers)."""
    kafka_principals: dict[str, KafkaPrincipal] = field(default_factory=dict, repr=False)
    """``operator``, each service's and each partner's, by name, when the broker requires
    SASL."""
    jaeger_query_url: str | None = None
    """Jaeger's UI and HTTP API, where the running services' spans are (None: tracing off)."""
    keycloak_realm_url: str | None = None
    """The running Keycloak's realm `retour` (None: RETOUR_KEYCLOAK=off, or testcontainers)."""
    keycloak_secrets: dict[str, str] = field(default_factory=dict, repr=False)
    """Keycloak's administrator password, the demo users' and the confidential clients'
    secrets, by their names in .local/env."""

    def dsn(self, service: str) -> str:
        return self.service_dsns[service]

    def kafka_client_options(self, principal: str = "operator") -> dict[str, Any]:
        """aiokafka keyword arguments to connect as ``principal`` (operator or a service)."""
        options: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap}
        if self.kafka_sasl_mechanism is None:
            return options
        who = self.kafka_principals[principal]
        return {
            **options,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": self.kafka_sasl_mechanism,
            "sasl_plain_username": who.username,
            "sasl_plain_password": who.password,
        }

    def set_kafka_running(self, running: bool) -> None:
        if self.kafka_power is None:
            raise AssertionError("this test infrastructure cannot stop and start Kafka")
        self.kafka_power(running)


def _native_kafka_power(running: bool) -> None:
    script = Path(__file__).resolve().parent.parent / "deploy" / "local" / "kafka.sh"
    subprocess.run(["bash", str(script), "start" if running else "stop"], check=True, timeout=180)


def _env_file_values() -> dict[str, str]:
    if not ENV_FILE.exists():
        return {}
    values: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _env_name(principal: str) -> str:
    return principal.upper().replace("-", "_")


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

    def have(name: str) -> str | None:
        return os.environ.get(name) or file_values.get(name)

    mechanism = have("KAFKA_SASL_MECHANISM") if have("KAFKA_SECURITY_PROTOCOL") else None
    principals = (
        {
            name: KafkaPrincipal(
                need(f"{_env_name(name)}_KAFKA_SASL_USERNAME"),
                need(f"{_env_name(name)}_KAFKA_SASL_PASSWORD"),
            )
            for name in ("operator", *SERVICES, *PARTNERS)
        }
        if mechanism
        else {}
    )
    infra = Infra(
        admin_dsn=need("RETOUR_PG_ADMIN_DSN"),
        kafka_bootstrap=need("KAFKA_BOOTSTRAP_SERVERS"),
        jwt_secret=need("AUTH_JWT_SECRET"),
        master_key=need("MASTER_KEY"),
        service_dsns={svc: need(f"{svc.upper()}_DATABASE_URL") for svc in SERVICES},
        kafka_power=_native_kafka_power,
        kafka_sasl_mechanism=mechanism,
        kafka_principals=principals,
        jaeger_query_url=have("JAEGER_QUERY_URL"),
        keycloak_realm_url=have("KEYCLOAK_REALM_URL"),
        keycloak_secrets={
            name: value for name in KEYCLOAK_SECRETS if (value := have(name)) is not None
        },
    )
    if mechanism:
        _operator_by_default(infra)
    return infra


_PLAINTEXT_ON_PURPOSE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "plaintext_on_purpose", default=False
)


@contextlib.contextmanager
def unauthenticated_kafka_clients() -> Iterator[None]:
    """Kafka clients built inside connect without credentials, as a stranger would."""
    token = _PLAINTEXT_ON_PURPOSE.set(True)
    try:
        yield
    finally:
        _PLAINTEXT_ON_PURPOSE.reset(token)


def _operator_by_default(infra: Infra) -> None:
    """Every Kafka client of the test process, and of the services it starts, is the operator
    unless it says who it is.

    The kit's clients read KAFKA_SASL_* from the environment (kafka_options), and so do the
    service processes a test starts with its environment; the tests' own aiokafka clients,
    built with a bare bootstrap address, get the operator's credentials in aiokafka's client.
    """
    from aiokafka.client import AIOKafkaClient

    from retour_kit.kafka_security import process_kafka_security

    operator = infra.kafka_client_options("operator")
    os.environ.setdefault("KAFKA_SECURITY_PROTOCOL", operator["security_protocol"])
    os.environ.setdefault("KAFKA_SASL_MECHANISM", operator["sasl_mechanism"])
    os.environ.setdefault("KAFKA_SASL_USERNAME", operator["sasl_plain_username"])
    os.environ.setdefault("KAFKA_SASL_PASSWORD", operator["sasl_plain_password"])
    process_kafka_security.cache_clear()
    original = AIOKafkaClient.__init__
    if getattr(original, "retour_operator_by_default", False):
        return
    credentials = {k: v for k, v in operator.items() if k != "bootstrap_servers"}

    @functools.wraps(original)
    def init(self: AIOKafkaClient, *args: Any, **kwargs: Any) -> None:
        unconfigured = kwargs.get("security_protocol", "PLAINTEXT") == "PLAINTEXT"
        if unconfigured and not _PLAINTEXT_ON_PURPOSE.get():
            kwargs.update(credentials)
        original(self, *args, **kwargs)

    init.retour_operator_by_default = True  # type: ignore[attr-defined]
    AIOKafkaClient.__init__ = init


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
            master_key=f"test:{base64.b64encode(secrets.token_bytes(32)).decode()}",
            service_dsns={
                svc: f"postgresql://{svc}:{pw}@{host}/retour" for svc, pw in passwords.items()
            },
            kafka_power=lambda running: (
                kafka.get_wrapped_container().unpause()
                if running
                else kafka.get_wrapped_container().pause()
            ),
        )


class TopicProbe:
    """Reads what was appended to a topic after the probe started, across all partitions.

    Tests share the real topics, so they never assume a topic is empty: they record the end
    offsets first, act, then read from there on.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self.topic = topic
        self._bootstrap = bootstrap
        # read_committed, as the services' consumers read: the outbox relays publish in
        # Kafka transactions, and a fenced leader's aborted records are not events.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            group_id=None,
            isolation_level="read_committed",
        )

    async def __aenter__(self) -> TopicProbe:
        from aiokafka import TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            [description] = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        partitions = [p["partition"] for p in description["partitions"]]
        if not partitions:
            raise AssertionError(f"topic {self.topic} does not exist")
        await self._consumer.start()
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        ends = await self._consumer.end_offsets(assigned)
        for tp, offset in ends.items():
            self._consumer.seek(tp, offset)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def collect(
        self, enough: Callable[[list[Any]], bool], *, within: float = 30.0
    ) -> list[Any]:
        """Records read until `enough(records)` holds or `within` seconds pass."""
        records: list[Any] = []
        deadline = asyncio.get_running_loop().time() + within
        while not enough(records):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            batch = await self._consumer.getmany(timeout_ms=int(min(left, 1.0) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
        return records


async def read_topic(bootstrap: str, topic: str, expected: int, *, within: float = 10) -> list[Any]:
    """Every record of ``topic`` from its beginning: at least ``expected`` of them, waited for
    up to ``within`` seconds, then whatever else arrives in a short grace (so a test that
    expects N records also sees an unexpected N+1st)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[Any] = []

    async def read_more(timeout_ms: int = 200) -> int:
        for batch in (await consumer.getmany(timeout_ms=timeout_ms)).values():
            records.extend(batch)
        return len(records)

    try:
        await eventually(
            read_more,
            until=lambda read: read >= expected,
            within=within,
            every=0,
            what=f"{expected} records on {topic}",
        )
        await read_more(timeout_ms=300)
    finally:
        await consumer.stop()
    return records


@contextlib.asynccontextmanager
async def scratch_topic(
    infra: Infra, kind: str, *, partitions: int = 3, dead_letters: bool = False
) -> AsyncIterator[str]:
    """A private topic ``test.<kind>.<random>`` (with a one-partition ``.dlq`` if asked),
    deleted afterwards: a test's records stay out of the services' topics and of each other's."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"test.{kind}.{uuid.uuid4().hex[:12]}"
    topics = [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    if dead_letters:
        topics.append(NewTopic(f"{topic}.dlq", num_partitions=1, replication_factor=1))
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(topics)
        yield topic
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics([each.name for each in topics])
        await admin.close()


@contextlib.asynccontextmanager
async def scratch_schema(infra: Infra, kind: str, ddl: str) -> AsyncIterator[str]:
    """A throwaway schema ``<kind>_<random>`` holding the tables of ``ddl``, dropped
    afterwards."""
    import asyncpg

    schema = f"{kind}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(infra.admin_dsn)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        await admin.execute(f"SET search_path = {schema}; {ddl}")
        yield schema
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


class RunningConsumer:
    """A consumer run as a task while a test needs it, stopped gracefully on exit, its metrics
    read from its own registry under ``labels`` (its group, at least)."""

    def __init__(self, consumer: EventConsumer, registry: CollectorRegistry, **labels: str):
        self.consumer = consumer
        self.registry = registry
        self._labels = labels

    async def __aenter__(self) -> Self:
        self.task = asyncio.create_task(self.consumer.run())
        return self

    async def __aexit__(self, *_: object) -> None:
        self.consumer.stop()
        async with asyncio.timeout(15):
            await self.task

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, self._labels | labels) or 0.0


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], object] = ...,
    within: float = ...,
    every: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T],
    *,
    until: Callable[[T], object] = ...,
    within: float = ...,
    every: float = ...,
    what: str = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    *,
    until: Callable[[Any], object] = bool,
    within: float = 30.0,
    every: float = 0.1,
    what: str = "",
) -> Any:
    """Observes eventually consistent state until it is what the test expects, and returns it.

    ``probe`` (a plain or an async function) reads the state: a row count, a metrics page, the
    messages a gateway received. It is called every ``every`` seconds until ``until(value)``
    holds (by default: until the value is truthy), and that value is returned, for the test to
    assert on. After ``within`` seconds, a probe still running included, an AssertionError
    names ``what`` was awaited and the last value observed. An exception raised by the probe
    is not retried: it fails the test at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = _NOTHING
    while True:
        timer = asyncio.timeout_at(deadline)
        try:
            async with timer:
                value = probe()
                if inspect.isawaitable(value):
                    value = await value
        except TimeoutError:
            if not timer.expired():
                raise  # the probe's own, not the deadline
            break
        if until(value):
            return value
        last = value
        left = deadline - loop.time()
        if left <= 0:
            break
        await asyncio.sleep(min(every, left))
    awaited = what or getattr(probe, "__qualname__", repr(probe))
    seen = "nothing observed" if last is _NOTHING else f"last observed: {_shorten(repr(last))}"
    raise AssertionError(f"waited {within:g} s for {awaited}; {seen}")


_NOTHING = object()


def _shorten(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
