"""Issue 18, acceptance: the partner example (examples/partner-consumer) consumes 100
registrations from the real broker with its own principal, and sees personal data only for
those who consented to partner sharing; a withdrawal of that consent, read later, removes what
it had opened. The program runs as a partner runs it: its own process, its own Kafka
principal and consumer group, a partner token for intake's key store, nothing of the stack's.
"""

from __future__ import annotations

import asyncio
import importlib.util
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

from retour_contracts import (
    CONSENT_CHANGED_V1,
    RETURNEE_ERASED_V1,
    RETURNEE_REGISTERED_V2,
    ParsedEvent,
    build_envelope,
    parse_envelope,
)
from retour_contracts.examples import (
    example_consent_changed,
    example_returnee_erased,
    example_returnee_registered,
)
from retour_contracts.sealing import new_data_key, seal_registration
from retour_kit.auth import issue_dev_token
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra

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


@pytest.mark.integration
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


# The example's store logic, without a broker: a key store that releases the keys of those who
# consented, as intake's does, and events in the orders a partner can read them.


def the_example() -> Any:
    spec = importlib.util.spec_from_file_location("partner_consumer", PROGRAM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


class ConsentingKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.consenting: set[str] = set()
        self.asked: list[list[str]] = []

    async def keys_of(self, returnee_ids: Any) -> dict[str, bytes]:
        wanted = sorted(set(returnee_ids))
        self.asked.append(wanted)
        return {i: self.keys[i] for i in wanted if i in self.consenting and i in self.keys}


def parsed(spec: Any, event: Any, event_id: str | None = None) -> ParsedEvent:
    envelope = build_envelope(spec, event, source="/intake", event_id=event_id)
    return parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)


def registration(keys: ConsentingKeyStore, given_name: str) -> tuple[ParsedEvent, str]:
    """A sealed registration as intake publishes it, and the returnee's id."""
    returnee_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    clear = example_returnee_registered(
        returnee_id=returnee_id, personal={"given_name": given_name}
    )
    keys.keys[returnee_id] = key = new_data_key()
    sealed = seal_registration(clear, key, event_id=event_id)
    return parsed(RETURNEE_REGISTERED_V2, sealed, event_id), returnee_id


def consent(returnee_id: str, given: bool) -> ParsedEvent:
    event = example_consent_changed(
        returnee_id=returnee_id, sms_contact=None, partner_sharing=given
    )
    return parsed(CONSENT_CHANGED_V1, event)


def row(store: Any, returnee_id: str) -> tuple[Any, ...]:
    found: tuple[Any, ...] = store.db.execute(
        "SELECT given_name, sealed_event IS NOT NULL, erased FROM returnees WHERE returnee_id = ?",
        (returnee_id,),
    ).fetchone()
    return found


async def test_the_examples_store_follows_consents_erasures_and_duplicates(tmp_path: Path) -> None:
    example = the_example()
    store, keys = example.Store(str(tmp_path / "p.sqlite3")), ConsentingKeyStore()
    counts = example.Counts()
    (awa, awa_id), (ben, ben_id), (cheick, cheick_id) = (
        registration(keys, name) for name in ("Awa", "Ben", "Cheick")
    )
    ids = [awa_id, ben_id, cheick_id]
    keys.consenting = {ids[0]}

    await example.apply(store, keys, [awa, ben, cheick], counts)
    assert [row(store, i)[0] for i in ids] == ["Awa", None, None]

    # Ben consents later: his stored sealed block is opened then.
    keys.consenting.add(ids[1])
    await example.apply(store, keys, [consent(ids[1], True)], counts)
    assert row(store, ids[1])[0] == "Ben"

    # Awa withdraws: what was opened goes, the sealed block stays (useless without a key).
    keys.consenting.discard(ids[0])
    await example.apply(store, keys, [consent(ids[0], False)], counts)
    assert row(store, ids[0]) == (None, 1, 0)

    # Ben is erased: nothing of him is kept; a redelivered registration does not bring him back.
    erasure = parsed(RETURNEE_ERASED_V1, example_returnee_erased(returnee_id=ids[1]))
    await example.apply(store, keys, [erasure], counts)
    assert row(store, ids[1]) == (None, 0, 1)
    assert store.unseen([ben, erasure]) == []  # both already applied: skipped by ce_id

    # An erasure read before the registration it concerns (another topic, read faster).
    dembele, late_id = registration(keys, "Dembélé")
    keys.consenting.add(late_id)
    early = parsed(RETURNEE_ERASED_V1, example_returnee_erased(returnee_id=late_id))
    await example.apply(store, keys, [early], counts)
    await example.apply(store, keys, [dembele], counts)
    assert row(store, late_id) == (None, 0, 1)
    assert counts.registered == 4
