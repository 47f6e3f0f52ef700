"""Expected arrivals against the real Kafka broker and PostgreSQL (issue 16, item 4)."""

from __future__ import annotations

import asyncio
import random
import string
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from retour_contracts import (
    EXPECTED_ARRIVAL_CLOSED_V1,
    RETURNEE_EXPECTED_V1,
    RETURNEE_REGISTERED_V2,
    ExpectedArrivalClosed,
    ReturneeExpected,
    ReturneeRegisteredV2,
    open_expected,
    parse_envelope,
)
from retour_intake.adapters.data_keys import PgExpectedDataKeys
from retour_intake.adapters.metrics import IntakeMetrics
from retour_intake.adapters.pg_expected import PgExpected
from retour_intake.domain.commands import EXAMPLE
from retour_intake.entrypoints.expected_worker import ExpectedArrivalCloser
from retour_intake.main import SERVICE, build_app
from retour_intake.settings import Settings
from retour_kit.auth import issue_dev_token
from retour_kit.metrics import new_registry
from retour_kit.unit_of_work import UnitOfWork
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, TopicProbe

pytestmark = pytest.mark.integration

EXPECTED_TOPIC = RETURNEE_EXPECTED_V1.topic
CLOSED_TOPIC = EXPECTED_ARRIVAL_CLOSED_V1.topic
REGISTERED_TOPIC = RETURNEE_REGISTERED_V2.topic


def unique_name() -> str:
    # Tests share one database: every person they invent must be new to matching.
    return "".join(random.choices(string.ascii_lowercase, k=12)).capitalize()


def settings_of(infra: Infra) -> Settings:
    return Settings(
        database_url=infra.dsn("intake"),
        auth_jwt_secret=infra.jwt_secret,
        master_key=infra.master_key,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
    )


def bearer(infra: Infra, role: str, **claims: Any) -> dict[str, str]:
    token = issue_dev_token(infra.jwt_secret, role, subject=f"{role}.expected.test", **claims)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings_of(infra))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake",
            headers=bearer(infra, "supervisor"),
            event_hooks=FRESH_IDEMPOTENCY_KEYS,
        ) as http,
    ):
        yield http


@pytest.fixture
async def conn(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(
        infra.dsn("intake"), server_settings={"search_path": "intake"}
    )
    try:
        yield connection
    finally:
        await connection.close()


def person(**changes: Any) -> dict[str, Any]:
    return {
        "given_name": unique_name(),
        "family_name": unique_name(),
        "date_of_birth": "1995-08-21",
        "sex": "female",
        "vulnerabilities": ["medical_need"],
        **changes,
    }


def manifest(people: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {
        "wave_name": f"Port-Bouët evacuation {unique_name()}",
        "reception_centre": "gao",
        "expected_date": (date.today() + timedelta(days=2)).isoformat(),
        "host_country": "CI",
        "people": people,
        **changes,
    }


def registration_of(expected: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A registration of an expected person, as a registrar types it at the door."""
    personal = {
        "given_name": expected["given_name"],
        "family_name": expected["family_name"],
        "date_of_birth": expected["date_of_birth"],
        "phone": None,
        "national_id": None,
    }
    return {**EXAMPLE, "personal": personal, **changes}


async def announce(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/expected-arrivals", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def expected_row(conn: asyncpg.Connection, expected_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT p.*, k.expected_id IS NOT NULL AS has_key FROM expected_people p"
        " LEFT JOIN expected_data_keys k USING (expected_id) WHERE p.expected_id = $1",
        uuid.UUID(expected_id),
    )
    assert row is not None
    return row


def keyed(records: list[Any], ids: set[str]) -> list[Any]:
    return [record for record in records if record.key.decode() in ids]


def expected_events(records: list[Any]) -> list[ReturneeExpected]:
    found: list[ReturneeExpected] = []
    for record in records:
        event = parse_envelope(EXPECTED_TOPIC, record.key, record.value, record.headers).event
        assert isinstance(event, ReturneeExpected)
        found.append(event)
    return found


def closed_events(records: list[Any]) -> list[ExpectedArrivalClosed]:
    found: list[ExpectedArrivalClosed] = []
    for record in records:
        event = parse_envelope(CLOSED_TOPIC, record.key, record.value, record.headers).event
        assert isinstance(event, ExpectedArrivalClosed)
        found.append(event)
    return found


async def test_a_json_manifest_publishes_one_sealed_event_per_person(
    client: httpx.AsyncClient, infra: Infra, conn: asyncpg.Connection
) -> None:
    people = [person(), person(date_of_birth=None, age=40, sex=None, vulnerabilities=[])]
    people[0]["national_id"] = f"NINA{random.randrange(10**9)}"
    async with TopicProbe(infra.kafka_bootstrap, EXPECTED_TOPIC) as probe:
        answer = await announce(client, manifest(people))
        ids = set(answer["expected_ids"])
        records = await probe.collect(lambda got: len(keyed(got, ids)) >= 2, within=30)
        records += await probe.collect(lambda _: False, within=1.0)

    assert answer["people"] == 2 and len(ids) == 2
    assert "given_name" not in str(answer)  # ids and counts only
    ours = keyed(records, ids)
    assert len(ours) == 2
    settings = settings_of(infra)
    keys = await PgExpectedDataKeys(conn, settings.master_keys()).of([uuid.UUID(i) for i in ids])
    opened: dict[uuid.UUID, tuple[ReturneeExpected, Any]] = {}
    for record in ours:
        for entry in people:  # nothing personal in clear on the wire
            for value in (entry["given_name"], entry["family_name"], entry.get("national_id")):
                assert value is None or value.encode() not in record.value
        parsed = parse_envelope(EXPECTED_TOPIC, record.key, record.value, record.headers)
        event = parsed.event
        assert isinstance(event, ReturneeExpected)
        assert event.wave_size == 2 and str(event.wave_id) == answer["wave_id"]
        opened[event.expected_id] = (
            event,
            open_expected(event, keys[event.expected_id], event_id=parsed.event_id),
        )
    by_name = {personal.family_name: (event, personal) for event, personal in opened.values()}
    first, first_personal = by_name[people[0]["family_name"]]
    second, second_personal = by_name[people[1]["family_name"]]
    assert first_personal.national_id == people[0]["national_id"]
    assert first.age_years is not None and first.sex is not None and first.sex.value == "female"
    assert second.age_years == 40 and second.sex is None and second_personal.date_of_birth is None


async def test_a_csv_manifest_from_a_french_spreadsheet_is_received(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    names = [(unique_name(), unique_name()) for _ in range(3)]
    csv = "\ufefffamily_name;given_name;date_of_birth;age;vulnerabilities\r\n"
    csv += f'{names[0][0]};{names[0][1]};21/08/1995;;"pregnant_or_lactating;medical_need"\r\n\r\n'
    csv += f"{names[1][0]};{names[1][1]};;34;\r\n"
    csv += f"{names[2][0]};;;;\r\n"
    wave = {"wave_name": "Flight 2", "reception_centre": "kayes", "expected_date": "2024-03-02"}
    async with TopicProbe(infra.kafka_bootstrap, EXPECTED_TOPIC) as probe:
        response = await client.post(
            "/expected-arrivals",
            params=wave,
            content=csv.encode(),
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
        assert response.status_code == 201, response.text
        ids = set(response.json()["expected_ids"])
        records = await probe.collect(lambda got: len(keyed(got, ids)) >= 3, within=30)
    events = expected_events(keyed(records, ids))
    assert len(events) == 3
    assert {e.reception_centre.value for e in events} == {"kayes"}
    ages = sorted((e.age_years for e in events), key=str)
    assert ages == [28, 34, None]  # 1995-08-21 on 2024-03-02 is 28


async def test_invalid_people_are_named_and_nothing_is_kept(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    secret = unique_name()
    bad = manifest(
        [
            person(),
            person(family_name=secret, date_of_birth="2090-01-01"),
            person(sex="unknown", age=30),
        ]
    )
    refused = await client.post("/expected-arrivals", json=bad)
    assert refused.status_code == 422
    fields = {error["field"] for error in refused.json()["errors"]}
    assert fields == {"body.people[2].sex", "body.people[2].age"}
    fixed_sex = {**bad, "people": [bad["people"][0], bad["people"][1], person()]}
    refused = await client.post("/expected-arrivals", json=fixed_sex)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["body.people[1].date_of_birth"]
    assert secret not in refused.text

    csv = f"family_name;phone\n{secret};not a phone\nOk;\n;+22365012345\n"
    refused = await client.post(
        "/expected-arrivals",
        params={"wave_name": bad["wave_name"], "reception_centre": "gao", "expected_date": "x"},
        content=csv.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert refused.status_code == 422
    fields = {error["field"] for error in refused.json()["errors"]}
    assert fields == {"query.expected_date", "body.rows[1].phone", "body.rows[3].family_name"}
    assert secret not in refused.text
    kept = await conn.fetchval(
        "SELECT count(*) FROM expected_waves WHERE wave_name = $1", bad["wave_name"]
    )
    assert kept == 0


async def test_announcing_is_for_supervisors_of_the_centre_and_partners(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    body = manifest([person()])
    registrar = await client.post(
        "/expected-arrivals", json=body, headers=bearer(infra, "registrar")
    )
    elsewhere = await client.post(
        "/expected-arrivals", json=body, headers=bearer(infra, "supervisor", centres=["kayes"])
    )
    partner = await client.post(
        "/expected-arrivals", json=body, headers=bearer(infra, "partner", centres=["gao"])
    )
    assert registrar.status_code == 403
    assert elsewhere.status_code == 403 and elsewhere.json()["field"] == "body.reception_centre"
    assert partner.status_code == 201


async def test_a_large_manifest_passes_the_body_limit_of_other_routes(
    client: httpx.AsyncClient, infra: Infra
) -> None:
    people = [person() for _ in range(600)]
    body = manifest(people)
    assert len(httpx.Request("POST", "/", json=body).content) > 64 * 1024
    key = {"Idempotency-Key": str(uuid.uuid4())}
    async with TopicProbe(infra.kafka_bootstrap, EXPECTED_TOPIC) as probe:
        first = await client.post("/expected-arrivals", json=body, headers=key)
        assert first.status_code == 201, first.text
        ids = set(first.json()["expected_ids"])
        again = await client.post("/expected-arrivals", json=body, headers=key)
        records = await probe.collect(lambda got: len(keyed(got, ids)) >= 600, within=60)
        records += await probe.collect(lambda _: False, within=1.0)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(keyed(records, ids)) == 600  # the replay published nothing
    elsewhere = await client.post("/returnees", content=b"x" * (70 * 1024))
    assert elsewhere.status_code == 413  # every other route keeps the kit's limit


async def test_a_manifest_over_its_own_limit_is_refused_before_anything_is_read(
    infra: Infra,
) -> None:
    settings = settings_of(infra).model_copy(update={"expected_arrivals_max_body_bytes": 1000})
    app = build_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake"
    ) as http:
        response = await http.post(
            "/expected-arrivals",
            content=b"family_name\n" + b"Diallo\n" * 200,
            headers={**bearer(infra, "supervisor"), "Content-Type": "text/csv"},
        )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_a_registration_links_to_the_expected_person_it_matches(
    client: httpx.AsyncClient, infra: Infra, conn: asyncpg.Connection
) -> None:
    expected = person()
    answer = await announce(client, manifest([expected, person()]))
    expected_id = answer["expected_ids"][0]
    registrar = bearer(infra, "registrar", centres=["bamako"])  # landed elsewhere than announced

    proposed = await client.post(
        "/expected-arrivals/matches",
        json={
            "given_name": expected["given_name"].upper(),
            "family_name": expected["family_name"],
            "date_of_birth": expected["date_of_birth"],
            "reception_centre": "bamako",
        },
        headers=registrar,
    )
    assert proposed.status_code == 200
    [match] = proposed.json()["items"]
    assert match["strength"] == "strong"
    assert match["expected"]["expected_id"] == expected_id
    assert match["expected"]["personal"]["given_name"] == expected["given_name"]

    body = registration_of(expected, reception_centre="bamako")
    key = {**registrar, "Idempotency-Key": str(uuid.uuid4())}
    async with TopicProbe(infra.kafka_bootstrap, REGISTERED_TOPIC) as probe:
        registered = await client.post("/returnees", json=body, headers=key)
        assert registered.status_code == 201, registered.text
        returnee_id = registered.json()["returnee_id"]
        replayed = await client.post("/returnees", json=body, headers=key)
        records = await probe.collect(
            lambda got: any(r.key == returnee_id.encode() for r in got), within=30
        )
    assert registered.json()["expected_id"] == expected_id
    assert replayed.json() == registered.json()
    [record] = [r for r in records if r.key == returnee_id.encode()]
    event = parse_envelope(REGISTERED_TOPIC, record.key, record.value, record.headers).event
    assert isinstance(event, ReturneeRegisteredV2) and str(event.expected_id) == expected_id
    row = await expected_row(conn, expected_id)
    assert row["status"] == "arrived" and str(row["returnee_id"]) == returnee_id

    # The same person again: a strong duplicate anyway, and, let through by a supervisor, not
    # linked to anyone (their expected record already arrived).
    again = await client.post("/returnees", json=body, headers=registrar)
    assert again.status_code == 409 and again.json()["error"] == "possible_duplicate"
    confirmed = await client.post(
        "/returnees",
        json={**body, "confirm_not_duplicate": True, "override_reason": "documents_checked"},
    )
    assert confirmed.status_code == 201, confirmed.text
    assert confirmed.json()["expected_id"] is None
    links = await conn.fetchval(
        "SELECT count(*) FROM expected_people WHERE returnee_id = ANY($1::uuid[])",
        [uuid.UUID(returnee_id), uuid.UUID(confirmed.json()["returnee_id"])],
    )
    assert links == 1

    waves = (await client.get("/expected-arrivals/waves", params={"centre": "gao"})).json()
    [wave] = [w for w in waves["items"] if w["wave_id"] == answer["wave_id"]]
    assert (wave["expected"], wave["arrived"], wave["open"], wave["closed"]) == (2, 1, 1, 0)
    listed = await client.get(
        "/expected-arrivals", params={"wave_id": answer["wave_id"], "status": "arrived"}
    )
    [item] = listed.json()["items"]
    # Registered: the registration holds the person now; the manifest's copy and its key go.
    assert item["returnee_id"] == returnee_id and item["personal"] is None
    kept = await conn.fetchval(
        "SELECT count(*) FROM expected_data_keys WHERE expected_id = $1",
        uuid.UUID(expected_id),
    )
    assert kept == 0


async def test_a_registrar_confirms_an_expected_person_by_id(
    client: httpx.AsyncClient, infra: Infra, conn: asyncpg.Connection
) -> None:
    expected = person()
    answer = await announce(client, manifest([expected]))
    expected_id = answer["expected_ids"][0]
    registrar = bearer(infra, "registrar", centres=["gao"])
    # Typed differently at the door (another given name): only the registrar's choice links.
    body = registration_of(
        {**expected, "given_name": unique_name()}, expected_id=expected_id, reception_centre="gao"
    )
    unknown = await client.post(
        "/returnees", json={**body, "expected_id": str(uuid.uuid4())}, headers=registrar
    )
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["body.expected_id"]
    registered = await client.post("/returnees", json=body, headers=registrar)
    assert registered.status_code == 201, registered.text
    assert registered.json()["expected_id"] == expected_id
    row = await expected_row(conn, expected_id)
    assert str(row["returnee_id"]) == registered.json()["returnee_id"]
    # Once arrived, no other registration may claim them.
    other = registration_of(person(), expected_id=expected_id, reception_centre="gao")
    refused = await client.post("/returnees", json=other, headers=registrar)
    assert refused.status_code == 422


async def test_two_registrations_at_once_link_one_of_them(
    client: httpx.AsyncClient, infra: Infra, conn: asyncpg.Connection
) -> None:
    expected = person(national_id=f"NINA{random.randrange(10**9)}")
    expected_id = (await announce(client, manifest([expected])))["expected_ids"][0]
    # Two desks, two spellings of the name, the same NINA: both strong matches of the manifest.
    bodies = [
        registration_of({**expected, "given_name": unique_name()}, reception_centre="gao")
        for _ in range(2)
    ]
    for body in bodies:
        body["personal"]["national_id"] = expected["national_id"]
    bodies[1]["confirm_not_duplicate"] = True
    bodies[1]["override_reason"] = "documents_checked"
    answers = await asyncio.gather(*(client.post("/returnees", json=b) for b in bodies))
    linked = [a.json().get("expected_id") for a in answers if a.status_code == 201]
    assert linked.count(expected_id) == 1
    row = await expected_row(conn, expected_id)
    assert row["status"] == "arrived"


def closer_of(infra: Infra, *, batch: int = 200) -> tuple[ExpectedArrivalCloser, Any]:
    settings = settings_of(infra)
    database = SERVICE.database(settings)
    work = UnitOfWork(database, PgExpected.binder(settings.master_keys()))
    closer = ExpectedArrivalCloser(
        work,
        close_after_days=30,
        interval_seconds=3600,
        metrics=IntakeMetrics(new_registry()),
        batch=batch,
    )
    return closer, database


async def test_the_closing_worker_closes_only_what_is_due_once_and_shreds_keys(
    client: httpx.AsyncClient, infra: Infra, conn: asyncpg.Connection
) -> None:
    due_wave = await announce(client, manifest([person() for _ in range(5)]))
    not_due_wave = await announce(client, manifest([person()]))
    today = datetime.now(UTC).date()
    # Received 31 and 29 days ago, as far as closing is concerned.
    for wave, days in ((due_wave, 31), (not_due_wave, 29)):
        await conn.execute(
            "UPDATE expected_people SET lapse_from = $2 WHERE wave_id = $1",
            uuid.UUID(wave["wave_id"]),
            today - timedelta(days=days),
        )
    due = set(due_wave["expected_ids"])
    first, first_db = closer_of(infra, batch=2)
    second, second_db = closer_of(infra, batch=2)
    await first_db.open(min_size=1, max_size=2)
    await second_db.open(min_size=1, max_size=2)
    try:
        async with TopicProbe(infra.kafka_bootstrap, CLOSED_TOPIC) as probe:
            now = datetime.now(UTC)
            # Two replicas at once: SKIP LOCKED shares the people out, nobody closes twice.
            await asyncio.gather(first.tick(now), second.tick(now))
            records = await probe.collect(lambda got: len(keyed(got, due)) >= 5, within=30)
            records += await probe.collect(lambda _: False, within=1.0)
    finally:
        await first_db.close()
        await second_db.close()
    closed = closed_events(keyed(records, due))
    assert len(closed) == 5 and {str(e.expected_id) for e in closed} == due
    assert {(e.reason.value, e.closed_by) for e in closed} == {("lapsed", "intake")}
    for expected_id in due:
        row = await expected_row(conn, expected_id)
        assert row["status"] == "closed" and row["personal"] is None and row["name_key"] is None
        assert not row["has_key"]
    still = await expected_row(conn, not_due_wave["expected_ids"][0])
    assert still["status"] == "open" and still["has_key"]


async def test_a_supervisor_withdraws_an_expected_person(
    client: httpx.AsyncClient, infra: Infra, conn: asyncpg.Connection
) -> None:
    expected_id = (await announce(client, manifest([person()])))["expected_ids"][0]
    path = f"/expected-arrivals/{expected_id}/withdrawal"
    reason = {"reason": "not on the flight list"}
    by_registrar = await client.post(path, json=reason, headers=bearer(infra, "registrar"))
    elsewhere = await client.post(
        path, json=reason, headers=bearer(infra, "supervisor", centres=["kayes"])
    )
    async with TopicProbe(infra.kafka_bootstrap, CLOSED_TOPIC) as probe:
        withdrawn = await client.post(path, json=reason)
        records = await probe.collect(lambda got: bool(keyed(got, {expected_id})), within=30)
    again = await client.post(path, json=reason)
    assert by_registrar.status_code == 403 and elsewhere.status_code == 404
    assert withdrawn.status_code == 200 and withdrawn.json()["reason"] == "withdrawn"
    assert again.status_code == 409 and again.json()["current_status"] == "closed"
    [record] = keyed(records, {expected_id})
    [event] = closed_events([record])
    assert event.reason.value == "withdrawn" and event.closed_by == "supervisor.expected.test"
    assert b"flight list" not in record.value
    row = await expected_row(conn, expected_id)
    assert row["personal"] is None and not row["has_key"]
    assert row["withdrawal_reason"] == reason["reason"]


async def test_erasing_a_linked_returnee_erases_their_expected_record(
    client: httpx.AsyncClient, infra: Infra, conn: asyncpg.Connection
) -> None:
    expected = person()
    expected_id = (await announce(client, manifest([expected])))["expected_ids"][0]
    registered = await client.post(
        "/returnees", json=registration_of(expected, reception_centre="gao")
    )
    assert registered.json()["expected_id"] == expected_id
    returnee_id = registered.json()["returnee_id"]
    erased = await client.post(
        f"/returnees/{returnee_id}/erasure",
        json={"reason": "data_subject_request"},
        headers=bearer(infra, "data_protection_officer"),
    )
    assert erased.status_code == 200
    row = await expected_row(conn, expected_id)
    assert row["erased_at"] is not None and row["personal"] is None and not row["has_key"]
    listed = await client.get("/expected-arrivals", params={"status": "arrived", "limit": 500})
    assert expected["family_name"] not in listed.text
