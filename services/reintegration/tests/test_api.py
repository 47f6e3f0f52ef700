"""The HTTP API against the real database and broker, with the service's lifespan running.

Cases are opened the real way: registrations are produced to a private topic that this app's
consumer reads. Granted aid and launched activities are read back from the real topics.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import BaseModel

from retour_contracts import (
    ACTIVITY_LAUNCHED_V1,
    AID_GRANTED_V1,
    RETURNEE_REGISTERED_V1,
    EventSpec,
    build_envelope,
    parse_envelope,
)
from retour_contracts.examples import example_returnee_registered
from retour_kit.auth import Role, issue_dev_token
from retour_reintegration.domain.commands import CloseCase, GrantAid, LaunchActivity
from retour_reintegration.main import build_app
from retour_reintegration.settings import Settings
from retour_test_infra import Infra, eventually
from retour_test_inprocess import running_app

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[3] / "contracts" / "schemas"
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
async def registrations_topic(infra: Infra) -> AsyncIterator[str]:
    name = f"test.reintegration.api.{uuid.uuid4().hex[:12]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=2, replication_factor=1) for t in (name, f"{name}.dlq")]
        )
        yield name
        await admin.delete_topics([name, f"{name}.dlq"])
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def client(infra: Infra, registrations_topic: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=infra.dsn("reintegration"),
        auth_jwt_secret=infra.jwt_secret,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
        returnee_registered_topic=registrations_topic,
        consumer_group=f"test-api-{uuid.uuid4().hex[:8]}",
        reintegration_budget_xof=1_000_000,
    )
    async with running_app(build_app(settings)) as client:
        yield client


class Api:
    """Requests as a given role; every POST carries a fresh Idempotency-Key unless given."""

    def __init__(self, client: httpx.AsyncClient, secret: str, role: Role) -> None:
        self.client = client
        token = issue_dev_token(secret, role, subject=f"{role.value}.test")
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers)

    async def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = {**self.headers, "Idempotency-Key": key or str(uuid.uuid4())}
        return await self.client.post(path, json=body, headers=headers)


@pytest.fixture(scope="module")
def worker(client: httpx.AsyncClient, infra: Infra) -> Api:
    return Api(client, infra.jwt_secret, Role.CASE_WORKER)


@pytest.fixture(scope="module")
def supervisor(client: httpx.AsyncClient, infra: Infra) -> Api:
    return Api(client, infra.jwt_secret, Role.SUPERVISOR)


@pytest.fixture(scope="module")
def analyst(client: httpx.AsyncClient, infra: Infra) -> Api:
    return Api(client, infra.jwt_secret, Role.ANALYST)


@pytest.fixture(scope="module")
async def register(infra: Infra, registrations_topic: str, worker: Api) -> AsyncIterator[Any]:
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()

    async def registered(arrival: date = TODAY, centre: str = "gao", count: int = 1) -> list[UUID]:
        """Registers returnees through Kafka and waits until their cases are open."""
        ids = [uuid.uuid4() for _ in range(count)]
        for returnee_id in ids:
            event = example_returnee_registered(
                returnee_id=returnee_id,
                arrival_date=arrival.isoformat(),
                registered_at=datetime.now(UTC),
                reception_centre=centre,
                personal={"date_of_birth": None},  # the example's would not match age_years
            )
            envelope = build_envelope(RETURNEE_REGISTERED_V1, event, source="/intake")
            await producer.send_and_wait(
                registrations_topic, envelope.value, key=envelope.key, headers=envelope.headers
            )

        async def statuses() -> list[int]:
            return [(await worker.get(f"/cases/{returnee_id}")).status_code for returnee_id in ids]

        await eventually(
            statuses,
            until=lambda codes: set(codes) == {200},
            within=20,
            every=0.05,
            what=f"the consumer opening the cases of {len(ids)} returnees",
        )
        return ids

    yield registered
    await producer.stop()


async def one_case(register: Any, **kw: Any) -> UUID:
    (returnee_id,) = await register(**kw)
    return UUID(str(returnee_id))


GRANT = {
    "phase": "reintegration",
    "category": "business_start_up_grant",
    "dimension": "economic",
    "amount": {"amount": "350000", "currency": "XOF"},
}


class TopicReader:
    """Reads what is appended to a topic after it was created."""

    def __init__(self, bootstrap: str, spec: EventSpec[Any]) -> None:
        self.spec = spec
        self.bootstrap = bootstrap
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> TopicReader:
        tps = [TopicPartition(self.spec.topic, p) for p in await self._partitions()]
        await self.consumer.start()
        self.consumer.assign(tps)
        for tp, offset in (await self.consumer.end_offsets(tps)).items():
            self.consumer.seek(tp, offset)
        return self

    async def _partitions(self) -> list[int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            (description,) = await admin.describe_topics([self.spec.topic])
        finally:
            await admin.close()
        return [partition["partition"] for partition in description["partitions"]]

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()

    async def record_with(self, field: str, value: str) -> Any:
        async def read_more() -> Any:
            for records in (await self.consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if json.loads(record.value)[field] == value:
                        return record
            return None

        what = f"a {self.spec.topic} record with {field}={value}"
        return await eventually(read_more, within=15, every=0, what=what)


def assert_valid_against_committed_schema(record: Any, spec: EventSpec[Any]) -> None:
    schema = json.loads((SCHEMAS / spec.schema_file).read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(json.loads(record.value))
    parse_envelope(spec.topic, record.key, record.value, record.headers)
    assert dict(record.headers)["ce_source"] == b"/reintegration"


def _cursor(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


class TestCentreAccess:
    """Need-to-know: case workers act only on their centres' cases; analysts on none."""

    @pytest.fixture
    def gao_worker(self, client: httpx.AsyncClient, infra: Infra) -> Api:
        api = Api(client, infra.jwt_secret, Role.CASE_WORKER)
        token = issue_dev_token(
            infra.jwt_secret, Role.CASE_WORKER, subject="worker.gao", centres=["gao"]
        )
        api.headers = {"Authorization": f"Bearer {token}"}
        return api

    async def test_another_centres_case_is_not_found_for_every_route(
        self, register: Any, gao_worker: Api, worker: Api
    ) -> None:
        bamako = await one_case(register, centre="bamako")
        gao = await one_case(register, centre="gao")

        assert (await gao_worker.get(f"/cases/{gao}")).status_code == 200
        assert (await gao_worker.get(f"/cases/{bamako}")).status_code == 404
        assert (await gao_worker.post(f"/cases/{bamako}/aid", GRANT)).status_code == 404
        closing = {"reason": "remigrated"}
        assert (await gao_worker.post(f"/cases/{bamako}/close", closing)).status_code == 404
        activity = {
            "returnee_ids": [str(bamako)],
            "sector": "crafts",
            "location": {"region": "bamako", "commune": "Bamako"},
            "level": "individual",
        }
        refused = await gao_worker.post("/activities", activity)
        assert refused.status_code == 404, refused.text
        # Nothing happened to the Bamako case, which a national worker still sees open.
        untouched = (await worker.get(f"/cases/{bamako}")).json()
        assert untouched["status"] == "open" and untouched["aid"] == []

    async def test_listings_hold_only_the_readers_centres(
        self, register: Any, gao_worker: Api
    ) -> None:
        await register(centre="bamako", count=2)
        await register(centre="gao", count=2)

        everything: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = (await gao_worker.get("/cases", limit=200, **_cursor(cursor))).json()
            everything += page["items"]
            if not (cursor := page["next_cursor"]):
                break
        asked_for_bamako = (await gao_worker.get("/cases", centre="bamako")).json()

        assert {case["reception_centre"] for case in everything} == {"gao"}
        assert asked_for_bamako["items"] == []

    async def test_analysts_read_no_individual_case(self, register: Any, analyst: Api) -> None:
        returnee_id = await one_case(register, centre="kayes")

        assert (await analyst.get(f"/cases/{returnee_id}")).status_code == 403
        assert (await analyst.get("/cases")).status_code == 403


class TestReadingCases:
    async def test_a_case_holds_no_personal_data(self, register: Any, worker: Api) -> None:
        returnee_id = await one_case(register, centre="kayes")

        response = await worker.get(f"/cases/{returnee_id}")

        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "open"
        assert body["reception_centre"] == "kayes"
        assert body["budget"] == {
            "currency": "XOF",
            "limit": "1000000",
            "granted": "0",
            "remaining": "1000000",
        }
        for personal in ("Aminata", "Diarra", "+22365012345", "personal"):
            assert personal not in response.text

    async def test_an_unknown_case_is_404(self, worker: Api) -> None:
        response = await worker.get(f"/cases/{uuid.uuid4()}")

        assert response.status_code == 404
        assert response.json()["error"] == "case_not_found"

    async def test_cases_are_filtered_and_paginated(self, register: Any, worker: Api) -> None:
        await register(centre="tombouctou", count=3)

        first = (await worker.get("/cases", status="open", centre="tombouctou", limit=2)).json()
        cursor = first["next_cursor"]
        second = await worker.get("/cases", status="open", centre="tombouctou", cursor=cursor)

        assert len(first["items"]) == 2 and cursor
        page = second.json()["items"]
        assert page, "the registered cases continue on the next page"
        for item in first["items"] + page:
            assert (item["status"], item["reception_centre"]) == ("open", "tombouctou")
        last = first["items"][-1]
        assert all(
            (item["registered_at"], item["returnee_id"])
            > (last["registered_at"], last["returnee_id"])
            for item in page
        )

    async def test_a_forged_cursor_is_refused(self, worker: Api) -> None:
        response = await worker.get("/cases", cursor="bm90LWEtY3Vyc29y")

        assert response.status_code == 422
        assert response.json()["error"] == "invalid_cursor"

    async def test_reading_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/cases")).status_code == 401


class TestGrantingAid:
    async def test_granted_aid_is_on_the_case_and_on_its_topic(
        self, register: Any, worker: Api, infra: Infra
    ) -> None:
        returnee_id = await one_case(register)
        async with TopicReader(infra.kafka_bootstrap, AID_GRANTED_V1) as topic:
            response = await worker.post(f"/cases/{returnee_id}/aid", GRANT)
            assert response.status_code == 201
            aid = response.json()
            record = await topic.record_with("aid_id", aid["aid_id"])

        assert aid["granted_by"] == "case_worker.test"
        assert (aid["late"], aid["exceeded_budget"]) == (False, False)
        assert record.key == str(returnee_id).encode()
        assert_valid_against_committed_schema(record, AID_GRANTED_V1)
        case = (await worker.get(f"/cases/{returnee_id}")).json()
        assert [a["aid_id"] for a in case["aid"]] == [aid["aid_id"]]
        assert case["budget"]["remaining"] == "650000"

    async def test_the_callers_trace_continues_into_the_event(
        self, register: Any, worker: Api, infra: Infra
    ) -> None:
        returnee_id = await one_case(register)
        traceparent = f"00-{uuid.uuid4().hex}-b7ad6b7169203331-01"
        async with TopicReader(infra.kafka_bootstrap, AID_GRANTED_V1) as topic:
            response = await worker.client.post(
                f"/cases/{returnee_id}/aid",
                json=GRANT,
                headers={
                    **worker.headers,
                    "Idempotency-Key": str(uuid.uuid4()),
                    "traceparent": traceparent,
                },
            )
            assert response.status_code == 201
            record = await topic.record_with("aid_id", response.json()["aid_id"])

        assert dict(record.headers)["traceparent"] == traceparent.encode()

    async def test_immediate_care_after_72_hours_is_flagged_late(
        self, register: Any, worker: Api
    ) -> None:
        returnee_id = await one_case(register, arrival=TODAY - timedelta(days=4))
        lodging = {"phase": "immediate", "category": "lodging", "dimension": "social"}

        response = await worker.post(f"/cases/{returnee_id}/aid", lodging)

        assert response.status_code == 201
        assert response.json()["late"] is True

    async def test_money_needs_an_amount(self, register: Any, worker: Api) -> None:
        returnee_id = await one_case(register)
        cash = {"phase": "reintegration", "category": "cash", "dimension": "economic"}

        response = await worker.post(f"/cases/{returnee_id}/aid", cash)

        assert response.status_code == 422
        assert response.json()["error"] == "amount_required"

    async def test_an_amount_must_be_above_zero(self, register: Any, worker: Api) -> None:
        returnee_id = await one_case(register)
        zero = {**GRANT, "amount": {"amount": "0"}}

        response = await worker.post(f"/cases/{returnee_id}/aid", zero)

        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["body.amount.amount"]

    async def test_a_referral_names_its_partner(self, register: Any, worker: Api) -> None:
        returnee_id = await one_case(register)

        response = await worker.post(f"/cases/{returnee_id}/aid", {**GRANT, "modality": "referral"})

        assert response.status_code == 422
        assert "partner is required" in response.text

    async def test_control_characters_are_refused_in_free_text(
        self, register: Any, worker: Api
    ) -> None:
        returnee_id = await one_case(register)
        referral = {**GRANT, "modality": "referral", "partner": "Centre de sant\u00e9\x00 Kayes"}
        activity = {
            "returnee_ids": [str(returnee_id)],
            "sector": "crafts",
            "location": {"region": "gao", "commune": "Gao\x1b"},
            "level": "individual",
        }

        aid = await worker.post(f"/cases/{returnee_id}/aid", referral)
        launched = await worker.post("/activities", activity)

        assert aid.status_code == 422
        assert [e["field"] for e in aid.json()["errors"]] == ["body.partner"]
        assert launched.status_code == 422
        assert [e["field"] for e in launched.json()["errors"]] == ["body.location.commune"]

    async def test_only_a_supervisor_exceeds_the_budget(
        self, register: Any, worker: Api, supervisor: Api
    ) -> None:
        returnee_id = await one_case(register)
        path = f"/cases/{returnee_id}/aid"
        assert (
            await worker.post(path, {**GRANT, "amount": {"amount": "800000"}})
        ).status_code == 201

        refused = await worker.post(path, {**GRANT, "amount": {"amount": "300000"}})
        allowed = await supervisor.post(path, {**GRANT, "amount": {"amount": "300000"}})

        assert refused.status_code == 422
        assert refused.json()["error"] == "budget_exceeded"
        assert refused.json()["remaining_budget"] == {"amount": "200000", "currency": "XOF"}
        assert "200000 XOF" in refused.json()["detail"]
        assert allowed.status_code == 201
        assert allowed.json()["exceeded_budget"] is True

    async def test_a_closed_case_gets_no_aid(self, register: Any, worker: Api) -> None:
        returnee_id = await one_case(register)
        await worker.post(f"/cases/{returnee_id}/close", {"reason": "remigrated"})

        response = await worker.post(f"/cases/{returnee_id}/aid", GRANT)

        assert response.status_code == 409
        assert response.json()["error"] == "case_closed"

    async def test_an_unknown_case_gets_no_aid(self, worker: Api) -> None:
        response = await worker.post(f"/cases/{uuid.uuid4()}/aid", GRANT)

        assert response.status_code == 404
        assert response.json()["error"] == "case_not_found"

    async def test_analysts_cannot_grant(self, register: Any, analyst: Api) -> None:
        returnee_id = await one_case(register)

        assert (await analyst.post(f"/cases/{returnee_id}/aid", GRANT)).status_code == 403


class TestIdempotencyKey:
    async def test_a_retry_replays_the_first_answer(self, register: Any, worker: Api) -> None:
        returnee_id = await one_case(register)
        path = f"/cases/{returnee_id}/aid"
        key = str(uuid.uuid4())

        first = await worker.post(path, GRANT, key=key)
        again = await worker.post(path, dict(reversed(GRANT.items())), key=key)

        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert len((await worker.get(f"/cases/{returnee_id}")).json()["aid"]) == 1

    async def test_a_key_reused_for_another_request_is_refused(
        self, register: Any, worker: Api
    ) -> None:
        returnee_id = await one_case(register)
        path = f"/cases/{returnee_id}/aid"
        key = str(uuid.uuid4())
        await worker.post(path, GRANT, key=key)

        response = await worker.post(path, {**GRANT, "category": "cash"}, key=key)

        assert response.status_code == 409
        assert response.json()["error"] == "idempotency_key_reused"

    async def test_a_refused_request_does_not_burn_its_key(
        self, register: Any, worker: Api
    ) -> None:
        returnee_id = await one_case(register)
        path = f"/cases/{returnee_id}/aid"
        cash = {"phase": "reintegration", "category": "cash", "dimension": "economic"}
        key = str(uuid.uuid4())
        assert (await worker.post(path, cash, key=key)).status_code == 422

        response = await worker.post(path, {**cash, "amount": {"amount": "1000"}}, key=key)

        assert response.status_code == 201

    async def test_every_post_needs_a_key(self, worker: Api) -> None:
        response = await worker.client.post("/activities", json={}, headers=worker.headers)

        # 428 before the body is even looked at: the request can be sent again, with a key.
        assert response.status_code == 428
        assert response.json()["error"] == "idempotency_key_required"
        assert response.json()["field"] == "header.Idempotency-Key"


class TestLaunchingActivities:
    async def test_a_collective_activity_records_shares_and_is_published(
        self, register: Any, worker: Api, infra: Infra
    ) -> None:
        first, second = await register(count=2)
        aid = (await worker.post(f"/cases/{first}/aid", GRANT)).json()
        body = {
            "returnee_ids": [str(first), str(second)],
            "sector": "agriculture",
            "location": {"region": "kayes", "commune": "Nioro"},
            "funding": {"amount": "500000"},
            "shares": [
                {"returnee_id": str(first), "amount": {"amount": "300000"}},
                {"returnee_id": str(second), "amount": {"amount": "200000"}},
            ],
            "aid_ids": [aid["aid_id"]],
            "level": "collective",
        }
        async with TopicReader(infra.kafka_bootstrap, ACTIVITY_LAUNCHED_V1) as topic:
            response = await worker.post("/activities", body)
            assert response.status_code == 201
            activity = response.json()
            record = await topic.record_with("activity_id", activity["activity_id"])

        assert_valid_against_committed_schema(record, ACTIVITY_LAUNCHED_V1)
        assert record.key == str(first).encode()
        for returnee_id in (first, second):
            case = (await worker.get(f"/cases/{returnee_id}")).json()
            (listed,) = case["activities"]
            assert listed["activity_id"] == activity["activity_id"]
            assert listed["shares"] == activity["shares"]
            assert listed["aid_ids"] == [aid["aid_id"]]

    async def test_every_participant_needs_an_open_case(self, register: Any, worker: Api) -> None:
        first, closed = await register(count=2)
        await worker.post(f"/cases/{closed}/close", {"reason": "deceased"})
        body = {
            "returnee_ids": [str(first), str(closed)],
            "sector": "commerce",
            "location": {"region": "gao"},
            "level": "community",
        }

        response = await worker.post("/activities", body)
        unknown = await worker.post("/activities", {**body, "returnee_ids": [str(uuid.uuid4())]})

        assert response.status_code == 409
        assert response.json()["returnee_ids"] == [str(closed)]
        assert unknown.status_code == 404

    async def test_linked_aid_must_be_a_participants(self, register: Any, worker: Api) -> None:
        participant, other = await register(count=2)
        others_aid = (await worker.post(f"/cases/{other}/aid", GRANT)).json()
        body = {
            "returnee_ids": [str(participant)],
            "sector": "crafts",
            "location": {"region": "gao"},
            "aid_ids": [others_aid["aid_id"]],
            "level": "individual",
        }

        response = await worker.post("/activities", body)

        assert response.status_code == 422
        assert response.json()["error"] == "aid_not_granted_to_participants"
        assert response.json()["aid_ids"] == [others_aid["aid_id"]]

    async def test_a_funded_collective_activity_needs_shares(
        self, register: Any, worker: Api
    ) -> None:
        first, second = await register(count=2)
        body = {
            "returnee_ids": [str(first), str(second)],
            "sector": "livestock",
            "location": {"region": "mopti"},
            "funding": {"amount": "500000"},
            "level": "collective",
        }

        response = await worker.post("/activities", body)

        assert response.status_code == 422
        assert response.json()["error"] == "shares_required"


class TestClosingCases:
    async def test_a_case_is_closed_once_with_a_listed_reason(
        self, register: Any, worker: Api
    ) -> None:
        returnee_id = await one_case(register)
        path = f"/cases/{returnee_id}/close"

        closed = await worker.post(path, {"reason": "reintegration_completed"})
        again = await worker.post(path, {"reason": "remigrated"})
        unlisted = await worker.post(path, {"reason": "bored"})

        assert closed.status_code == 200
        assert closed.json()["status"] == "closed"
        assert closed.json()["closure_reason"] == "reintegration_completed"
        assert again.status_code == 409
        assert again.json()["error"] == "case_closed"
        assert unlisted.status_code == 422


async def test_every_post_documents_valid_examples(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    models: dict[str, type[BaseModel]] = {
        "/cases/{returnee_id}/aid": GrantAid,
        "/activities": LaunchActivity,
        "/cases/{returnee_id}/close": CloseCase,
    }
    posts = {path for path, item in document["paths"].items() if "post" in item}
    assert posts == set(models)

    for path, model in models.items():
        ref = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        name = ref["schema"]["$ref"].rsplit("/", 1)[1]
        examples = document["components"]["schemas"][name]["examples"]
        assert examples, f"{path} has no example body"
        for example in examples:
            model.model_validate(example)
