"""The ACLs derived from the catalogue: each service's rights, nothing more."""

from __future__ import annotations

from retour_contracts.catalog import PARTNER_EXAMPLE
from retour_kit.kafka_acls import (
    AclRule,
    Operation,
    PatternType,
    ResourceType,
    partner_rules,
    plan_acls,
    service_rules,
)


def _allowed(service: str, kind: ResourceType, name: str, operation: Operation) -> bool:
    return any(
        rule.resource_type == kind
        and rule.operation == operation
        and (
            rule.resource_name == name
            if rule.pattern == PatternType.LITERAL
            else name.startswith(rule.resource_name)
        )
        for rule in service_rules(service)
    )


def test_reporting_reads_but_never_writes_registrations() -> None:
    topic = ResourceType.TOPIC
    assert _allowed("reporting", topic, "returnee.registered", Operation.READ)
    assert not _allowed("reporting", topic, "returnee.registered", Operation.WRITE)
    assert _allowed("reporting", topic, "returnee.registered.dlq", Operation.WRITE)


def test_intake_writes_its_events_and_reads_nobody_elses() -> None:
    topic = ResourceType.TOPIC
    assert _allowed("intake", topic, "returnee.registered", Operation.WRITE)
    assert not _allowed("intake", topic, "aid.granted", Operation.READ)
    assert not any(r.operation == Operation.READ for r in service_rules("intake"))
    assert not any(r.resource_type == ResourceType.GROUP for r in service_rules("intake"))


def test_groups_and_transactional_ids_are_the_services_own_prefixes() -> None:
    group = ResourceType.GROUP
    assert _allowed("reporting", group, "reporting", Operation.READ)
    assert _allowed("reporting", group, "reporting-rebuild", Operation.READ)
    assert not _allowed("reporting", group, "notifications", Operation.READ)
    txn = ResourceType.TRANSACTIONAL_ID
    assert _allowed("intake", txn, "retour-intake-outbox", Operation.WRITE)
    assert not _allowed("intake", txn, "retour-reintegration-outbox", Operation.WRITE)


def test_every_service_may_write_idempotently() -> None:
    for service in ("intake", "reintegration", "notifications", "reporting"):
        assert AclRule(
            f"User:retour-{service}",
            ResourceType.CLUSTER,
            "kafka-cluster",
            PatternType.LITERAL,
            Operation.IDEMPOTENT_WRITE,
        ) in service_rules(service)


def test_only_allow_rules_for_the_four_service_principals_and_the_partners() -> None:
    principals = {rule.principal for rule in plan_acls()}
    assert principals == {
        "User:retour-intake",
        "User:retour-reintegration",
        "User:retour-notifications",
        "User:retour-reporting",
        "User:retour-partner-example",
    }


def test_a_partner_reads_what_it_subscribes_to_in_its_own_groups_and_writes_nothing() -> None:
    rules = partner_rules(PARTNER_EXAMPLE)
    user = "User:retour-partner-example"
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    assert AclRule(user, topic, "returnee.registered", PatternType.LITERAL, Operation.READ) in rules
    assert AclRule(user, group, "partner-example", PatternType.PREFIXED, Operation.READ) in rules
    assert {r.resource_name for r in rules if r.resource_type == topic} == {
        "returnee.registered",
        "consent.changed",
        "returnee.erased",
    }
    assert {r.operation for r in rules} == {Operation.READ, Operation.DESCRIBE}
    assert all(r.principal == user for r in rules)
