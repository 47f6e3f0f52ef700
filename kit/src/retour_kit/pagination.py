"""Opaque cursors for keyset pagination, the same in every API.

A cursor is the sort key of the last item of a page (for instance its arrival date and id),
as URL-safe base64 of a JSON list, so clients treat it as opaque and never build one. A
cursor that does not decode answers 422 ``invalid_cursor`` (retour_kit.http_errors).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

CursorPart = date | UUID | str
# Far above any cursor this module writes (a sort key of two or three parts).
MAX_CURSOR_LENGTH = 200


class InvalidCursor(ValueError):
    def __init__(self) -> None:
        super().__init__("cursor is not one this API returned as next_cursor")


def encode_cursor(*key: CursorPart) -> str:
    """The cursor after an item whose sort key is ``key`` (datetimes and dates in ISO form)."""
    raw = json.dumps([part.isoformat() if isinstance(part, date) else str(part) for part in key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str, *parsers: Callable[[str], Any]) -> tuple[Any, ...]:
    """The sort key of ``text``, each part read by its parser (``date.fromisoformat``,
    ``UUID``...); InvalidCursor when it is not a cursor of this shape."""
    try:
        if len(text) > MAX_CURSOR_LENGTH:
            raise InvalidCursor
        parts = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(parts, list) or len(parts) != len(parsers):
            raise InvalidCursor
        if not all(isinstance(part, str) for part in parts):
            raise InvalidCursor  # every part was written as a string; UUID(5) would not say so
        return tuple(parse(part) for parse, part in zip(parsers, parts, strict=True))
    except (ValueError, TypeError, AttributeError, RecursionError, binascii.Error):
        raise InvalidCursor from None
