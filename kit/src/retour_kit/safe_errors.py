"""Errors described for logs and dead-letter reasons without the data that caused them.

An exception's text often quotes the values it choked on, and here those values are names,
phone numbers and dates of birth of vulnerable people: Postgres appends a DETAIL line
("Key (phone)=(+223...) already exists", "Failing row contains (...)"), pydantic prints each
invalid input, asyncpg quotes a query argument it could not encode. Logs and dead-letter
topics are read more widely and kept longer than the case database, so everything that
describes an error there goes through ``describe_error``:

- Postgres errors: class, SQLSTATE and the primary message, never DETAIL, HINT or CONTEXT;
  and no message at all for data exceptions (SQLSTATE class 22), whose messages quote input;
- pydantic validation errors: the location and the rule of each problem, never the input;
  asyncpg raises its client-side encoding errors ("invalid input for query argument $1:
  '<the value>'") as data exceptions too;
- anything else: its type and message (our own messages name fields, not values).

``traceback_frames`` renders a traceback as file, line and function only: structlog's
``dict_tracebacks`` would add every frame's local variables, the whole registration included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import asyncpg
from fastapi.exceptions import ValidationException
from pydantic import ValidationError

from retour_contracts.errors import MAX_REASON_LENGTH

MAX_LENGTH = MAX_REASON_LENGTH  # what a dead-letter header holds

_POSTGRES_CLASSES = {
    "08": "connection exception",
    "22": "data exception",
    "23": "integrity constraint violation",
    "25": "invalid transaction state",
    "40": "transaction rollback",
    "42": "syntax error or access rule violation",
    "53": "insufficient resources",
    "54": "program limit exceeded",
    "55": "object not in prerequisite state",
    "57": "operator intervention",
    "58": "system error",
    "XX": "internal error",
}


def describe_error(error: BaseException, *, max_length: int = MAX_LENGTH) -> str:
    """``Type: what went wrong``, without the values involved."""
    name = type(error).__name__
    if isinstance(error, asyncpg.PostgresError):
        text = f"{name}: {_postgres(error)}"
    elif isinstance(error, ValidationError):
        text = f"{name}: {_validation(error)}"
    elif isinstance(error, ValidationException):
        # FastAPI's own (a response that does not match its model, say): each error carries
        # the offending input.
        text = f"{name}: {_problems(error.errors())}"
    else:
        text = f"{name}: {error}".strip().removesuffix(":")
    return text if len(text) <= max_length else text[: max_length - 3] + "..."


def _postgres(error: asyncpg.PostgresError) -> str:
    sqlstate = str(getattr(error, "sqlstate", "") or "?????")
    kind = _POSTGRES_CLASSES.get(sqlstate[:2], f"class {sqlstate[:2]}")
    if sqlstate.startswith("22"):
        return f"SQLSTATE {sqlstate} ({kind})"
    # args[0] is the primary message alone; str(error) would append DETAIL and HINT.
    message = str(error.args[0]) if error.args else ""
    return f"SQLSTATE {sqlstate} ({kind}): {message}".removesuffix(": ")


def _validation(error: ValidationError) -> str:
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    return f"{len(problems)} invalid field(s) in {error.title}: {_problems(problems)}"


def _problems(problems: Sequence[Any]) -> str:
    """Where and which rule, for each problem; never its input."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ())) or '(root)'}: "
        f"{problem.get('type', '?')}"
        for problem in problems
        if isinstance(problem, Mapping)
    )


def traceback_frames(traceback: TracebackType | None) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while traceback is not None:
        code = traceback.tb_frame.f_code
        frames.append(
            {"filename": code.co_filename, "lineno": traceback.tb_lineno, "name": code.co_name}
        )
        traceback = traceback.tb_next
    return frames


def exception_chain(error: BaseException) -> list[dict[str, Any]]:
    """The exception and what caused it, outermost first, each described safely; the keys
    are those of structlog's ``dict_tracebacks``, so log queries keep working."""
    chain: list[dict[str, Any]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        described: dict[str, Any] = {
            "exc_type": type(current).__name__,
            "exc_value": describe_error(current),
            "is_cause": bool(chain),
            "frames": traceback_frames(current.__traceback__),
        }
        if isinstance(current, BaseExceptionGroup):
            # A TaskGroup's failure is its sub-exceptions': they are the story.
            described["exceptions"] = [exception_chain(sub) for sub in current.exceptions]
        chain.append(described)
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return chain
