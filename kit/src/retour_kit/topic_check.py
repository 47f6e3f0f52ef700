"""The start-up check of the topics a service writes and reads: present and safely replicated.

acks=all promises nothing when a topic has one copy, or three copies and
min.insync.replicas=1: the leader acknowledges alone, and an acknowledged event (whose outbox row
the relay then deletes) is lost with that broker. So every service describes its topics when it
starts, through its own principal: the topics it produces, the ones it consumes and their
dead-letter topics. A topic missing, with fewer than three replicas or a min.insync.replicas
below two is a problem:

- in production the service refuses to start and names the topics and what is wrong;
- in development (one local broker) it logs a warning and runs.

Production is KAFKA_TOPIC_CHECK=enforce, development KAFKA_TOPIC_CHECK=warn; unset, the kit's
production signal decides: tokens from an identity provider (AUTH_JWKS_URL) rather than a
local secret. Kafka unreachable at start does not stop a service (its relay and consumer wait
for the broker, its HTTP API does not need it): the check is then skipped with a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from retour_contracts import EventSpec
from retour_contracts.catalog import CATALOG
from retour_kit.kafka_security import kafka_options
from retour_kit.settings import ConsumingSettings, ServiceSettings
from retour_kit.topics import SAFE_MIN_INSYNC_REPLICAS, SAFE_REPLICATION

log = structlog.get_logger(__name__)

MIN_INSYNC = "min.insync.replicas"
UNKNOWN_TOPIC = 3
TOPIC_AUTHORIZATION_FAILED = 29


@dataclass(frozen=True)
class TopicState:
    """What the cluster says about one topic."""

    name: str
    exists: bool = True
    visible: bool = True
    """False: the principal may not describe it (an ACL is missing, or the topic is)."""
    replication_factor: int = 0
    """The smallest replica count over the topic's partitions."""
    min_insync_replicas: int | None = None


class UnsafeTopics(RuntimeError):
    """A topic the service uses would lose acknowledged events, or does not exist."""


def topic_problems(
    states: Iterable[TopicState],
    *,
    replication: int = SAFE_REPLICATION,
    min_insync_replicas: int = SAFE_MIN_INSYNC_REPLICAS,
) -> list[str]:
    """One line per topic that is not safe to run on, in the order given."""
    problems: list[str] = []
    for state in states:
        if not state.exists:
            problems.append(f"{state.name}: missing (create it: python -m retour_kit.topics)")
        elif not state.visible:
            problems.append(f"{state.name}: missing, or this service may not describe it (ACLs)")
        else:
            wrong = []
            if state.replication_factor < replication:
                wrong.append(f"replication factor {state.replication_factor} < {replication}")
            isr = state.min_insync_replicas
            if isr is None or isr < min_insync_replicas:
                shown = "unknown" if isr is None else isr
                wrong.append(f"{MIN_INSYNC} {shown} < {min_insync_replicas}")
            if wrong:
                problems.append(f"{state.name}: {', '.join(wrong)}")
    return problems


def topics_in_use(service: str, consumed: Iterable[str], *, produces: bool) -> list[str]:
    """The topics a service produces (the catalogue's), those it reads, their dead letters."""
    produced = {spec.topic for spec in CATALOG if spec.producer == service} if produces else set()
    read = set(consumed)
    return sorted(produced | read | {f"{topic}.dlq" for topic in read})


def consumed_topics(settings: ServiceSettings, consumes: Sequence[EventSpec[Any]]) -> list[str]:
    """Where the service reads each consumed event (a setting may point it at a copy)."""
    if isinstance(settings, ConsumingSettings):
        return [settings.topic_of(spec) for spec in consumes]
    return [spec.topic for spec in consumes]


def enforced(settings: ServiceSettings) -> bool:
    if settings.kafka_topic_check is not None:
        return settings.kafka_topic_check == "enforce"
    # Production: tokens from an identity provider alone. The local stack with Keycloak also
    # takes `make token`'s, and runs a single broker.
    return settings.auth_jwks_url is not None and settings.auth_jwt_secret is None


async def describe_topics(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[TopicState]:
    """The topics as ``admin``'s principal sees them (a started client)."""
    described = {t["topic"]: t for t in await admin.describe_topics(list(topics))}
    present = [name for name in topics if described[name]["error_code"] == 0]
    isr = await _min_insync_replicas(admin, present) if present else {}
    states = []
    for name in topics:
        error = described[name]["error_code"]
        replicas = [len(p["replicas"]) for p in described[name]["partitions"]]
        states.append(
            TopicState(
                name,
                exists=error != UNKNOWN_TOPIC,
                visible=error == 0,
                replication_factor=min(replicas, default=0),
                min_insync_replicas=isr.get(name),
            )
        )
    return states


async def _min_insync_replicas(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, {MIN_INSYNC: None}) for t in topics]
    values: dict[str, int] = {}
    for response in await admin.describe_configs(resources):
        for error_code, _, _, name, entries in response.resources:
            for entry in entries if error_code == 0 else ():
                if entry[0] == MIN_INSYNC:
                    values[name] = int(entry[1])
    return values


async def check_topics(
    bootstrap: str, topics: Sequence[str], *, enforce: bool, within_seconds: float = 15.0
) -> list[str]:
    """The topics' problems, logged as a warning; raises UnsafeTopics if ``enforce``."""
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap), request_timeout_ms=5_000)
    try:
        async with asyncio.timeout(within_seconds):
            await admin.start()
            states = await describe_topics(admin, topics)
    except (KafkaError, TimeoutError) as error:
        log.warning("kafka topics not checked: broker unreachable", error=type(error).__name__)
        return []
    finally:
        await admin.close()
    problems = topic_problems(states)
    if problems and enforce:
        log.error("unsafe kafka topics: refusing to start", problems=problems)
        raise UnsafeTopics(
            "unsafe Kafka topics (events acknowledged on them could be lost): "
            + "; ".join(problems)
            + ". Fix the topics (replication 3, min.insync.replicas 2), or set"
            " KAFKA_TOPIC_CHECK=warn for a development cluster."
        )
    if problems:
        log.warning("unsafe kafka topics (development: running anyway)", problems=problems)
    return problems


async def check_service_topics(
    settings: ServiceSettings,
    *,
    service: str,
    produces: bool,
    consumes: Sequence[EventSpec[Any]],
) -> list[str]:
    """The start-up check of one service (called by the kit's runtime before it serves)."""
    topics = topics_in_use(service, consumed_topics(settings, consumes), produces=produces)
    return await check_topics(settings.kafka_bootstrap_servers, topics, enforce=enforced(settings))
