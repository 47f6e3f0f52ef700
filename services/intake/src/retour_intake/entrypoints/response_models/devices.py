"""OpenRosa device credentials as supervisors see them (``Device.as_json``): the password only
in the answer that issues it, since only its hash is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retour_contracts import ReceptionCentre

DEVICE: dict[str, Any] = {
    "username": "device-3f9a1c2b7d",
    "registrar": "registrar.kayes.07",
    "centres": ["kayes"],
    "label": "Kayes tablet 2",
    "created_by": "supervisor.kayes.1",
    "created_at": "2024-04-03T09:12:45.104233+00:00",
    "revoked_at": None,
    "revoked_by": None,
}

REVOKED_DEVICE: dict[str, Any] = {
    **DEVICE,
    "revoked_at": "2024-06-20T16:40:03.551902+00:00",
    "revoked_by": "supervisor.kayes.1",
}


class OpenRosaDevice(BaseModel):
    """An OpenRosa device's credentials, without their secret: the device registers as its
    registrar, in its centres, until it is revoked."""

    model_config = ConfigDict(json_schema_extra={"examples": [DEVICE, REVOKED_DEVICE]})

    username: str = Field(description="The device's HTTP Basic user name, made by intake.")
    registrar: str = Field(description="The registrar's token subject the device acts as.")
    centres: list[ReceptionCentre] = Field(min_length=1, description="In alphabetical order.")
    label: str = Field(description="Which device this is, for people.")
    created_by: str = Field(description="The supervisor who issued it.")
    created_at: datetime
    revoked_at: datetime | None = Field(description="Null until revoked.")
    revoked_by: str | None = Field(description="The supervisor who revoked it; null until then.")


class OpenRosaDeviceCredentials(OpenRosaDevice):
    """A device's credentials, password included: shown in this answer only (a retry with the
    same Idempotency-Key gets a new password for the same device)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**DEVICE, "password": "kX3v9QpL2mZ7tR4wY8bN1cHd"}]}
    )

    password: str = Field(description="For HTTP Basic, with `username`; never stored.")


class OpenRosaDevices(BaseModel):
    """Devices with one of your centres, newest first, revoked ones too."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            **DEVICE,
                            "username": "device-8c41e07a95",
                            "label": "Kayes tablet 3",
                            "created_at": "2024-07-11T10:02:18.220761+00:00",
                        },
                        REVOKED_DEVICE,
                    ]
                }
            ]
        }
    )

    items: list[OpenRosaDevice]
