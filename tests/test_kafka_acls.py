"""Kafka authentication and ACLs on the real local broker: each service's principal does what
its events need and nothing else; a client without credentials does not get in.

The rules come from the contracts' catalogue (retour_kit.kafka_acls); these tests check what
the broker enforces, through the principals `make up` created (.local/env).
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from retour_kit.kafka_acls import consumed_topics, produced_topics
from retour_kit.topic_check import describe_topics, topic_problems, topics_in_use
from retour_kit.topics import SAFE_MIN_INSYNC_REPLICAS, SAFE_REPLICATION, plan_topics
from retour_test_infra import Infra, TopicProbe, unauthenticated_kafka_clients

CONSUMERS = ("reintegration", "notifications", "reporting")


@pytest.fixture(autouse=True)
def _needs_sasl(infra: Infra) -> None:
    if infra.kafka_sasl_mechanism is None:
        pytest.skip("this Kafka takes unauthenticated clients (testcontainers): no principals")


async def _produce(options: dict[str, Any], topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**options, request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=uuid.uuid4().bytes)
    finally:
        await producer.stop()


async def _read_in_group(options: dict[str, Any], topic: str, group: str) -> None:
    """Joins ``group`` on ``topic``, fetches once and commits: a consumer's whole round."""
    consumer = AIOKafkaConsumer(
        topic, **options, group_id=group, enable_auto_commit=False, auto_offset_reset="latest"
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=500)
        await consumer.commit()
    finally:
        await consumer.stop()


async def test_reporting_cannot_produce_to_returnee_registered(infra: Infra) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(infra.kafka_client_options("reporting"), "returnee.registered", b"forged")


async def test_intake_cannot_read_aid_granted(infra: Infra) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _read_in_group(infra.kafka_client_options("intake"), "aid.granted", "intake-probe")
    # The same round as a principal that may read it, so the refusal above is the ACL's.
    await _read_in_group(infra.kafka_client_options("reporting"), "aid.granted", "reporting-probe")


async def test_a_client_without_credentials_cannot_connect(infra: Infra) -> None:
    with unauthenticated_kafka_clients():
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()


async def test_a_wrong_password_cannot_connect(infra: Infra) -> None:
    options = {**infra.kafka_client_options("intake"), "sasl_plain_password": "not-the-password"}
    admin = AIOKafkaAdminClient(**options)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()


@pytest.mark.parametrize("service", CONSUMERS)
async def test_each_consumer_reads_its_topics_only_in_its_own_groups(
    infra: Infra, service: str
) -> None:
    options = infra.kafka_client_options(service)
    for topic in consumed_topics(service):
        await _read_in_group(options, topic, f"{service}-acl-test")
    other = next(s for s in CONSUMERS if s != service)
    with pytest.raises(GroupAuthorizationFailedError):
        await _read_in_group(options, consumed_topics(service)[0], f"{other}-acl-test")


@pytest.mark.parametrize("service", CONSUMERS)
async def test_each_consumer_writes_the_dead_letters_of_what_it_reads(
    infra: Infra, service: str
) -> None:
    topic = f"{consumed_topics(service)[0]}.dlq"
    marker = f"acl-test {uuid.uuid4()}".encode()
    async with TopicProbe(infra.kafka_bootstrap, topic) as probe:
        await _produce(infra.kafka_client_options(service), topic, marker)
        records = await probe.collect(lambda got: any(r.value == marker for r in got))
    assert any(r.value == marker for r in records)


async def test_a_partner_reads_its_subscription_in_its_own_groups_and_writes_nothing(
    infra: Infra,
) -> None:
    """The example partner (retour_contracts.catalog.PARTNERS) reads the registrations, the
    consent changes and the erasures in groups named after it, and nothing else: no other
    topic, no other group, no write."""
    options = infra.kafka_client_options("partner-example")
    for topic in ("returnee.registered", "consent.changed", "returnee.erased"):
        await _read_in_group(options, topic, "partner-example-acl-test")
    with pytest.raises(TopicAuthorizationFailedError):
        await _read_in_group(options, "aid.granted", "partner-example-acl-test")
    with pytest.raises(GroupAuthorizationFailedError):
        await _read_in_group(options, "returnee.registered", "reporting-acl-test")
    for topic in ("returnee.registered", "returnee.registered.dlq"):
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(options, topic, b"forged")


async def test_no_service_writes_another_services_events(infra: Infra) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(infra.kafka_client_options("intake"), "aid.granted", b"forged")
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(infra.kafka_client_options("notifications"), "case.assigned", b"forged")


@pytest.mark.parametrize("producer", ["intake", "reintegration"])
async def test_a_producer_writes_its_events_and_every_subscriber_reads_them(
    infra: Infra, producer: str
) -> None:
    """The producer's principal writes a record its subscribers cannot read as an event: each
    running service reads it in its own group and parks it in the dead-letter topic with its
    own principal, so one record proves the whole chain of rights."""
    topic = "returnee.registered" if producer == "intake" else "aid.granted"
    assert topic in produced_topics(producer)
    subscribers = [s for s in CONSUMERS if topic in consumed_topics(s)]
    marker = f"acl-test {uuid.uuid4()}".encode()
    async with TopicProbe(infra.kafka_bootstrap, f"{topic}.dlq") as dead_letters:
        await _produce(infra.kafka_client_options(producer), topic, marker)
        parked = await dead_letters.collect(
            lambda got: sum(r.value == marker for r in got) >= len(subscribers), within=60
        )
    assert sum(r.value == marker for r in parked) == len(subscribers)


@pytest.mark.parametrize("service", ["intake", *CONSUMERS])
async def test_each_service_may_check_the_configuration_of_its_topics(
    infra: Infra, service: str
) -> None:
    """The start-up check runs as the service: it sees every topic it uses, and their
    min.insync.replicas (DescribeConfigs)."""
    topics = topics_in_use(service, consumed_topics(service), produces=True)
    admin = AIOKafkaAdminClient(**infra.kafka_client_options(service))
    await admin.start()
    try:
        states = await describe_topics(admin, topics)
    finally:
        await admin.close()
    assert [s.name for s in states if not s.visible] == []
    assert all(s.min_insync_replicas is not None for s in states)


async def test_topics_are_replicated_safely_on_a_three_broker_cluster(infra: Infra) -> None:
    admin = AIOKafkaAdminClient(**infra.kafka_client_options())
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        if brokers < SAFE_REPLICATION:
            pytest.skip(f"the stack has {brokers} broker(s): make up KAFKA_BROKERS=3 to run this")
        states = await describe_topics(admin, [p.name for p in plan_topics()])
        [offsets] = await admin.describe_topics(["__consumer_offsets"])
    finally:
        await admin.close()
    assert topic_problems(states) == []
    assert all(s.min_insync_replicas == SAFE_MIN_INSYNC_REPLICAS for s in states)
    assert all(len(p["replicas"]) == SAFE_REPLICATION for p in offsets["partitions"])


OPERATOR_CONF = Path(__file__).resolve().parent.parent / ".local" / "kafka" / "operator.conf"


def _librdkafka_properties(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


async def test_the_operator_client_configuration_is_librdkafkas_and_its_credentials_work(
    infra: Infra,
) -> None:
    """`kcat -F .local/kafka/operator.conf -L`: librdkafka's property names, the operator's
    credentials, readable by its owner only."""
    properties = _librdkafka_properties(OPERATOR_CONF)
    operator = infra.kafka_principals["operator"]
    assert properties == {
        "bootstrap.servers": infra.kafka_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": infra.kafka_sasl_mechanism,
        "sasl.username": operator.username,
        "sasl.password": operator.password,
    }
    assert stat.S_IMODE(OPERATOR_CONF.stat().st_mode) == 0o600
    admin = AIOKafkaAdminClient(
        bootstrap_servers=properties["bootstrap.servers"],
        security_protocol=properties["security.protocol"],
        sasl_mechanism=properties["sasl.mechanisms"],
        sasl_plain_username=properties["sasl.username"],
        sasl_plain_password=properties["sasl.password"],
    )
    await admin.start()
    try:
        assert "returnee.registered" in await admin.list_topics()
    finally:
        await admin.close()


def test_kcat_reads_the_operator_configuration() -> None:
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        pytest.fail("kcat is not installed: `make test` installs it (deploy/local/kcat.sh)")
    listing = subprocess.run(
        [kcat, "-F", str(OPERATOR_CONF), "-L", "-m", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = listing.stdout + listing.stderr
    assert "No such configuration property" not in output
    assert "Invalid value" not in output
    # librdkafka before 2.6.1 (Debian 12's kcat has 2.0.2) answers Kafka 4's SCRAM challenge
    # wrongly (confluentinc/librdkafka#4895): the configuration is read, the login refused.
    assert "returnee.registered" in output or "SASL authentication error" in output, output
