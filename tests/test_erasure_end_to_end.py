"""Erasure across the four running services (make up), through their public HTTP APIs.

A canary person, with values found nowhere else, is registered as vulnerable with SMS consent,
gets the welcome SMS, triggers the centre team's e-mail and is granted aid; then the data
protection officer erases them. Within 60 seconds a dump of every database of the cluster,
every service log, the mail sink and Kafka's raw log segments (every topic, dead letters
included) hold none of the canary's values, the key that sealed their personal block on
Kafka is refused to everyone, and reporting's KPIs and projection rows are exactly as before,
as are those a rebuild makes from the records left on Kafka.

Not scanned here: the SMS gateway's own logs (outside retour, on the data map).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import string
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import httpx
import pytest
from test_end_to_end import running_services
from test_notifications_gateways import new_phone
from test_reporting_sandbox import reporting_sandbox

from retour_contracts.examples import returnee_registered_data
from retour_kit.auth import issue_dev_token
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra, TopicProbe, eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
SERVICE_LOGS = sorted((REPO / ".local" / "services").glob("*.log"))
MAILDIR = REPO / ".local" / "smtp" / "maildir"
KAFKA_DATA = REPO / ".local" / "kafka" / "data"
REPORTING_COMMAND = str(Path(sys.executable).with_name("retour-reporting"))


async def projection_rows(infra: Infra, schema: str, returnee_id: str) -> list[str]:
    """The person's rows in reporting's projection tables, as text, in key order."""
    conn = await asyncpg.connect(infra.dsn("reporting"))
    try:
        await conn.execute(f"SET search_path = {schema}")
        rows = await conn.fetch(
            "SELECT 'registration ' || r::text AS row FROM registrations r"
            " WHERE returnee_id = $1::uuid"
            " UNION ALL (SELECT 'aid ' || a::text FROM aid a WHERE returnee_id = $1::uuid"
            " ORDER BY aid_id)",
            returnee_id,
        )
    finally:
        await conn.close()
    return [row["row"] for row in rows]


async def rebuilt_rows(
    infra: Infra,
    records: list[Any],
    returnee_id: str,
    rows: Callable[[Infra, str, str], Awaitable[list[str]]] | None = None,
) -> list[str]:
    """What ``retour-reporting rebuild`` makes of ``records`` (as Kafka holds them now), in a
    sandbox of its own: reporting's rows of the person (``rows``; ``projection_rows`` unless
    said)."""
    async with reporting_sandbox(infra) as sandbox:
        await sandbox.produce(
            [(sandbox.topics[r.topic], r.key, r.value, list(r.headers)) for r in records]
        )
        rebuild = await asyncio.create_subprocess_exec(
            REPORTING_COMMAND,
            "rebuild",
            "--timeout",
            "60",
            env={**os.environ, **sandbox.environment(), "LOG_LEVEL": "WARNING"},
            stdout=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(90):
            output, _ = await rebuild.communicate()
        assert rebuild.returncode == 0, output.decode(errors="replace")
        assert json.loads(output.decode().strip().splitlines()[-1])["records"] == len(records)
        return await (rows or projection_rows)(infra, sandbox.schema, returnee_id)


def kafka_segments_holding(values: list[str]) -> list[str]:
    """The canary values found in the raw bytes of every Kafka log segment on disk.

    The broker keeps changing what is on disk while it is read: other tests delete their
    topics (Kafka renames each partition's directory, then removes it a minute later) and
    old segments are deleted. A directory or segment that is gone before it is read holds
    nothing any more, so it is passed over; one that is read is searched whole."""
    wanted = [(value, value.encode()) for value in values]
    found, searched = [], 0
    for partition in _still_listed(KAFKA_DATA):
        for segment in _still_listed(partition):
            if segment.suffix != ".log":
                continue
            try:
                data = segment.read_bytes()
            except FileNotFoundError:
                continue
            searched += 1
            found += [f"kafka {partition.name}: {v}" for v, raw in wanted if raw in data]
    assert searched, f"no Kafka log segment under {KAFKA_DATA}: run make up"
    return found


def _still_listed(directory: Path) -> list[Path]:
    """The entries of ``directory``, none if it is gone (or is not a directory)."""
    try:
        return sorted(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def canary_word() -> str:
    return "Canari" + "".join(random.choices(string.ascii_lowercase, k=10))


def pg_dumpall() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dumpall"))
    assert found, "pg_dumpall: the machine's PostgreSQL binaries are not installed"
    return found[-1]


async def cluster_dump(infra: Infra) -> str:
    """Every row of every database of the cluster, as the cluster's administrator sees it."""
    # pg_dumpall runs pg_dump once per database, which does not inherit a DSN's password.
    dsn = urlsplit(infra.admin_dsn)
    login = {
        "PGHOST": dsn.hostname or "127.0.0.1",
        "PGPORT": str(dsn.port or 5432),
        "PGUSER": unquote(dsn.username or ""),
        "PGPASSWORD": unquote(dsn.password or ""),
    }
    process = await asyncio.create_subprocess_exec(
        str(pg_dumpall()),
        "--data-only",
        env={**os.environ, **login},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")
    return out.decode(errors="replace")


def files_holding(values: list[str], files: list[Path]) -> list[str]:
    found = []
    for file in files:
        text = file.read_text(errors="replace")
        found += [f"{file.name}: {value}" for value in values if value in text]
    return found


def token(infra: Infra, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_dev_token(infra.jwt_secret, role)}"}


async def test_an_erased_canary_is_in_no_database_log_or_mail(infra: Infra) -> None:
    endpoints = running_services()
    assert SERVICE_LOGS, "no service log in .local/services: run make up"
    given, family, other = canary_word(), canary_word(), canary_word()
    phone, national_id = new_phone(), f"CAN{random.randrange(10**9):09d}"
    canary = [given, family, other, phone, phone.removeprefix("+223"), national_id]
    # A day after the fortnights test_end_to_end plays (2000 to mid-February 2019), so that
    # only this test's earlier runs may have registered on it: counts are compared to before.
    day = date(2019, 3, 1) + timedelta(days=random.randrange(670))
    registration = returnee_registered_data(
        arrival_date=day.isoformat(),
        reception_centre="kayes",
        vulnerabilities=["medical_need"],
        consents={"sms_contact": True},
        personal={
            "given_name": given,
            "family_name": family,
            "other_names": other,
            "phone": phone,
            "national_id": national_id,
        },
    )
    for generated in ("returnee_id", "registered_at", "age_years", "age_is_estimated"):
        registration.pop(generated, None)
    registration.pop("possible_duplicate_of", None)
    registration.pop("duplicate_confirmed_by", None)
    period = {"from": day.isoformat(), "to": day.isoformat()}

    async with httpx.AsyncClient(timeout=30, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
        analyst = token(infra, "analyst")

        async def counted() -> Any:
            answer = await http.get(
                f"{endpoints.reporting}/reports/registrations", params=period, headers=analyst
            )
            return answer.json()["total"]["people"]

        async def kpis() -> Any:
            answer = await http.get(
                f"{endpoints.reporting}/reports/kpis", params=period, headers=analyst
            )
            return answer.json()

        earlier = await counted()
        # What the person leaves on the topics reporting reads, for the rebuild below.
        async with (
            TopicProbe(infra.kafka_bootstrap, "returnee.registered") as registered,
            TopicProbe(infra.kafka_bootstrap, "aid.granted") as aided,
        ):
            created = await http.post(
                f"{endpoints.intake}/returnees",
                json=registration,
                headers=token(infra, "registrar"),
            )
            assert created.status_code == 201, created.text
            returnee_id = created.json()["returnee_id"]
            case = f"{endpoints.reintegration}/cases/{returnee_id}"
            supervisor = token(infra, "supervisor")
            await eventually(
                lambda: http.get(case, headers=supervisor),
                until=lambda answer: answer.status_code == 200,
                what="the case opened",
            )
            aid = {
                "phase": "immediate",
                "category": "food",
                "dimension": "economic",
                "level": "individual",
                "modality": "direct",
            }
            granted = await http.post(
                f"{case}/aid",
                json=aid,
                headers={**supervisor, "Idempotency-Key": str(uuid.uuid4())},
            )
            assert granted.status_code == 201, granted.text
            mine = returnee_id.encode()
            published = [
                record
                for probe in (registered, aided)
                for record in await probe.collect(
                    lambda got: any(r.key == mine for r in got), within=60
                )
                if record.key == mine
            ]
        assert [r.topic for r in published] == ["returnee.registered", "aid.granted"]

        async def sent() -> list[dict[str, Any]]:
            listed = await http.get(
                f"{endpoints.notifications}/notifications",
                params={"returnee_id": returnee_id},
                headers=token(infra, "case_worker"),
            )
            items: list[dict[str, Any]] = listed.json()["items"]
            return items

        notifications = await eventually(
            sent,
            until=lambda items: (
                {(n["rule"], n["status"]) for n in items}
                >= {("welcome_sms", "sent"), ("vulnerable_arrival_email", "sent")}
            ),
            within=60,
            what="the welcome SMS and the team e-mail sent",
        )
        assert notifications
        before = await eventually(
            counted, until=lambda people: people == earlier + 1, what="reporting counts the person"
        )
        rows_before = await eventually(
            lambda: projection_rows(infra, "reporting", returnee_id),
            until=lambda rows: len(rows) == 2,
            what="reporting's rows of the person and their aid",
        )
        kpis_before = await kpis()
        dump = await cluster_dump(infra)
        assert given in dump and phone in dump  # the scan can see the canary while it exists
        # On Kafka the personal block travels sealed, so its bytes never hold the canary; its
        # key, obtained as notifications obtains it, opens it while the person is not erased.
        assert kafka_segments_holding(canary) == []
        key_store = f"{endpoints.intake}/data-keys"
        asked = {"returnee_ids": [returnee_id]}
        released = await http.post(
            key_store, json=asked, headers=token(infra, "notifications_service")
        )
        assert [k["returnee_id"] for k in released.json()["keys"]] == [returnee_id]
        refused = await http.post(key_store, json=asked, headers=token(infra, "reporting_service"))
        assert refused.status_code == 403

        erased = await http.post(
            f"{endpoints.intake}/returnees/{returnee_id}/erasure",
            json={"reason": "data_subject_request"},
            headers=token(infra, "data_protection_officer"),
        )
        assert erased.status_code == 200, erased.text

        async def still_holding() -> list[str]:
            text = await cluster_dump(infra)
            in_databases = [f"database: {value}" for value in canary if value in text]
            mail = [*MAILDIR.glob("new/*"), *MAILDIR.glob("cur/*")]
            return in_databases + files_holding(canary, [*SERVICE_LOGS, *mail])

        holding = await eventually(
            still_holding, until=lambda found: found == [], within=60, what="the canary forgotten"
        )
        assert holding == []
        assert kafka_segments_holding(canary) == []
        # Every sealed copy (the topic's, a dead letter's, a partner's mirror) is now unreadable.
        after = await http.post(
            key_store, json=asked, headers=token(infra, "notifications_service")
        )
        assert after.json()["keys"] == []
        assert after.json()["refused"] == [{"returnee_id": returnee_id, "reason": "erased"}]
        gone = await http.get(
            f"{endpoints.intake}/returnees/{returnee_id}", headers=token(infra, "registrar")
        )
        assert gone.status_code == 410
        assert await counted() == before  # statistics keep the person, without their data
        assert await kpis() == kpis_before
        assert await projection_rows(infra, "reporting", returnee_id) == rows_before
        # A rebuild from what Kafka holds after the erasure makes the same rows.
        assert await rebuilt_rows(infra, published, returnee_id) == rows_before
