"""Issue 16's acceptance on the four running services (make up): a manifest of 415 people sent
as the embassy's spreadsheet (CSV), then 400 of them registered at the door, a quarter from ODK
Collect tablets (OpenRosa submissions) and the rest through the JSON API, some sent twice as a
phone resends after a dropped connection. Every registration links to its expected person,
intake and reporting both count 400 arrived and 15 still awaited, and nobody is registered or
published twice.

The people are invented for the run (random names), so the shared stack's other records never
change what it checks.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from test_end_to_end import running_services
from test_registration_lifecycle import a_day, invented_name

from retour_contracts import RETURNEE_REGISTERED_V2, EnvelopeError, parse_envelope
from retour_demo.openrosa import OpenRosaClient, instance_xml
from retour_intake.domain.commands import EXAMPLE
from retour_kit.auth import issue_dev_token
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, TopicProbe, eventually

pytestmark = pytest.mark.integration

ON_MANIFEST = 415
ARRIVING = 400
VIA_OPENROSA = 100
RESENT = 20
CENTRE = "kayes"


def _headers(infra: Infra, role: str, subject: str) -> dict[str, str]:
    token = issue_dev_token(infra.jwt_secret, role, subject=subject, centres=[CENTRE])
    return {"Authorization": f"Bearer {token}"}


def _people(day: date) -> list[dict[str, Any]]:
    """Registrations as the registrar will type them; the manifest is made from them."""
    people = []
    for _ in range(ON_MANIFEST):
        born = day - timedelta(days=random.randint(18 * 365, 50 * 365))
        people.append(
            {
                **EXAMPLE,
                "reception_centre": CENTRE,
                "arrival_date": day.isoformat(),
                "return_type": "emergency_evacuation",
                "host_country": "CI",
                "vulnerabilities": [],
                "consents": {
                    "data_processing": True,
                    "sms_contact": False,
                    "partner_sharing": False,
                },
                "personal": {
                    "given_name": invented_name(),
                    "family_name": invented_name(),
                    "date_of_birth": born.isoformat(),
                    "phone": None,
                    "national_id": None,
                },
            }
        )
    return people


def _manifest_csv(people: list[dict[str, Any]]) -> str:
    lines = ["given_name;family_name;date_of_birth;sex;passport_number"]
    for number, body in enumerate(people):
        personal = body["personal"]
        lines.append(
            f"{personal['given_name']};{personal['family_name']};{personal['date_of_birth']};"
            f"{body['sex']};CI{number:07d}"
        )
    return "\n".join(lines) + "\n"


async def _send_manifest(
    http: httpx.AsyncClient, intake: str, headers: dict[str, str], day: date, text: str
) -> dict[str, Any]:
    answer = await http.post(
        f"{intake}/expected-arrivals",
        content=text.encode(),
        params={
            "wave_name": f"Évacuation test {uuid.uuid4().hex[:8]}",
            "reception_centre": CENTRE,
            "expected_date": day.isoformat(),
            "host_country": "CI",
        },
        headers={**headers, "Content-Type": "text/csv; charset=utf-8"},
    )
    assert answer.status_code == 201, answer.text
    wave: dict[str, Any] = answer.json()
    assert wave["people"] == ON_MANIFEST
    return wave


async def test_a_manifest_of_415_then_400_arrivals_links_400_and_awaits_15(infra: Infra) -> None:
    at = running_services()
    day = date.fromisoformat(a_day())
    people = _people(day)
    registrar = f"registrar.{CENTRE}.{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=60, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
        supervisor = _headers(infra, "supervisor", f"supervisor.{CENTRE}.{uuid.uuid4().hex[:8]}")
        wave = await _send_manifest(http, at.intake, supervisor, day, _manifest_csv(people))
        # The manifest's order is the spreadsheet's: person n is expected_ids[n].
        expected_of = dict(enumerate(wave["expected_ids"]))
        device = await http.post(
            f"{at.intake}/openrosa/devices",
            json={"registrar": registrar, "centres": [CENTRE], "label": "Tablette test"},
            headers={**supervisor, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert device.status_code == 201, device.text
        tablet = OpenRosaClient(
            http, at.intake, device.json()["username"], device.json()["password"]
        )
        json_api = _headers(infra, "registrar", registrar)
        gate = asyncio.Semaphore(16)
        registered: dict[int, str] = {}

        async def arrive(number: int) -> None:
            body = people[number]
            async with gate:
                if number < VIA_OPENROSA:
                    instance_id = f"uuid:{uuid.uuid4()}"
                    xml = instance_xml(body, instance_id=instance_id)
                    sends = 2 if number < RESENT else 1
                    for _ in range(sends):  # the second: a resend after a dropped connection
                        answer = await tablet.submit(xml)
                        assert answer.status_code == 201, answer.text
                    registered[number] = tablet.returnee_id(answer)
                else:
                    key = str(uuid.uuid4())
                    sends = 2 if number < VIA_OPENROSA + RESENT else 1
                    for _ in range(sends):
                        answer = await http.post(
                            f"{at.intake}/returnees",
                            json=body,
                            headers={**json_api, "Idempotency-Key": key},
                        )
                        assert answer.status_code == 201, answer.text
                    assert answer.json()["expected_id"] == expected_of[number]
                    registered[number] = answer.json()["returnee_id"]

        async with TopicProbe(infra.kafka_bootstrap, RETURNEE_REGISTERED_V2.topic) as probe:
            await asyncio.gather(*(arrive(number) for number in range(ARRIVING)))
            ours = set(registered.values())
            assert len(ours) == ARRIVING
            records = await probe.collect(
                lambda read: sum(_is_ours(r, ours) for r in read) >= ARRIVING, within=60
            )
            # A short grace, so that a duplicate published late would be seen too.
            records += await probe.collect(lambda _: False, within=2)

        ours_published = [e for e in map(_event_of, records) if e and str(e.returnee_id) in ours]
        assert len(ours_published) == ARRIVING  # one event each, resends included
        links = {str(e.returnee_id): str(e.expected_id) for e in ours_published}
        assert links == {registered[n]: expected_of[n] for n in range(ARRIVING)}

        # Intake's own count of the wave.
        waves = await http.get(f"{at.intake}/expected-arrivals/waves", headers=supervisor)
        assert waves.status_code == 200, waves.text
        [ours_wave] = [w for w in waves.json()["items"] if w["wave_id"] == wave["wave_id"]]
        assert (ours_wave["expected"], ours_wave["arrived"], ours_wave["open"]) == (415, 400, 15)
        # Nobody flagged as a possible duplicate of anyone either.
        assert all(not e.possible_duplicate_of for e in ours_published)

        # Reporting, from the events: 400 arrived, 15 expected but not arrived.
        analyst = {"Authorization": f"Bearer {issue_dev_token(infra.jwt_secret, 'analyst')}"}

        async def wave_row() -> dict[str, Any] | None:
            answer = await http.get(
                f"{at.reporting}/reports/expected-arrivals",
                params={"from": day.isoformat(), "to": day.isoformat()},
                headers=analyst,
            )
            assert answer.status_code == 200, answer.text
            rows = [r for r in answer.json()["waves"] if r["wave_id"] == wave["wave_id"]]
            return rows[0] if rows else None

        row = await eventually(
            wave_row,
            until=lambda r: (
                r is not None
                and (r["expected"]["people"], r["arrived"]["people"]) == (ON_MANIFEST, ARRIVING)
            ),
            within=60,
            what="the wave's row in reporting",
        )
        assert row is not None
        assert row["awaited"]["people"] == ON_MANIFEST - ARRIVING


def _event_of(record: Any) -> Any:
    """The registration a record carries; None for what other tests put on the topic to see
    it refused (not an envelope, not a registration)."""
    try:
        return parse_envelope(record.topic, record.key, record.value, record.headers).event
    except EnvelopeError:
        return None


def _is_ours(record: Any, ours: set[str]) -> bool:
    event = _event_of(record)
    return event is not None and str(event.returnee_id) in ours
