"""Writes projection rows: one INSERT per table per batch, however many events it holds.

A batch travels as one array per column, expanded by ``unnest`` on the server: one round
trip and one plan for a whole partition batch, where executemany would still run the
statement once per row. Corrections are kept per person and field (``registration_changes``)
and copied onto the registration rows they concern. Merges are kept per merged registration
(``merges``), with whom it counts as; no other row is rewritten for them (report_sql). The
events of a case's life are written beside the rest, each in its own table.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any
from uuid import UUID

from retour_kit.db import Connection
from retour_reporting.domain.corrections import FieldChange
from retour_reporting.domain.expectations import ExpectedRow
from retour_reporting.domain.merges import KeptMerge, Merge
from retour_reporting.domain.projection import ProjectionRows, RegistrationRow

_REGISTRATIONS = """
INSERT INTO registrations (returnee_id, arrival_date, reception_centre, return_type,
                           host_country, region_of_origin, sex, age_group, vulnerabilities,
                           expected_id)
SELECT returnee_id, arrival_date, reception_centre, return_type, host_country,
       region_of_origin, sex, age_group, string_to_array(vulnerabilities, ','), expected_id
FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::uuid[])
     AS r(returnee_id, arrival_date, reception_centre, return_type, host_country,
          region_of_origin, sex, age_group, vulnerabilities, expected_id)
ON CONFLICT (returnee_id) DO NOTHING
"""

_AID = """
INSERT INTO aid (aid_id, returnee_id, granted_at, phase, category, dimension, level, modality,
                 amount, currency)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::numeric[], $10::text[])
ON CONFLICT (aid_id) DO NOTHING
"""

# Participants are written only with their activity's first event, so a later event reusing
# an activity id cannot graft other participants onto it.
_ACTIVITIES = """
WITH inserted AS (
    INSERT INTO activities (activity_id, launched_at, sector, level, funding_amount,
                            funding_currency)
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[],
                         $5::numeric[], $6::text[])
    ON CONFLICT (activity_id) DO NOTHING
    RETURNING activity_id
)
INSERT INTO activity_participants (activity_id, returnee_id)
SELECT p.activity_id, p.returnee_id
FROM unnest($7::uuid[], $8::uuid[]) AS p(activity_id, returnee_id)
JOIN inserted USING (activity_id)
ON CONFLICT DO NOTHING
"""


# The events of a case's life: facts keep their first event; a referral its newest status and a
# visit its newest schedule, by the rules of domain.case_lifecycle (text compared bytewise, as
# Python compares strings).
_CLOSURES = """
INSERT INTO case_closures (returnee_id, closed_at, reason)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[])
ON CONFLICT DO NOTHING
"""

_REOPENINGS = """
INSERT INTO case_reopenings (returnee_id, reopened_at, reason)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[])
ON CONFLICT DO NOTHING
"""

_PLANS = """
INSERT INTO plans_agreed (returnee_id, revision, agreed_on)
SELECT * FROM unnest($1::uuid[], $2::integer[], $3::date[])
ON CONFLICT DO NOTHING
"""

_REFERRALS = """
INSERT INTO referrals AS kept (referral_id, returnee_id, partner_id, partner_name, dimension,
                               status, sent_at, status_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::timestamptz[])
ON CONFLICT (referral_id) DO UPDATE
SET returnee_id = excluded.returnee_id, partner_id = excluded.partner_id,
    partner_name = excluded.partner_name, dimension = excluded.dimension,
    status = excluded.status, sent_at = excluded.sent_at, status_at = excluded.status_at
WHERE (kept.status_at, referral_progress(kept.status))
    < (excluded.status_at, referral_progress(excluded.status))
"""

_FOLLOW_UPS = """
INSERT INTO follow_ups AS kept (follow_up_id, returnee_id, reception_centre, period_months,
                                due_on, scheduled_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::integer[], $5::date[],
                     $6::timestamptz[])
ON CONFLICT (follow_up_id) DO UPDATE
SET returnee_id = excluded.returnee_id, reception_centre = excluded.reception_centre,
    period_months = excluded.period_months, due_on = excluded.due_on,
    scheduled_at = excluded.scheduled_at
WHERE (kept.scheduled_at, kept.due_on, kept.reception_centre COLLATE "C")
    < (excluded.scheduled_at, excluded.due_on, excluded.reception_centre COLLATE "C")
"""

_ASSESSMENTS = """
INSERT INTO assessments (assessment_id, returnee_id, kind, follow_up_id, period_months, outcome,
                         method, economic, social, psychosocial, composite, assessed_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::integer[], $6::text[],
                     $7::text[], $8::float8[], $9::float8[], $10::float8[], $11::float8[],
                     $12::timestamptz[])
ON CONFLICT DO NOTHING
"""

# Expected arrivals: the first announcement of an expected_id wins; a closure replaces the one
# kept only when it is the later (domain.expectations.closure_version).
_EXPECTED = """
INSERT INTO expected_arrivals (expected_id, wave_id, wave_name, wave_size, reception_centre,
                               expected_date, host_country, announced_at, sex, age_group,
                               vulnerabilities)
SELECT expected_id, wave_id, wave_name, wave_size, reception_centre, expected_date,
       host_country, announced_at, sex, age_group, string_to_array(vulnerabilities, ',')
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::integer[], $5::text[], $6::date[],
            $7::text[], $8::timestamptz[], $9::text[], $10::text[], $11::text[])
     AS e(expected_id, wave_id, wave_name, wave_size, reception_centre, expected_date,
          host_country, announced_at, sex, age_group, vulnerabilities)
ON CONFLICT (expected_id) DO NOTHING
"""

_EXPECTATION_CLOSURES = """
INSERT INTO expectation_closures AS kept (expected_id, wave_id, reception_centre, reason,
                                          closed_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT (expected_id) DO UPDATE
SET wave_id = excluded.wave_id, reception_centre = excluded.reception_centre,
    reason = excluded.reason, closed_at = excluded.closed_at
WHERE (kept.closed_at, kept.reason COLLATE "C") < (excluded.closed_at, excluded.reason COLLATE "C")
"""

PROJECTION_TABLES = (
    "registrations",
    "registration_changes",
    "merges",
    "aid",
    "activities",
    "activity_participants",
    "case_closures",
    "case_reopenings",
    "plans_agreed",
    "referrals",
    "follow_ups",
    "assessments",
    "expected_arrivals",
    "expectation_closures",
)
"""Every table made from the events: what a rebuild empties and fills again."""


# One lock per schema (a test's private schema does not wait for the stack's), held until the
# transaction ends: usecases/projecting.py says why registrations, changes and merges take it.
_LOCK_KEY = "hashtextextended('retour_reporting.registrations:' || current_schema(), 0)"
_LOCK_SHARED = f"SELECT pg_advisory_xact_lock_shared({_LOCK_KEY})"
_LOCK_EXCLUSIVE = f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"

# The version guard: a change replaces the one kept only when it is newer, so an older change
# read late, or the same one read again, leaves the newest in place.
_RECORD_CHANGES = """
INSERT INTO registration_changes AS kept (returnee_id, field, version, value)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::integer[], $4::text[])
ON CONFLICT (returnee_id, field) DO UPDATE
SET version = excluded.version, value = excluded.value
WHERE kept.version < excluded.version
"""

# The same rule as domain.merges.supersedes: the later decision, then the greater target (uuids
# compare bytewise, as their integers do in Python). A new or replaced row counts as its target
# until the use case settles the chains, in the same transaction.
_RECORD_MERGES = """
INSERT INTO merges AS kept (returnee_id, merged_into, merged_at, counted_as)
SELECT returnee_id, merged_into, merged_at, merged_into
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS m(returnee_id, merged_into, merged_at)
ON CONFLICT (returnee_id) DO UPDATE
SET merged_into = excluded.merged_into, merged_at = excluded.merged_at,
    counted_as = excluded.counted_as
WHERE (kept.merged_at, kept.merged_into) < (excluded.merged_at, excluded.merged_into)
"""

_MERGES = "SELECT returnee_id, merged_into, counted_as FROM merges"

_COUNT_AS = """
UPDATE merges m SET counted_as = n.counted_as
FROM unnest($1::uuid[], $2::uuid[]) AS n(returnee_id, counted_as)
WHERE m.returnee_id = n.returnee_id
"""

_CHANGES_OF = """
SELECT returnee_id, field, version, value FROM registration_changes
WHERE returnee_id = ANY($1::uuid[])
"""

_REGISTRATIONS_OF = """
SELECT returnee_id, arrival_date, reception_centre, return_type, host_country,
       region_of_origin, sex, age_group, vulnerabilities, expected_id
FROM registrations WHERE returnee_id = ANY($1::uuid[])
"""

_REPLACE_REGISTRATIONS = """
UPDATE registrations r
SET arrival_date = n.arrival_date, reception_centre = n.reception_centre,
    return_type = n.return_type, host_country = n.host_country,
    region_of_origin = n.region_of_origin, sex = n.sex, age_group = n.age_group,
    vulnerabilities = string_to_array(n.vulnerabilities, ',')
FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[])
     AS n(returnee_id, arrival_date, reception_centre, return_type, host_country,
          region_of_origin, sex, age_group, vulnerabilities)
WHERE r.returnee_id = n.returnee_id
"""


class PgProjectionStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock_registrations(self, *, exclusive: bool) -> None:
        await self._conn.execute(_LOCK_EXCLUSIVE if exclusive else _LOCK_SHARED)

    async def record_changes(self, changes: Sequence[FieldChange]) -> None:
        if changes:
            await self._conn.execute(_RECORD_CHANGES, *_columns(changes))

    async def record_merges(self, merges: Sequence[Merge]) -> None:
        if merges:
            await self._conn.execute(_RECORD_MERGES, *_columns(merges))

    async def merges(self) -> list[KeptMerge]:
        return [KeptMerge(*record) for record in await self._conn.fetch(_MERGES)]

    async def count_as(self, people: Mapping[UUID, UUID]) -> None:
        if people:
            await self._conn.execute(_COUNT_AS, list(people), list(people.values()))

    async def changes_of(self, returnee_ids: Collection[UUID]) -> list[FieldChange]:
        if not returnee_ids:
            return []
        records = await self._conn.fetch(_CHANGES_OF, list(returnee_ids))
        return [FieldChange(*record) for record in records]

    async def registrations_of(self, returnee_ids: Collection[UUID]) -> list[RegistrationRow]:
        if not returnee_ids:
            return []
        records = await self._conn.fetch(_REGISTRATIONS_OF, list(returnee_ids))
        return [_registration_row(record) for record in records]

    async def write(self, rows: ProjectionRows) -> None:
        if rows.registrations:
            await self._conn.execute(
                _REGISTRATIONS, *_with_joined_vulnerabilities(rows.registrations)
            )
        if rows.aid:
            await self._conn.execute(_AID, *_columns(rows.aid))
        if rows.activities:
            participants = _columns(rows.participants, width=2)
            await self._conn.execute(_ACTIVITIES, *_columns(rows.activities), *participants)
        case_rows: list[tuple[str, Sequence[tuple[Any, ...]]]] = [
            (_CLOSURES, rows.closures),
            (_REOPENINGS, rows.reopenings),
            (_PLANS, rows.plans),
            (_REFERRALS, rows.referrals),
            (_FOLLOW_UPS, rows.follow_ups),
            (_ASSESSMENTS, rows.assessments),
            (_EXPECTATION_CLOSURES, rows.expectation_closures),
        ]
        for statement, batch in case_rows:
            if batch:
                await self._conn.execute(statement, *_columns(batch))
        if rows.expected:
            await self._conn.execute(_EXPECTED, *_with_joined_vulnerabilities(rows.expected))

    async def replace_registrations(self, rows: Sequence[RegistrationRow]) -> None:
        if rows:
            await self._conn.execute(_REPLACE_REGISTRATIONS, *_correctable_columns(rows))


def _registration_row(record: Any) -> RegistrationRow:
    return RegistrationRow(
        record["returnee_id"],
        record["arrival_date"],
        record["reception_centre"],
        record["return_type"],
        record["host_country"],
        record["region_of_origin"],
        record["sex"],
        record["age_group"],
        tuple(record["vulnerabilities"]),
        record["expected_id"],
    )


def _correctable_columns(rows: Sequence[RegistrationRow]) -> list[list[Any]]:
    """The columns up to ``vulnerabilities``: the facts a correction may change
    (_REPLACE_REGISTRATIONS); the expected arrival it confirmed stays."""
    columns = _with_joined_vulnerabilities(rows)
    return columns[: RegistrationRow._fields.index("vulnerabilities") + 1]


def _with_joined_vulnerabilities(rows: Sequence[RegistrationRow | ExpectedRow]) -> list[list[Any]]:
    columns = _columns(rows)
    # A text[] per row cannot ride in a 1-D array parameter; vulnerability names are
    # snake_case words, so a comma-joined string is unambiguous ("" -> no element).
    at = rows[0]._fields.index("vulnerabilities")
    columns[at] = [",".join(each) for each in columns[at]]
    return columns


def _columns(rows: Sequence[tuple[Any, ...]], width: int | None = None) -> list[list[Any]]:
    if not rows:
        return [[] for _ in range(width or 0)]
    return [list(column) for column in zip(*rows, strict=True)]


async def forget_everything(conn: Connection, inbox_consumer: str) -> None:
    """Empties the projections and the consumer's inbox, in the caller's transaction, so the
    events can be applied again from the first one."""
    await conn.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")
    await conn.execute("DELETE FROM inbox WHERE consumer = $1", inbox_consumer)
