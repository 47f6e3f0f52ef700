"""A service run in-process by a test module: Kafka topics of the module's own, and the app its
composition root builds, served with its lifespan running."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import httpx
import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import FastAPI

from retour_test_infra import Infra


@asynccontextmanager
async def private_topics(
    infra: Infra, name: str, events: Iterable[str], *, partitions: int
) -> AsyncIterator[dict[str, str]]:
    """A topic of each event's, by event (``test.<name>.<run>.<event>``), each with its .dlq:
    created for the module, deleted after it."""
    run = uuid.uuid4().hex[:12]
    topics = {event: f"test.{name}.{run}.{event}" for event in events}
    every = [topic for each in topics.values() for topic in (each, f"{each}.dlq")]
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1) for topic in every]
        )
        yield topics
        await admin.delete_topics(every)
    finally:
        await admin.close()


@asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of ``app`` with its lifespan running (what the service runs beside its
    API, a consumer for one, runs too).

    After it, the JSON logging that building the app configured for the process is undone, so
    later tests start unconfigured.
    """
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client
    finally:
        structlog.reset_defaults()
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h.get_name() == "retour-json"]:
            root.removeHandler(handler)
