"""The PostgreSQL side of register_returnee: one pooled connection, one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from retour_contracts import (
    RETURNEE_REGISTERED_V2,
    RETURNEE_UPDATED_V1,
    PersonalData,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    ReturneeUpdated,
    build_envelope,
)
from retour_intake.adapters.data_keys import KeyWrapping, PgDataKeys
from retour_intake.adapters.pg_expected import PgExpected, match_arguments
from retour_intake.adapters.returnee_views import PgReturneeViews
from retour_intake.corrections import Current
from retour_intake.domain.duplicates import (
    DuplicateAssessment,
    KnownPerson,
    PersonKeys,
)
from retour_intake.domain.expected import OpenExpected
from retour_intake.domain.registration import Registrar
from retour_intake.protection import Staff
from retour_kit import idempotency, outbox
from retour_kit.access_log import Access, PgAccessLog
from retour_kit.db import Connection
from retour_kit.idempotency import PgIdempotencyKeys

SCHEMA = "intake"
SOURCE = "/intake"

# Every row duplicate detection (domain/duplicates.py: match_strength) could call a match, and
# no other: a row limit here would hide a match (a common name's fifty oldest namesakes hid a
# recent duplicate), so the conditions narrow instead, each on its own index.
_KNOWN_PEOPLE = """
SELECT returnee_id, name_key, family_key, birth_date, birth_year, phone, national_id_key
FROM returnees
WHERE merged_into IS NULL  -- a merged registration is its person's: matched as them
  AND ((name_key = $1 AND birth_year BETWEEN $6::int - $7::int AND $6::int + $7::int)
       OR phone = $2
       OR (family_key = $3 AND birth_date = $4)
       OR national_id_key = $5)
ORDER BY registered_at
"""


PERSONAL_FIELDS = tuple(f"personal.{name}" for name in PersonalData.model_fields)
"""What the access log names when a registration is shown: the personal block's fields."""


_REVISE = """
UPDATE returnees
SET reception_centre = $2, arrival_date = $3, name_key = $4, family_key = $5, birth_date = $6,
    birth_year = $7, phone = $8, record = $9, version = $10
WHERE returnee_id = $1
"""


class PgRegistrationUnitOfWork:
    """Registrations and their corrections, on one pooled connection and one transaction."""

    def __init__(self, conn: Connection, wrapping: KeyWrapping) -> None:
        self._conn = conn
        self._access_log = PgAccessLog(conn, service=SCHEMA)
        self._data_keys = PgDataKeys(conn, wrapping)
        self._expected = PgExpected(conn, wrapping)
        self.idempotency_keys = PgIdempotencyKeys(conn)

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
        rows = await self._conn.fetch(_KNOWN_PEOPLE, *match_arguments(keys))
        return [
            KnownPerson(
                returnee_id=row["returnee_id"],
                keys=PersonKeys.stored(row),
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

    async def queue_reviews(
        self, event: ReturneeRegistered, duplicates: DuplicateAssessment, *, reason: str | None
    ) -> None:
        pairs = [(m, "weak", None, None) for m in duplicates.weak] + [
            (m, "strong", event.duplicate_confirmed_by, reason) for m in duplicates.strong
        ]
        if not pairs:
            return
        await self._conn.executemany(
            "INSERT INTO duplicate_reviews (review_id, returnee_id, candidate_id, strength,"
            " status, created_at, decided_at, decided_by, reason)"
            " VALUES (gen_random_uuid(), $1, $2, $3,"
            " CASE WHEN $4::text IS NULL THEN 'open' ELSE 'not_duplicate' END, $5::timestamptz,"
            " CASE WHEN $4::text IS NULL THEN NULL ELSE $5::timestamptz END, $4, $6)",
            [
                (event.returnee_id, match, strength, by, event.registered_at, why)
                for match, strength, by, why in pairs
            ],
        )

    async def open_expected(self, keys: PersonKeys) -> list[OpenExpected]:
        return await self._expected.open_matching(keys)

    async def lock_open_expected(self, expected_id: UUID) -> bool:
        return await self._expected.lock_open(expected_id)

    async def mark_arrived(self, expected_id: UUID, returnee_id: UUID, *, at: datetime) -> None:
        await self._expected.mark_arrived(expected_id, returnee_id, at=at)

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
        await outbox.enqueue(self._conn, envelope, topic=RETURNEE_REGISTERED_V2.topic)

    async def lock_for_correction(
        self, returnee_id: UUID, *, centres: list[str] | None
    ) -> Current | None:
        row = await self._conn.fetchrow(
            "SELECT record, version, erased_at, merged_into FROM returnees WHERE returnee_id = $1"
            # NO KEY UPDATE: a concurrent registration that matches this person inserts a
            # review referencing the row (its foreign key takes KEY SHARE); with FOR UPDATE,
            # that registration (holding the identity lock this correction waits for next)
            # and this correction would deadlock.
            " AND ($2::text[] IS NULL OR reception_centre = ANY($2)) FOR NO KEY UPDATE",
            returnee_id,
            centres,
        )
        if row is None:
            return None
        erased = row["erased_at"] is not None
        registration = None if erased else ReturneeRegistered.model_validate(row["record"])
        return Current(registration, row["version"], row["merged_into"])

    async def revise(
        self, registration: ReturneeRegistered, keys: PersonKeys, *, version: int
    ) -> None:
        # The search columns are generated from the record (migrations/0005_search.sql).
        await self._conn.execute(
            _REVISE,
            registration.returnee_id,
            registration.reception_centre.value,
            registration.arrival_date,
            keys.name_key,
            keys.family_key,
            keys.birth_date,
            keys.birth_year,
            keys.phone,
            registration.model_dump(mode="json"),
            version,
        )

    async def data_key(self, returnee_id: UUID) -> bytes:
        found = await self._data_keys.of([returnee_id])
        return found.get(returnee_id) or await self._data_keys.issue(returnee_id)

    async def publish_update(
        self, event: ReturneeUpdated, *, event_id: UUID, traceparent: str
    ) -> None:
        envelope = build_envelope(
            RETURNEE_UPDATED_V1,
            event,
            source=SOURCE,
            event_id=str(event_id),
            time=event.updated_at,
            traceparent=traceparent,
        )
        await outbox.enqueue(self._conn, envelope, topic=RETURNEE_UPDATED_V1.topic)

    async def record_correction(
        self, staff: Staff, returnee_id: UUID, *, changed: list[str]
    ) -> None:
        await self._record_corrected(staff, returnee_id, Access.CHANGED, changed)
        # The answer shows the whole registration again: a change and a showing.
        await self.record_correction_shown(staff, returnee_id)

    async def record_correction_shown(self, staff: Staff, returnee_id: UUID) -> None:
        await self._record_corrected(staff, returnee_id, Access.READ, PERSONAL_FIELDS)

    async def _record_corrected(
        self, staff: Staff, returnee_id: UUID, action: Access, fields: Sequence[str]
    ) -> None:
        await self._access_log.record(
            staff.subject,
            staff.roles,
            action,
            route=CORRECTION_ROUTE,
            returnee_ids=[returnee_id],
            fields=fields,
        )


CORRECTION_ROUTE = "PATCH /returnees/{returnee_id}"


class PgReads:
    """What a read of registrations needs, on one connection: the records and the access log
    that must record their showing in the same transaction."""

    def __init__(self, conn: Connection) -> None:
        self.returnees = PgReturneeViews(conn)
        self.access_log = PgAccessLog(conn, service=SCHEMA)
