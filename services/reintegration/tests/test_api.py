"""The HTTP API against the real database and broker, with the service's lifespan running.

Cases are opened the real way: registrations are produced to a private topic that this app's
consumer reads. Granted aid and launched activities are read back from the real topics.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import jsonschema
import pytest

from retour_contracts import ACTIVITY_LAUNCHED_V1, AID_GRANTED_V1
from retour_kit.auth import Role
from retour_test_infra import Infra, TopicProbe

from .reintegration_http import (
    TODAY,
    CaseOpener,
    ServedApp,
    Staff,
    assert_on_the_wire,
    first_with,
    served,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def app(infra: Infra) -> AsyncIterator[ServedApp]:
    async with served(infra, "api", partitions=2, reintegration_budget_xof=1_000_000) as app:
        yield app


@pytest.fixture(scope="module")
def client(app: ServedApp) -> httpx.AsyncClient:
    return app.client


@pytest.fixture(scope="module")
def worker(app: ServedApp) -> Staff:
    return app.staff(Role.CASE_WORKER, "case_worker.test")


@pytest.fixture(scope="module")
def supervisor(app: ServedApp) -> Staff:
    return app.staff(Role.SUPERVISOR, "supervisor.test")


@pytest.fixture(scope="module")
def analyst(app: ServedApp) -> Staff:
    return app.staff(Role.ANALYST, "analyst.test")


@pytest.fixture(scope="module")
async def open_case(app: ServedApp, worker: Staff) -> AsyncIterator[CaseOpener]:
    async with app.opening_cases(reader=worker) as opener:
        yield opener


GRANT = {
    "phase": "reintegration",
    "category": "business_start_up_grant",
    "dimension": "economic",
    "amount": {"amount": "350000", "currency": "XOF"},
}


def _cursor(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


class TestCentreAccess:
    """Need-to-know: case workers act only on their centres' cases; analysts on none."""

    @pytest.fixture
    def gao_worker(self, app: ServedApp) -> Staff:
        return app.staff(Role.CASE_WORKER, "worker.gao", "gao")

    async def test_another_centres_case_is_not_found_for_every_route(
        self, open_case: CaseOpener, gao_worker: Staff, worker: Staff
    ) -> None:
        bamako = await open_case(centre="bamako")
        gao = await open_case(centre="gao")

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
        self, open_case: CaseOpener, gao_worker: Staff
    ) -> None:
        await open_case.many(2, centre="bamako")
        await open_case.many(2, centre="gao")

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

    async def test_analysts_read_no_individual_case(
        self, open_case: CaseOpener, analyst: Staff
    ) -> None:
        returnee_id = await open_case(centre="kayes")

        assert (await analyst.get(f"/cases/{returnee_id}")).status_code == 403
        assert (await analyst.get("/cases")).status_code == 403


class TestReadingCases:
    async def test_a_case_holds_no_personal_data(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        returnee_id = await open_case(centre="kayes")

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

    async def test_an_unknown_case_is_404(self, worker: Staff) -> None:
        response = await worker.get(f"/cases/{uuid.uuid4()}")

        assert response.status_code == 404
        assert response.json()["error"] == "case_not_found"

    async def test_cases_are_filtered_and_paginated(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        await open_case.many(3, centre="tombouctou")

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

    async def test_a_forged_cursor_is_refused(self, worker: Staff) -> None:
        response = await worker.get("/cases", cursor="bm90LWEtY3Vyc29y")

        assert response.status_code == 422
        assert response.json()["error"] == "invalid_cursor"

    async def test_reading_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/cases")).status_code == 401


class TestGrantingAid:
    async def test_granted_aid_is_on_the_case_and_on_its_topic(
        self, open_case: CaseOpener, worker: Staff, infra: Infra
    ) -> None:
        returnee_id = await open_case()
        async with TopicProbe(infra.kafka_bootstrap, AID_GRANTED_V1.topic) as probe:
            response = await worker.post(f"/cases/{returnee_id}/aid", GRANT)
            assert response.status_code == 201
            aid = response.json()
            record = await first_with(probe, "aid_id", aid["aid_id"])

        assert aid["granted_by"] == "case_worker.test"
        assert (aid["late"], aid["exceeded_budget"]) == (False, False)
        assert record.key == str(returnee_id).encode()
        assert_on_the_wire(record, AID_GRANTED_V1)
        case = (await worker.get(f"/cases/{returnee_id}")).json()
        assert [a["aid_id"] for a in case["aid"]] == [aid["aid_id"]]
        assert case["budget"]["remaining"] == "650000"

    async def test_the_callers_trace_continues_into_the_event(
        self, open_case: CaseOpener, worker: Staff, infra: Infra
    ) -> None:
        returnee_id = await open_case()
        traceparent = f"00-{uuid.uuid4().hex}-b7ad6b7169203331-01"
        async with TopicProbe(infra.kafka_bootstrap, AID_GRANTED_V1.topic) as probe:
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
            record = await first_with(probe, "aid_id", response.json()["aid_id"])

        version, trace_id, _, flags = dict(record.headers)["traceparent"].decode().split("-")
        # Same trace; the parent span is the caller's, or, when the relay that published the
        # row records spans (this app's or the stack's, which shares the schema), its producer
        # span in that trace (the chain itself: tests/test_tracing_end_to_end.py).
        assert [version, trace_id, flags] == [traceparent.split("-")[i] for i in (0, 1, 3)]

    async def test_immediate_care_after_72_hours_is_flagged_late(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        returnee_id = await open_case(arrival=TODAY - timedelta(days=4))
        lodging = {"phase": "immediate", "category": "lodging", "dimension": "social"}

        response = await worker.post(f"/cases/{returnee_id}/aid", lodging)

        assert response.status_code == 201
        assert response.json()["late"] is True

    async def test_money_needs_an_amount(self, open_case: CaseOpener, worker: Staff) -> None:
        returnee_id = await open_case()
        cash = {"phase": "reintegration", "category": "cash", "dimension": "economic"}

        response = await worker.post(f"/cases/{returnee_id}/aid", cash)

        assert response.status_code == 422
        assert response.json()["error"] == "amount_required"

    async def test_an_amount_must_be_above_zero(self, open_case: CaseOpener, worker: Staff) -> None:
        returnee_id = await open_case()
        zero = {**GRANT, "amount": {"amount": "0"}}

        response = await worker.post(f"/cases/{returnee_id}/aid", zero)

        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["body.amount.amount"]

    async def test_a_referral_names_its_partner(self, open_case: CaseOpener, worker: Staff) -> None:
        returnee_id = await open_case()

        response = await worker.post(f"/cases/{returnee_id}/aid", {**GRANT, "modality": "referral"})

        assert response.status_code == 422
        assert "partner is required" in response.text

    async def test_control_characters_are_refused_in_free_text(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        returnee_id = await open_case()
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
        self, open_case: CaseOpener, worker: Staff, supervisor: Staff
    ) -> None:
        returnee_id = await open_case()
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

    async def test_a_closed_case_gets_no_aid(self, open_case: CaseOpener, worker: Staff) -> None:
        returnee_id = await open_case()
        await worker.post(f"/cases/{returnee_id}/close", {"reason": "remigrated"})

        response = await worker.post(f"/cases/{returnee_id}/aid", GRANT)

        assert response.status_code == 409
        assert response.json()["error"] == "case_closed"

    async def test_an_unknown_case_gets_no_aid(self, worker: Staff) -> None:
        response = await worker.post(f"/cases/{uuid.uuid4()}/aid", GRANT)

        assert response.status_code == 404
        assert response.json()["error"] == "case_not_found"

    async def test_analysts_cannot_grant(self, open_case: CaseOpener, analyst: Staff) -> None:
        returnee_id = await open_case()

        assert (await analyst.post(f"/cases/{returnee_id}/aid", GRANT)).status_code == 403


class TestIdempotencyKey:
    async def test_a_retry_replays_the_first_answer(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        returnee_id = await open_case()
        path = f"/cases/{returnee_id}/aid"
        key = str(uuid.uuid4())

        first = await worker.post(path, GRANT, key=key)
        again = await worker.post(path, dict(reversed(GRANT.items())), key=key)

        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert len((await worker.get(f"/cases/{returnee_id}")).json()["aid"]) == 1

    async def test_a_key_reused_for_another_request_is_refused(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        returnee_id = await open_case()
        path = f"/cases/{returnee_id}/aid"
        key = str(uuid.uuid4())
        await worker.post(path, GRANT, key=key)

        response = await worker.post(path, {**GRANT, "category": "cash"}, key=key)

        assert response.status_code == 409
        assert response.json()["error"] == "idempotency_key_reused"

    async def test_a_refused_request_does_not_burn_its_key(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        returnee_id = await open_case()
        path = f"/cases/{returnee_id}/aid"
        cash = {"phase": "reintegration", "category": "cash", "dimension": "economic"}
        key = str(uuid.uuid4())
        assert (await worker.post(path, cash, key=key)).status_code == 422

        response = await worker.post(path, {**cash, "amount": {"amount": "1000"}}, key=key)

        assert response.status_code == 201

    async def test_every_post_needs_a_key(self, worker: Staff) -> None:
        response = await worker.client.post("/activities", json={}, headers=worker.headers)

        # 428 before the body is even looked at: the request can be sent again, with a key.
        assert response.status_code == 428
        assert response.json()["error"] == "idempotency_key_required"
        assert response.json()["field"] == "header.Idempotency-Key"


class TestLaunchingActivities:
    async def test_a_collective_activity_records_shares_and_is_published(
        self, open_case: CaseOpener, worker: Staff, infra: Infra
    ) -> None:
        first, second = await open_case.many(2)
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
        async with TopicProbe(infra.kafka_bootstrap, ACTIVITY_LAUNCHED_V1.topic) as probe:
            response = await worker.post("/activities", body)
            assert response.status_code == 201
            activity = response.json()
            record = await first_with(probe, "activity_id", activity["activity_id"])

        assert_on_the_wire(record, ACTIVITY_LAUNCHED_V1)
        assert record.key == str(first).encode()
        for returnee_id in (first, second):
            case = (await worker.get(f"/cases/{returnee_id}")).json()
            (listed,) = case["activities"]
            assert listed["activity_id"] == activity["activity_id"]
            assert listed["shares"] == activity["shares"]
            assert listed["aid_ids"] == [aid["aid_id"]]

    async def test_every_participant_needs_an_open_case(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        first, closed = await open_case.many(2)
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

    async def test_linked_aid_must_be_a_participants(
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        participant, other = await open_case.many(2)
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
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        first, second = await open_case.many(2)
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
        self, open_case: CaseOpener, worker: Staff
    ) -> None:
        returnee_id = await open_case()
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


async def test_every_write_documents_valid_examples(client: httpx.AsyncClient) -> None:
    """Every POST and PATCH body shows at least one example, valid against its own schema (for
    a body of several kinds, each kind shows one)."""
    document = (await client.get("/openapi.json")).json()
    writes = [
        (path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"post", "patch"}
    ]
    assert {path for path, _ in writes} >= {
        "/cases/{returnee_id}/aid",
        "/activities",
        "/cases/{returnee_id}/close",
        "/cases/{returnee_id}/assignment",
        "/cases/{returnee_id}/assessments",
        "/cases/{returnee_id}/follow-ups/{follow_up_id}/visit",
        "/cases/{returnee_id}/reopening",
    }

    for path, operation in writes:
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        kinds = [kind["$ref"] for kind in body.get("oneOf", [body])]
        for ref in kinds:
            name = ref.rsplit("/", 1)[1]
            examples = document["components"]["schemas"][name].get("examples")
            assert examples, f"{path}: {name} has no example body"
            validator = jsonschema.Draft202012Validator(
                {"$ref": ref, "components": document["components"]}
            )
            for example in examples:
                validator.validate(example)
