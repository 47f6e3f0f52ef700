"""The partner registry, reintegration plans and referrals through the HTTP API, against the
real database and broker with the service's lifespan running.

Cases are opened the real way: registrations go to a topic of this module's that the app's
consumer reads. ``reintegration.plan_agreed`` and ``referral.updated`` are read back from the
real topics, after the outbox relay published them, and checked against the committed schemas.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from pydantic import BaseModel

from retour_contracts import PLAN_AGREED_V1, REFERRAL_UPDATED_V1, EventSpec
from retour_kit.auth import Role
from retour_reintegration.domain.partner_commands import ChangePartner, RegisterPartner
from retour_reintegration.domain.plan_commands import AgreePlan, ChangeItemStatus, DraftRevision
from retour_reintegration.domain.referral_commands import ChangeReferralStatus, SendReferral
from retour_test_infra import Infra, TopicProbe

from .reintegration_http import TODAY, CaseOpener, ServedApp, Staff, assert_on_the_wire, served

pytestmark = pytest.mark.integration

CONSUMED = ("returnee.registered", "returnee.updated", "returnee.merged")


@pytest.fixture(scope="module")
async def app(infra: Infra) -> AsyncIterator[ServedApp]:
    async with served(infra, "plans", events=CONSUMED, partitions=1) as app:
        yield app


@pytest.fixture(scope="module")
def client(app: ServedApp) -> httpx.AsyncClient:
    return app.client


StaffOf = Callable[..., Staff]


@pytest.fixture(scope="module")
def staff(app: ServedApp) -> StaffOf:
    def of(role: Role, *centres: str) -> Staff:
        return app.staff(role, f"{role.value}.{'.'.join(centres) or 'national'}", *centres)

    return of


@pytest.fixture(scope="module")
def supervisor(staff: StaffOf) -> Staff:
    """A national supervisor: every centre."""
    return staff(Role.SUPERVISOR)


@pytest.fixture(scope="module")
def gao_worker(staff: StaffOf) -> Staff:
    return staff(Role.CASE_WORKER, "gao")


@pytest.fixture(scope="module")
async def open_case(app: ServedApp, supervisor: Staff) -> AsyncIterator[CaseOpener]:
    async with app.opening_cases(reader=supervisor) as opener:
        yield opener


def partner_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Centre de formation {uuid4().hex[:6]}",
        "centres": ["gao"],
        "services": ["vocational_training", "in_kind_kit"],
        "contact": {"name": "Accueil", "phone": "+223 21 82 00 00", "email": "accueil@cf.example"},
    }
    body.update(changes)
    return body


async def a_partner(supervisor: Staff, **changes: Any) -> dict[str, Any]:
    made = await supervisor.post("/partners", partner_body(**changes))
    assert made.status_code == 201, made.text
    return dict(made.json())


@pytest.fixture(scope="module")
async def gao_partner(supervisor: Staff) -> dict[str, Any]:
    return await a_partner(supervisor)


def training(partner: dict[str, Any], **changes: Any) -> dict[str, Any]:
    item = {
        "dimension": "economic",
        "category": "vocational_training",
        "provider": "partner",
        "partner_id": partner["partner_id"],
        "target_date": (TODAY + timedelta(days=60)).isoformat(),
    }
    return {**item, **changes}


COUNSELLING = {
    "dimension": "psychosocial",
    "category": "psychosocial",
    "provider": "retour",
    "target_date": (TODAY + timedelta(days=20)).isoformat(),
}


async def agreed_plan(worker: Staff, returnee_id: UUID, partner: dict[str, Any]) -> dict[str, Any]:
    """A plan of a training by ``partner`` and counselling by retour, agreed today."""
    drafted = await worker.post(
        f"/cases/{returnee_id}/plan/revisions", {"items": [training(partner), COUNSELLING]}
    )
    assert drafted.status_code == 201, drafted.text
    revision = drafted.json()["revision"]
    agreement = {"revision": revision, "agreed_on": TODAY.isoformat()}
    agreed = await worker.post(f"/cases/{returnee_id}/plan/agreement", agreement)
    assert agreed.status_code == 200, agreed.text
    return dict(agreed.json())


async def published(
    probe: TopicProbe, spec: EventSpec[Any], expected: int = 1, **fields: str
) -> list[Any]:
    """The records of ``spec``'s topic whose body has ``fields``, checked against the committed
    schema and the contract, once ``expected`` of them arrived."""

    def matching(records: list[Any]) -> list[Any]:
        return [r for r in records if fields.items() <= json.loads(r.value).items()]

    enough = await probe.collect(lambda records: len(matching(records)) >= expected, within=15)
    found = matching(enough)
    assert len(found) == expected, f"{len(found)} {spec.topic} records with {fields}"
    for record in found:
        assert_on_the_wire(record, spec)
    return found


def refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    body = response.json()
    return response.status_code, body["error"], body.get("field")


class TestPartnerRegistry:
    async def test_supervisors_register_partners_that_staff_read(
        self, supervisor: Staff, gao_worker: Staff, staff: StaffOf
    ) -> None:
        body = partner_body(regions=["kidal"])
        made = await supervisor.post("/partners", body)

        assert made.status_code == 201, made.text
        partner = made.json()
        assert partner["contact"] == body["contact"]  # staff need it
        assert partner["dimensions"] == ["economic"]
        assert (partner["served_centres"], partner["active"]) == (["gao"], True)
        assert partner["created_by"] == supervisor.subject
        read = await gao_worker.get(f"/partners/{partner['partner_id']}")
        assert (read.status_code, read.json()) == (200, partner)
        analyst = staff(Role.ANALYST)
        assert (await analyst.get("/partners")).status_code == 403
        assert (await analyst.get(f"/partners/{partner['partner_id']}")).status_code == 403

    async def test_case_workers_and_analysts_manage_no_partner(
        self, staff: StaffOf, gao_worker: Staff, gao_partner: dict[str, Any]
    ) -> None:
        for caller in (gao_worker, staff(Role.ANALYST)):
            assert (await caller.post("/partners", partner_body())).status_code == 403
            path = f"/partners/{gao_partner['partner_id']}"
            assert (await caller.patch(path, {"active": False})).status_code == 403

    async def test_a_supervisor_of_a_centre_manages_its_partners_only(
        self, staff: StaffOf, supervisor: Staff
    ) -> None:
        gao_supervisor = staff(Role.SUPERVISOR, "gao")
        bamakos = await a_partner(supervisor, centres=["bamako"])

        own = await gao_supervisor.post("/partners", partner_body(regions=["gao", "kidal"]))
        elsewhere = await gao_supervisor.post("/partners", partner_body(centres=["gao", "bamako"]))
        by_region = await gao_supervisor.post("/partners", partner_body(regions=["kayes"]))
        not_its = await gao_supervisor.patch(f"/partners/{bamakos['partner_id']}", {"name": "X"})
        widened = await gao_supervisor.patch(
            f"/partners/{own.json()['partner_id']}", {"centres": ["gao", "mopti"]}
        )

        assert own.status_code == 201, own.text
        assert refusal(elsewhere) == (403, "outside_your_centres", "body.centres")
        assert refusal(by_region) == (403, "outside_your_centres", "body.regions")
        assert refusal(not_its) == (403, "outside_your_centres", "path.partner_id")
        assert refusal(widened) == (403, "outside_your_centres", "body.centres")
        unchanged = await supervisor.get(f"/partners/{bamakos['partner_id']}")
        assert unchanged.json()["name"] == bamakos["name"]

    async def test_a_partner_is_deactivated_never_deleted(self, supervisor: Staff) -> None:
        partner = await a_partner(supervisor, centres=["mopti"], services=["medical"])
        path = f"/partners/{partner['partner_id']}"

        changed = await supervisor.patch(path, {"active": False, "contact": None})
        active = await supervisor.get("/partners", centre="mopti", active=True)
        inactive = await supervisor.get("/partners", centre="mopti", active=False)
        deleted = await supervisor.client.delete(path, headers=supervisor.headers)

        assert changed.status_code == 200, changed.text
        assert (changed.json()["active"], changed.json()["contact"]) == (False, None)
        assert changed.json()["updated_by"] == supervisor.subject
        assert partner["partner_id"] not in [p["partner_id"] for p in active.json()["items"]]
        assert partner["partner_id"] in [p["partner_id"] for p in inactive.json()["items"]]
        assert deleted.status_code == 405
        assert (await supervisor.get(path)).status_code == 200

    async def test_partners_are_listed_by_centre_served_and_service(
        self, supervisor: Staff, gao_worker: Staff
    ) -> None:
        by_region = await a_partner(
            supervisor, centres=[], regions=["tombouctou"], services=["psychosocial"]
        )
        elsewhere = await a_partner(supervisor, centres=["kayes"], services=["psychosocial"])

        listed = await gao_worker.get("/partners", centre="tombouctou", service="psychosocial")

        names = [p["name"] for p in listed.json()["items"]]
        assert by_region["name"] in names and elsewhere["name"] not in names
        assert all("psychosocial" in p["services"] for p in listed.json()["items"])
        assert all("tombouctou" in p["served_centres"] for p in listed.json()["items"])

    async def test_a_partner_serves_someone_and_fields_are_named(self, supervisor: Staff) -> None:
        nobody = await supervisor.post("/partners", partner_body(centres=[], regions=[]))
        unnamed = await supervisor.patch(f"/partners/{uuid4()}", {"name": None})
        missing = await supervisor.patch(f"/partners/{uuid4()}", {"active": False})

        assert refusal(nobody) == (422, "partner_reach_required", "body.centres")
        assert [e["field"] for e in unnamed.json()["errors"]] == ["body.name"]
        assert refusal(missing)[:2] == (404, "partner_not_found")

    async def test_a_refused_contact_is_not_echoed(self, supervisor: Staff) -> None:
        phone = "call 76 12 34 56 after 5"
        body = partner_body(contact={"name": "Accueil", "phone": phone})

        refused = await supervisor.post("/partners", body)

        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["body.contact.phone"]
        assert phone not in refused.text


class TestPlans:
    async def test_a_plan_is_drafted_then_agreed_and_published(
        self, open_case: CaseOpener, gao_worker: Staff, gao_partner: dict[str, Any], infra: Infra
    ) -> None:
        returnee_id = await open_case(arrival=TODAY - timedelta(days=12))
        body = {"items": [training(gao_partner), COUNSELLING]}
        drafted = await gao_worker.post(f"/cases/{returnee_id}/plan/revisions", body)
        assert drafted.status_code == 201, drafted.text
        agreement = {"revision": 1, "agreed_on": TODAY.isoformat()}

        async with TopicProbe(infra.kafka_bootstrap, PLAN_AGREED_V1.topic) as probe:
            agreed = await gao_worker.post(f"/cases/{returnee_id}/plan/agreement", agreement)
            assert agreed.status_code == 200, agreed.text
            (record,) = await published(probe, PLAN_AGREED_V1, returnee_id=str(returnee_id))

        revision = drafted.json()
        assert (revision["revision"], revision["agreed_on"]) == (1, None)
        assert revision["drafted_by"] == gao_worker.subject
        assert agreed.json()["agreed_by"] == gao_worker.subject
        assert agreed.json()["agreed_on"] == TODAY.isoformat()
        assert record.key == str(returnee_id).encode()
        event = json.loads(record.value)
        assert (event["revision"], event["agreed_on"]) == (1, TODAY.isoformat())
        assert [i["item_id"] for i in event["items"]] == [i["item_id"] for i in revision["items"]]
        assert event["items"][0]["partner_id"] == gao_partner["partner_id"]
        plan = (await gao_worker.get(f"/cases/{returnee_id}/plan")).json()
        assert plan["agreed"] == plan["current"] == agreed.json()
        assert (plan["days_from_arrival_to_agreement"], plan["agreed_within_a_month"]) == (12, True)
        assert plan["target_days"] == 30

    async def test_a_plan_agreed_late_is_outside_the_month(
        self, open_case: CaseOpener, gao_worker: Staff, gao_partner: dict[str, Any]
    ) -> None:
        returnee_id = await open_case(arrival=TODAY - timedelta(days=45))
        before = (await gao_worker.get(f"/cases/{returnee_id}/plan")).json()
        await agreed_plan(gao_worker, returnee_id, gao_partner)

        plan = (await gao_worker.get(f"/cases/{returnee_id}/plan")).json()

        assert (before["current"], before["days_from_arrival_to_agreement"]) == (None, None)
        assert before["agreed_within_a_month"] is None
        assert (plan["days_from_arrival_to_agreement"], plan["agreed_within_a_month"]) == (
            45,
            False,
        )

    async def test_revisions_carry_items_over_and_keep_the_history(
        self, open_case: CaseOpener, gao_worker: Staff, gao_partner: dict[str, Any]
    ) -> None:
        returnee_id = await open_case(arrival=TODAY - timedelta(days=5))
        first = await agreed_plan(gao_worker, returnee_id, gao_partner)
        kept = first["items"][0]
        carried = {**training(gao_partner), "item_id": kept["item_id"], "status": "in_progress"}
        kit = training(gao_partner, category="in_kind_kit")

        second = await gao_worker.post(
            f"/cases/{returnee_id}/plan/revisions", {"items": [carried, kit]}
        )
        plan = (await gao_worker.get(f"/cases/{returnee_id}/plan")).json()

        assert second.status_code == 201, second.text
        items = second.json()["items"]
        assert items[0]["item_id"] == kept["item_id"]
        assert items[1]["item_id"] not in {i["item_id"] for i in first["items"]}
        assert [r["revision"] for r in plan["revisions"]] == [1, 2]
        assert (plan["current"]["revision"], plan["agreed"]["revision"]) == (2, 1)
        (change,) = plan["status_changes"]
        assert (change["item_id"], change["revision"]) == (kept["item_id"], 2)
        assert (change["from_status"], change["to_status"]) == ("planned", "in_progress")
        assert plan["days_from_arrival_to_agreement"] == 5

    async def test_a_retried_write_replays_its_first_answer(
        self, open_case: CaseOpener, gao_worker: Staff
    ) -> None:
        returnee_id = await open_case()
        drafting, agreeing, setting = str(uuid4()), str(uuid4()), str(uuid4())
        path = f"/cases/{returnee_id}/plan"
        body = {"items": [COUNSELLING]}
        agreement = {"revision": 1, "agreed_on": TODAY.isoformat()}

        drafted = [await gao_worker.post(f"{path}/revisions", body, drafting) for _ in range(2)]
        agreed = [await gao_worker.post(f"{path}/agreement", agreement, agreeing) for _ in range(2)]
        item = f"{path}/items/{drafted[0].json()['items'][0]['item_id']}"
        done = [await gao_worker.patch(item, {"status": "done"}, setting) for _ in range(2)]
        reused = await gao_worker.patch(item, {"status": "cancelled"}, setting)

        for first, again in (drafted, agreed, done):
            assert again.status_code == first.status_code < 300
            assert again.json() == first.json()
            assert again.headers["Idempotent-Replayed"] == "true"
        assert refusal(reused)[:2] == (409, "idempotency_key_reused")
        plan = (await gao_worker.get(path)).json()
        assert [r["revision"] for r in plan["revisions"]] == [1]
        assert len(plan["status_changes"]) == 1

    async def test_only_the_latest_draft_is_agreed(
        self, open_case: CaseOpener, gao_worker: Staff, gao_partner: dict[str, Any]
    ) -> None:
        returnee_id = await open_case()
        await agreed_plan(gao_worker, returnee_id, gao_partner)
        path = f"/cases/{returnee_id}/plan/agreement"
        today = TODAY.isoformat()

        again = await gao_worker.post(path, {"revision": 1, "agreed_on": today})
        await gao_worker.post(f"/cases/{returnee_id}/plan/revisions", {"items": [COUNSELLING]})
        outdated = await gao_worker.post(path, {"revision": 1, "agreed_on": today})
        unknown = await gao_worker.post(path, {"revision": 3, "agreed_on": today})

        assert refusal(again) == (409, "plan_revision_agreed", "body.revision")
        assert refusal(outdated) == (409, "plan_revision_outdated", "body.revision")
        assert outdated.json()["current_revision"] == 2
        assert refusal(unknown) == (422, "plan_revision_unknown", "body.revision")

    async def test_the_day_of_agreement_is_neither_ahead_nor_before_arrival(
        self, open_case: CaseOpener, gao_worker: Staff
    ) -> None:
        returnee_id = await open_case(arrival=TODAY - timedelta(days=3))
        await gao_worker.post(f"/cases/{returnee_id}/plan/revisions", {"items": [COUNSELLING]})
        path = f"/cases/{returnee_id}/plan/agreement"

        ahead = await gao_worker.post(
            path, {"revision": 1, "agreed_on": (TODAY + timedelta(days=1)).isoformat()}
        )
        before = await gao_worker.post(
            path, {"revision": 1, "agreed_on": (TODAY - timedelta(days=4)).isoformat()}
        )

        assert refusal(ahead) == (422, "agreed_on_in_future", "body.agreed_on")
        assert refusal(before) == (422, "agreed_on_before_arrival", "body.agreed_on")

    async def test_a_partner_item_names_a_partner_able_to_take_the_returnee(
        self, open_case: CaseOpener, gao_worker: Staff, supervisor: Staff
    ) -> None:
        returnee_id = await open_case()
        inactive = await a_partner(supervisor)
        await supervisor.patch(f"/partners/{inactive['partner_id']}", {"active": False})
        bamakos = await a_partner(supervisor, centres=["bamako"])
        path = f"/cases/{returnee_id}/plan/revisions"

        answers = [
            await gao_worker.post(path, {"items": [COUNSELLING, item]})
            for item in (
                training({"partner_id": str(uuid4())}),
                training(inactive),
                training(bamakos),
                {**COUNSELLING, "provider": "partner"},
            )
        ]

        assert [refusal(answer) for answer in answers] == [
            (422, rule, "body.items.1.partner_id")
            for rule in (
                "partner_unknown",
                "partner_inactive",
                "partner_outside_centre",
                "partner_required",
            )
        ]
        assert (await gao_worker.get(f"/cases/{returnee_id}/plan")).json()["revisions"] == []

    async def test_an_items_status_history_is_kept(
        self, open_case: CaseOpener, gao_worker: Staff, staff: StaffOf, gao_partner: dict[str, Any]
    ) -> None:
        returnee_id = await open_case()
        plan = await agreed_plan(gao_worker, returnee_id, gao_partner)
        item_id = plan["items"][1]["item_id"]
        path = f"/cases/{returnee_id}/plan/items/{item_id}"
        colleague = staff(Role.SUPERVISOR, "gao")

        started = await gao_worker.patch(path, {"status": "in_progress"})
        done = await colleague.patch(path, {"status": "done"})
        unknown = await gao_worker.patch(
            f"/cases/{returnee_id}/plan/items/{uuid4()}", {"status": "done"}
        )
        history = (await gao_worker.get(f"/cases/{returnee_id}/plan")).json()

        assert (started.status_code, done.status_code) == (200, 200)
        assert done.json() == {**plan["items"][1], "status": "done"}
        assert refusal(unknown)[:2] == (404, "plan_item_not_found")
        assert [
            (c["from_status"], c["to_status"], c["changed_by"]) for c in history["status_changes"]
        ] == [
            ("planned", "in_progress", gao_worker.subject),
            ("in_progress", "done", colleague.subject),
        ]
        assert history["agreed"]["items"][1]["status"] == "done"

    async def test_a_closed_case_gets_no_plan_work(
        self, open_case: CaseOpener, gao_worker: Staff
    ) -> None:
        returnee_id = await open_case()
        await gao_worker.post(f"/cases/{returnee_id}/plan/revisions", {"items": [COUNSELLING]})
        closed = await gao_worker.post(f"/cases/{returnee_id}/close", {"reason": "remigrated"})
        assert closed.status_code == 200, closed.text

        drafted = await gao_worker.post(
            f"/cases/{returnee_id}/plan/revisions", {"items": [COUNSELLING]}
        )
        agreed = await gao_worker.post(
            f"/cases/{returnee_id}/plan/agreement",
            {"revision": 1, "agreed_on": TODAY.isoformat()},
        )

        assert refusal(drafted)[:2] == refusal(agreed)[:2] == (409, "case_closed")
        assert (await gao_worker.get(f"/cases/{returnee_id}/plan")).status_code == 200

    async def test_another_centres_plan_is_not_found(
        self, open_case: CaseOpener, staff: StaffOf, gao_worker: Staff
    ) -> None:
        returnee_id = await open_case(centre="bamako")
        bamako_worker = staff(Role.CASE_WORKER, "bamako")
        plan = await bamako_worker.post(
            f"/cases/{returnee_id}/plan/revisions", {"items": [COUNSELLING]}
        )
        item_id = plan.json()["items"][0]["item_id"]

        answers = [
            await gao_worker.get(f"/cases/{returnee_id}/plan"),
            await gao_worker.post(f"/cases/{returnee_id}/plan/revisions", {"items": [COUNSELLING]}),
            await gao_worker.post(
                f"/cases/{returnee_id}/plan/agreement",
                {"revision": 1, "agreed_on": TODAY.isoformat()},
            ),
            await gao_worker.patch(
                f"/cases/{returnee_id}/plan/items/{item_id}", {"status": "cancelled"}
            ),
        ]

        assert [refusal(answer)[:2] for answer in answers] == [(404, "case_not_found")] * 4
        untouched = (await bamako_worker.get(f"/cases/{returnee_id}/plan")).json()
        assert [r["agreed_on"] for r in untouched["revisions"]] == [None]
        assert untouched["status_changes"] == []

    async def test_analysts_see_no_plan(self, open_case: CaseOpener, staff: StaffOf) -> None:
        returnee_id = await open_case()
        analyst = staff(Role.ANALYST)

        assert (await analyst.get(f"/cases/{returnee_id}/plan")).status_code == 403
        drafted = await analyst.post(
            f"/cases/{returnee_id}/plan/revisions", {"items": [COUNSELLING]}
        )
        assert drafted.status_code == 403


class TestReferrals:
    async def test_a_referral_is_sent_accepted_completed_and_published(
        self,
        open_case: CaseOpener,
        gao_worker: Staff,
        gao_partner: dict[str, Any],
        infra: Infra,
    ) -> None:
        returnee_id = await open_case()
        plan = await agreed_plan(gao_worker, returnee_id, gao_partner)
        item_id = plan["items"][0]["item_id"]

        async with TopicProbe(infra.kafka_bootstrap, REFERRAL_UPDATED_V1.topic) as probe:
            sent = await gao_worker.post(
                f"/cases/{returnee_id}/referrals", {"plan_item_id": item_id}
            )
            assert sent.status_code == 201, sent.text
            referral_id = sent.json()["referral_id"]
            status_path = f"/referrals/{referral_id}/status"
            accepted = await gao_worker.post(status_path, {"status": "accepted"})
            completed = await gao_worker.post(status_path, {"status": "completed"})
            records = await published(probe, REFERRAL_UPDATED_V1, 3, referral_id=referral_id)

        assert (accepted.status_code, completed.status_code) == (200, 200)
        referral = completed.json()
        assert (referral["status"], referral["partner_name"]) == ("completed", gao_partner["name"])
        assert (referral["dimension"], referral["category"]) == ("economic", "vocational_training")
        assert [step["status"] for step in referral["history"]] == [
            "sent",
            "accepted",
            "completed",
        ]
        events = [json.loads(r.value) for r in records]
        assert [e["status"] for e in events] == ["sent", "accepted", "completed"]
        assert {e["sent_at"] for e in events} == {sent.json()["sent_at"]}
        assert all(e["partner_id"] == gao_partner["partner_id"] for e in events)
        assert {r.key for r in records} == {str(returnee_id).encode()}
        for private in ("phone", "email", "contact", gao_partner["contact"]["phone"]):
            assert all(private not in r.value.decode() for r in records)
        listed = (await gao_worker.get(f"/cases/{returnee_id}/referrals")).json()["items"]
        assert listed == [referral]

    async def test_only_a_partner_item_of_the_agreed_plan_is_referred(
        self, open_case: CaseOpener, gao_worker: Staff, gao_partner: dict[str, Any]
    ) -> None:
        returnee_id = await open_case()
        path = f"/cases/{returnee_id}/referrals"
        drafted = await gao_worker.post(
            f"/cases/{returnee_id}/plan/revisions", {"items": [training(gao_partner)]}
        )
        draft_item = drafted.json()["items"][0]["item_id"]
        before_agreement = await gao_worker.post(path, {"plan_item_id": draft_item})
        plan = await agreed_plan(gao_worker, returnee_id, gao_partner)

        by_retour = await gao_worker.post(path, {"plan_item_id": plan["items"][1]["item_id"]})
        replaced = await gao_worker.post(path, {"plan_item_id": draft_item})

        assert refusal(before_agreement) == (422, "plan_not_agreed", "body.plan_item_id")
        assert refusal(by_retour) == (422, "plan_item_not_partner", "body.plan_item_id")
        assert refusal(replaced) == (422, "plan_item_not_agreed", "body.plan_item_id")

    async def test_one_open_referral_per_item(
        self, open_case: CaseOpener, gao_worker: Staff, gao_partner: dict[str, Any]
    ) -> None:
        returnee_id = await open_case()
        plan = await agreed_plan(gao_worker, returnee_id, gao_partner)
        body = {"plan_item_id": plan["items"][0]["item_id"]}
        path = f"/cases/{returnee_id}/referrals"

        first = await gao_worker.post(path, body)
        second = await gao_worker.post(path, body)
        await gao_worker.post(
            f"/referrals/{first.json()['referral_id']}/status", {"status": "declined"}
        )
        after_decline = await gao_worker.post(path, body)

        assert refusal(second) == (409, "referral_open", "body.plan_item_id")
        assert second.json()["referral_id"] == first.json()["referral_id"]
        assert after_decline.status_code == 201, after_decline.text

    async def test_a_refused_transition_names_the_current_status(
        self, open_case: CaseOpener, gao_worker: Staff, gao_partner: dict[str, Any]
    ) -> None:
        returnee_id = await open_case()
        plan = await agreed_plan(gao_worker, returnee_id, gao_partner)
        sent = await gao_worker.post(
            f"/cases/{returnee_id}/referrals", {"plan_item_id": plan["items"][0]["item_id"]}
        )
        path = f"/referrals/{sent.json()['referral_id']}/status"

        completed = await gao_worker.post(path, {"status": "completed"})
        await gao_worker.post(path, {"status": "declined"})
        accepted = await gao_worker.post(path, {"status": "accepted"})
        sent_again = await gao_worker.post(path, {"status": "sent"})

        assert refusal(completed)[:2] == (409, "referral_transition")
        assert completed.json()["current_status"] == "sent"
        assert accepted.json()["current_status"] == "declined"
        assert sent_again.status_code == 422
        assert (await gao_worker.get(path.removesuffix("/status"))).json()["status"] == "declined"

    async def test_referrals_stay_within_their_centres(
        self, open_case: CaseOpener, staff: StaffOf, gao_worker: Staff, supervisor: Staff
    ) -> None:
        bamako_worker = staff(Role.CASE_WORKER, "bamako")
        bamakos = await a_partner(supervisor, centres=["bamako"])
        returnee_id = await open_case(centre="bamako")
        plan = await agreed_plan(bamako_worker, returnee_id, bamakos)
        sent = await bamako_worker.post(
            f"/cases/{returnee_id}/referrals", {"plan_item_id": plan["items"][0]["item_id"]}
        )
        referral_id = sent.json()["referral_id"]

        listed = await gao_worker.get("/referrals", partner_id=bamakos["partner_id"])
        read = await gao_worker.get(f"/referrals/{referral_id}")
        answered = await gao_worker.post(f"/referrals/{referral_id}/status", {"status": "accepted"})
        of_case = await gao_worker.get(f"/cases/{returnee_id}/referrals")
        referred = await gao_worker.post(
            f"/cases/{returnee_id}/referrals", {"plan_item_id": plan["items"][0]["item_id"]}
        )
        theirs = await bamako_worker.get(
            "/referrals", partner_id=bamakos["partner_id"], status="sent"
        )

        assert listed.json()["items"] == []
        assert refusal(read)[:2] == refusal(answered)[:2] == (404, "referral_not_found")
        assert refusal(of_case)[:2] == refusal(referred)[:2] == (404, "case_not_found")
        assert [r["referral_id"] for r in theirs.json()["items"]] == [referral_id]
        assert (await bamako_worker.get(f"/referrals/{referral_id}")).json()["status"] == "sent"

    async def test_referrals_are_listed_newest_first_a_page_at_a_time(
        self, open_case: CaseOpener, gao_worker: Staff, supervisor: Staff
    ) -> None:
        partner = await a_partner(supervisor)
        sent = []
        for _ in range(3):
            returnee_id = await open_case()
            plan = await agreed_plan(gao_worker, returnee_id, partner)
            answer = await gao_worker.post(
                f"/cases/{returnee_id}/referrals", {"plan_item_id": plan["items"][0]["item_id"]}
            )
            sent.append(answer.json()["referral_id"])

        first = await gao_worker.get("/referrals", partner_id=partner["partner_id"], limit=2)
        rest = await gao_worker.get(
            "/referrals", partner_id=partner["partner_id"], cursor=first.json()["next_cursor"]
        )

        pages = [r["referral_id"] for r in first.json()["items"] + rest.json()["items"]]
        assert pages == list(reversed(sent))
        assert rest.json()["next_cursor"] is None

    async def test_analysts_see_no_referral(self, staff: StaffOf) -> None:
        analyst = staff(Role.ANALYST)

        assert (await analyst.get("/referrals")).status_code == 403
        assert (await analyst.get(f"/referrals/{uuid4()}")).status_code == 403
        answered = await analyst.post(f"/referrals/{uuid4()}/status", {"status": "accepted"})
        assert answered.status_code == 403


async def test_every_write_documents_valid_examples(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    models: dict[tuple[str, str], type[BaseModel]] = {
        ("post", "/partners"): RegisterPartner,
        ("patch", "/partners/{partner_id}"): ChangePartner,
        ("post", "/cases/{returnee_id}/plan/revisions"): DraftRevision,
        ("post", "/cases/{returnee_id}/plan/agreement"): AgreePlan,
        ("patch", "/cases/{returnee_id}/plan/items/{item_id}"): ChangeItemStatus,
        ("post", "/cases/{returnee_id}/referrals"): SendReferral,
        ("post", "/referrals/{referral_id}/status"): ChangeReferralStatus,
    }

    for (method, path), model in models.items():
        content = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        name = content["schema"]["$ref"].rsplit("/", 1)[1]
        examples = document["components"]["schemas"][name]["examples"]
        assert examples, f"{method} {path} has no example body"
        for example in examples:
            model.model_validate(example)
