"""returnee.merged reaches the cases: the duplicate registration's case closes, what was granted
under it counts for the person's case, and later requests naming it are told which case to use.

Each test produces events, as intake would, to private copies of returnee.registered,
returnee.updated and returnee.merged (each with its own .dlq); the service, built by its
composition root with its lifespan running, reads them through its RETURNEE_*_TOPIC settings
under a consumer group of its own. Aid and activities are recorded, and cases read, through its
HTTP API with a case worker's token, as in tests/test_reintegration_corrections.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from test_reintegration_corrections import (
    IntakeProducer,
    applied,
    client,
    database,
    open_while_storing,
    producer,
    settings_for,
)

from retour_contracts import RETURNEE_MERGED_V1, RETURNEE_REGISTERED_V1, ReturneeMerged
from retour_contracts.examples import example_returnee_registered
from retour_kit.auth import Role, issue_dev_token
from retour_kit.db import Database
from retour_kit.pagination import encode_cursor
from retour_reintegration.domain.merges import Merge
from retour_reintegration.settings import Settings
from retour_reintegration.usecases import apply_merges
from retour_test_infra import Infra, eventually, read_topic
from retour_test_inprocess import private_topics

pytestmark = pytest.mark.integration

# The corrections tests' fixtures, here on this module's topics and settings: the service with its
# lifespan running, its database, and a producer.
__all__ = ["client", "database", "producer"]

MERGED_AT = datetime(2024, 7, 2, 9, 30, tzinfo=UTC)
SUPERVISOR = "supervisor.bamako.2"


@pytest.fixture(scope="module")
async def topics(infra: Infra) -> AsyncIterator[dict[str, str]]:
    events = ("registered", "updated", "merged")
    async with private_topics(infra, "reintegration.merges", events, partitions=3) as topics:
        yield topics


@pytest.fixture(scope="module")
def settings(infra: Infra, topics: dict[str, str]) -> Settings:
    return settings_for(
        infra,
        topics,
        returnee_merged_topic=topics["merged"],
        consumer_group=f"test-merges-{uuid.uuid4().hex[:8]}",
        reintegration_budget_xof=1_000_000,
    )


class CaseWorker:
    """A case worker of the Bamako centre: reads cases, grants aid, launches activities."""

    def __init__(self, client: httpx.AsyncClient, secret: str) -> None:
        self.client = client
        token = issue_dev_token(
            secret, Role.CASE_WORKER, subject="worker.bamako", centres=["bamako"]
        )
        self.headers = {"Authorization": f"Bearer {token}"}

    async def case(self, returnee_id: UUID) -> httpx.Response:
        return await self.client.get(f"/cases/{returnee_id}", headers=self.headers)

    async def case_when(self, returnee_id: UUID, what: str, **expected: Any) -> dict[str, Any]:
        """The case once it is there with the ``expected`` values (the consumer's pace)."""

        async def read() -> dict[str, Any] | None:
            answer = await self.case(returnee_id)
            return answer.json() if answer.status_code == 200 else None

        def arrived(case: dict[str, Any] | None) -> bool:
            return case is not None and all(case[k] == v for k, v in expected.items())

        case = await eventually(read, until=arrived, what=what)
        assert case is not None
        return case

    async def open_listed(self, first: dict[str, Any]) -> set[str]:
        """The open cases listed from ``first``'s registration on. The shared database holds
        many cases: the listing starts just before this one (its keyset cursor)."""
        just_before = datetime.fromisoformat(first["registered_at"]) - timedelta(microseconds=1)
        cursor = encode_cursor(just_before, UUID(int=0))
        page = await self.client.get(
            "/cases",
            params={"status": "open", "limit": 200, "cursor": cursor},
            headers=self.headers,
        )
        return {item["returnee_id"] for item in page.json()["items"]}

    async def post(self, path: str, body: Any) -> httpx.Response:
        headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
        return await self.client.post(path, json=body, headers=headers)

    async def grant(self, returnee_id: UUID, amount: str) -> httpx.Response:
        return await self.post(
            f"/cases/{returnee_id}/aid",
            {
                "phase": "reintegration",
                "category": "business_start_up_grant",
                "dimension": "economic",
                "amount": {"amount": amount, "currency": "XOF"},
            },
        )


@pytest.fixture(scope="module")
def worker(client: httpx.AsyncClient, infra: Infra) -> CaseWorker:
    return CaseWorker(client, infra.jwt_secret)


class Intake(IntakeProducer):
    """Produces what intake would: registrations, and a supervisor's merge decisions."""

    async def register(self, returnee_id: UUID, *, duplicate_of: UUID | None = None) -> None:
        event = example_returnee_registered(
            returnee_id=returnee_id,
            reception_centre="bamako",
            arrival_date="2024-06-11",
            registered_at=datetime.now(UTC),
            personal={"date_of_birth": None},  # the example's would not match age_years
            possible_duplicate_of=[] if duplicate_of is None else [duplicate_of],
        )
        await self._send(RETURNEE_REGISTERED_V1, event, self.topics["registered"])

    async def merge(self, duplicate: UUID, person: UUID, *, event_id: str | None = None) -> str:
        """Publishes that ``duplicate`` is ``person``'s registration again; returns its id."""
        event = ReturneeMerged(
            returnee_id=duplicate, merged_into=person, merged_at=MERGED_AT, merged_by=SUPERVISOR
        )
        return await self._send(RETURNEE_MERGED_V1, event, self.topics["merged"], event_id)


@pytest.fixture(scope="module")
def intake(producer: AIOKafkaProducer, topics: dict[str, str]) -> Intake:
    return Intake(producer, topics)


async def two_registrations(intake: Intake, worker: CaseWorker) -> tuple[UUID, UUID]:
    """A registered, then B, flagged as a possible duplicate of A; both cases open."""
    person, duplicate = uuid.uuid4(), uuid.uuid4()
    await intake.register(person)
    await worker.case_when(person, "the person's case opened", status="open")
    await intake.register(duplicate, duplicate_of=person)
    await worker.case_when(duplicate, "the duplicate's case opened", status="open")
    return person, duplicate


def closed_as_duplicate_of(person: UUID) -> dict[str, Any]:
    return {
        "status": "closed",
        "closure_reason": "duplicate_registration",
        "closed_at": "2024-07-02T09:30:00Z",
        "closed_by": SUPERVISOR,
        "merged_into": str(person),
    }


async def test_a_merge_leaves_one_open_case(intake: Intake, worker: CaseWorker) -> None:
    person, duplicate = await two_registrations(intake, worker)
    granted = await worker.grant(duplicate, "600000")
    assert granted.status_code == 201, granted.text

    await intake.merge(duplicate, person)

    closed = await worker.case_when(
        duplicate, "the duplicate's case closed", **closed_as_duplicate_of(person)
    )
    # The duplicate's aid is the person's now: on their case, and counted in their budget.
    case = (await worker.case(person)).json()
    assert (case["status"], case["merged_into"]) == ("open", None)
    assert [(a["aid_id"], a["returnee_id"], a["merged_from"]) for a in case["aid"]] == [
        (granted.json()["aid_id"], str(person), str(duplicate))
    ]
    assert (case["budget"]["granted"], case["budget"]["remaining"]) == ("600000", "400000")
    refused = await worker.grant(person, "400001")
    assert refused.status_code == 422
    assert refused.json()["remaining_budget"]["amount"] == "400000"
    # The duplicate's case shows them no longer: its person's case has them.
    assert (closed["aid"], closed["budget"]["granted"]) == ([], "0")
    listed = await worker.open_listed(case)
    assert str(person) in listed
    assert str(duplicate) not in listed


async def test_a_merge_read_before_the_registrations_is_applied_when_they_come(
    infra: Infra,
    topics: dict[str, str],
    database: Database,
    intake: Intake,
    worker: CaseWorker,
) -> None:
    person, duplicate = uuid.uuid4(), uuid.uuid4()
    merge = await intake.merge(duplicate, person)
    await eventually(lambda: applied(database, merge), what="the early merge applied")
    # Consumed, not dead-lettered: it waits for the registrations.
    assert (await worker.case(duplicate)).status_code == 404

    await intake.register(duplicate, duplicate_of=person)
    # The duplicate's case opens closed (the first answer about it says so): the person's will
    # be the one open case.
    closed = await worker.case_when(duplicate, "the duplicate's case")
    assert {k: closed[k] for k in closed_as_duplicate_of(person)} == closed_as_duplicate_of(person)
    await intake.register(person)
    case = await worker.case_when(person, "the person's case opened", status="open")
    assert case["aid"] == []
    listed = await worker.open_listed(closed)  # registered first, here
    assert str(person) in listed
    assert str(duplicate) not in listed
    for topic in ("merged", "registered"):
        dead = await read_topic(infra.kafka_bootstrap, f"{topics[topic]}.dlq", 0, within=1)
        assert dead == []


async def test_a_merge_read_before_the_persons_registration_brings_the_aid_along(
    database: Database, intake: Intake, worker: CaseWorker
) -> None:
    person, duplicate = uuid.uuid4(), uuid.uuid4()
    await intake.register(duplicate, duplicate_of=person)
    await worker.case_when(duplicate, "the duplicate's case opened", status="open")
    granted = await worker.grant(duplicate, "250000")
    assert granted.status_code == 201, granted.text

    await intake.merge(duplicate, person)
    await worker.case_when(duplicate, "the duplicate's case closed", status="closed")
    assert (await worker.case(person)).status_code == 404
    await intake.register(person)

    case = await worker.case_when(person, "the person's case opened", status="open")
    assert [a["aid_id"] for a in case["aid"]] == [granted.json()["aid_id"]]
    assert case["budget"]["granted"] == "250000"


async def test_a_redelivered_merge_changes_nothing(
    database: Database, intake: Intake, worker: CaseWorker
) -> None:
    person, duplicate = await two_registrations(intake, worker)
    assert (await worker.grant(duplicate, "300000")).status_code == 201
    first = await intake.merge(duplicate, person)
    await eventually(lambda: applied(database, first), what="the merge applied")
    before = (await worker.case(person)).json(), (await worker.case(duplicate)).json()

    # The same event again (the inbox skips it), then the same decision under another event
    # id (a replay of intake's outbox): one person's merges share a partition, so once the
    # replay is applied, both were read.
    await intake.merge(duplicate, person, event_id=first)
    replay = await intake.merge(duplicate, person)
    await eventually(lambda: applied(database, replay), what="the replayed merge applied")

    after = (await worker.case(person)).json(), (await worker.case(duplicate)).json()
    assert after == before
    assert after[0]["budget"]["granted"] == "300000"  # counted once


async def test_aid_or_an_activity_for_the_duplicate_is_refused_naming_the_persons_case(
    intake: Intake, worker: CaseWorker
) -> None:
    person, duplicate = await two_registrations(intake, worker)
    await intake.merge(duplicate, person)
    await worker.case_when(duplicate, "the duplicate's case closed", status="closed")

    refused = await worker.grant(duplicate, "1000")

    assert refused.status_code == 409
    body = refused.json()
    assert (body["error"], body["merged_into"]) == ("case_merged", {str(duplicate): str(person)})
    assert str(person) in body["detail"]

    other, _ = await two_registrations(intake, worker)
    refused = await worker.post(
        "/activities",
        {
            "returnee_ids": [str(other), str(duplicate)],
            "sector": "agriculture",
            "location": {"region": "kayes"},
            "level": "collective",
        },
    )
    assert refused.status_code == 409
    body = refused.json()
    assert (body["error"], body["field"]) == ("case_merged", "returnee_ids")
    assert body["merged_into"] == {str(duplicate): str(person)}


async def test_an_activity_of_both_registrations_lists_the_person_once(
    intake: Intake, worker: CaseWorker
) -> None:
    person, duplicate = await two_registrations(intake, worker)
    launched = await worker.post(
        "/activities",
        {
            "returnee_ids": [str(duplicate), str(person)],
            "sector": "agriculture",
            "location": {"region": "kayes"},
            "level": "collective",
            "funding": {"amount": "500000", "currency": "XOF"},
            "shares": [
                {"returnee_id": str(duplicate), "amount": {"amount": "200000"}},
                {"returnee_id": str(person), "amount": {"amount": "300000"}},
            ],
        },
    )
    assert launched.status_code == 201, launched.text

    await intake.merge(duplicate, person)
    closed = await worker.case_when(duplicate, "the duplicate's case closed", status="closed")

    (activity,) = (await worker.case(person)).json()["activities"]
    assert activity["activity_id"] == launched.json()["activity_id"]
    assert activity["returnee_ids"] == [str(person)]
    assert activity["shares"] == [
        {"returnee_id": str(person), "amount": {"amount": "500000", "currency": "XOF"}}
    ]
    assert closed["activities"] == []


async def test_a_registration_waits_for_a_merge_being_stored(database: Database) -> None:
    """The topics are applied side by side: a registration batch must not open the duplicate's
    case blind to its merge being stored by another transaction, or the case would stay open
    while the merge found no case to close."""
    person, duplicate = uuid.uuid4(), uuid.uuid4()
    registration = example_returnee_registered(returnee_id=duplicate, reception_centre="bamako")
    merge = Merge(duplicate, person, MERGED_AT, SUPERVISOR)

    await open_while_storing(
        database,
        registration,
        lambda work: apply_merges(work.cases, [merge]),
        what="the merge's transaction",
    )

    status = await database.pool.fetchval(
        "SELECT closure_reason FROM cases WHERE returnee_id = $1", duplicate
    )
    assert status == "duplicate_registration"
