"""Business-rule violations. ``rule`` is a stable code clients can branch on; ``detail`` says
what is wrong in words; ``context`` carries the ids or amounts involved (never personal data).

Each violation is of one kind, which the HTTP layer answers with one status: not found
(``NotFound``, 404), in conflict with the case's state (``Conflict``, 409), not the caller's to
do (``NotAllowed``, 403), or anything else wrong with the request (a plain ``RuleViolation``,
422).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID


class RuleViolation(Exception):
    """A command was refused: it would break ``rule``."""

    def __init__(self, rule: str, detail: str, **context: Any) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail
        self.context = context


class NotFound(RuleViolation):
    """What the request names does not exist, or is not the caller's to know of."""


class Conflict(RuleViolation):
    """The request cannot apply to the record as it is now (closed, done already)."""


class NotAllowed(RuleViolation):
    """The caller's role does not allow this; ``field`` names the part of the request at fault."""

    def __init__(self, rule: str, detail: str, *, field: str, **context: Any) -> None:
        super().__init__(rule, detail, field=field, **context)


class InvalidFields(RuleViolation):
    """Fields found wrong after parsing, shaped like a validation error: ``errors`` lists each
    field (``body.answers.food_reduction``) with what is wrong with it."""

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        found = list(problems)
        super().__init__(
            "validation_error",
            "; ".join(f"{field}: {message}" for field, message in found),
            errors=[
                {"field": field, "message": message, "type": "value_error"}
                for field, message in found
            ],
        )


class CaseNotFound(NotFound):
    def __init__(self, returnee_ids: Iterable[UUID]) -> None:
        ids = sorted(str(returnee_id) for returnee_id in returnee_ids)
        super().__init__(
            "case_not_found", f"no case for returnee {', '.join(ids)}", returnee_ids=ids
        )


class CaseClosed(Conflict):
    def __init__(self, returnee_ids: Iterable[UUID]) -> None:
        ids = sorted(str(returnee_id) for returnee_id in returnee_ids)
        super().__init__(
            "case_closed", f"the case of returnee {', '.join(ids)} is closed", returnee_ids=ids
        )


class CaseMerged(Conflict):
    """The case of a duplicate registration, merged into the person's: a 409 naming the case to
    use instead (``merged_into``: duplicate registration -> the person's), and the request's
    field at fault when it has one (``returnee_ids`` of an activity)."""

    def __init__(self, merged: Mapping[UUID, UUID], *, field: str | None = None) -> None:
        pairs = sorted((str(duplicate), str(person)) for duplicate, person in merged.items())
        said = "; ".join(
            f"the case of returnee {duplicate} is closed as a duplicate registration of"
            f" returnee {person}, whose case serves the person: use {person}"
            for duplicate, person in pairs
        )
        where = {} if field is None else {"field": field}
        super().__init__(
            "case_merged",
            said,
            returnee_ids=[duplicate for duplicate, _ in pairs],
            merged_into=dict(pairs),
            **where,
        )


class CaseOpen(Conflict):
    def __init__(self, returnee_id: UUID) -> None:
        super().__init__(
            "case_open",
            f"the case of returnee {returnee_id} is open: only a closed case is reopened",
            returnee_ids=[str(returnee_id)],
        )


class FollowUpNotFound(NotFound):
    def __init__(self, follow_up_id: UUID) -> None:
        super().__init__(
            "follow_up_not_found",
            f"no follow-up visit {follow_up_id} on this case",
            follow_up_ids=[str(follow_up_id)],
        )


class FollowUpCompleted(Conflict):
    def __init__(self, follow_up_id: UUID) -> None:
        super().__init__(
            "follow_up_completed",
            f"follow-up visit {follow_up_id} is completed already: its survey is final",
            follow_up_ids=[str(follow_up_id)],
        )


class CaseWorkerUnknown(RuleViolation):
    """The assignee is not a case worker of the case's centre, as far as reintegration knows
    (the roster learns case workers from their own requests)."""

    def __init__(self, centre: str) -> None:
        super().__init__(
            "case_worker_unknown",
            f"not known as a case worker of {centre}: a case worker is known once they have"
            " used reintegration with a token naming that centre",
            field="body.case_worker",
        )
