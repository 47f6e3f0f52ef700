"""Issue 6 acceptance: the reporting schema has no column for personal data.

The catalogue of the schema the stack's reporting service uses is compared with the fields
the contracts mark as personal (``x-personal-data``), so a personal field added to a
contract later is covered without touching this test.
"""

from __future__ import annotations

import asyncpg
import pytest

from retour_contracts import personal_field_names
from retour_kit.migrations import migrate
from retour_reporting.main import MIGRATIONS_PACKAGE
from retour_test_infra import Infra

pytestmark = pytest.mark.integration

SCHEMA = "reporting"
# Not marked personal in the contracts, but reporting promises to keep an age group at most.
ALSO_FORBIDDEN = frozenset({"age_years", "household_size", "preferred_language"})


async def test_no_column_of_the_reporting_schema_holds_personal_data(infra: Infra) -> None:
    await migrate(infra.dsn("reporting"), schema=SCHEMA, package=MIGRATIONS_PACKAGE)
    conn = await asyncpg.connect(infra.dsn("reporting"))
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = $1",
            SCHEMA,
        )
    finally:
        await conn.close()
    columns = {(row["table_name"], row["column_name"]) for row in rows}
    forbidden = personal_field_names() | ALSO_FORBIDDEN

    assert {"given_name", "family_name", "date_of_birth", "phone", "national_id"} <= forbidden
    assert {"registrations", "aid", "activities"} <= {table for table, _ in columns}
    assert {f"{table}.{column}" for table, column in columns if column in forbidden} == set()
