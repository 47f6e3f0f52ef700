"""The registration lifecycle across the four running services (make up), through their
public HTTP APIs: a correction reaches the person's phone, a transfer moves their case and
their counts (and a rebuild agrees), and a merge leaves one person everywhere.

Each test invents its own people, with names and numbers found nowhere else, on an arrival
day of its own, so the shared stack's other records never change what it counts.
"""

from __future__ import annotations

import random
import string
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from test_end_to_end import running_services
from test_erasure_end_to_end import projection_rows, rebuilt_rows, token
from test_notifications_gateways import FakeSmsCentre, new_phone

from retour_intake.domain.commands import EXAMPLE
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, TopicProbe, eventually

pytestmark = pytest.mark.integration

# A message in one of these states will not change any more (ambiguous: an operator decides).
SETTLED = {"sent", "failed", "ambiguous"}

FOOD = {
    "phase": "immediate",
    "category": "food",
    "dimension": "economic",
    "level": "individual",
    "modality": "direct",
}


def invented_name() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=11)).capitalize()


def a_day() -> str:
    # Between 2005 and 2018: the demo and the other lifecycle tests use other days mostly,
    # and each count here is of this test's own people anyway.
    return (date(2005, 1, 1) + timedelta(days=random.randrange(5000))).isoformat()


def person(*, centre: str, phone: str | None, language: str, **personal: Any) -> dict[str, Any]:
    body = {
        **EXAMPLE,
        "reception_centre": centre,
        "arrival_date": a_day(),
        "preferred_language": language,
        "vulnerabilities": [],
        "consents": {
            "data_processing": True,
            "sms_contact": phone is not None,
            "partner_sharing": False,
        },
        "personal": {
            **EXAMPLE["personal"],
            "given_name": invented_name(),
            "family_name": invented_name(),
            "phone": phone,
            **personal,
        },
    }
    return body


class Stack:
    def __init__(self, http: httpx.AsyncClient, infra: Infra) -> None:
        self.http = http
        self.infra = infra
        self.at = running_services()

    async def register(self, body: dict[str, Any], role: str = "registrar") -> dict[str, Any]:
        answer = await self.http.post(
            f"{self.at.intake}/returnees", json=body, headers=token(self.infra, role)
        )
        assert answer.status_code == 201, answer.text
        record: dict[str, Any] = answer.json()
        return record

    async def case(self, returnee_id: str) -> dict[str, Any]:
        answer = await eventually(
            lambda: self.http.get(
                f"{self.at.reintegration}/cases/{returnee_id}",
                headers=token(self.infra, "supervisor"),
            ),
            until=lambda answer: answer.status_code == 200,
            what=f"the case of {returnee_id}",
        )
        case: dict[str, Any] = answer.json()
        return case

    async def grant_food(self, returnee_id: str) -> None:
        await self.case(returnee_id)
        granted = await self.http.post(
            f"{self.at.reintegration}/cases/{returnee_id}/aid",
            json=FOOD,
            headers=token(self.infra, "supervisor"),
        )
        assert granted.status_code == 201, granted.text

    async def correct(self, returnee_id: str, change: dict[str, Any]) -> dict[str, Any]:
        path = f"{self.at.intake}/returnees/{returnee_id}"
        read = await self.http.get(path, headers=token(self.infra, "registrar"))
        answer = await self.http.patch(
            path,
            json=change,
            headers={**token(self.infra, "registrar"), "If-Match": read.headers["ETag"]},
        )
        assert answer.status_code == 200, answer.text
        corrected: dict[str, Any] = answer.json()
        return corrected

    async def people_on(self, day: str) -> int:
        answer = await self.http.get(
            f"{self.at.reporting}/reports/registrations",
            params={"from": day, "to": day},
            headers=token(self.infra, "analyst"),
        )
        people: int = answer.json()["total"]["people"]
        return people

    async def notifications(self, returnee_id: str) -> list[dict[str, Any]]:
        listed = await self.http.get(
            f"{self.at.notifications}/notifications",
            params={"returnee_id": returnee_id},
            headers=token(self.infra, "supervisor"),
        )
        items: list[dict[str, Any]] = listed.json()["items"]
        return items


@pytest.fixture
async def stack(infra: Infra) -> Any:
    async with httpx.AsyncClient(timeout=30, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
        yield Stack(http, infra)


async def test_after_a_correction_the_sms_goes_to_the_new_number_in_the_new_language(
    stack: Stack,
) -> None:
    sms = FakeSmsCentre()
    old_phone, new = new_phone(), new_phone()
    # English, then French: the two languages the packaged templates have.
    registered = await stack.register(person(centre="bamako", phone=old_phone, language="en"))
    returnee_id = registered["returnee_id"]
    await eventually(
        lambda: sms.to(old_phone), until=bool, within=60, what="the welcome SMS, in English"
    )

    await stack.correct(
        returnee_id,
        {"reason": "new_information", "preferred_language": "fr", "personal": {"phone": new}},
    )
    await stack.grant_food(returnee_id)

    [received] = await eventually(
        lambda: sms.to(new), until=bool, within=60, what="the aid SMS at the new number"
    )
    listed = await eventually(
        lambda: stack.notifications(returnee_id),
        until=lambda items: any(
            n["rule"] != "welcome_sms" and n["status"] == "sent" for n in items
        ),
        what="the aid SMS recorded",
    )
    [aid_sms] = [n for n in listed if n["channel"] == "sms" and n["rule"] != "welcome_sms"]
    [welcome] = [n for n in listed if n["rule"] == "welcome_sms"]
    assert (welcome["language"], aid_sms["language"]) == ("en", "fr")
    assert received.parts >= 1
    assert len(sms.to(old_phone)) == 1  # the welcome only: nothing after the correction


async def test_a_transfer_moves_the_case_and_the_counts_and_a_rebuild_agrees(
    stack: Stack, infra: Infra
) -> None:
    topics = ("returnee.registered", "returnee.updated", "aid.granted")
    async with (
        TopicProbe(infra.kafka_bootstrap, topics[0]) as registrations,
        TopicProbe(infra.kafka_bootstrap, topics[1]) as updates,
        TopicProbe(infra.kafka_bootstrap, topics[2]) as aid,
    ):
        registered = await stack.register(person(centre="gao", phone=None, language="fr"))
        returnee_id = registered["returnee_id"]
        await stack.grant_food(returnee_id)
        before = await eventually(
            lambda: projection_rows(infra, "reporting", returnee_id),
            until=lambda rows: len(rows) == 2,
            what="reporting's rows of the person and their aid",
        )
        assert ",gao," in before[0]

        await stack.correct(returnee_id, {"reason": "relocation", "reception_centre": "bamako"})

        case = await eventually(
            lambda: stack.case(returnee_id),
            until=lambda case: case["reception_centre"] == "bamako",
            what="the case moved to Bamako",
        )
        after = await eventually(
            lambda: projection_rows(infra, "reporting", returnee_id),
            until=lambda rows: len(rows) == 2 and ",bamako," in rows[0],
            what="reporting's counts moved to Bamako",
        )
        mine = returnee_id.encode()
        records = [
            record
            for probe in (registrations, updates, aid)
            for record in await probe.collect(
                lambda got: any(r.key == mine for r in got), within=60
            )
            if record.key == mine
        ]

    assert [t["to_centre"] for t in case["transfers"]] == ["bamako"]
    assert after[1] == before[1]  # the aid itself is unchanged; it now counts for Bamako
    assert sorted(r.topic for r in records) == sorted(topics)
    # The same events, replayed into an empty projection, make the same rows.
    assert await rebuilt_rows(infra, records, returnee_id) == after


async def test_a_merge_leaves_one_person_one_open_case_and_one_welcome(
    stack: Stack, infra: Infra
) -> None:
    sms = FakeSmsCentre()
    first_phone, second_phone = new_phone(), new_phone()
    body = person(centre="bamako", phone=first_phone, language="fr", date_of_birth="1990-04-02")
    # The day may hold other tests' people: reporting's count of it is taken first.
    people_before = await stack.people_on(body["arrival_date"])
    first = await stack.register(body)
    # The same person again at Kayes: the same name, a date of birth a year off, another phone.
    # A weak match: registered, flagged, queued for a supervisor.
    again = person(
        centre="kayes",
        phone=second_phone,
        language="fr",
        given_name=first["personal"]["given_name"],
        family_name=first["personal"]["family_name"],
        date_of_birth="1991-06-10",
    )
    again["arrival_date"] = first["arrival_date"]
    second = await stack.register(again)
    assert second["possible_duplicate_of"] == [first["returnee_id"]]
    await stack.grant_food(second["returnee_id"])
    await eventually(
        lambda: stack.people_on(first["arrival_date"]),
        until=lambda people: people == people_before + 2,
        what="reporting counting both registrations",
    )

    review = await _review_of(stack, second["returnee_id"])
    decided = await stack.http.post(
        f"{stack.at.intake}/duplicates/{review}/decision",
        json={"decision": "same_person"},
        headers=token(infra, "supervisor"),
    )
    assert decided.status_code == 200, decided.text

    merged_case = await eventually(
        lambda: stack.case(second["returnee_id"]),
        until=lambda case: case["status"] == "closed",
        what="the duplicate's case closed",
    )
    kept_case = await eventually(
        lambda: stack.case(first["returnee_id"]),
        until=lambda case: len(case["aid"]) == 1,
        what="the aid moved to the person's case",
    )
    # Reporting counts the pair's day: two people before the merge, one after it.
    people = await eventually(
        lambda: stack.people_on(first["arrival_date"]),
        until=lambda people: people == people_before + 1,
        what="reporting counting the person once",
    )
    welcomes = await eventually(
        lambda: stack.notifications(first["returnee_id"]),
        until=lambda items: any(n["rule"] == "welcome_sms" for n in items),
        what="the person's welcome",
    )
    # The merge may come while a sender has the duplicate's aid SMS: it is neither sent nor
    # failed until the gateway's answer (or its delivery report) says which.
    held = await eventually(
        lambda: stack.notifications(second["returnee_id"]),
        until=lambda items: all(n["status"] in SETTLED for n in items if n["channel"] == "sms"),
        what="the duplicate's text messages settled",
    )

    assert merged_case["closure_reason"] == "duplicate_registration"
    assert merged_case["merged_into"] == first["returnee_id"]
    assert kept_case["status"] == "open"
    assert people == people_before + 1
    assert [aid["category"] for aid in kept_case["aid"]] == ["food"]
    assert [n["rule"] for n in welcomes].count("welcome_sms") == 1
    # The duplicate's welcome was held for the review, then dropped by the merge; what its
    # own aid caused before the merge is all its phone received.
    assert not [n for n in held if n["rule"] == "welcome_sms" and n["status"] == "sent"]
    sent_to_second = [n for n in held if n["channel"] == "sms" and n["status"] == "sent"]
    # Kannel passes a message on to its SMS centre a moment after taking it: a welcome sent
    # to someone else after all this, once received, says the duplicate's phone got what it
    # will ever get.
    control_phone = new_phone()
    await stack.register(person(centre="gao", phone=control_phone, language="fr"))
    await eventually(lambda: sms.to(control_phone), within=60, what="the control's welcome")
    assert len(sms.to(second_phone)) == len(sent_to_second)


async def _review_of(stack: Stack, returnee_id: str) -> str:
    supervisor = token(stack.infra, "supervisor")
    cursor = None
    while True:
        params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
        page = (
            await stack.http.get(f"{stack.at.intake}/duplicates", params=params, headers=supervisor)
        ).json()
        for item in page["items"]:
            if item["returnee_id"] == returnee_id:
                return str(item["review_id"])
        cursor = page["next_cursor"]
        assert cursor, f"no open review of {returnee_id}"
