"""Intake against the real Kafka broker and PostgreSQL (issue 3 acceptance)."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import os
import random
import string
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jsonschema
import jwt
import phonenumbers
import pytest

from retour_contracts import (
    RETURNEE_MERGED_V1,
    RETURNEE_REGISTERED_V2,
    RETURNEE_UPDATED_V1,
    ReturneeMerged,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    ReturneeUpdated,
    open_registration,
    open_update,
    parse_envelope,
)
from retour_contracts.sealing import decode_key
from retour_intake.domain.commands import EXAMPLE
from retour_intake.main import build_app
from retour_intake.settings import Settings
from retour_kit.auth import issue_dev_token
from retour_kit.logging import configure_logging
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, TopicProbe, eventually, read_topic

pytestmark = pytest.mark.integration

TOPIC = RETURNEE_REGISTERED_V2.topic
SCHEMA_FILE = (
    Path(__file__).resolve().parents[3] / "contracts" / "schemas" / "returnee.registered.v2.json"
)


def unique_name() -> str:
    # Tests share one database: every person they invent must be new to duplicate detection.
    return "".join(random.choices(string.ascii_lowercase, k=12)).capitalize()


def registration(**changes: Any) -> dict[str, Any]:
    personal = {
        **EXAMPLE["personal"],
        "given_name": unique_name(),
        "family_name": f"{unique_name()}é",
        "phone": None,
    }
    personal.update(changes.pop("personal", {}))
    return {**EXAMPLE, "personal": personal, **changes}


@pytest.fixture
async def client(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=infra.dsn("intake"),
        auth_jwt_secret=infra.jwt_secret,
        master_key=infra.master_key,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
    )
    app = build_app(settings)
    token = issue_dev_token(infra.jwt_secret, "registrar", subject="registrar.test")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://intake",
            headers={"Authorization": f"Bearer {token}"},
            event_hooks=FRESH_IDEMPOTENCY_KEYS,
        ) as http:
            yield http


def ids_seen(records: list[Any]) -> set[str]:
    return {record.key.decode() for record in records}


async def register_many(client: httpx.AsyncClient, count: int) -> set[str]:
    ids: set[str] = set()
    for _ in range(count):
        response = await client.post("/returnees", json=registration())
        assert response.status_code == 201, response.text
        ids.add(response.json()["returnee_id"])
    return ids


async def test_200_registrations_give_exactly_200_valid_events(
    infra: Infra, client: httpx.AsyncClient
) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    async with TopicProbe(infra.kafka_bootstrap, TOPIC) as probe:
        ids = await register_many(client, 200)
        records = await probe.collect(lambda got: ids <= ids_seen(got), within=60)
        # Give a stray duplicate the chance to show up before counting.
        records += await probe.collect(lambda _: False, within=1.0)

    ours = [record for record in records if record.key.decode() in ids]
    assert len(ours) == 200
    assert ids_seen(ours) == ids
    for record in ours:
        headers = dict(record.headers)
        assert headers["ce_source"] == b"/intake"
        assert headers["ce_type"] == RETURNEE_REGISTERED_V2.ce_type.encode()
        jsonschema.validate(json.loads(record.value), schema)
        parsed = parse_envelope(TOPIC, record.key, record.value, record.headers)
        assert isinstance(parsed.event, ReturneeRegisteredV2)
        assert str(parsed.event.returnee_id) == record.key.decode()


async def test_registrations_are_accepted_while_kafka_is_down_and_published_after(
    infra: Infra, client: httpx.AsyncClient
) -> None:
    async with TopicProbe(infra.kafka_bootstrap, TOPIC) as probe:
        infra.set_kafka_running(False)
        try:
            ids = await register_many(client, 50)
            readiness = (await client.get("/readyz")).json()
            assert readiness["status"] == "ready"  # Kafka is optional for intake
            assert readiness["checks"]["kafka"] != "ok"
        finally:
            infra.set_kafka_running(True)
        records = await probe.collect(lambda got: ids <= ids_seen(got), within=120)
    assert ids <= ids_seen(records), f"{len(ids - ids_seen(records))} of 50 never published"


async def test_the_same_idempotency_key_five_times_gives_one_returnee(
    infra: Infra, client: httpx.AsyncClient
) -> None:
    body = registration()
    key = f"retry-{uuid.uuid4()}"
    async with TopicProbe(infra.kafka_bootstrap, TOPIC) as probe:
        answers = [
            await client.post("/returnees", json=body, headers={"Idempotency-Key": key})
            for _ in range(5)
        ]
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["returnee_id"] for a in answers}) == 1
        returnee_id = answers[0].json()["returnee_id"]
        records = await probe.collect(lambda got: returnee_id in ids_seen(got), within=30)
        records += await probe.collect(lambda _: False, within=1.5)
    assert [r.key.decode() for r in records].count(returnee_id) == 1
    assert answers[-1].headers["Idempotent-Replayed"] == "true"

    other = await client.post(
        "/returnees", json={**body, "household_size": 9}, headers={"Idempotency-Key": key}
    )
    assert other.status_code == 409
    assert other.json()["error"] == "idempotency_key_reused"


async def test_concurrent_retries_with_one_key_create_one_returnee(
    client: httpx.AsyncClient,
) -> None:
    body = registration()
    headers = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    answers = await asyncio.gather(
        *(client.post("/returnees", json=body, headers=headers) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["returnee_id"] for a in answers}) == 1


async def test_a_strong_duplicate_is_refused_then_confirmed(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    first = await client.post("/returnees", json=registration())
    original = first.json()
    again = registration(
        reception_centre="kayes",
        personal={
            "given_name": original["personal"]["given_name"].upper(),
            # accents and case do not hide a duplicate
            "family_name": original["personal"]["family_name"].upper().replace("É", "E"),
        },
    )
    refused = await client.post("/returnees", json=again)
    assert refused.status_code == 409
    assert refused.json()["error"] == "possible_duplicate"
    assert refused.json()["matches"] == [original["returnee_id"]]

    # Overriding a strong match is a supervisor's decision, with a reason.
    by_registrar = await client.post("/returnees", json={**again, "confirm_not_duplicate": True})
    assert by_registrar.status_code == 403
    assert by_registrar.json()["field"] == "body.confirm_not_duplicate"
    supervisor = as_token(infra, "supervisor")
    no_reason = await client.post(
        "/returnees", json={**again, "confirm_not_duplicate": True}, headers=supervisor
    )
    assert no_reason.status_code == 422
    assert [e["field"] for e in no_reason.json()["errors"]] == ["body.override_reason"]
    confirmed = await client.post(
        "/returnees",
        json={**again, "confirm_not_duplicate": True, "override_reason": "documents_checked"},
        headers=supervisor,
    )
    assert confirmed.status_code == 201
    assert confirmed.json()["possible_duplicate_of"] == [original["returnee_id"]]
    assert confirmed.json()["duplicate_confirmed_by"] == "supervisor.scoped"
    # The override stays on record as a decided pair, not in the open queue.
    pair = await review_of(
        client, supervisor, confirmed.json()["returnee_id"], status="not_duplicate"
    )
    assert (pair["strength"], pair["decided_by"], pair["reason"]) == (
        "strong",
        "supervisor.scoped",
        "documents_checked",
    )


async def test_no_number_of_namesakes_hides_a_duplicate(client: httpx.AsyncClient) -> None:
    """Fifty-five people of one name, born a year apart each: the last one registered again
    is found, though more than fifty namesakes were registered before it."""
    given, family = unique_name(), invented_name()
    registered = []
    for year in range(1940, 1995):
        born = f"{year}-05-17"
        namesake = registration(
            personal={"given_name": given, "family_name": family, "date_of_birth": born}
        )
        answer = await client.post("/returnees", json=namesake)
        assert answer.status_code == 201, answer.text
        registered.append((namesake, answer.json()["returnee_id"]))
    last, last_id = registered[-1]

    again = await client.post("/returnees", json={**last, "reception_centre": "kayes"})

    assert again.status_code == 409, again.text
    assert again.json()["matches"] == [last_id]


async def test_the_same_national_id_is_a_strong_duplicate_under_any_name(
    client: httpx.AsyncClient,
) -> None:
    nina = f"NINA-{uuid.uuid4().hex[:10]}"
    first = await client.post("/returnees", json=registration(personal={"national_id": nina}))
    other_name = registration(personal={"national_id": nina.lower().replace("-", " ")})
    again = await client.post("/returnees", json=other_name)
    assert again.status_code == 409 and again.json()["matches"] == [first.json()["returnee_id"]]


async def test_read_by_id_and_list_by_centre_with_cursor(client: httpx.AsyncClient) -> None:
    day = "2021-01-07"  # a day no other test registers on
    created = set()
    for _ in range(5):
        answer = await client.post(
            "/returnees", json=registration(arrival_date=day, reception_centre="mopti")
        )
        created.add(answer.json()["returnee_id"])
    one = next(iter(created))
    got = await client.get(f"/returnees/{one}")
    assert got.status_code == 200 and got.json()["returnee_id"] == one

    seen: list[str] = []
    cursor = None
    while True:
        params = {"centre": "mopti", "from": day, "to": day, "limit": "2"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/returnees", params=params)).json()
        seen += [item["returnee_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert created <= set(seen) and len(seen) == len(set(seen))

    missing = await client.get(f"/returnees/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad_cursor = await client.get("/returnees", params={"cursor": "nonsense"})
    assert bad_cursor.status_code == 422


def as_token(infra: Infra, role: str, **claims: Any) -> dict[str, str]:
    token = issue_dev_token(infra.jwt_secret, role, subject=f"{role}.scoped", **claims)
    return {"Authorization": f"Bearer {token}"}


async def test_a_registrar_works_only_within_their_centres(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    day = "2021-01-09"  # a day no other test registers on
    bamako = await client.post(
        "/returnees", json=registration(arrival_date=day, reception_centre="bamako")
    )
    gao = await client.post(
        "/returnees", json=registration(arrival_date=day, reception_centre="gao")
    )
    bamako_id, gao_id = bamako.json()["returnee_id"], gao.json()["returnee_id"]
    at_gao = as_token(infra, "registrar", centres=["gao"])

    read_gao = await client.get(f"/returnees/{gao_id}", headers=at_gao)
    read_bamako = await client.get(f"/returnees/{bamako_id}", headers=at_gao)
    listed = await client.get(
        "/returnees", params={"from": day, "to": day, "limit": "500"}, headers=at_gao
    )
    asked = await client.get("/returnees", params={"centre": "bamako"}, headers=at_gao)
    into_bamako = await client.post(
        "/returnees", json=registration(reception_centre="bamako"), headers=at_gao
    )

    assert read_gao.status_code == 200
    assert read_bamako.status_code == 404 and read_bamako.json()["error"] == "not_found"
    # The shared database keeps earlier runs' registrations of that day: Gao's only.
    assert gao_id in [item["returnee_id"] for item in listed.json()["items"]]
    assert {item["reception_centre"] for item in listed.json()["items"]} == {"gao"}
    assert asked.status_code == 200 and asked.json()["items"] == []
    assert into_bamako.status_code == 403
    assert into_bamako.json()["field"] == "body.reception_centre"


async def test_a_registrar_token_naming_no_centre_reaches_none(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    # A Keycloak realm without the centres mapper must fail closed, not open.
    created = await client.post("/returnees", json=registration(reception_centre="kayes"))
    token = jwt.encode(
        {"sub": "no-centres", "roles": ["registrar"], "exp": time.time() + 600},
        infra.jwt_secret,
        algorithm="HS256",
    )
    headers = {"Authorization": f"Bearer {token}"}

    read = await client.get(f"/returnees/{created.json()['returnee_id']}", headers=headers)
    listed = await client.get("/returnees", headers=headers)
    written = await client.post(
        "/returnees", json=registration(reception_centre="kayes"), headers=headers
    )

    assert read.status_code == 404
    assert listed.json()["items"] == []
    assert written.status_code == 403


async def test_analysts_and_data_protection_officers_read_no_registration(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    created = await client.post("/returnees", json=registration())
    path = f"/returnees/{created.json()['returnee_id']}"
    supervisor = as_token(infra, "supervisor")
    assert (await client.get(path, headers=supervisor)).status_code == 200
    for role in ("analyst", "data_protection_officer"):
        headers = as_token(infra, role)
        assert (await client.get(path, headers=headers)).status_code == 403
        assert (await client.get("/returnees", headers=headers)).status_code == 403


async def test_the_access_log_holds_every_showing_and_only_the_officer_reads_it(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    day = "2021-01-11"  # a day no other test registers on
    canary_id = f"NINA-{unique_name()}"
    person = registration(
        arrival_date=day, reception_centre="kayes", personal={"national_id": canary_id}
    )
    key = {"Idempotency-Key": str(uuid.uuid4())}
    created = await client.post("/returnees", json=person, headers=key)
    returnee_id = created.json()["returnee_id"]
    await client.post("/returnees", json=person, headers=key)  # a replay shows the person again
    reader = as_token(infra, "case_worker", centres=["kayes"])
    await client.get(f"/returnees/{returnee_id}", headers=reader)
    await client.get("/returnees", params={"from": day, "to": day}, headers=reader)
    await client.get(
        f"/returnees/{returnee_id}", headers=as_token(infra, "case_worker", centres=["gao"])
    )

    officer = as_token(infra, "data_protection_officer")
    audit = await client.get("/audit", params={"returnee_id": returnee_id}, headers=officer)

    assert audit.status_code == 200
    # The stack's notifications service obtains the person's key as it reads the event, at a
    # moment of its own: its release is recorded too, and checked by the key tests.
    seen = [
        (r["actor"], r["action"], r["route"])
        for r in audit.json()["items"]
        if r["actor"] != "service:notifications"
    ]
    assert seen == [
        ("registrar.test", "created", "POST /returnees"),
        ("registrar.test", "read", "POST /returnees"),
        ("case_worker.scoped", "read", "GET /returnees/{returnee_id}"),
        ("case_worker.scoped", "listed", "GET /returnees"),
    ]  # the Gao worker's 404 showed nothing, so it records nothing
    first = audit.json()["items"][0]
    assert first["service"] == "intake" and "personal.phone" in first["fields"]
    personal = person["personal"]
    for value in (personal["given_name"], personal["family_name"], personal["national_id"]):
        assert value not in audit.text
    for role in ("admin", "supervisor", "registrar"):
        refused = await client.get(
            "/audit", params={"returnee_id": returnee_id}, headers=as_token(infra, role)
        )
        assert refused.status_code == 403


async def test_the_service_role_can_only_append_to_the_access_log(infra: Infra) -> None:
    conn = await asyncpg.connect(infra.dsn("intake"))
    try:
        for statement in (
            "UPDATE intake.access_log SET actor = 'someone else'",
            "DELETE FROM intake.access_log",
            "TRUNCATE intake.access_log",
        ):
            with pytest.raises(asyncpg.PostgresError):
                await conn.execute(statement)
    finally:
        await conn.close()


async def events_of(infra: Infra, topic: str, returnee_id: str) -> list[dict[str, Any]]:
    records = await read_topic(infra.kafka_bootstrap, topic, 1)
    return [json.loads(r.value) for r in records if r.key == returnee_id.encode()]


async def test_an_erased_returnee_leaves_a_tombstone_and_an_event_and_nothing_personal(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    canary = f"NINA-{unique_name()}"
    person = registration(personal={"national_id": canary, "phone": "+22365012345"})
    person["consents"] = {**person["consents"], "sms_contact": True}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    returnee_id = (await client.post("/returnees", json=person, headers=key)).json()["returnee_id"]
    # The officer's token names no centre, as a realm gives it: the officer is national.
    officer_token = jwt.encode(
        {"sub": "dpo", "roles": ["data_protection_officer"], "exp": time.time() + 600},
        infra.jwt_secret,
        algorithm="HS256",
    )
    officer = {"Authorization": f"Bearer {officer_token}"}
    path = f"/returnees/{returnee_id}"

    refused = await client.post(f"{path}/erasure", json={"reason": "data_subject_request"})
    erased = await client.post(
        f"{path}/erasure", json={"reason": "data_subject_request"}, headers=officer
    )
    again = await client.post(
        f"{path}/erasure", json={"reason": "no_longer_needed"}, headers=officer
    )
    read = await client.get(path)
    listed = await client.get("/returnees", params={"limit": "500"})
    consent = await client.post(f"{path}/consents", json={"sms_contact": False})
    replay = await client.post("/returnees", json=person, headers=key)

    assert refused.status_code == 403  # a registrar cannot erase
    assert erased.status_code == 200 and erased.json()["reason"] == "data_subject_request"
    assert again.json() == erased.json()  # a retry changes nothing
    assert read.status_code == 410 and read.json()["error"] == "erased"
    assert returnee_id not in [item["returnee_id"] for item in listed.json()["items"]]
    assert consent.status_code == 410
    # The stored answer to the registration lost the person's data, not its meaning: a retry
    # with the same key neither replays the data nor registers the erased person afresh.
    assert replay.status_code == 410 and replay.json()["error"] == "erased"
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json()["type"] == "/problems/erased"
    assert person["personal"]["given_name"] not in replay.text
    conn = await asyncpg.connect(infra.dsn("intake"))
    try:
        row = await conn.fetchrow(
            "SELECT record::text AS record, name_key, phone, birth_year FROM intake.returnees"
            " WHERE returnee_id = $1",
            uuid.UUID(returnee_id),
        )
    finally:
        await conn.close()
    assert row is not None and (row["name_key"], row["phone"], row["birth_year"]) == (
        None,
        None,
        None,
    )
    assert canary not in row["record"] and person["personal"]["given_name"] not in row["record"]
    assert '"reception_centre"' in row["record"]  # the facts statistics need stay
    published = await eventually(
        lambda: events_of(infra, "returnee.erased", returnee_id), what="returnee.erased"
    )
    assert [e["reason"] for e in published] == ["data_subject_request"]
    assert canary not in json.dumps(published)


async def test_consents_are_withdrawn_and_given_and_published(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    person = registration(personal={"phone": "+22365012345"})
    person["consents"] = {**person["consents"], "sms_contact": True}
    returnee_id = (await client.post("/returnees", json=person)).json()["returnee_id"]
    path = f"/returnees/{returnee_id}/consents"
    at_kayes = as_token(infra, "case_worker", centres=["kayes"])

    nothing = await client.post(path, json={})
    unknown = await client.post(path, json={"data_processing": False})
    elsewhere = await client.post(path, json={"sms_contact": False}, headers=at_kayes)
    withdrawn = await client.post(path, json={"sms_contact": False})
    given = await client.post(path, json={"partner_sharing": True})
    record = (await client.get(f"/returnees/{returnee_id}")).json()

    assert nothing.status_code == 422 and unknown.status_code == 422
    assert elsewhere.status_code == 404  # the example registers at Gao
    assert withdrawn.json()["consents"]["sms_contact"] is False
    assert given.json()["consents"] == {**withdrawn.json()["consents"], "partner_sharing": True}
    assert record["consents"] == given.json()["consents"]
    assert record["personal"]["phone"] is None  # no number is kept without SMS consent
    ReturneeRegistered.model_validate(record)  # the stored registration still holds its contract
    published = await eventually(
        lambda: events_of(infra, "consent.changed", returnee_id),
        until=lambda found: len(found) == 2,
        what="two consent.changed",
    )
    assert [(e["sms_contact"], e["partner_sharing"]) for e in published] == [
        (False, None),
        (None, True),
    ]


MALFORMED: list[tuple[str, Any]] = [
    ("missing field", {k: v for k, v in EXAMPLE.items() if k != "sex"}),
    ("unknown enum", {**EXAMPLE, "return_type": "teleported"}),
    ("bad country", {**EXAMPLE, "host_country": "XX"}),
    ("bad phone", {**EXAMPLE, "personal": {**EXAMPLE["personal"], "phone": "12ab"}}),
    ("future arrival", {**EXAMPLE, "arrival_date": "2999-01-01"}),
    ("no consent", {**EXAMPLE, "consents": {**EXAMPLE["consents"], "data_processing": False}}),
    ("list body", [EXAMPLE]),
]


@pytest.mark.parametrize(("case", "body"), MALFORMED, ids=[case for case, _ in MALFORMED])
async def test_malformed_bodies_get_a_json_4xx(
    client: httpx.AsyncClient, case: str, body: Any
) -> None:
    answer = await client.post("/returnees", json=body)
    assert 400 <= answer.status_code < 500, case
    assert answer.json()["error"]


@pytest.mark.parametrize(
    ("case", "changes", "field"),
    [
        # Each of these once answered 500, or was accepted and reached the dashboard.
        ("NUL in a name", {"personal": {"given_name": "Mou\x00ssa"}}, "body.personal.given_name"),
        (
            "born 258 years before arrival",
            {"personal": {"date_of_birth": "1766-03-01"}},
            "body.personal",
        ),
        ("arrival in the year 147", {"arrival_date": "0147-03-02"}, "body.arrival_date"),
    ],
)
async def test_what_the_event_would_refuse_is_a_422_naming_the_field(
    client: httpx.AsyncClient, case: str, changes: dict[str, Any], field: str
) -> None:
    body = registration(**changes)
    if "arrival_date" in changes:
        body["personal"]["date_of_birth"] = None
        body["age_estimate"] = 30

    answer = await client.post("/returnees", json=body)

    assert answer.status_code == 422, (case, answer.text)
    assert answer.json()["error"] == "validation_error"
    assert [error["field"] for error in answer.json()["errors"]] == [field], case


async def test_oversized_wrongly_typed_and_unauthenticated_requests_get_json_4xx(
    client: httpx.AsyncClient,
) -> None:
    huge = await client.post(
        "/returnees",
        content=b'{"x": "' + b"a" * 1_000_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["error"]
    text = await client.post(
        "/returnees", content=b"name=x", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 415 and text.json()["error"]
    broken = await client.post(
        "/returnees", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["error"] == "malformed_json"
    anonymous = await client.post("/returnees", json=registration(), headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"


async def test_logs_name_the_returnee_event_and_trace_but_no_personal_data(
    client: httpx.AsyncClient,
) -> None:
    captured = io.StringIO()
    configure_logging("retour-intake", "INFO", stream=captured)
    body = registration(personal={"phone": "+22376123456"})
    body["consents"] = {**body["consents"], "sms_contact": True}
    trace_id = uuid.uuid4().hex
    answer = await client.post(
        "/returnees", json=body, headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
    )
    assert answer.status_code == 201
    configure_logging("retour-intake", "INFO")  # back to stdout for the tests that follow
    output = captured.getvalue()
    registered = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"returnee registered"' in line
    ]
    assert registered, output
    assert registered[-1]["returnee_id"] == answer.json()["returnee_id"]
    assert registered[-1]["trace_id"] == trace_id
    assert registered[-1]["event_id"]
    personal = body["personal"]
    for secret in (personal["given_name"], personal["family_name"], "+22376123456", "1995-08-21"):
        assert secret not in output


def service_token(infra: Infra, role: str, **claims: Any) -> dict[str, str]:
    token = issue_dev_token(infra.jwt_secret, role, subject=f"test-{role}", **claims)
    return {"Authorization": f"Bearer {token}"}


async def data_keys(
    client: httpx.AsyncClient, infra: Infra, role: str, *ids: str, **claims: Any
) -> httpx.Response:
    return await client.post(
        "/data-keys", json={"returnee_ids": list(ids)}, headers=service_token(infra, role, **claims)
    )


async def test_the_published_block_opens_only_with_the_key_notifications_obtains(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    canary = f"NINA-{unique_name()}"
    person = registration(personal={"national_id": canary})
    async with TopicProbe(infra.kafka_bootstrap, TOPIC) as probe:
        created = await client.post("/returnees", json=person)
        returnee_id = created.json()["returnee_id"]
        [record] = await probe.collect(lambda got: returnee_id in ids_seen(got), within=60)

    assert canary.encode() not in record.value
    assert person["personal"]["family_name"].encode() not in record.value
    parsed = parse_envelope(TOPIC, record.key, record.value, record.headers)
    assert isinstance(parsed.event, ReturneeRegisteredV2)

    released = await data_keys(client, infra, "notifications_service", returnee_id)
    assert released.status_code == 200, released.text
    assert released.headers["cache-control"] == "no-store"
    body = released.json()
    assert body["refused"] == [] and 0 < body["cache_seconds"] <= 60
    [item] = body["keys"]
    opened = open_registration(parsed.event, decode_key(item["key"]), event_id=parsed.event_id)
    assert opened == ReturneeRegistered.model_validate(created.json())
    assert opened.personal.national_id == canary


async def test_who_may_obtain_a_data_key(client: httpx.AsyncClient, infra: Infra) -> None:
    sharing = registration()
    sharing["consents"] = {**sharing["consents"], "partner_sharing": True}
    not_sharing = registration()
    not_sharing["consents"] = {**not_sharing["consents"], "partner_sharing": False}
    shared_id = (await client.post("/returnees", json=sharing)).json()["returnee_id"]
    private_id = (await client.post("/returnees", json=not_sharing)).json()["returnee_id"]
    unknown_id = str(uuid.uuid4())

    notifications = await data_keys(
        client, infra, "notifications_service", shared_id, private_id, unknown_id
    )
    partner = await data_keys(client, infra, "partner", shared_id, private_id)
    elsewhere = await data_keys(client, infra, "partner", shared_id, centres=["kayes"])
    reporting = await data_keys(client, infra, "reporting_service", shared_id)
    people = [
        await data_keys(client, infra, role, shared_id)
        for role in ("registrar", "case_worker", "supervisor", "admin", "analyst")
    ]
    anonymous = await client.post(
        "/data-keys", json={"returnee_ids": [shared_id]}, headers={"Authorization": ""}
    )
    too_many = await data_keys(
        client, infra, "notifications_service", *(str(uuid.uuid4()) for _ in range(501))
    )

    assert notifications.status_code == 200
    assert {k["returnee_id"] for k in notifications.json()["keys"]} == {shared_id, private_id}
    assert notifications.json()["refused"] == [{"returnee_id": unknown_id, "reason": "unknown"}]
    # A partner reads only those who consented to partner sharing, within its centres.
    assert [k["returnee_id"] for k in partner.json()["keys"]] == [shared_id]
    # Why is nobody's business but intake's: that a person exists, was erased or refused to
    # share is itself personal data.
    assert partner.json()["refused"] == [{"returnee_id": private_id, "reason": "not_available"}]
    assert elsewhere.json()["keys"] == []  # the registrations are at Gao
    assert reporting.status_code == 403  # reporting is never entitled to personal data
    assert [answer.status_code for answer in people] == [403] * 5
    assert anonymous.status_code == 401
    assert too_many.status_code == 422 and "returnee_ids" in too_many.text

    # Withdrawn later, the consent stops the next release at once.
    withdrawn = await client.post(
        f"/returnees/{shared_id}/consents", json={"partner_sharing": False}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    after = await data_keys(client, infra, "partner", shared_id)
    assert after.json()["keys"] == []
    assert after.json()["refused"] == [{"returnee_id": shared_id, "reason": "not_available"}]
    still = await data_keys(client, infra, "notifications_service", shared_id)
    assert [k["returnee_id"] for k in still.json()["keys"]] == [shared_id]
    # A partner token naming no centre reaches none.
    token = jwt.encode(
        {"sub": "partner.unscoped", "roles": ["partner"], "exp": time.time() + 600},
        infra.jwt_secret,
        algorithm="HS256",
    )
    unscoped = await client.post(
        "/data-keys",
        json={"returnee_ids": [private_id]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert unscoped.json()["keys"] == []

    # Each key released is in the access log: who obtained whose, and nothing personal.
    officer = service_token(infra, "data_protection_officer")
    audit = await client.get("/audit", params={"returnee_id": shared_id}, headers=officer)
    releases = [
        e
        for e in audit.json()["items"]
        if e["action"] == "key_released" and e["actor"].startswith("test-")
    ]  # the stack's own notifications service obtains the key too, when it pleases
    assert sorted(e["actor"] for e in releases) == [
        "test-notifications_service",
        "test-notifications_service",
        "test-partner",
    ]  # the partner's second try, after the withdrawal, obtained nothing
    assert all(e["route"] == "POST /data-keys" for e in releases)
    assert sharing["personal"]["family_name"] not in audit.text


async def test_an_erasure_destroys_the_data_key(client: httpx.AsyncClient, infra: Infra) -> None:
    returnee_id = (await client.post("/returnees", json=registration())).json()["returnee_id"]
    before = await data_keys(client, infra, "notifications_service", returnee_id)
    officer = service_token(infra, "data_protection_officer")
    erased = await client.post(
        f"/returnees/{returnee_id}/erasure",
        json={"reason": "data_subject_request"},
        headers=officer,
    )
    after = await data_keys(client, infra, "notifications_service", returnee_id)

    assert [k["returnee_id"] for k in before.json()["keys"]] == [returnee_id]
    assert erased.status_code == 200
    assert after.json() == {
        "algorithm": "AES-256-GCM",
        "cache_seconds": 60,
        "keys": [],
        "refused": [{"returnee_id": returnee_id, "reason": "erased"}],
    }
    conn = await asyncpg.connect(infra.dsn("intake"))
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM intake.data_keys WHERE returnee_id = $1", uuid.UUID(returnee_id)
        )
    finally:
        await conn.close()
    assert left == 0


async def test_data_keys_are_stored_wrapped_and_rewrapped_after_a_rotation(infra: Infra) -> None:
    """The table holds no key in clear, and rewrap-keys moves keys to a new master key after
    which the old one is no longer needed."""
    from retour_intake.adapters.data_keys import LocalMasterKeys, MasterKey, PgDataKeys

    old = MasterKey("rotation-old", os.urandom(32))
    new = MasterKey("rotation-new", os.urandom(32))
    returnee_id = uuid.uuid4()
    conn = await asyncpg.connect(infra.dsn("intake"), server_settings={"search_path": "intake"})
    try:
        async with conn.transaction():
            # A row of returnees to hang the key on; rolled back at the end.
            await conn.execute(
                "INSERT INTO returnees (returnee_id, reception_centre, arrival_date,"
                " registered_at, name_key, family_key, birth_year, record)"
                " VALUES ($1, 'gao', '2024-01-01', now(), 'x', 'y', 1990, '{}')",
                returnee_id,
            )
            key = await PgDataKeys(conn, LocalMasterKeys(old)).issue(returnee_id)
            stored = await conn.fetchval(
                "SELECT wrapped_key FROM data_keys WHERE returnee_id = $1", returnee_id
            )
            assert key not in stored
            # The stack's own keys are in the table too: rewrapped as well, then rolled back.
            stack = MasterKey.parse(infra.master_key)
            rotated = PgDataKeys(conn, LocalMasterKeys(new, [old, stack]))
            moved = 0
            while (done := await rotated.rewrap(batch=1000)) > 0:
                moved += done
            assert moved >= 1
            only_new = PgDataKeys(conn, LocalMasterKeys(new))
            assert (await only_new.of([returnee_id])) == {returnee_id: key}
            raise _RollBack
    except _RollBack:
        pass
    finally:
        await conn.close()


class _RollBack(Exception):
    pass


async def test_the_history_of_a_topic_is_sealed_in_place(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    """seal-history on a private topic holding what an upgraded stack holds: version 1
    registrations of a living person (registered before sealing: no key yet) and of a person
    erased since, a version 2 record whose key was lost with a master key, and a record that is
    no event at all."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from retour_contracts import (
        RETURNEE_REGISTERED_V1,
        build_envelope,
        new_data_key,
        seal_registration,
    )
    from retour_intake.adapters.data_keys import LocalMasterKeys, MasterKey, PgDataKeys
    from retour_intake.domain.history import HistoryKeys
    from retour_intake.history import seal_history

    topic = f"test.seal-history.{uuid.uuid4().hex[:10]}"
    dlq = f"{topic}.dlq"
    living, erased, lost = registration(), registration(), registration()
    # The 201 bodies are the version 1 events intake published before this release.
    v1_living = ReturneeRegistered.model_validate(
        (await client.post("/returnees", json=living)).json()
    )
    v1_erased = ReturneeRegistered.model_validate(
        (await client.post("/returnees", json=erased)).json()
    )
    v1_lost = ReturneeRegistered.model_validate((await client.post("/returnees", json=lost)).json())
    living_id, erased_id = str(v1_living.returnee_id), str(v1_erased.returnee_id)
    lost_id = str(v1_lost.returnee_id)
    officer = service_token(infra, "data_protection_officer")
    await client.post(
        f"/returnees/{erased_id}/erasure", json={"reason": "data_subject_request"}, headers=officer
    )
    master_keys = LocalMasterKeys(MasterKey.parse(infra.master_key))

    async def intake_db() -> asyncpg.Connection:
        return await asyncpg.connect(infra.dsn("intake"), server_settings={"search_path": "intake"})

    conn = await intake_db()
    try:
        # The living person as registered before sealing existed: no data key. The other's key
        # was wrapped by a lost master key, and deleted (docs/operations.md, "A lost master key").
        await conn.execute(
            "DELETE FROM data_keys WHERE returnee_id = ANY($1::uuid[])",
            [v1_living.returnee_id, v1_lost.returnee_id],
        )
    finally:
        await conn.close()
    lost_event_id = str(uuid.uuid4())
    unopenable = seal_registration(v1_lost, new_data_key(), event_id=lost_event_id)
    originals = [
        build_envelope(RETURNEE_REGISTERED_V1, v1_living, source="/intake"),
        build_envelope(RETURNEE_REGISTERED_V1, v1_erased, source="/intake"),
        build_envelope(
            RETURNEE_REGISTERED_V2, unopenable, source="/intake", event_id=lost_event_id
        ),
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=2, replication_factor=1) for name in (topic, dlq)]
        )
        sent_at = {}
        for envelope in originals:
            sent = await producer.send_and_wait(
                topic, envelope.value, key=envelope.key, headers=envelope.headers
            )
            sent_at[envelope.key] = sent.timestamp
        await producer.send_and_wait(topic, b"{not an event", key=b"x", partition=0)
        # A dead letter that no schema accepts, its personal block in clear.
        poison = json.loads(originals[0].value)
        poison["household_size"] = 0
        await producer.send_and_wait(
            topic, json.dumps(poison).encode(), key=b"poison", headers=originals[0].headers
        )

        async def keys_of(ids: Any) -> HistoryKeys:
            conn = await intake_db()
            try:
                async with conn.transaction():
                    return await PgDataKeys(conn, master_keys).for_sealing_history(ids)
            finally:
                await conn.close()

        # The lost key's person has a dead letter too, on the other topic of the same run.
        lost_letter = originals[2]
        await producer.send_and_wait(
            dlq, lost_letter.value, key=lost_letter.key, headers=lost_letter.headers
        )
        reissued: dict[uuid.UUID, ReturneeRegistered] = {}
        tally = await seal_history(
            topic, bootstrap=infra.kafka_bootstrap, keys_of=keys_of, reissued=reissued
        )
        in_dlq = await seal_history(
            dlq, bootstrap=infra.kafka_bootstrap, keys_of=keys_of, reissued=reissued
        )
        [dead] = await read_topic(infra.kafka_bootstrap, dlq, 1)
        kept = await read_topic(infra.kafka_bootstrap, topic, 5)
        # Run again (as after a crash): everything is copied once more, nothing is lost.
        again = await seal_history(topic, bootstrap=infra.kafka_bootstrap, keys_of=keys_of)
        kept_again = await read_topic(infra.kafka_bootstrap, topic, 5)
    finally:
        await producer.stop()
        await admin.delete_topics([topic, dlq])
        await admin.close()

    assert dict(tally) == {
        "sealed": 1,
        "shredded": 1,
        "resealed": 1,
        "stripped": 1,
        "unreadable": 1,
    }
    assert dict(again) == {"already_sealed": 3, "unreadable": 2}
    assert dict(in_dlq) == {"resealed": 1}
    assert len(kept) == 5 and len(kept_again) == 5  # the originals are gone
    for value in [living["personal"]["family_name"], erased["personal"]["family_name"]]:
        assert all(value.encode() not in (r.value or b"") for r in kept_again)
    by_key = {r.key: r for r in kept_again}
    for envelope in originals:
        copy = by_key[envelope.key]
        assert dict(copy.headers)["ce_id"] == dict(envelope.headers)["ce_id"]  # same event
        assert dict(copy.headers)["ce_type"] == RETURNEE_REGISTERED_V2.ce_type.encode()
        assert copy.timestamp == sent_at[envelope.key]  # retention counts from the original
    parsed = parse_envelope(
        TOPIC,
        living_id.encode(),
        by_key[living_id.encode()].value,
        by_key[living_id.encode()].headers,
    )
    assert isinstance(parsed.event, ReturneeRegisteredV2)
    released = await data_keys(
        client, infra, "notifications_service", living_id, lost_id, erased_id
    )
    keys = {k["returnee_id"]: decode_key(k["key"]) for k in released.json()["keys"]}
    assert set(keys) == {living_id, lost_id}  # issued by the sealing; the erased have none
    opened = open_registration(parsed.event, keys[living_id], event_id=parsed.event_id)
    assert opened == v1_living
    resealed = by_key[lost_id.encode()]
    again_parsed = parse_envelope(TOPIC, resealed.key, resealed.value, resealed.headers)
    assert again_parsed.event_id == lost_event_id
    assert isinstance(again_parsed.event, ReturneeRegisteredV2)
    assert open_registration(again_parsed.event, keys[lost_id], event_id=lost_event_id) == v1_lost
    dead_parsed = parse_envelope(TOPIC, dead.key, dead.value, dead.headers)
    assert isinstance(dead_parsed.event, ReturneeRegisteredV2)
    assert open_registration(dead_parsed.event, keys[lost_id], event_id=lost_event_id) == v1_lost
    assert by_key[b"x"].value == b"{not an event"
    stripped = json.loads(by_key[b"poison"].value)
    assert "personal" not in stripped and stripped["household_size"] == 0


def invented_name() -> str:
    """A name nobody else in a shared database has (12 letters drawn from 2^128 bits), spelled
    the French way ("Cou...y") so that its Malian variant spelling differs."""
    number, letters = uuid.uuid4().int, []
    for _ in range(12):
        number, index = divmod(number, len(_NAME_LETTERS))
        letters.append(_NAME_LETTERS[index])
    return f"Cou{''.join(letters)}y"


_NAME_LETTERS = "bdfgklmnprstvz"


def malian_mobile() -> str:
    while True:
        candidate = f"+2237{random.randrange(10**7):07d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def variant_spelling(name: str) -> str:
    """Coulibaly -> Kulibali, then one letter dropped as a hurried registrar would."""
    variant = name.lower().replace("cou", "ku").removesuffix("y") + "i"
    return variant[:4] + variant[5:]


async def test_search_finds_people_by_reference_phone_and_misspelled_name_within_centres(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    people = []
    for index in range(50):
        family = invented_name()
        phone = malian_mobile()
        person = registration(
            reception_centre="gao" if index % 2 else "bamako",
            personal={"family_name": family, "given_name": "Aïssata", "phone": phone},
        )
        person["consents"] = {**person["consents"], "sms_contact": True}
        created = await client.post("/returnees", json=person)
        assert created.status_code == 201, created.text
        people.append((created.json()["returnee_id"], person["reception_centre"], family, phone))
    gao_registrar = as_token(infra, "registrar", centres=["gao"])

    async def found(q: str, **headers: str) -> list[str]:
        answer = await client.get("/returnees/search", params={"q": q}, headers=headers)
        assert answer.status_code == 200, answer.text
        return [item["returnee"]["returnee_id"] for item in answer.json()["items"]]

    for returnee_id, centre, family, phone in people:
        national = phone.removeprefix("+223")
        ways = [
            returnee_id.replace("-", "")[:8].upper(),  # the SMS reference
            phone,
            f"{national[:2]} {national[2:4]} {national[4:6]} {national[6:]}",
            f"00223{national}",
            f"aissata {variant_spelling(family)}",
        ]
        for q in ways:
            assert returnee_id in await found(q), f"{q!r} does not find {family}"
        at_gao = [await found(q, **gao_registrar) for q in ways]
        if centre == "bamako":
            assert all(returnee_id not in hits for hits in at_gao)
        else:
            assert all(returnee_id in hits for hits in at_gao)

    # Why each matched, best first; an erased person is found by nothing.
    first_id, _, first_family, first_phone = people[0]
    answer = await client.get("/returnees/search", params={"q": first_phone})
    [item] = [i for i in answer.json()["items"] if i["returnee"]["returnee_id"] == first_id]
    assert item["matched"] == ["phone"] and item["score"] == 1.0
    officer = as_token(infra, "data_protection_officer")
    await client.post(
        f"/returnees/{first_id}/erasure", json={"reason": "data_subject_request"}, headers=officer
    )
    for q in [first_phone, first_id[:8], first_family]:
        assert first_id not in await found(q)
    # Every result shown is in the access log, under the search's route, without the query.
    audit = await client.get("/audit", params={"returnee_id": people[1][0]}, headers=officer)
    searched = [e for e in audit.json()["items"] if e["route"] == "GET /returnees/search"]
    assert searched and all(e["action"] == "listed" for e in searched)
    assert people[1][2] not in audit.text


async def test_a_search_query_is_checked_and_never_echoed(client: httpx.AsyncClient) -> None:
    short = await client.get("/returnees/search", params={"q": "a"})
    blank = await client.get("/returnees/search", params={"q": "  a "})
    long = await client.get("/returnees/search", params={"q": "Koné" * 40})
    missing = await client.get("/returnees/search")
    for answer in (short, blank, long, missing):
        assert answer.status_code == 422 and "query.q" in answer.text
    assert "Koné" not in long.text


# Corrections and transfers (PATCH /returnees/{id}) -------------------------------------------

UPDATED_TOPIC = RETURNEE_UPDATED_V1.topic


async def registered(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    created = await client.post("/returnees", json=registration(**changes))
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    return answer


def correcting(version: int | str, key: str | None = None, **headers: str) -> dict[str, str]:
    return {"If-Match": f'"{version}"', "Idempotency-Key": key or str(uuid.uuid4()), **headers}


async def test_a_correction_names_the_version_it_corrects(client: httpx.AsyncClient) -> None:
    person = await registered(client)
    path = f"/returnees/{person['returnee_id']}"
    read = await client.get(path)
    change = {"reason": "data_entry_error", "household_size": 7}

    no_version = await client.patch(path, json=change, headers={"Idempotency-Key": "k1"})
    any_version = await client.patch(path, json=change, headers={**correcting(1), "If-Match": "*"})
    stale = await client.patch(path, json=change, headers=correcting(2))
    key = str(uuid.uuid4())
    # The media type of RFC 7396; plain application/json is accepted too (the other calls).
    done = await client.patch(
        path,
        content=json.dumps(change),
        headers=correcting(1, key, **{"Content-Type": "application/merge-patch+json"}),
    )
    retried = await client.patch(path, json=change, headers=correcting(1, key))
    now = await client.get(path)

    assert read.headers["ETag"] == '"1"' and read.json()["version"] == 1
    assert no_version.status_code == 428
    assert no_version.json()["field"] == "header.If-Match"
    assert any_version.status_code == 428
    assert stale.status_code == 412 and stale.json()["current_version"] == 1
    assert stale.headers["ETag"] == '"1"'
    assert done.status_code == 200, done.text
    assert done.headers["ETag"] == '"2"'
    assert done.json()["household_size"] == 7 and done.json()["version"] == 2
    # A retry of the same correction (same key) replays its answer: no third version.
    assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
    assert retried.headers["ETag"] == '"2"'
    assert now.json()["version"] == 2 and now.json()["household_size"] == 7


async def test_of_two_corrections_of_one_version_exactly_one_wins(
    client: httpx.AsyncClient,
) -> None:
    person = await registered(client)
    path = f"/returnees/{person['returnee_id']}"
    sizes = (3, 9)

    answers = await asyncio.gather(
        *(
            client.patch(
                path,
                json={"reason": "data_entry_error", "household_size": n},
                headers=correcting(1),
            )
            for n in sizes
        )
    )

    assert sorted(a.status_code for a in answers) == [200, 412]
    [winner] = [a for a in answers if a.status_code == 200]
    now = (await client.get(path)).json()
    assert now["version"] == 2
    assert now["household_size"] == winner.json()["household_size"]


async def test_a_correction_is_published_with_its_personal_block_sealed(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    person = await registered(
        client,
        preferred_language="bm",
        consents={"data_processing": True, "sms_contact": True, "partner_sharing": False},
        personal={"phone": "+22365012345"},
    )
    returnee_id = person["returnee_id"]
    change = {
        "reason": "new_information",
        "preferred_language": "fr",
        "personal": {"phone": "+223 76 12 34 56"},
    }
    async with TopicProbe(infra.kafka_bootstrap, UPDATED_TOPIC) as probe:
        answer = await client.patch(f"/returnees/{returnee_id}", json=change, headers=correcting(1))
        [record] = await probe.collect(lambda got: returnee_id in ids_seen(got), within=60)

    assert answer.status_code == 200, answer.text
    assert answer.json()["personal"]["phone"] == "+22376123456"
    assert (
        b"76123456" not in record.value
        and person["personal"]["given_name"].encode() not in record.value
    )
    parsed = parse_envelope(UPDATED_TOPIC, record.key, record.value, record.headers)
    event = parsed.event
    assert isinstance(event, ReturneeUpdated)
    assert (event.version, event.updated_by, event.reason) == (
        2,
        "registrar.test",
        "new_information",
    )
    assert set(event.changed) == {"preferred_language", "personal.phone"}
    assert event.facts.preferred_language == "fr" and not event.is_transfer
    released = await data_keys(client, infra, "notifications_service", returnee_id)
    [item] = released.json()["keys"]
    opened = open_update(event, decode_key(item["key"]), event_id=parsed.event_id)
    assert opened is not None and opened.phone == "+22376123456"
    assert opened.given_name == person["personal"]["given_name"]


async def test_a_transfer_takes_the_person_to_the_other_centre(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    person = await registered(client, reception_centre="gao")
    returnee_id = person["returnee_id"]
    path = f"/returnees/{returnee_id}"
    at_gao = as_token(infra, "registrar", centres=["gao"])
    at_bamako = as_token(infra, "registrar", centres=["bamako"])
    async with TopicProbe(infra.kafka_bootstrap, UPDATED_TOPIC) as probe:
        moved = await client.patch(
            path,
            json={"reason": "relocation", "reception_centre": "bamako"},
            headers=correcting(1) | at_gao,
        )
        [record] = await probe.collect(lambda got: returnee_id in ids_seen(got), within=60)

    assert moved.status_code == 200, moved.text
    event = parse_envelope(UPDATED_TOPIC, record.key, record.value, record.headers).event
    assert isinstance(event, ReturneeUpdated) and event.is_transfer
    assert event.changed == ["reception_centre"] and event.sealed_personal is None
    assert (await client.get(path, headers=at_gao)).status_code == 404
    assert (await client.get(path, headers=at_bamako)).json()["reception_centre"] == "bamako"
    # Back at Gao the registrar can no longer correct the person either.
    again = await client.patch(
        path,
        json={"reason": "relocation", "reception_centre": "gao"},
        headers=correcting(2) | at_gao,
    )
    assert again.status_code == 404


async def test_a_correction_is_checked_like_a_registration(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    no_sms = {"data_processing": True, "sms_contact": False, "partner_sharing": False}
    person = await registered(client, consents=no_sms)
    path = f"/returnees/{person['returnee_id']}"
    nina = f"ML{random.randint(10**9, 10**10 - 1)}"
    other = await registered(client, personal={"national_id": nina})

    def fields(answer: httpx.Response) -> list[str]:
        assert answer.status_code == 422, answer.text
        return [problem["field"] for problem in answer.json()["errors"]]

    async def patch(body: dict[str, Any]) -> httpx.Response:
        return await client.patch(path, json=body, headers=correcting(1))

    assert "body.reason" in fields(await patch({"household_size": 3}))
    # No SMS consent, no phone: named as a registration names it (a rule of the block).
    assert "body.personal" in fields(
        await patch({"reason": "new_information", "personal": {"phone": "+22376123456"}})
    )
    assert "body.personal.given_name" in fields(
        await patch({"reason": "data_entry_error", "personal": {"given_name": None}})
    )
    assert "body.consents" in fields(
        await patch({"reason": "data_entry_error", "consents": {"sms_contact": True}})
    )
    assert "body.arrival_date" in fields(
        await patch({"reason": "data_entry_error", "arrival_date": "2999-01-01"})
    )
    twin = await patch({"reason": "new_information", "personal": {"national_id": nina}})
    assert twin.status_code == 409 and twin.json()["matches"] == [other["returnee_id"]]
    outside = await client.patch(
        path,
        json={"reason": "data_entry_error", "household_size": 2},
        headers=correcting(1) | as_token(infra, "registrar", centres=["kayes"]),
    )
    assert outside.status_code == 404
    assert (await client.get(path)).json()["version"] == 1  # nothing of these changed it


async def test_a_date_of_birth_replaces_an_age_estimate_and_search_finds_the_new_name(
    client: httpx.AsyncClient,
) -> None:
    person = await registered(
        client, age_estimate=30, personal={"date_of_birth": None}, arrival_date="2024-03-02"
    )
    new_family = f"{unique_name()}ké"
    answer = await client.patch(
        f"/returnees/{person['returnee_id']}",
        json={
            "reason": "new_information",
            "personal": {"date_of_birth": "1990-01-15", "family_name": new_family},
        },
        headers=correcting(1),
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["age_years"], answer.json()["age_is_estimated"]) == (34, False)
    found = await client.get("/returnees/search", params={"q": new_family.replace("é", "e")})
    assert person["returnee_id"] in [
        hit["returnee"]["returnee_id"] for hit in found.json()["items"]
    ]


async def test_an_erasure_forgets_the_stored_answers_to_corrections(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    person = await registered(client)
    path = f"/returnees/{person['returnee_id']}"
    key = str(uuid.uuid4())
    change = {"reason": "data_entry_error", "household_size": 4}
    assert (await client.patch(path, json=change, headers=correcting(1, key))).status_code == 200
    officer = service_token(infra, "data_protection_officer")
    erased = await client.post(
        f"{path}/erasure", json={"reason": "data_subject_request"}, headers=officer
    )
    assert erased.status_code == 200

    replay = await client.patch(path, json=change, headers=correcting(1, key))
    fresh = await client.patch(path, json=change, headers=correcting(2))

    assert replay.status_code == 410 and person["personal"]["family_name"] not in replay.text
    assert fresh.status_code == 410


async def test_every_write_of_intake_needs_an_idempotency_key(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    person = await registered(client)
    path = f"/returnees/{person['returnee_id']}"
    officer = service_token(infra, "data_protection_officer")
    notifications = service_token(infra, "notifications_service")
    writes = [
        ("POST", "/returnees", registration(), {}),
        ("PATCH", path, {"reason": "data_entry_error", "household_size": 2}, {"If-Match": '"1"'}),
        ("POST", f"{path}/consents", {"sms_contact": False}, {}),
        ("POST", f"{path}/erasure", {"reason": "data_subject_request"}, officer),
        ("POST", "/data-keys", {"returnee_ids": [person["returnee_id"]]}, notifications),
    ]
    # The client without the test hook that gives every write a fresh key.
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://intake", headers=dict(client.headers)
    ) as bare:
        answers = [
            await bare.request(method, url, json=body, headers=headers)
            for method, url, body, headers in writes
        ]

    assert [a.status_code for a in answers] == [428] * len(writes), [a.text for a in answers]
    assert {a.json()["field"] for a in answers} == {"header.Idempotency-Key"}
    assert (await client.get(path)).json()["version"] == 1


# The duplicate review queue -----------------------------------------------------------------

MERGED_TOPIC = RETURNEE_MERGED_V1.topic


async def weak_pair(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two registrations of one name, born a year apart: a weak match, let through."""
    first = await registered(client, personal={"date_of_birth": "1990-04-02"})
    same_name = {
        "given_name": first["personal"]["given_name"],
        "family_name": first["personal"]["family_name"],
        "date_of_birth": "1991-09-30",
    }
    second = await registered(client, reception_centre="kayes", personal=same_name)
    assert second["possible_duplicate_of"] == [first["returnee_id"]]
    return first, second


async def review_of(
    client: httpx.AsyncClient,
    supervisor: dict[str, str],
    returnee_id: str,
    *,
    status: str = "open",
) -> dict[str, Any]:
    """The review of ``returnee_id`` in the queue, read page by page (the shared database holds
    other tests' and demos' reviews)."""
    cursor = None
    while True:
        params = {"status": status, "limit": "200", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/duplicates", params=params, headers=supervisor)).json()
        for item in page["items"]:
            if item["returnee_id"] == returnee_id:
                return dict(item)
        cursor = page["next_cursor"]
        assert cursor, f"no {status} review of {returnee_id}"


async def test_weak_matches_wait_in_a_queue_that_only_supervisors_read(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    first, second = await weak_pair(client)
    supervisor = as_token(infra, "supervisor")

    review = await review_of(client, supervisor, second["returnee_id"])
    as_registrar = await client.get("/duplicates")
    at_gao = await client.get(
        "/duplicates",
        params={"limit": "200"},
        headers=as_token(infra, "supervisor", centres=["gao"]),
    )

    assert (review["candidate_id"], review["strength"]) == (first["returnee_id"], "weak")
    assert review["returnee"]["personal"] == second["personal"]
    assert review["candidate"]["personal"] == first["personal"]
    assert as_registrar.status_code == 403
    # The later registration is at Kayes: a Gao supervisor does not see the pair.
    assert second["returnee_id"] not in [i["returnee_id"] for i in at_gao.json()["items"]]


async def test_a_pair_told_apart_stays_two_people(client: httpx.AsyncClient, infra: Infra) -> None:
    first, second = await weak_pair(client)
    supervisor = as_token(infra, "supervisor")
    review = await review_of(client, supervisor, second["returnee_id"])
    assert review["candidate_id"] == first["returnee_id"]
    path = f"/duplicates/{review['review_id']}/decision"

    decided = await client.post(path, json={"decision": "not_duplicate"}, headers=supervisor)
    again = await client.post(path, json={"decision": "not_duplicate"}, headers=supervisor)
    otherwise = await client.post(path, json={"decision": "same_person"}, headers=supervisor)

    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["decided_by"]) == (
        "not_duplicate",
        "supervisor.scoped",
    )
    assert again.status_code == 200
    assert otherwise.status_code == 409 and otherwise.json()["error"] == "already_decided"
    assert "merged_into" not in (await client.get(f"/returnees/{second['returnee_id']}")).json()


async def test_the_same_person_is_merged_into_the_earlier_registration(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    first, second = await weak_pair(client)
    supervisor = as_token(infra, "supervisor")
    review = await review_of(client, supervisor, second["returnee_id"])
    path = f"/duplicates/{review['review_id']}/decision"
    async with TopicProbe(infra.kafka_bootstrap, MERGED_TOPIC) as probe:
        merged = await client.post(path, json={"decision": "same_person"}, headers=supervisor)
        [record] = await probe.collect(
            lambda got: second["returnee_id"] in ids_seen(got), within=60
        )

    assert merged.status_code == 200, merged.text
    event = parse_envelope(MERGED_TOPIC, record.key, record.value, record.headers).event
    assert isinstance(event, ReturneeMerged)
    assert (str(event.returnee_id), str(event.merged_into), event.merged_by) == (
        second["returnee_id"],
        first["returnee_id"],
        "supervisor.scoped",
    )
    later = (await client.get(f"/returnees/{second['returnee_id']}")).json()
    assert later["merged_into"] == first["returnee_id"]
    # The person is corrected where they are now, not through the registration merged away.
    corrected = await client.patch(
        f"/returnees/{second['returnee_id']}",
        json={"reason": "data_entry_error", "household_size": 2},
        headers=correcting(1),
    )
    assert corrected.status_code == 409 and corrected.json()["merged_into"] == first["returnee_id"]
    found = await client.get("/returnees/search", params={"q": first["personal"]["family_name"]})
    ids = [hit["returnee"]["returnee_id"] for hit in found.json()["items"]]
    assert first["returnee_id"] in ids and second["returnee_id"] not in ids
    # A third registration of the person matches the person once, not their merged record.
    third = await client.post(
        "/returnees",
        json=registration(
            reception_centre="mopti",
            personal={**second["personal"], "date_of_birth": "1990-12-01"},
        ),
    )
    assert third.status_code == 201, third.text
    assert third.json()["possible_duplicate_of"] == [first["returnee_id"]]


async def test_a_correction_does_not_reopen_a_match_decided_at_registration(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    first = await registered(client)
    namesake = registration(
        personal={k: first["personal"][k] for k in ("given_name", "family_name", "date_of_birth")}
    )
    second = await client.post(
        "/returnees",
        json={**namesake, "confirm_not_duplicate": True, "override_reason": "family_member"},
        headers=as_token(infra, "supervisor"),
    )
    assert second.status_code == 201, second.text

    # A new phone for the namesake: still the strong match a supervisor let through, nothing new.
    corrected = await client.patch(
        f"/returnees/{second.json()['returnee_id']}",
        json={"reason": "new_information", "personal": {"phone": "+22376000000"}},
        headers=correcting(1),
    )

    assert corrected.status_code == 200, corrected.text


async def test_a_supervisor_merges_only_into_a_registration_within_their_centres(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    first, second = await weak_pair(client)  # at Gao, then at Kayes
    at_kayes = as_token(infra, "supervisor", centres=["kayes"])
    review = await review_of(client, at_kayes, second["returnee_id"])

    refused = await client.post(
        f"/duplicates/{review['review_id']}/decision",
        json={"decision": "same_person"},
        headers=at_kayes,
    )

    assert refused.status_code == 409 and refused.json()["error"] == "cannot_merge"
    assert review["candidate"] == {"returnee_id": first["returnee_id"], "reception_centre": "gao"}
    assert "merged_into" not in (await client.get(f"/returnees/{second['returnee_id']}")).json()


async def test_erasing_a_person_erases_every_registration_merged_into_them(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    first, second = await weak_pair(client)
    supervisor = as_token(infra, "supervisor")
    review = await review_of(client, supervisor, second["returnee_id"])
    merged = await client.post(
        f"/duplicates/{review['review_id']}/decision",
        json={"decision": "same_person"},
        headers=supervisor,
    )
    assert merged.status_code == 200, merged.text

    erased = await client.post(
        f"/returnees/{first['returnee_id']}/erasure",
        json={"reason": "data_subject_request"},
        headers=service_token(infra, "data_protection_officer"),
    )

    assert erased.status_code == 200, erased.text
    for person in (first, second):
        read = await client.get(f"/returnees/{person['returnee_id']}")
        assert read.status_code == 410, read.text
        published = await eventually(
            functools.partial(events_of, infra, "returnee.erased", person["returnee_id"]),
            what="returnee.erased of each registration",
        )
        assert [e["reason"] for e in published] == ["data_subject_request"]
    keys = await data_keys(client, infra, "notifications_service", second["returnee_id"])
    assert keys.json()["keys"] == [] and keys.json()["refused"][0]["reason"] == "erased"
