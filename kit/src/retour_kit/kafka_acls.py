"""Kafka ACLs: each service produces only its own events, consumes only what it subscribes to.

The broker authorizes with ``allow.everyone.if.no.acl.found=false``, so a principal can do
exactly what these rules allow. They are derived from the contracts' catalogue (the producer
and the consumers of every event), never written by hand, so a new event or a new subscriber
gets its rights from the same line that declares it. Per service principal
``User:retour-<service>``:

- WRITE, DESCRIBE and DESCRIBE_CONFIGS on the topics it produces, and on the dead-letter topic
  ``<topic>.dlq`` of each topic it consumes (its consumer parks poison records there);
- READ, DESCRIBE and DESCRIBE_CONFIGS on the topics it consumes and on those dead-letter topics
  (an operator replays them with the service's own command);
- READ on the consumer groups whose names start with ``<service>`` (``reporting``,
  ``reporting-rebuild``);
- IDEMPOTENT_WRITE on the cluster (idempotent producers on older protocol versions ask for it);
- WRITE and DESCRIBE on the transactional ids starting with ``retour-<service>`` (the outbox
  relay's transactional producer, ``retour-<schema>-outbox``).

A partner (``PARTNERS`` in the catalogue, ``User:retour-<partner>``) gets READ and DESCRIBE on
the topics it subscribes to and READ on the consumer groups whose names start with its name;
nothing else.

DESCRIBE_CONFIGS lets a service check at start-up that its topics are replicated safely
(retour_kit.topic_check). The brokers and the operator (``retour-operator``) are super users
in the brokers' configuration and need no ACL.

    python -m retour_kit.kafka_acls   # as the operator: KAFKA_BOOTSTRAP_SERVERS, KAFKA_SASL_*
"""

from __future__ import annotations

import asyncio
import enum
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest

from retour_contracts.catalog import CATALOG, PARTNERS, SERVICES, Partner
from retour_kit.kafka_security import kafka_options
from retour_kit.topics import connected_admin


class ResourceType(enum.IntEnum):
    """Kafka protocol codes (org.apache.kafka.common.resource.ResourceType)."""

    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class PatternType(enum.IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(enum.IntEnum):
    """Kafka protocol codes (org.apache.kafka.common.acl.AclOperation)."""

    READ = 3
    WRITE = 4
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10
    IDEMPOTENT_WRITE = 12


ALLOW = 3
ANY_HOST = "*"
CLUSTER_RESOURCE = "kafka-cluster"
OPERATOR_PRINCIPAL = "retour-operator"

_PRODUCE = (Operation.WRITE, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS)
_CONSUME = (Operation.READ, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS)
_IDEMPOTENT = (Operation.IDEMPOTENT_WRITE,)


@dataclass(frozen=True, order=True)
class AclRule:
    """One ALLOW binding: ``principal`` may do ``operation`` on the resource."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern: PatternType
    operation: Operation


def principal_of(service: str) -> str:
    """The Kafka user a service authenticates as (its SCRAM username)."""
    return f"retour-{service}"


def produced_topics(service: str) -> list[str]:
    return sorted({spec.topic for spec in CATALOG if spec.producer == service})


def consumed_topics(service: str) -> list[str]:
    return sorted({spec.topic for spec in CATALOG if service in spec.consumers})


def dead_letter_topics(service: str) -> list[str]:
    return sorted({spec.dlq_topic for spec in CATALOG if service in spec.consumers})


def service_rules(service: str) -> list[AclRule]:
    """Every ACL of one service principal, from the catalogue."""
    user = f"User:{principal_of(service)}"

    def grant(
        kind: ResourceType, names: Iterable[str], operations: Iterable[Operation], *, prefixed: bool
    ) -> list[AclRule]:
        pattern = PatternType.PREFIXED if prefixed else PatternType.LITERAL
        return [AclRule(user, kind, name, pattern, op) for name in names for op in operations]

    dead_letters = dead_letter_topics(service)
    writes = [*produced_topics(service), *dead_letters]
    reads = [*consumed_topics(service), *dead_letters]
    rules = [
        *grant(ResourceType.TOPIC, writes, _PRODUCE, prefixed=False),
        *grant(ResourceType.TOPIC, reads, _CONSUME, prefixed=False),
        *grant(ResourceType.CLUSTER, [CLUSTER_RESOURCE], _IDEMPOTENT, prefixed=False),
        *grant(
            ResourceType.TRANSACTIONAL_ID,
            [principal_of(service)],
            [Operation.WRITE, Operation.DESCRIBE],
            prefixed=True,
        ),
    ]
    if consumed_topics(service):
        rules += grant(ResourceType.GROUP, [service], [Operation.READ], prefixed=True)
    return sorted(set(rules))


def partner_rules(partner: Partner) -> list[AclRule]:
    """A partner's ACLs: read (and describe) the topics it subscribes to, in consumer groups
    named after it; no write anywhere, not even to a dead-letter topic, which holds records of
    every returnee."""
    user = f"User:{principal_of(partner.name)}"
    reads = [
        AclRule(user, ResourceType.TOPIC, topic, PatternType.LITERAL, op)
        for topic in partner.reads
        for op in (Operation.READ, Operation.DESCRIBE)
    ]
    group = AclRule(user, ResourceType.GROUP, partner.name, PatternType.PREFIXED, Operation.READ)
    return sorted({*reads, group})


def plan_acls(
    services: Iterable[str] = SERVICES, partners: Iterable[Partner] = PARTNERS
) -> list[AclRule]:
    return [
        *(rule for service in services for rule in service_rules(service)),
        *(rule for partner in partners for rule in partner_rules(partner)),
    ]


class AclRefused(RuntimeError):
    """The broker refused to create an ACL (the caller is not allowed to, most often)."""


async def create_acls(admin: AIOKafkaAdminClient, rules: Iterable[AclRule]) -> int:
    """Creates the ACLs (creating an existing one again is a no-op) and returns their count."""
    count = 0
    for rule in rules:
        request = CreateAclsRequest(
            resource_type=rule.resource_type,
            resource_name=rule.resource_name,
            resource_pattern_type_filter=rule.pattern,
            principal=rule.principal,
            host=ANY_HOST,
            operation=rule.operation,
            permission_type=ALLOW,
        )
        # aiokafka has the CreateAcls request but no public method for it yet.
        response = await admin._send_request(request)
        for error_code, error_message in response.creation_responses:
            if error_code:
                raise AclRefused(f"{rule}: error {error_code} {error_message or ''}".strip())
        count += 1
    return count


async def apply_acls(bootstrap: str, rules: Iterable[AclRule]) -> int:
    admin = await connected_admin(bootstrap, wait_seconds=60.0)
    try:
        return await create_acls(admin, rules)
    finally:
        await admin.close()


def main() -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    if kafka_options(bootstrap)["security_protocol"] not in ("SASL_PLAINTEXT", "SASL_SSL"):
        sys.stderr.write("kafka_acls: the cluster has no principals without SASL; nothing to do\n")
        return 0
    created = asyncio.run(apply_acls(bootstrap, plan_acls()))
    sys.stdout.write(
        f"kafka ACLs in place: {created} bindings for {len(SERVICES)} services"
        f" and {len(PARTNERS)} partner(s)\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
