"""The start-up check of topic configuration: the decision over described topics, and the
description itself against the real broker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from retour_contracts.catalog import AID_GRANTED_V1
from retour_kit.kafka_security import kafka_options
from retour_kit.settings import ConsumingSettings, ServiceSettings
from retour_kit.topic_check import (
    TopicState,
    UnsafeTopics,
    check_service_topics,
    check_topics,
    describe_topics,
    enforced,
    topic_problems,
    topics_in_use,
)
from retour_kit.topics import replication_for, topic_configs
from retour_test_infra import Infra

SAFE = TopicState("returnee.registered", replication_factor=3, min_insync_replicas=2)


def test_three_replicas_with_two_in_sync_is_safe() -> None:
    assert topic_problems([SAFE]) == []


def test_each_unsafe_topic_is_named_with_what_is_wrong() -> None:
    problems = topic_problems(
        [
            SAFE,
            TopicState("aid.granted", replication_factor=1, min_insync_replicas=1),
            TopicState("case.closed", replication_factor=3, min_insync_replicas=1),
            TopicState("case.assigned", exists=False, visible=False),
            TopicState("case.reopened", visible=False),
        ]
    )
    assert problems == [
        "aid.granted: replication factor 1 < 3, min.insync.replicas 1 < 2",
        "case.closed: min.insync.replicas 1 < 2",
        "case.assigned: missing (create it: python -m retour_kit.topics)",
        "case.reopened: missing, or this service may not describe it (ACLs)",
    ]


def test_an_unknown_min_insync_replicas_is_not_taken_for_safe() -> None:
    state = TopicState("aid.granted", replication_factor=3, min_insync_replicas=None)
    assert topic_problems([state]) == ["aid.granted: min.insync.replicas unknown < 2"]


def test_a_service_checks_what_it_produces_reads_and_dead_letters() -> None:
    topics = topics_in_use("reporting", ["aid.granted"], produces=False)
    assert topics == ["aid.granted", "aid.granted.dlq"]
    intake = topics_in_use("intake", [], produces=True)
    assert "returnee.registered" in intake
    assert "aid.granted" not in intake


def _settings(**values: Any) -> ServiceSettings:
    return ServiceSettings(database_url="postgresql://u:p@localhost/db", **values)


def test_production_is_told_by_the_setting_or_else_by_the_identity_provider() -> None:
    local = {"auth_jwt_secret": "x" * 32, "auth_jwks_url": None}
    with_idp = {"auth_jwt_secret": None, "auth_jwks_url": "https://idp.example/jwks"}
    assert not enforced(_settings(**local))
    assert enforced(_settings(**local, kafka_topic_check="enforce"))
    assert enforced(_settings(**with_idp))
    assert not enforced(_settings(**with_idp, kafka_topic_check="warn"))
    local_with_idp = {"auth_jwt_secret": "x" * 32, "auth_jwks_url": "https://idp.example/jwks"}
    assert not enforced(_settings(**local_with_idp))


def test_topics_get_min_insync_replicas_two_only_with_three_copies() -> None:
    assert replication_for(1) == 1
    assert replication_for(3) == 3
    assert replication_for(5) == 3
    assert topic_configs(3)["min.insync.replicas"] == "2"
    assert "min.insync.replicas" not in topic_configs(1)
    assert topic_configs(1)["unclean.leader.election.enable"] == "false"


async def _create(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 2, 1, topic_configs=configs)])
    finally:
        await admin.close()


async def test_the_broker_description_reads_replicas_and_min_insync_replicas(
    infra: Infra,
) -> None:
    name = f"topic-check-{uuid.uuid4().hex[:8]}"
    await _create(infra.kafka_bootstrap, name, {"min.insync.replicas": "1"})
    missing = f"topic-check-missing-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(**kafka_options(infra.kafka_bootstrap))
    await admin.start()
    try:
        states = await describe_topics(admin, [name, missing])
    finally:
        await admin.close()
    assert states == [
        TopicState(name, replication_factor=1, min_insync_replicas=1),
        TopicState(missing, exists=False, visible=False),
    ]


async def test_production_refuses_unsafe_topics_and_development_warns(infra: Infra) -> None:
    name = f"topic-check-{uuid.uuid4().hex[:8]}"
    await _create(infra.kafka_bootstrap, name, {"min.insync.replicas": "1"})
    with pytest.raises(UnsafeTopics, match=f"{name}: replication factor 1 < 3"):
        await check_topics(infra.kafka_bootstrap, [name], enforce=True)
    problems = await check_topics(infra.kafka_bootstrap, [name], enforce=False)
    assert problems == [f"{name}: replication factor 1 < 3, min.insync.replicas 1 < 2"]


async def test_an_unreachable_broker_skips_the_check_instead_of_stopping_the_service() -> None:
    problems = await check_topics("127.0.0.1:1", ["aid.granted"], enforce=True, within_seconds=3)
    assert problems == []


async def test_a_service_checks_its_own_topics_through_its_settings(infra: Infra) -> None:
    """What runtime.py calls at start: reporting reads aid.granted, dead-letters to its .dlq."""
    settings = ConsumingSettings(
        database_url="postgresql://u:p@localhost/db",
        auth_jwt_secret="x" * 32,
        auth_jwks_url=None,
        consumer_group="reporting",
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        kafka_topic_check="enforce",
    )
    check = check_service_topics(
        settings, service="reporting", produces=False, consumes=[AID_GRANTED_V1]
    )
    admin = AIOKafkaAdminClient(**kafka_options(infra.kafka_bootstrap))
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
    finally:
        await admin.close()
    if brokers >= 3:
        assert await check == []
    else:
        with pytest.raises(UnsafeTopics) as refused:
            await check
        assert "aid.granted: replication factor" in str(refused.value)
        assert "aid.granted.dlq: replication factor" in str(refused.value)
