"""OpenRosa against the real PostgreSQL and Kafka: a client doing what ODK Collect does."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import random
import string
import uuid
from collections.abc import AsyncIterator
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import asyncpg
import httpx
import pytest
from defusedxml.ElementTree import fromstring

from retour_contracts import RETURNEE_REGISTERED_V2
from retour_intake.forms import registration_xform
from retour_intake.main import build_app
from retour_intake.settings import Settings
from retour_kit.auth import issue_dev_token
from retour_kit.logging import configure_logging
from retour_test_infra import Infra, TopicProbe

pytestmark = pytest.mark.integration

RESPONSE = "{http://openrosa.org/http/response}"
FORM_LIST = "{http://openrosa.org/xforms/xformsList}"
MANIFEST = "{http://openrosa.org/xforms/xformsManifest}"
TOPIC = RETURNEE_REGISTERED_V2.topic


def unique_name() -> str:
    # Tests share one database: every person they invent must be new to duplicate detection.
    return "".join(random.choices(string.ascii_lowercase, k=12)).capitalize()


def answers(**changes: Any) -> dict[str, Any]:
    """A filled registration form, as nested groups of answers (strings, as a phone sends)."""
    personal = {
        "given_name": unique_name(),
        "family_name": unique_name(),
        "other_names": "",
        "birth_date_known": "yes",
        "date_of_birth": "1995-08-21",
        "phone": "",
        "national_id": "",
    }
    personal.update(changes.pop("personal", {}))
    return {
        "reception_centre": "kayes",
        "arrival_date": "2024-03-02",
        "return_type": "emergency_evacuation",
        "host_country": "CI",
        "region_of_origin": "kayes",
        "sex": "female",
        "household_size": "3",
        "vulnerabilities": "medical_need elderly",
        "preferred_language": "fr",
        "consents": {"data_processing": "yes", "sms_contact": "no", "partner_sharing": "no"},
        "personal": personal,
        "age_estimate": "",
        **changes,
    }


def instance_xml(filled: dict[str, Any], *, instance_id: str) -> bytes:
    """The instance as ODK Collect serialises it: the form's root with its id and version, no
    default namespace, empty elements for unanswered questions, then meta/instanceID."""
    root = Element(
        "retour_registration",
        {
            "id": "retour_registration",
            "version": "2026011601",
            "xmlns:jr": "http://openrosa.org/javarosa",
            "xmlns:orx": "http://openrosa.org/xforms",
        },
    )
    _fill(root, filled)
    meta = SubElement(root, "orx:meta")
    SubElement(meta, "orx:instanceID").text = instance_id
    xml: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def _fill(parent: Element, filled: dict[str, Any]) -> None:
    for name, value in filled.items():
        child = SubElement(parent, name)
        if isinstance(value, dict):
            _fill(child, value)
        else:
            child.text = value


def multipart(xml: bytes) -> dict[str, Any]:
    # ODK Collect's parts: the instance, and each attachment under its own name.
    return {
        "files": {
            "xml_submission_file": ("submission.xml", xml, "text/xml"),
            "photo.jpg": ("photo.jpg", b"\xff\xd8\xff", "image/jpeg"),
        }
    }


async def submit(
    intake: httpx.AsyncClient, credentials: dict[str, str], filled: dict[str, Any]
) -> httpx.Response:
    """A newly filled form sent once (a new instanceID)."""
    xml = instance_xml(filled, instance_id=f"uuid:{uuid.uuid4()}")
    return await intake.post("/submission", headers=credentials, **multipart(xml))


def basic(username: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def message_of(response: httpx.Response) -> tuple[str, str]:
    """(nature, text) of an OpenRosa response."""
    assert response.headers["X-OpenRosa-Version"] == "1.0"
    assert response.headers["content-type"].startswith("text/xml")
    root = fromstring(response.content)
    assert root.tag == f"{RESPONSE}OpenRosaResponse"
    message = root.find(f"{RESPONSE}message")
    assert message is not None
    return message.get("nature") or "", message.text or ""


@pytest.fixture
async def intake(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=infra.dsn("intake"),
        auth_jwt_secret=infra.jwt_secret,
        master_key=infra.master_key,
        kafka_bootstrap_servers=infra.kafka_bootstrap,
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://intake") as http:
            yield http


def supervisor_of(infra: Infra, *centres: str) -> dict[str, str]:
    token = issue_dev_token(
        infra.jwt_secret, "supervisor", subject=f"supervisor.{centres[0]}", centres=centres
    )
    return {"Authorization": f"Bearer {token}"}


async def issue_device(
    intake: httpx.AsyncClient, infra: Infra, *, centres: list[str], registrar: str
) -> dict[str, Any]:
    response = await intake.post(
        "/openrosa/devices",
        json={"registrar": registrar, "centres": centres, "label": "Kayes tablet 2"},
        headers={**supervisor_of(infra, *centres), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    device: dict[str, Any] = response.json()
    return device


async def test_an_odk_collect_session_with_a_resend_registers_one_person_and_one_event(
    intake: httpx.AsyncClient, infra: Infra
) -> None:
    device = await issue_device(intake, infra, centres=["kayes"], registrar="registrar.kayes")
    credentials = basic(device["username"], device["password"])

    # Collect's pre-flight: unauthenticated first, answered with the challenge it expects.
    challenged = await intake.head("/submission")
    assert challenged.status_code == 401
    assert challenged.headers["WWW-Authenticate"] == 'Basic realm="retour"'
    assert challenged.headers["X-OpenRosa-Version"] == "1.0"
    preflight = await intake.head("/submission", headers=credentials)
    assert preflight.status_code == 204
    assert int(preflight.headers["X-OpenRosa-Accept-Content-Length"]) > 0

    xml = instance_xml(answers(), instance_id=f"uuid:{uuid.uuid4()}")
    async with TopicProbe(infra.kafka_bootstrap, TOPIC) as probe:
        first = await intake.post("/submission", headers=credentials, **multipart(xml))
        assert first.status_code == 201, first.text
        assert message_of(first)[0] == "submit_success"
        returnee_id = first.headers["Location"].rpartition("/")[2]
        # The connection dropped before Collect read the answer: it sends the form again.
        resent = await intake.post("/submission", headers=credentials, **multipart(xml))
        assert resent.status_code == 201
        assert resent.headers["Location"] == first.headers["Location"]
        assert resent.headers["Idempotent-Replayed"] == "true"

        records = await probe.collect(
            lambda got: returnee_id in {r.key.decode() for r in got}, within=30
        )
        records += await probe.collect(lambda _: False, within=1.5)  # a stray second one
    assert [r.key.decode() for r in records].count(returnee_id) == 1

    conn = await asyncpg.connect(infra.dsn("intake"), server_settings={"search_path": "intake"})
    try:
        row = await conn.fetchrow(
            "SELECT reception_centre, record FROM returnees WHERE returnee_id = $1",
            uuid.UUID(returnee_id),
        )
    finally:
        await conn.close()
    assert row is not None
    assert row["reception_centre"] == "kayes"
    record = json.loads(row["record"])
    assert record["vulnerabilities"] == ["medical_need", "elderly"]
    assert record["age_is_estimated"] is False


async def test_the_same_answers_under_a_new_instance_id_are_a_duplicate_for_a_supervisor(
    intake: httpx.AsyncClient, infra: Infra
) -> None:
    device = await issue_device(intake, infra, centres=["kayes"], registrar="registrar.kayes")
    credentials = basic(device["username"], device["password"])
    filled = answers()
    first = await submit(intake, credentials, filled)
    assert first.status_code == 201, first.text
    again = await submit(intake, credentials, filled)
    assert again.status_code == 409
    nature, text = message_of(again)
    assert nature == "error"
    assert "supervisor must review" in text


async def test_an_invalid_submission_is_refused_naming_the_field_never_the_value(
    intake: httpx.AsyncClient, infra: Infra
) -> None:
    device = await issue_device(intake, infra, centres=["kayes"], registrar="registrar.kayes")
    credentials = basic(device["username"], device["password"])
    filled = answers(personal={"date_of_birth": "2031-01-01", "family_name": "Traorézz"})
    refused = await submit(intake, credentials, filled)
    assert refused.status_code == 422
    nature, text = message_of(refused)
    assert nature == "error"
    assert text.startswith("personal/date_of_birth: ")
    assert "2031" not in text
    assert "Traorézz" not in text

    both_ages = answers(age_estimate="30")
    refused = await submit(intake, credentials, both_ages)
    assert refused.status_code == 422
    assert message_of(refused)[1].startswith("age_estimate: ")

    no_instance_id = instance_xml(answers(), instance_id="")
    refused = await intake.post("/submission", headers=credentials, **multipart(no_instance_id))
    assert refused.status_code == 400
    assert message_of(refused)[1] == "meta/instanceID: required"

    not_multipart = await intake.post("/submission", headers=credentials, content=b"<x/>")
    assert not_multipart.status_code == 400
    assert message_of(not_multipart)[1].startswith("xml_submission_file: ")

    no_boundary = {**credentials, "Content-Type": "multipart/form-data"}
    malformed = await intake.post("/submission", headers=no_boundary, content=b"--x\r\n")
    assert malformed.status_code == 400
    assert message_of(malformed)[0] == "error"


async def test_a_submission_for_another_centre_is_refused(
    intake: httpx.AsyncClient, infra: Infra
) -> None:
    device = await issue_device(intake, infra, centres=["kayes"], registrar="registrar.kayes")
    elsewhere = answers(reception_centre="gao")
    refused = await submit(intake, basic(device["username"], device["password"]), elsewhere)
    assert refused.status_code == 403
    assert message_of(refused)[1].startswith("reception_centre: ")


async def test_a_supervisor_issues_devices_only_for_their_centres(
    intake: httpx.AsyncClient, infra: Infra
) -> None:
    refused = await intake.post(
        "/openrosa/devices",
        json={"registrar": "registrar.gao", "centres": ["gao"], "label": "Gao tablet"},
        headers={**supervisor_of(infra, "kayes"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert refused.status_code == 403
    assert refused.json()["field"] == "body.centres"
    registrar = issue_dev_token(infra.jwt_secret, "registrar", centres=["kayes"])
    not_a_supervisor = await intake.post(
        "/openrosa/devices",
        json={"registrar": "registrar.kayes", "centres": ["kayes"], "label": "x"},
        headers={"Authorization": f"Bearer {registrar}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert not_a_supervisor.status_code == 403


async def test_a_retried_issue_gives_the_same_device_a_new_password(
    intake: httpx.AsyncClient, infra: Infra
) -> None:
    headers = {**supervisor_of(infra, "kayes"), "Idempotency-Key": str(uuid.uuid4())}
    body = {"registrar": "registrar.kayes", "centres": ["kayes"], "label": "Kayes tablet 3"}
    first = (await intake.post("/openrosa/devices", json=body, headers=headers)).json()
    retry = await intake.post("/openrosa/devices", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["username"] == first["username"]
    old, new = (
        basic(first["username"], first["password"]),
        basic(first["username"], retry.json()["password"]),
    )
    assert (await intake.head("/submission", headers=old)).status_code == 401
    assert (await intake.head("/submission", headers=new)).status_code == 204

    listed = await intake.get("/openrosa/devices", headers=supervisor_of(infra, "kayes"))
    assert listed.status_code == 200
    mine = [item for item in listed.json()["items"] if item["username"] == first["username"]]
    assert mine == [{key: value for key, value in first.items() if key != "password"}]
    assert all(
        "password" not in item and "password_hash" not in item for item in listed.json()["items"]
    )


async def test_a_revoked_device_is_refused(intake: httpx.AsyncClient, infra: Infra) -> None:
    device = await issue_device(intake, infra, centres=["kayes"], registrar="registrar.kayes")
    credentials = basic(device["username"], device["password"])
    assert (await intake.head("/submission", headers=credentials)).status_code == 204

    elsewhere = await intake.post(
        f"/openrosa/devices/{device['username']}/revocation",
        headers={**supervisor_of(infra, "gao"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert elsewhere.status_code == 404
    revoked = await intake.post(
        f"/openrosa/devices/{device['username']}/revocation",
        headers={**supervisor_of(infra, "kayes"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked_by"] == "supervisor.kayes"

    refused = await submit(intake, credentials, answers())
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="retour"'
    assert message_of(refused)[0] == "error"
    wrong = basic(device["username"], "not-the-password")
    assert (await intake.get("/formList", headers=wrong)).status_code == 401


async def test_the_form_list_form_and_manifest_answer_as_openrosa_clients_expect(
    intake: httpx.AsyncClient, infra: Infra
) -> None:
    device = await issue_device(intake, infra, centres=["kayes"], registrar="registrar.kayes")
    credentials = {**basic(device["username"], device["password"]), "X-OpenRosa-Version": "1.0"}
    listed = await intake.get("/formList", headers=credentials)
    assert listed.status_code == 200
    assert listed.headers["X-OpenRosa-Version"] == "1.0"
    forms = fromstring(listed.content)
    assert forms.tag == f"{FORM_LIST}xforms"
    [entry] = forms.findall(f"{FORM_LIST}xform")
    field = {child.tag.removeprefix(FORM_LIST): child.text for child in entry}
    assert field["formID"] == "retour_registration"
    assert field["version"] == "2026011601"
    assert field["downloadUrl"] == "https://intake/forms/retour_registration.xml"
    assert field["manifestUrl"] == "https://intake/forms/retour_registration/manifest"

    form = await intake.get("/forms/retour_registration.xml", headers=credentials)
    assert form.status_code == 200
    assert form.content == registration_xform()
    assert field["hash"] == f"md5:{hashlib.md5(form.content).hexdigest()}"  # noqa: S324 (OpenRosa's)

    manifest = await intake.get("/forms/retour_registration/manifest", headers=credentials)
    assert manifest.status_code == 200
    root = fromstring(manifest.content)
    assert root.tag == f"{MANIFEST}manifest"
    assert list(root) == []

    # The JSON API's bearer token is accepted too (the browser form may use either).
    token = issue_dev_token(infra.jwt_secret, "registrar", centres=["kayes"])
    with_token = await intake.get("/formList", headers={"Authorization": f"Bearer {token}"})
    assert with_token.status_code == 200
    analyst = issue_dev_token(infra.jwt_secret, "analyst")
    refused = await intake.get("/formList", headers={"Authorization": f"Bearer {analyst}"})
    assert refused.status_code == 403


async def test_concurrent_resends_of_one_instance_register_once(
    intake: httpx.AsyncClient, infra: Infra
) -> None:
    device = await issue_device(intake, infra, centres=["kayes"], registrar="registrar.kayes")
    credentials = basic(device["username"], device["password"])
    xml = instance_xml(answers(), instance_id=f"uuid:{uuid.uuid4()}")
    sent = await asyncio.gather(
        *(intake.post("/submission", headers=credentials, **multipart(xml)) for _ in range(4))
    )
    assert {response.status_code for response in sent} == {201}
    assert len({response.headers["Location"] for response in sent}) == 1


async def test_logs_keep_no_password_credentials_or_personal_data(
    intake: httpx.AsyncClient, infra: Infra, isolated_logging: None
) -> None:
    captured = io.StringIO()
    configure_logging("retour-intake", "INFO", stream=captured)
    device = await issue_device(intake, infra, centres=["kayes"], registrar="registrar.kayes")
    credentials = basic(device["username"], device["password"])
    national_id = f"NINA{random.randrange(10**11, 10**12)}"  # new to duplicate detection
    filled = answers(personal={"national_id": national_id})
    registered = await submit(intake, credentials, filled)
    assert registered.status_code == 201
    invalid = answers(personal={"date_of_birth": "2031-01-01", "given_name": "Canarybird"})
    refused = await submit(intake, credentials, invalid)
    assert refused.status_code == 422
    output = captured.getvalue()
    assert device["username"] in output  # the device issue is logged, by its name
    personal = filled["personal"]
    for secret in (
        device["password"],
        credentials["Authorization"].partition(" ")[2],
        personal["given_name"],
        personal["family_name"],
        national_id,
        "Canarybird",
    ):
        assert secret not in output
    assert "Canarybird" not in message_of(refused)[1]
