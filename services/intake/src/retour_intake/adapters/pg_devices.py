"""The PostgreSQL side of OpenRosa device credentials, on one unit of work's connection."""

from __future__ import annotations

from datetime import datetime

from asyncpg import Record

from retour_contracts import ReceptionCentre
from retour_intake.openrosa import Device
from retour_kit.db import Connection
from retour_kit.idempotency import PgIdempotencyKeys

_COLUMNS = "username, registrar, centres, label, created_by, created_at, revoked_at, revoked_by"

# A device revoked before keeps the time and the supervisor of its first revocation.
_REVOKE = f"""
UPDATE openrosa_devices
SET revoked_at = coalesce(revoked_at, $2), revoked_by = coalesce(revoked_by, $3)
WHERE username = $1 AND ($4::text[] IS NULL OR centres && $4)
RETURNING {_COLUMNS}
"""  # noqa: S608 (constant fragments only; every value is a parameter)


class PgDevices:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.idempotency_keys = PgIdempotencyKeys(conn)

    async def add(self, device: Device, password_hash: str) -> None:
        await self._conn.execute(
            "INSERT INTO openrosa_devices (username, password_hash, registrar, centres, label,"
            " created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            device.username,
            password_hash,
            device.registrar,
            sorted(device.centres),
            device.label,
            device.created_by,
            device.created_at,
        )

    async def find(self, username: str) -> tuple[Device, str] | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS}, password_hash FROM openrosa_devices WHERE username = $1",  # noqa: S608 (constant columns)
            username,
        )
        return None if row is None else (_device(row), row["password_hash"])

    async def set_password(self, username: str, password_hash: str) -> None:
        await self._conn.execute(
            "UPDATE openrosa_devices SET password_hash = $2 WHERE username = $1",
            username,
            password_hash,
        )

    async def listing(self, centres: list[str] | None) -> list[Device]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM openrosa_devices"  # noqa: S608 (constant columns)
            " WHERE $1::text[] IS NULL OR centres && $1 ORDER BY created_at DESC, username",
            centres,
        )
        return [_device(row) for row in rows]

    async def revoke(
        self, username: str, *, by: str, at: datetime, centres: list[str] | None
    ) -> Device | None:
        row = await self._conn.fetchrow(
            _REVOKE,
            username,
            at,
            by,
            centres,
        )
        return None if row is None else _device(row)


def _device(row: Record) -> Device:
    return Device(
        username=row["username"],
        registrar=row["registrar"],
        centres=frozenset(ReceptionCentre(centre) for centre in row["centres"]),
        label=row["label"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
    )
