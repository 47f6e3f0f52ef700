"""A partner organisation's consumer of retour's registrations: everything a partner needs,
written to be copied (docs/partners.md explains each choice).

- It reads ``returnee.registered``, ``consent.changed`` and ``returnee.erased`` as the
  partner's own Kafka principal, in a consumer group named after the partner, from the
  beginning, committing offsets only after its own store committed what it read: at least
  once, deduplicated by the CloudEvents id (``ce_id``) in the same store transaction.
- Records are parsed and validated by ``retour_contracts`` (the wheel of ``make dist``); a
  record that does not parse is skipped and counted, never retried forever.
- The personal block travels sealed. It is opened only with a data key that intake's key store
  released to this partner, which it does only for returnees who consented to partner sharing,
  within the centres the partner's token names; keys are used at once and never stored.
  Everybody else is stored without any personal data. A later consent opens the stored sealed
  block then; a withdrawal or an erasure deletes what was opened.
- The store is a SQLite file, standing in for the partner's own database; nothing personal is
  logged.

Configuration, from the environment:
  KAFKA_BOOTSTRAP_SERVERS       the brokers
  KAFKA_SASL_MECHANISM          SCRAM-SHA-512 (unset: an unauthenticated broker)
  PARTNER_KAFKA_SASL_USERNAME   the partner's principal, e.g. retour-partner-example
  PARTNER_KAFKA_SASL_PASSWORD
  PARTNER_GROUP                 its consumer group (default partner-example; must start so)
  INTAKE_URL                    intake's API, where the key store answers POST /data-keys
  PARTNER_TOKEN                 a bearer token with the partner role, from the identity provider
  PARTNER_STORE                 the SQLite file (default partner.sqlite3)
  PARTNER_STOP_WHEN_IDLE_SECONDS   stop after this long without a record, once its group gave
                                   it partitions (unset: run forever)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from retour_contracts import (
    ConsentChanged,
    EnvelopeError,
    ParsedEvent,
    ReturneeErased,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    parse_envelope,
)
from retour_contracts.sealing import SealBrokenError, decode_key, open_registration

TOPICS = ("returnee.registered", "consent.changed", "returnee.erased")
KEY_REQUEST_LIMIT = 500  # returnees per POST /data-keys
log = logging.getLogger("partner-consumer")

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_events (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS returnees (
    returnee_id TEXT PRIMARY KEY,
    reception_centre TEXT NOT NULL,
    arrival_date TEXT NOT NULL,
    event_id TEXT NOT NULL,
    sealed_event TEXT,          -- version 2's event JSON: the personal block still sealed
    given_name TEXT, family_name TEXT, phone TEXT,  -- opened only with a released key
    erased INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS erased_returnees (returnee_id TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class Settings:
    bootstrap: str
    group: str
    intake_url: str
    token: str
    store: str
    sasl: dict[str, str] = field(repr=False)
    stop_when_idle: float | None = None

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        mechanism = env.get("KAFKA_SASL_MECHANISM")
        sasl = (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": mechanism,
                "sasl_plain_username": env["PARTNER_KAFKA_SASL_USERNAME"],
                "sasl_plain_password": env["PARTNER_KAFKA_SASL_PASSWORD"],
            }
            if mechanism
            else {}
        )
        idle = env.get("PARTNER_STOP_WHEN_IDLE_SECONDS")
        return cls(
            bootstrap=env["KAFKA_BOOTSTRAP_SERVERS"],
            group=env.get("PARTNER_GROUP", "partner-example"),
            intake_url=env["INTAKE_URL"].rstrip("/"),
            token=env["PARTNER_TOKEN"],
            store=env.get("PARTNER_STORE", "partner.sqlite3"),
            sasl=sasl,
            stop_when_idle=float(idle) if idle else None,
        )


class KeyStore:
    """Intake's key store, as a partner sees it: the keys it may have, nothing about others."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.token = token

    async def keys_of(self, returnee_ids: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(returnee_ids))
        keys: dict[str, bytes] = {}
        for start in range(0, len(wanted), KEY_REQUEST_LIMIT):
            answer = await self.http.post(
                "/data-keys",
                json={"returnee_ids": wanted[start : start + KEY_REQUEST_LIMIT]},
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
            )
            answer.raise_for_status()  # an outage: the batch is read again, nothing is lost
            for released in answer.json()["keys"]:
                keys[released["returnee_id"]] = decode_key(released["key"])
        return keys


@dataclass
class Counts:
    read: int = 0
    duplicates: int = 0
    unreadable: int = 0
    registered: int = 0
    opened: int = 0

    def line(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in vars(self).items())


class Store:
    """The partner's own database (SQLite here)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)

    def unseen(self, events: Sequence[ParsedEvent]) -> list[ParsedEvent]:
        fresh: dict[str, ParsedEvent] = {}
        for parsed in events:
            known = self.db.execute(
                "SELECT 1 FROM seen_events WHERE event_id = ?", (parsed.event_id,)
            ).fetchone()
            if known is None:
                fresh.setdefault(parsed.event_id, parsed)  # twice in one batch: once
        return list(fresh.values())

    def sealed_events(self, returnee_ids: Iterable[str]) -> list[tuple[str, str, str]]:
        marks = ",".join("?" * len(ids := list(returnee_ids)))
        return self.db.execute(
            f"SELECT returnee_id, event_id, sealed_event FROM returnees"  # noqa: S608 (placeholders)
            f" WHERE returnee_id IN ({marks}) AND sealed_event IS NOT NULL AND erased = 0",
            ids,
        ).fetchall()


def opened(event: ReturneeRegisteredV2, key: bytes | None, event_id: str) -> dict[str, Any]:
    if key is None:
        return {}
    try:
        personal = open_registration(event, key, event_id=event_id).personal
    except SealBrokenError:
        return {}  # a block that does not open with its key is treated as not released
    return {
        "given_name": personal.given_name,
        "family_name": personal.family_name,
        "phone": personal.phone,
    }


async def apply(store: Store, keys: KeyStore, events: list[ParsedEvent], counts: Counts) -> None:
    """One batch, in one store transaction (with the ids that deduplicate it)."""
    registered = [e.returnee_id for e in _events(events) if isinstance(e, ReturneeRegisteredV2)]
    consents = [e for e in _events(events) if isinstance(e, ConsentChanged)]
    given_back = {str(c.returnee_id) for c in consents if c.partner_sharing is True}
    released = await keys.keys_of(
        [str(returnee_id) for returnee_id in registered]
        + [row[0] for row in store.sealed_events(given_back)]
    )
    with store.db:
        for parsed in events:
            store.db.execute("INSERT INTO seen_events VALUES (?)", (parsed.event_id,))
            event = parsed.event
            if isinstance(event, ReturneeRegisteredV2):
                counts.registered += 1
                _register(store, event, parsed.event_id, released)
            elif isinstance(event, ReturneeRegistered):
                # Version 1 carried the block in clear, before retour sealed it: a partner
                # keeps none of it (intake releases no key for it either).
                counts.registered += 1
                _register(store, event, parsed.event_id, {})
            elif isinstance(event, ConsentChanged) and event.partner_sharing is False:
                _forget_personal(store, str(event.returnee_id))
            elif isinstance(event, ReturneeErased):
                store.db.execute(
                    "INSERT OR IGNORE INTO erased_returnees VALUES (?)", (str(event.returnee_id),)
                )
                _forget_personal(store, str(event.returnee_id), erased=True)
        for returnee_id, event_id, sealed in store.sealed_events(given_back):
            block = opened(
                ReturneeRegisteredV2.model_validate_json(sealed),
                released.get(returnee_id),
                event_id,
            )
            _store_personal(store, returnee_id, block)
    counts.opened = store.db.execute(
        "SELECT count(*) FROM returnees WHERE given_name IS NOT NULL"
    ).fetchone()[0]


def _events(parsed: Iterable[ParsedEvent]) -> Iterable[Any]:
    return (p.event for p in parsed)


def _register(
    store: Store,
    event: ReturneeRegistered | ReturneeRegisteredV2,
    event_id: str,
    released: dict[str, bytes],
) -> None:
    returnee_id = str(event.returnee_id)
    erased = store.db.execute(
        "SELECT 1 FROM erased_returnees WHERE returnee_id = ?", (returnee_id,)
    ).fetchone()
    sealed = event.model_dump_json() if isinstance(event, ReturneeRegisteredV2) else None
    store.db.execute(
        "INSERT OR REPLACE INTO returnees (returnee_id, reception_centre, arrival_date, event_id,"
        " sealed_event, erased) VALUES (?, ?, ?, ?, ?, ?)",
        (
            returnee_id,
            event.reception_centre.value,
            event.arrival_date.isoformat(),
            event_id,
            None if erased else sealed,
            1 if erased else 0,
        ),
    )
    if isinstance(event, ReturneeRegisteredV2) and not erased:
        _store_personal(store, returnee_id, opened(event, released.get(returnee_id), event_id))


def _store_personal(store: Store, returnee_id: str, block: dict[str, Any]) -> None:
    if block:
        store.db.execute(
            "UPDATE returnees SET given_name = ?, family_name = ?, phone = ? WHERE returnee_id = ?",
            (block["given_name"], block["family_name"], block["phone"], returnee_id),
        )


def _forget_personal(store: Store, returnee_id: str, *, erased: bool = False) -> None:
    """A withdrawal keeps the sealed block (useless without a key, and opened again if consent
    comes back); an erasure keeps nothing of the person's data."""
    store.db.execute(
        "UPDATE returnees SET given_name = NULL, family_name = NULL, phone = NULL,"
        " sealed_event = CASE WHEN ? THEN NULL ELSE sealed_event END,"
        " erased = CASE WHEN ? THEN 1 ELSE erased END WHERE returnee_id = ?",
        (erased, erased, returnee_id),
    )


def parsed_or_none(record: Any, counts: Counts) -> ParsedEvent | None:
    try:
        return parse_envelope(record.topic, record.key, record.value, record.headers)
    except EnvelopeError as error:
        # retour's producers validate everything they publish: worth a look, never a retry.
        log.warning(
            "skipped an unreadable record at %s/%s: %s",
            record.partition,
            record.offset,
            error.reason,
        )
        counts.unreadable += 1
        return None


async def run(settings: Settings) -> Counts:
    counts = Counts()
    store = Store(settings.store)
    consumer = AIOKafkaConsumer(
        *TOPICS,
        bootstrap_servers=settings.bootstrap,
        group_id=settings.group,
        client_id=settings.group,
        enable_auto_commit=False,  # committed after the store, never before
        auto_offset_reset="earliest",
        isolation_level="read_committed",  # retour's relay publishes in transactions
        **settings.sasl,
    )
    async with httpx.AsyncClient(base_url=settings.intake_url, timeout=30) as http:
        keys = KeyStore(http, settings.token)
        await consumer.start()
        try:
            idle_since = asyncio.get_running_loop().time()
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                records = [r for batch in batches.values() for r in batch]
                now = asyncio.get_running_loop().time()
                if not consumer.assignment():
                    idle_since = now  # still joining its group: not idle yet
                    continue
                if not records:
                    if (
                        settings.stop_when_idle is not None
                        and now - idle_since > settings.stop_when_idle
                    ):
                        return counts
                    continue
                idle_since = now
                counts.read += len(records)
                parsed = [p for r in records if (p := parsed_or_none(r, counts)) is not None]
                fresh = store.unseen(parsed)
                counts.duplicates += len(parsed) - len(fresh)
                await apply(store, keys, fresh, counts)
                await consumer.commit()
                log.info("batch stored: %s", counts.line())
        finally:
            await consumer.stop()
            store.db.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    counts = asyncio.run(run(Settings.from_environment()))
    print(json.dumps(vars(counts)))  # noqa: T201 (the summary a run ends with)


if __name__ == "__main__":
    main()
