"""Errors reach logs and dead-letter reasons without the personal data that caused them."""

import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest
import structlog
from fastapi.exceptions import ResponseValidationError
from pydantic import BaseModel, ValidationError

from retour_kit.logging import configure_logging
from retour_kit.safe_errors import describe_error

CANARY = "Zeynab-Canary-7731"
CANARY_PHONE = "+22365977311"


@pytest.fixture
async def conn(admin_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    schema = f"kit_safe_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin_dsn)
    await connection.execute(f"CREATE SCHEMA {schema}; SET search_path = {schema}")
    await connection.execute(
        "CREATE TABLE people (name text NOT NULL, phone text UNIQUE, born date NOT NULL)"
    )
    try:
        yield connection
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()


async def raised_by(awaitable: object) -> BaseException:
    try:
        await awaitable  # type: ignore[misc]
    except Exception as error:
        return error
    raise AssertionError("nothing was raised")


async def test_a_unique_violation_is_described_without_its_detail(
    conn: asyncpg.Connection,
) -> None:
    insert = "INSERT INTO people VALUES ($1, $2, $3)"
    await conn.execute(insert, CANARY, CANARY_PHONE, date(1990, 1, 2))

    error = await raised_by(conn.execute(insert, CANARY, CANARY_PHONE, date(1990, 1, 2)))
    text = describe_error(error)

    assert CANARY_PHONE in str(error), "the raw text does carry it (Postgres' DETAIL)"
    assert text.startswith("UniqueViolationError: SQLSTATE 23505 (integrity constraint violation)")
    assert "people_phone_key" in text
    assert CANARY_PHONE not in text


async def test_a_not_null_violation_does_not_show_the_failing_row(
    conn: asyncpg.Connection,
) -> None:
    error = await raised_by(
        conn.execute("INSERT INTO people VALUES ($1, $2, NULL)", CANARY, CANARY_PHONE)
    )

    assert CANARY in str(error)
    assert CANARY not in describe_error(error)
    assert "SQLSTATE 23502" in describe_error(error)


async def test_a_data_exception_quoting_its_input_is_described_by_its_class_only(
    conn: asyncpg.Connection,
) -> None:
    error = await raised_by(conn.fetchval("SELECT $1::text::date", CANARY))

    assert CANARY in str(error)
    assert describe_error(error) == "InvalidDatetimeFormatError: SQLSTATE 22007 (data exception)"


async def test_a_query_argument_asyncpg_cannot_encode_is_named_not_shown(
    conn: asyncpg.Connection,
) -> None:
    error = await raised_by(conn.fetchval("SELECT $1::uuid", CANARY))

    assert CANARY in str(error)
    assert describe_error(error) == "DataError: SQLSTATE 22000 (data exception)"


class Person(BaseModel):
    name: str
    age: int


def test_a_validation_error_names_fields_and_rules_not_inputs() -> None:
    with pytest.raises(ValidationError) as raised:
        Person.model_validate({"name": 7731, "age": CANARY})

    text = describe_error(raised.value)

    assert CANARY not in text
    assert text == (
        "ValidationError: 2 invalid field(s) in Person: name: string_type; age: int_parsing"
    )


def test_other_errors_keep_their_message_and_stay_short() -> None:
    assert describe_error(ValueError("case is closed")) == "ValueError: case is closed"
    assert describe_error(RuntimeError()) == "RuntimeError"
    assert len(describe_error(ValueError("x" * 2000))) == 500


async def test_a_logged_failure_shows_neither_locals_nor_detail(
    conn: asyncpg.Connection, isolated_logging: None
) -> None:
    stream = io.StringIO()
    configure_logging("retour-test", "INFO", stream=stream)
    kannel_password = f"secret-{CANARY}"  # a local of the failing frame, as in the SMS path

    async def register(given_name: str, phone: str) -> None:
        await conn.execute("INSERT INTO people VALUES ($1, $2, NULL)", given_name, phone)

    try:
        await register(CANARY, CANARY_PHONE)
    except asyncpg.PostgresError:
        structlog.stdlib.get_logger("test").exception("registration failed")
    line = json.loads(stream.getvalue())

    assert kannel_password not in stream.getvalue()
    assert CANARY not in stream.getvalue()
    assert CANARY_PHONE not in stream.getvalue()
    assert line["exception"][0]["exc_type"] == "NotNullViolationError"
    assert any(frame["name"] == "register" for frame in line["exception"][0]["frames"])


def test_a_response_that_breaks_its_model_is_described_without_its_values() -> None:
    error = ResponseValidationError(
        [
            {
                "type": "string_type",
                "loc": ("response", "items", 0, "name"),
                "msg": "Input should be a valid string",
                "input": {"name": CANARY, "phone": CANARY_PHONE},
            }
        ]
    )

    text = describe_error(error)

    assert CANARY in str(error)
    assert text == "ResponseValidationError: response.items.0.name: string_type"
