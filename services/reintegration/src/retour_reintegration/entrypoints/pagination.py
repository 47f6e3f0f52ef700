"""Opaque cursors for keyset pagination over (registered_at, returnee_id)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from retour_kit.http_errors import ApiError


def encode_cursor(registered_at: datetime, returnee_id: UUID) -> str:
    raw = f"{registered_at.isoformat()}|{returnee_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, returnee_id = raw.split("|")
        return datetime.fromisoformat(moment), UUID(returnee_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(
            422, "invalid_cursor", "cursor is not one this API returned as next_cursor"
        ) from None
