"""Why a Kafka record could not be turned into an event.

``str(error)`` (also ``error.reason``) is a short, precise sentence meant for a dead-letter
header; ``error.code`` is a stable machine-readable category for dashboards and alerts.
"""

from typing import ClassVar

# Dead-letter headers are small; a long pydantic report is cut to this many characters.
MAX_REASON_LENGTH = 500


class EnvelopeError(ValueError):
    """Base class: the record is not a valid event envelope. Never retry; dead-letter it."""

    code: ClassVar[str] = "invalid_envelope"

    def __init__(self, reason: str) -> None:
        if len(reason) > MAX_REASON_LENGTH:
            reason = reason[: MAX_REASON_LENGTH - 3] + "..."
        super().__init__(reason)
        self.reason = reason


class MissingHeaderError(EnvelopeError):
    code: ClassVar[str] = "missing_header"


class InvalidHeaderError(EnvelopeError):
    code: ClassVar[str] = "invalid_header"


class UnknownEventTypeError(EnvelopeError):
    code: ClassVar[str] = "unknown_event_type"


class UnknownSchemaVersionError(EnvelopeError):
    code: ClassVar[str] = "unknown_schema_version"


class InvalidKeyError(EnvelopeError):
    code: ClassVar[str] = "invalid_key"


class InvalidJsonError(EnvelopeError):
    code: ClassVar[str] = "invalid_json"


class SchemaViolationError(EnvelopeError):
    """The JSON is well-formed but breaks the contract; ``locations`` lists the failing fields."""

    code: ClassVar[str] = "schema_violation"

    def __init__(self, reason: str, locations: tuple[str, ...]) -> None:
        super().__init__(reason)
        self.locations = locations
