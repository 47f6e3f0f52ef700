"""An event survives a trip through the real Apache Kafka broker, envelope and body intact."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from retour_contracts import CATALOG, build_envelope, parse_envelope
from retour_contracts.examples import example_returnee_registered
from retour_test_infra import Infra, scratch_topic

pytestmark = pytest.mark.integration

REGISTERED = next(spec for spec in CATALOG if spec.topic == "returnee.registered")


@pytest.fixture
async def roundtrip_topic(infra: Infra) -> AsyncIterator[str]:
    # A private topic keeps this test's record out of the services' real event history.
    async with scratch_topic(infra, "roundtrip") as name:
        yield name


async def test_event_round_trips_with_cloudevents_headers(
    infra: Infra, roundtrip_topic: str
) -> None:
    event = example_returnee_registered()
    envelope = build_envelope(REGISTERED, event, source="/intake")

    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            roundtrip_topic, envelope.value, key=envelope.key, headers=envelope.headers
        )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        roundtrip_topic,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=f"test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()

    assert record.key == envelope.key == str(event.returnee_id).encode()
    assert record.value == envelope.value
    assert list(record.headers) == list(envelope.headers)
    headers = dict(record.headers)
    for name in (
        "ce_id",
        "ce_type",
        "ce_source",
        "ce_time",
        "ce_subject",
        "ce_specversion",
        "ce_schemaversion",
        "traceparent",
    ):
        assert headers[name], f"header {name} missing after the broker"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_subject"] == str(event.returnee_id).encode()

    parsed = parse_envelope(REGISTERED.topic, record.key, record.value, record.headers)
    assert parsed.event == event
    assert str(parsed.event_id).encode() == headers["ce_id"]
