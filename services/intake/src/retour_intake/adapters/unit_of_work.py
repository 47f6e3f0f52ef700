"""The PostgreSQL side of register_returnee: one pooled connection, one transaction."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from retour_contracts import (
    RETURNEE_REGISTERED_V2,
    PersonalData,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    build_envelope,
)
from retour_intake.adapters.data_keys import KeyWrapping, PgDataKeys
from retour_intake.adapters.returnee_views import PgReturneeViews
from retour_intake.domain.duplicates import BIRTH_YEAR_TOLERANCE, KnownPerson, PersonKeys
from retour_intake.domain.registration import Registrar
from retour_kit import idempotency, outbox
from retour_kit.access_log import Access, PgAccessLog
from retour_kit.db import Connection

SCHEMA = "intake"
SOURCE = "/intake"

# Every row duplicate detection (domain/duplicates.py: match_strength) could call a match, and
# no other: a row limit here would hide a match (a common name's fifty oldest namesakes hid a
# recent duplicate), so the conditions narrow instead, each on its own index.
_KNOWN_PEOPLE = """
SELECT returnee_id, name_key, family_key, birth_date, birth_year, phone, national_id_key
FROM returnees
WHERE (name_key = $1 AND birth_year BETWEEN $6::int - $7::int AND $6::int + $7::int)
   OR phone = $2
   OR (family_key = $3 AND birth_date = $4)
   OR national_id_key = $5
ORDER BY registered_at
"""


PERSONAL_FIELDS = tuple(f"personal.{name}" for name in PersonalData.model_fields)
"""What the access log names when a registration is shown: the personal block's fields."""


class PgRegistrationUnitOfWork:
    def __init__(self, conn: Connection, wrapping: KeyWrapping) -> None:
        self._conn = conn
        self._access_log = PgAccessLog(conn, service=SCHEMA)
        self._data_keys = PgDataKeys(conn, wrapping)

    @classmethod
    def binder(cls, wrapping: KeyWrapping) -> Callable[[Connection], PgRegistrationUnitOfWork]:
        return lambda conn: cls(conn, wrapping)

    async def record_access(
        self, registrar: Registrar, returnee_id: UUID, *, created: bool
    ) -> None:
        await self._access_log.record(
            registrar.subject,
            registrar.roles,
            Access.CREATED if created else Access.READ,
            route="POST /returnees",
            returnee_ids=[returnee_id],
            fields=PERSONAL_FIELDS,
        )

    async def claim_idempotency_key(
        self, key: str, fingerprint: str
    ) -> idempotency.StoredResponse | None:
        return await idempotency.claim_key(self._conn, key, fingerprint)

    async def store_response(self, key: str, response: idempotency.StoredResponse) -> None:
        await idempotency.store_response(self._conn, key, response)

    async def lock_identity(self, keys: PersonKeys) -> None:
        # Held until commit: a concurrent registration of the same name waits, then sees ours.
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('intake.identity'), hashtext($1))",
            keys.name_key,
        )

    async def known_people(self, keys: PersonKeys) -> list[KnownPerson]:
        rows = await self._conn.fetch(
            _KNOWN_PEOPLE,
            keys.name_key,
            keys.phone,
            keys.family_key,
            keys.birth_date,
            keys.national_id,
            keys.birth_year,
            BIRTH_YEAR_TOLERANCE,
        )
        return [
            KnownPerson(
                returnee_id=row["returnee_id"],
                keys=PersonKeys(
                    name_key=row["name_key"],
                    family_key=row["family_key"],
                    birth_date=row["birth_date"],
                    birth_year=row["birth_year"],
                    phone=row["phone"],
                    national_id=row["national_id_key"],
                ),
            )
            for row in rows
        ]

    async def add(self, event: ReturneeRegistered, keys: PersonKeys) -> None:
        await self._conn.execute(
            "INSERT INTO returnees (returnee_id, reception_centre, arrival_date, registered_at,"
            " name_key, family_key, birth_date, birth_year, phone, record)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            event.returnee_id,
            event.reception_centre.value,
            event.arrival_date,
            event.registered_at,
            keys.name_key,
            keys.family_key,
            keys.birth_date,
            keys.birth_year,
            keys.phone,
            event.model_dump(mode="json"),
        )

    async def issue_data_key(self, returnee_id: UUID) -> bytes:
        return await self._data_keys.issue(returnee_id)

    async def publish(
        self, event: ReturneeRegisteredV2, *, event_id: UUID, traceparent: str
    ) -> None:
        envelope = build_envelope(
            RETURNEE_REGISTERED_V2,
            event,
            source=SOURCE,
            event_id=str(event_id),
            time=event.registered_at,
            traceparent=traceparent,
        )
        await outbox.enqueue(
            self._conn, envelope, topic=RETURNEE_REGISTERED_V2.topic, schema=SCHEMA
        )


class PgReads:
    """What a read of registrations needs, on one connection: the records and the access log
    that must record their showing in the same transaction."""

    def __init__(self, conn: Connection) -> None:
        self.returnees = PgReturneeViews(conn)
        self.access_log = PgAccessLog(conn, service=SCHEMA)
