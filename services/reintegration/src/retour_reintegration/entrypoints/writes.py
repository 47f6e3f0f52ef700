"""What every write route takes from its request: who calls (role checked: 401 or 403 first),
the Idempotency-Key (428 without one, before the body is looked at), the trace to continue into
the events, the moment; and how it answers: once per key and request, in the transaction of its
effects (entrypoints/idempotent.py)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from retour_kit.auth import Principal
from retour_kit.tracing import TraceParentHeader, continued_trace
from retour_kit.unit_of_work import UnitOfWork
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.actor import Actor
from retour_reintegration.entrypoints.access import actor_of, as_supervisor, as_writer
from retour_reintegration.entrypoints.idempotent import Action, IdempotencyKey, respond_once


@dataclass(frozen=True)
class WriteRequest:
    principal: Principal
    key: str
    path: str
    trace: str
    """The caller's traceparent, or a new one: the events of the write carry it."""
    now: datetime

    @property
    def actor(self) -> Actor:
        return actor_of(self.principal)

    async def once(
        self, work: UnitOfWork[CaseWork], command: BaseModel, action: Action
    ) -> JSONResponse:
        """``action``'s answer, or the first answer given to this key and request."""
        return await respond_once(
            work,
            key=self.key,
            principal=self.principal,
            path=self.path,
            command=command,
            action=action,
        )


def _write_by(
    staff: Callable[..., Awaitable[Principal]],
) -> Callable[..., Awaitable[WriteRequest]]:
    """A dependency: a write by a caller ``staff`` lets through (entrypoints/access.py)."""

    async def taken(
        principal: Annotated[Principal, Depends(staff)],
        key: IdempotencyKey,
        request: Request,
        traceparent: TraceParentHeader = None,
    ) -> WriteRequest:
        return WriteRequest(
            principal=principal,
            key=key,
            path=request.url.path,
            trace=continued_trace(traceparent),
            now=datetime.now(UTC),
        )

    return taken


CaseWrite = Annotated[WriteRequest, Depends(_write_by(as_writer))]
"""A write of case work: case workers, supervisors, admins (within their centres)."""
PartnerWrite = Annotated[WriteRequest, Depends(_write_by(as_supervisor))]
"""A write to the partner registry: supervisors and admins."""
