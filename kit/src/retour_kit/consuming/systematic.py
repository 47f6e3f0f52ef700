"""Telling a broken consumer from a bad event.

A handler that raises on a valid event is retried, then the event is dead-lettered so that one
bad event cannot stall its partition. When the consumer itself is broken (a column missing
during a rolling migration, a privilege lost, a code bug), every event fails the same way, and
dead-lettering them all would empty the topic into its ``.dlq``. So before dead-lettering, the
batch processor weighs the evidence kept here: how many *different* records of the topic failed
with the same classification within the policy's window, with none of the topic applied in
between. At the policy's threshold the failure is systematic and the consumer pauses on its
first failing record instead (``retour_kit.consuming.consumer``). When the evidence says
neither (too few failures, nothing later in hand that applies), the record is deferred once
(``retour_kit.consuming.deferring``) rather than dead-lettered.

A classification is the exception's type and a stable code (a SQLSTATE, or an exception's
own ``code`` when it is an identifier), never its message: messages can quote personal data,
and the classification is shown in metrics, logs and ``/readyz``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from retour_kit.consuming.settings import Subscription, SystematicFailurePolicy

# An exception's own code is trusted only when it reads like one (``case_rules``): a number
# could be anything, a phone number included.
_CODE = re.compile(r"[a-z][a-z0-9_.-]{0,39}")

RecordId = tuple[str, int, int]  # topic, partition, offset


def classify(error: BaseException) -> str:
    """``UndefinedColumnError/42703``, ``PermissionError``: the same for the same failure,
    whatever event caused it."""
    name = type(error).__name__
    if isinstance(error, asyncpg.PostgresError) and error.sqlstate:
        return f"{name}/{error.sqlstate}"
    code = getattr(error, "code", None)
    if isinstance(code, str) and _CODE.fullmatch(code):
        return f"{name}/{code}"
    return name


def record_id(record: Any) -> RecordId:
    return (record.topic, record.partition, record.offset)


@dataclass(frozen=True)
class Halt:
    """Where a partition stopped: its first record that failed systematically."""

    subscription: Subscription
    record: Any  # aiokafka ConsumerRecord; the offset is not committed past it
    code: str

    @property
    def reason(self) -> str:
        return f"paused: systematic failure {self.code}"


class FailureEvidence:
    """Different records that failed, per topic and classification, within the window.

    Shared by every partition a consumer applies side by side: three partitions failing the
    same way are three records of evidence. A record of the topic applied since clears the
    topic's evidence, because a poison record among healthy ones is exactly that.
    """

    def __init__(
        self, policy: SystematicFailurePolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._failures: dict[str, dict[str, dict[RecordId, float]]] = {}

    def failed(self, record: Any, code: str) -> bool:
        """Counts ``record``'s failure; True once the failure is systematic."""
        now = self._clock()
        by_code = self._failures.setdefault(record.topic, {})
        seen = by_code.setdefault(code, {})
        seen[record_id(record)] = now
        oldest = now - self._policy.window_seconds
        for key in [key for key, at in seen.items() if at < oldest]:
            del seen[key]
        return len(seen) >= self._policy.threshold

    def applied(self, topic: str) -> None:
        """A record of ``topic`` was applied: failures before it were not systematic."""
        self._failures.pop(topic, None)
