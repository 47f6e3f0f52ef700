"""Issue 18, acceptance: the partner example (examples/partner-consumer) consumes 100
registrations from the real broker with its own principal, and sees personal data only for
those who consented to partner sharing; a withdrawal of that consent, read later, removes what
it had opened. The program runs as a partner runs it: its own process, its own Kafka
principal and consumer group, a partner token for intake's key store, nothing of the stack's.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_end_to_end import running_services
from test_erasure_end_to_end import token
from test_registration_lifecycle import person

from retour_kit.auth import issue_dev_token
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "examples" / "partner-consumer" / "partner_consumer.py"
PEOPLE = 100


def run_partner(infra: Infra, store: Path, group: str) -> subprocess.CompletedProcess[str]:
    principal = infra.kafka_principals["partner-example"]
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "KAFKA_SASL_MECHANISM": infra.kafka_sasl_mechanism or "",
        "PARTNER_KAFKA_SASL_USERNAME": principal.username,
        "PARTNER_KAFKA_SASL_PASSWORD": principal.password,
        "PARTNER_GROUP": group,
        "INTAKE_URL": running_services().intake,
        # The partner role, at the one centre where this test registers people.
        "PARTNER_TOKEN": issue_dev_token(infra.jwt_secret, "partner", centres=["kayes"]),
        "PARTNER_STORE": str(store),
        "PARTNER_STOP_WHEN_IDLE_SECONDS": "8",
    }
    return subprocess.run(
        [sys.executable, str(PROGRAM)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def stored(store: Path, returnee_ids: list[str]) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    try:
        marks = ",".join("?" * len(returnee_ids))
        rows = db.execute(
            f"SELECT * FROM returnees WHERE returnee_id IN ({marks})",  # noqa: S608
            returnee_ids,
        ).fetchall()
    finally:
        db.close()
    return {row["returnee_id"]: dict(row) for row in rows}


async def test_the_partner_sees_personal_data_only_of_those_who_consented(
    infra: Infra, tmp_path: Path
) -> None:
    consenting = set(random.sample(range(PEOPLE), 37))
    bodies = []
    for n in range(PEOPLE):
        body = person(centre="kayes", phone=None, language="fr")
        body["consents"]["partner_sharing"] = n in consenting
        bodies.append(body)
    registrar = token(infra, "registrar")
    async with httpx.AsyncClient(timeout=30, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
        at = running_services().intake
        limit = asyncio.Semaphore(8)

        async def register(body: dict[str, Any]) -> str:
            async with limit:
                answer = await http.post(f"{at}/returnees", json=body, headers=registrar)
            assert answer.status_code == 201, answer.text
            returnee_id: str = answer.json()["returnee_id"]
            return returnee_id

        ids = list(await asyncio.gather(*(register(body) for body in bodies)))

        store, group = tmp_path / "partner.sqlite3", f"partner-example-test-{uuid.uuid4()}"
        first = run_partner(infra, store, group)
        rows = stored(store, ids)
        assert set(rows) == set(ids)  # all 100, from the real broker
        for n, returnee_id in enumerate(ids):
            row = rows[returnee_id]
            if n in consenting:
                assert row["given_name"] == bodies[n]["personal"]["given_name"]
                assert row["family_name"] == bodies[n]["personal"]["family_name"]
            else:
                assert (row["given_name"], row["family_name"]) == (None, None)
        # The program's own output (its log lines and summary) holds nobody's name.
        output = first.stdout + first.stderr
        assert all(body["personal"]["given_name"] not in output for body in bodies)
        assert json.loads(first.stdout.strip().splitlines()[-1])["read"] >= PEOPLE

        # One of them withdraws: the partner's next run, in the same group, forgets them.
        withdrawn = ids[min(consenting)]
        answer = await http.post(
            f"{at}/returnees/{withdrawn}/consents",
            json={"partner_sharing": False},
            headers=registrar,
        )
        assert answer.status_code == 200, answer.text
    second = run_partner(infra, store, group)
    after = stored(store, [withdrawn])[withdrawn]
    assert (after["given_name"], after["family_name"]) == (None, None)
    assert json.loads(second.stdout.strip().splitlines()[-1])["registered"] == 0  # only new ones
