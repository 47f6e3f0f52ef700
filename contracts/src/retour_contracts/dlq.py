"""Dead-letter convention: ``<topic>.dlq`` gets the original record plus ``dlq_*`` headers.

The original key, value and headers are kept byte for byte, so a fixed consumer can replay the
record; the added headers say who gave up on it and why (``EnvelopeError.reason`` / ``.code``).
"""

from collections.abc import Sequence
from datetime import datetime

from retour_contracts.envelope import format_time

DLQ_REASON = "dlq_reason"
DLQ_CODE = "dlq_code"
DLQ_CONSUMER = "dlq_consumer"
DLQ_ORIGINAL_TOPIC = "dlq_original_topic"
DLQ_ORIGINAL_PARTITION = "dlq_original_partition"
DLQ_ORIGINAL_OFFSET = "dlq_original_offset"
DLQ_FAILED_AT = "dlq_failed_at"

DLQ_HEADER_DESCRIPTIONS = {
    DLQ_REASON: "Short reason, e.g. EnvelopeError.reason or the handler's exception message.",
    DLQ_CODE: "Category: an EnvelopeError.code (schema_violation, ...) or handler_error.",
    DLQ_CONSUMER: "Service that gave up on the record (reintegration, notifications, reporting).",
    DLQ_ORIGINAL_TOPIC: "Topic the record was read from.",
    DLQ_ORIGINAL_PARTITION: "Partition it was read from (decimal).",
    DLQ_ORIGINAL_OFFSET: "Offset it was read from (decimal).",
    DLQ_FAILED_AT: "When the consumer gave up (RFC 3339, UTC).",
}
HANDLER_ERROR = "handler_error"
"""``dlq_code`` for a valid event that the handler could not process."""


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]],
    *,
    reason: str,
    code: str,
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    failed_at: datetime,
) -> list[tuple[str, bytes]]:
    """The original headers (minus stale ``dlq_*`` ones from an earlier failure) plus ours."""
    kept = [(name, value) for name, value in original if name not in DLQ_HEADER_DESCRIPTIONS]
    added = {
        DLQ_REASON: reason,
        DLQ_CODE: code,
        DLQ_CONSUMER: consumer,
        DLQ_ORIGINAL_TOPIC: topic,
        DLQ_ORIGINAL_PARTITION: str(partition),
        DLQ_ORIGINAL_OFFSET: str(offset),
        DLQ_FAILED_AT: format_time(failed_at),
    }
    return kept + [(name, value.encode()) for name, value in added.items()]
