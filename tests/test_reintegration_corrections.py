"""returnee.updated reaches the cases: corrections take effect, and a transfer moves the case to
the new centre, so that centre's case workers see it and the old one's no longer do.

Each test produces events, as intake would, to private copies of returnee.registered and
returnee.updated (each with its own .dlq); the service, built by its composition root with its
lifespan running, reads them through its RETURNEE_*_TOPIC settings under a consumer group of its
own, and the cases are read through its HTTP API with case workers' tokens.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from retour_contracts import (
    RETURNEE_REGISTERED_V1,
    RETURNEE_UPDATED_V1,
    EventSpec,
    ReturneeRegistered,
    ReturneeUpdated,
    build_envelope,
)
from retour_contracts.examples import example_returnee_registered, example_returnee_updated
from retour_kit.auth import Role, issue_dev_token
from retour_kit.db import Database
from retour_kit.pagination import encode_cursor
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.corrections import Correction
from retour_reintegration.main import INBOX_CONSUMER, SCHEMA, build_app
from retour_reintegration.settings import Settings
from retour_reintegration.usecases import apply_corrections, open_cases
from retour_test_infra import Infra, eventually, read_topic
from retour_test_inprocess import private_topics, running_app

pytestmark = pytest.mark.integration

UPDATED_AT = datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def topics(infra: Infra) -> AsyncIterator[dict[str, str]]:
    events = ("registered", "updated")
    async with private_topics(infra, "reintegration.corrections", events, partitions=3) as topics:
        yield topics


@pytest.fixture(scope="module")
def settings(infra: Infra, topics: dict[str, str]) -> Settings:
    return settings_for(infra, topics, consumer_group=f"test-corrections-{uuid.uuid4().hex[:8]}")


def settings_for(infra: Infra, topics: dict[str, str], **changes: Any) -> Settings:
    """The service against the test infrastructure, reading registrations and updates from
    ``topics``."""
    return Settings(
        database_url=infra.dsn("reintegration"),
        auth_jwt_secret=infra.jwt_secret,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        returnee_registered_topic=topics["registered"],
        returnee_updated_topic=topics["updated"],
        **changes,
    )


# These fixtures serve tests/test_reintegration_merges.py too, on its own topics and settings.


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # The lifespan migrates the schema and runs the consumer of the module's topics.
    async with running_app(build_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def database(infra: Infra, client: httpx.AsyncClient) -> AsyncIterator[Database]:
    database = Database(infra.dsn("reintegration"), schema=SCHEMA)
    await database.open(min_size=1, max_size=2)
    yield database
    await database.close()


@pytest.fixture(scope="module")
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    yield producer
    await producer.stop()


class CaseWorker:
    """GETs as a case worker of one centre (need-to-know: another centre's case is a 404)."""

    def __init__(self, client: httpx.AsyncClient, secret: str, centre: str) -> None:
        self.client = client
        token = issue_dev_token(
            secret, Role.CASE_WORKER, subject=f"worker.{centre}", centres=[centre]
        )
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers)

    async def status_of(self, returnee_id: UUID) -> int:
        return (await self.get(f"/cases/{returnee_id}")).status_code

    async def lists(self, case: dict[str, Any]) -> bool:
        """Whether the case is in this worker's listing. The shared database holds many cases:
        the listing starts just before this one's registration (its keyset cursor)."""
        just_before = datetime.fromisoformat(case["registered_at"]) - timedelta(microseconds=1)
        cursor = encode_cursor(just_before, UUID(int=0))
        page = (await self.get("/cases", limit=200, cursor=cursor)).json()
        return case["returnee_id"] in {item["returnee_id"] for item in page["items"]}


@pytest.fixture(scope="module")
def gao(client: httpx.AsyncClient, infra: Infra) -> CaseWorker:
    return CaseWorker(client, infra.jwt_secret, "gao")


@pytest.fixture(scope="module")
def bamako(client: httpx.AsyncClient, infra: Infra) -> CaseWorker:
    return CaseWorker(client, infra.jwt_secret, "bamako")


class IntakeProducer:
    """Produces events to the module's topics as intake publishes them."""

    def __init__(self, producer: AIOKafkaProducer, topics: dict[str, str]) -> None:
        self.producer = producer
        self.topics = topics

    async def _send(
        self, spec: EventSpec[Any], event: Any, topic: str, event_id: str | None = None
    ) -> str:
        """Sends ``event`` (under ``event_id``, or a new one) to ``topic``; returns its id."""
        envelope = build_envelope(spec, event, source="/intake", event_id=event_id)
        await self.producer.send_and_wait(
            topic, envelope.value, key=envelope.key, headers=envelope.headers
        )
        return dict(envelope.headers)["ce_id"].decode()


class Intake(IntakeProducer):
    """Produces what intake would: a registration, and the updates of its later versions."""

    async def register(self, returnee_id: UUID, centre: str) -> None:
        event = example_returnee_registered(
            returnee_id=returnee_id,
            reception_centre=centre,
            region_of_origin="gao",
            arrival_date="2024-06-11",
            registered_at=datetime.now(UTC),
            personal={"date_of_birth": None},  # the example's would not match age_years
        )
        await self._send(RETURNEE_REGISTERED_V1, event, self.topics["registered"])

    async def update(
        self, returnee_id: UUID, version: int, *, event_id: str | None = None, **facts: Any
    ) -> str:
        """Publishes version ``version`` changing ``facts`` and the phone number (so the event
        carries a sealed personal block, which reintegration must leave alone)."""
        event = updated(returnee_id, version, **facts)
        return await self._send(RETURNEE_UPDATED_V1, event, self.topics["updated"], event_id)


def updated(returnee_id: UUID, version: int, **facts: Any) -> ReturneeUpdated:
    sealed = example_returnee_updated().model_dump(mode="json")["sealed_personal"]
    return ReturneeUpdated.model_validate(
        {
            "returnee_id": str(returnee_id),
            "version": version,
            "updated_at": (UPDATED_AT + timedelta(hours=version)).isoformat(),
            "updated_by": "agent.gao.7",
            "reason": "relocation",
            "changed": [*facts, "personal.phone"],
            "facts": facts,
            "sealed_personal": sealed,
        }
    )


@pytest.fixture(scope="module")
def intake(producer: AIOKafkaProducer, topics: dict[str, str]) -> Intake:
    return Intake(producer, topics)


async def applied(database: Database, event_id: str) -> bool:
    """The consumer committed the event (its inbox row is written with its effects)."""
    found = await database.pool.fetchval(
        "SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2",
        INBOX_CONSUMER,
        UUID(event_id),
    )
    return found is not None


async def open_while_storing(
    database: Database,
    registration: ReturneeRegistered,
    store: Callable[[CaseWork], Awaitable[object]],
    *,
    what: str,
) -> None:
    """Opens ``registration``'s case while another transaction stores what applies to it
    (``store``): that one commits once the opening is seen waiting for it (``what``)."""
    async with database.pool.acquire() as storing, database.pool.acquire() as opening:
        pid = await opening.fetchval("SELECT pg_backend_pid()")

        async def open_case() -> None:
            async with opening.transaction():
                await open_cases(CaseWork(opening).cases, [registration])

        async with storing.transaction():
            await store(CaseWork(storing))
            registering = asyncio.create_task(open_case())
            await eventually(
                lambda: storing.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", pid
                ),
                what=f"the registration waiting for {what}",
            )
        await registering


async def test_a_transfer_moves_the_case_from_gao_to_bamako(
    intake: Intake, gao: CaseWorker, bamako: CaseWorker
) -> None:
    returnee_id = uuid.uuid4()
    await intake.register(returnee_id, "gao")
    await eventually(
        lambda: gao.status_of(returnee_id),
        until=lambda status: status == 200,
        what="the case opened at Gao",
    )
    assert await bamako.status_of(returnee_id) == 404

    await intake.update(returnee_id, 2, reception_centre="bamako")

    await eventually(
        lambda: bamako.status_of(returnee_id),
        until=lambda status: status == 200,
        what="the case moved to Bamako",
    )
    case = (await bamako.get(f"/cases/{returnee_id}")).json()
    assert case["reception_centre"] == "bamako"
    assert (case["region_of_origin"], case["arrival_date"]) == ("gao", "2024-06-11")
    assert case["transfers"] == [
        {
            "version": 2,
            "transferred_at": "2024-07-01T12:00:00Z",
            "transferred_by": "agent.gao.7",
            "reason": "relocation",
            "from_centre": "gao",
            "to_centre": "bamako",
        }
    ]
    # Gao no longer knows the case exists, for reading, listing and acting alike.
    assert await gao.status_of(returnee_id) == 404
    assert not await gao.lists(case)
    assert await bamako.lists(case)
    refused = await gao.client.post(
        f"/cases/{returnee_id}/aid",
        json={"phase": "immediate", "category": "food", "dimension": "social"},
        headers={**gao.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert refused.status_code == 404
    assert refused.json()["error"] == "case_not_found"


async def test_an_update_read_before_its_registration_is_applied_when_the_case_opens(
    infra: Infra,
    topics: dict[str, str],
    database: Database,
    intake: Intake,
    gao: CaseWorker,
    bamako: CaseWorker,
) -> None:
    returnee_id = uuid.uuid4()
    event_id = await intake.update(
        returnee_id, 2, reception_centre="bamako", arrival_date="2024-06-09"
    )
    await eventually(lambda: applied(database, event_id), what="the early update applied")
    # Consumed, not dead-lettered: it waits for the case.
    assert await bamako.status_of(returnee_id) == 404

    await intake.register(returnee_id, "gao")

    await eventually(
        lambda: bamako.status_of(returnee_id),
        until=lambda status: status == 200,
        what="the case opened at Bamako",
    )
    case = (await bamako.get(f"/cases/{returnee_id}")).json()
    assert (case["reception_centre"], case["arrival_date"]) == ("bamako", "2024-06-09")
    assert [(t["from_centre"], t["to_centre"]) for t in case["transfers"]] == [("gao", "bamako")]
    assert await gao.status_of(returnee_id) == 404
    dead = await read_topic(infra.kafka_bootstrap, f"{topics['updated']}.dlq", 0, within=1)
    assert dead == []


async def test_an_older_version_or_a_redelivery_read_late_changes_nothing(
    database: Database, intake: Intake, bamako: CaseWorker, gao: CaseWorker
) -> None:
    returnee_id = uuid.uuid4()
    await intake.register(returnee_id, "gao")
    # Version 3 is read first, then again (a redelivery: the same event id), then version 2;
    # one person's updates share a partition, so once version 2 is applied, all three are.
    newest = await intake.update(returnee_id, 3, reception_centre="bamako")
    await intake.update(returnee_id, 3, event_id=newest, reception_centre="bamako")
    late = await intake.update(returnee_id, 2, reception_centre="kayes", region_of_origin="mopti")
    await eventually(lambda: applied(database, late), what="the late version 2 applied")
    await eventually(
        lambda: bamako.status_of(returnee_id),
        until=lambda status: status == 200,
        what="the case opened (another topic, read at its own pace)",
    )

    case = (await bamako.get(f"/cases/{returnee_id}")).json()
    # Version 2's centre lost to version 3's; its region, which version 3 left alone, counts.
    assert (case["reception_centre"], case["region_of_origin"]) == ("bamako", "mopti")
    assert [(t["version"], t["from_centre"], t["to_centre"]) for t in case["transfers"]] == [
        (2, "gao", "kayes"),
        (3, "kayes", "bamako"),
    ]
    assert await gao.status_of(returnee_id) == 404


async def test_a_registration_waits_for_a_correction_being_stored(database: Database) -> None:
    """The two topics are applied side by side: a registration batch must not open the case
    blind to a correction another transaction is storing, or the correction would wait for a
    case that is already open, for ever."""
    returnee_id = uuid.uuid4()
    registration = example_returnee_registered(returnee_id=returnee_id, reception_centre="gao")
    correction = Correction.of(updated(returnee_id, 2, reception_centre="bamako"))
    assert correction is not None

    await open_while_storing(
        database,
        registration,
        lambda work: apply_corrections(work.cases, [correction]),
        what="the correction's transaction",
    )

    centre = await database.pool.fetchval(
        "SELECT reception_centre FROM cases WHERE returnee_id = $1", returnee_id
    )
    assert centre == "bamako"
