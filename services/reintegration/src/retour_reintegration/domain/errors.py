"""Business-rule violations. ``rule`` is a stable code clients can branch on; ``detail`` says
what is wrong in words; ``context`` carries the ids or amounts involved (never personal data).
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


class CaseNotFound(RuleViolation):
    def __init__(self, returnee_ids: Iterable[UUID]) -> None:
        ids = sorted(str(returnee_id) for returnee_id in returnee_ids)
        super().__init__(
            "case_not_found", f"no case for returnee {', '.join(ids)}", returnee_ids=ids
        )


class CaseClosed(RuleViolation):
    def __init__(self, returnee_ids: Iterable[UUID]) -> None:
        ids = sorted(str(returnee_id) for returnee_id in returnee_ids)
        super().__init__(
            "case_closed", f"the case of returnee {', '.join(ids)} is closed", returnee_ids=ids
        )


class CaseMerged(RuleViolation):
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
