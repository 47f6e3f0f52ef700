"""Device credentials for OpenRosa clients: issued by a supervisor, each acts as one registrar
within some of the supervisor's centres.

ODK Collect and other OpenRosa clients authenticate with HTTP Basic (over TLS) and keep the
credentials on the device: a per-device username and a random password, never a person's
own password or token, so a lost tablet is revoked alone. The password is shown once and kept
only as a salted scrypt hash.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from retour_contracts import ReceptionCentre
from retour_contracts.models.types import RefusesControlCharacters, UniqueList
from retour_kit.auth import Principal, Role

# scrypt at 16 MiB and about 50 ms a check: affordable once per request of a device, costly
# for anyone guessing passwords from a copy of the table.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _KEY_BYTES = 2**14, 8, 1, 32
_SCHEME = "scrypt"
USERNAME_PREFIX = "device-"


class IssueDevice(RefusesControlCharacters, BaseModel):
    """A supervisor's request for a device's credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registrar: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    """The registrar's token subject: registrations from the device are theirs."""
    centres: UniqueList[ReceptionCentre] = Field(min_length=1)
    """Where the device registers; within the supervisor's own centres."""
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    """Which device this is, for people ("Kayes tablet 2")."""


@dataclass(frozen=True)
class Device:
    username: str
    registrar: str
    centres: frozenset[ReceptionCentre]
    label: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def as_principal(self) -> Principal:
        """Who a request with the device's credentials acts as: its registrar, in its centres."""
        return Principal(
            subject=self.registrar, roles=frozenset({Role.REGISTRAR}), centres=self.centres
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "registrar": self.registrar,
            "centres": sorted(self.centres),
            "label": self.label,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_by": self.revoked_by,
        }


class DeviceStore(Protocol):
    async def add(self, device: Device, password_hash: str) -> None: ...
    async def find(self, username: str) -> tuple[Device, str] | None:
        """The device and its password hash, revoked or not."""
        ...

    async def set_password(self, username: str, password_hash: str) -> None: ...
    async def listing(self, centres: list[str] | None) -> list[Device]:
        """Devices with at least one of ``centres`` (None: all), newest first."""
        ...

    async def revoke(
        self, username: str, *, by: str, at: datetime, centres: list[str] | None
    ) -> Device | None:
        """Revokes the device if it has one of ``centres``; None when there is none such.
        A device revoked before stays revoked as it was."""
        ...


StoreFactory = Callable[[], AbstractAsyncContextManager[DeviceStore]]


class OutsideYourCentres(Exception):
    """A supervisor gave a device a centre they do not work at."""


@dataclass(frozen=True)
class IssuedDevice:
    device: Device
    password: str

    def as_json(self) -> dict[str, Any]:
        return {**self.device.as_json(), "password": self.password}


async def issue_device(
    store: DeviceStore, command: IssueDevice, *, supervisor: Principal, now: datetime
) -> IssuedDevice:
    """New credentials for a device; raises OutsideYourCentres."""
    if not all(supervisor.works_at(centre) for centre in command.centres):
        raise OutsideYourCentres()
    device = Device(
        username=f"{USERNAME_PREFIX}{secrets.token_hex(5)}",
        registrar=command.registrar,
        centres=frozenset(command.centres),
        label=command.label,
        created_by=supervisor.subject,
        created_at=now,
    )
    password = new_password()
    await store.add(device, await asyncio.to_thread(hash_password, password))
    return IssuedDevice(device, password)


async def reissue_password(store: DeviceStore, username: str) -> IssuedDevice | None:
    """A new password for a device issued before: the retry of an issue whose answer was
    lost gets working credentials (the first password is never stored, so it cannot be shown
    again). None when the device was revoked since."""
    found = await store.find(username)
    if found is None or found[0].revoked_at is not None:
        return None
    password = new_password()
    await store.set_password(username, await asyncio.to_thread(hash_password, password))
    return IssuedDevice(found[0], password)


async def authenticate_device(start: StoreFactory, username: str, password: str) -> Device | None:
    """The device whose credentials these are, if they are valid and not revoked."""
    async with start() as store:
        found = await store.find(username)
    if found is None:
        # Spend the same time as for a known device: timing does not tell which exist.
        await asyncio.to_thread(password_matches, password, _unknown_device_hash())
        return None
    device, stored = found
    matches = await asyncio.to_thread(password_matches, password, stored)
    return device if matches and device.revoked_at is None else None


def new_password() -> str:
    return secrets.token_urlsafe(18)  # 144 random bits, 24 characters to type or scan


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        (_SCHEME, str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest))
    )


def password_matches(password: str, stored: str) -> bool:
    """Constant-time comparison of ``password`` with a ``hash_password`` result."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return scheme == _SCHEME and hmac.compare_digest(computed, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=_KEY_BYTES
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@functools.cache
def _unknown_device_hash() -> str:
    return hash_password(new_password())
