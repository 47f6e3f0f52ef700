"""HTTP route of the key store: services and partners entitled to personal data obtain the
keys that open returnees' sealed personal blocks (docs/data-protection.md)."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from retour_contracts.sealing import ALGORITHM, encode_key
from retour_intake.adapters.pg_key_release import PgKeyRelease
from retour_intake.domain.key_release import LookUpDataKeys
from retour_intake.entrypoints.data_requests import staff_of
from retour_intake.entrypoints.response_models.data_protection import DataKeys
from retour_intake.key_release import release_data_keys
from retour_kit.auth import Principal, Role, require_roles
from retour_kit.idempotency import required_idempotency_key
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

# Reporting's own account holds a role too (reporting_service): it is refused here like any
# person's, because reports are built without personal data.
KeyHolderAccount = Annotated[
    Principal, Depends(require_roles(Role.NOTIFICATIONS_SERVICE, Role.PARTNER))
]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": DataKeys,
        "description": "The keys released, and why each other returnee's was not",
    },
    403: {"description": "The caller is not entitled to any data key"},
}


def data_key_routes(release: UnitOfWork[PgKeyRelease], *, cache_seconds: int) -> APIRouter:
    router = APIRouter(tags=["data protection"])

    # Idempotency-Key is required here as on every POST, but nothing is stored under it: this
    # POST is a query (the ids do not fit a URL), a repeat is answered afresh with the same
    # keys, and a data key must never sit in a table of stored answers.
    @router.post(
        "/data-keys",
        responses=_RESPONSES,
        dependencies=[Depends(required_idempotency_key)],
    )
    async def look_up(command: LookUpDataKeys, account: KeyHolderAccount) -> JSONResponse:
        """The data keys of the returnees asked for, those the caller is entitled to; each
        release is recorded in the access log. Keep a key no longer than ``cache_seconds``.
        Send an Idempotency-Key like on every POST; a repeat is answered afresh."""
        result = await release_data_keys(
            release.transaction,
            command.returnee_ids,
            requester=staff_of(account),
            # A partner's account may hold no other role; one that also holds a service role
            # is still held to the partner's rule (the narrower entitlement wins).
            for_partner=Role.PARTNER in account.roles,
        )
        log.info(
            "data keys released",
            requester=account.subject,
            released=len(result.keys),
            refused=len(result.refused),
        )
        body = {
            "algorithm": ALGORITHM,
            "cache_seconds": cache_seconds,
            "keys": [
                {"returnee_id": str(returnee_id), "key": encode_key(key)}
                for returnee_id, key in result.keys.items()
            ],
            "refused": [
                {"returnee_id": str(returnee_id), "reason": reason.value}
                for returnee_id, reason in result.refused.items()
            ],
        }
        # A key is a secret: no cache between here and the caller may keep it.
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return router
