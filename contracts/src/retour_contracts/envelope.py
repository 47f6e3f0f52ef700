"""CloudEvents 1.0 envelope in Kafka *binary* mode.

The Kafka value is the plain JSON of the event model (so FastStream and the AsyncAPI document see
the contract itself); identity, type and tracing travel in ``ce_*`` headers. ``ce_id`` is the
idempotency key of consumers' inboxes. See contracts/README.md for the header list.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import uuid4

from pydantic import ValidationError

from retour_contracts.catalog import (
    CATALOG,
    CE_TYPE_PREFIX,
    EventSpec,
    spec_for_ce_type,
)
from retour_contracts.errors import (
    InvalidHeaderError,
    InvalidJsonError,
    InvalidKeyError,
    MissingHeaderError,
    SchemaViolationError,
    UnknownEventTypeError,
    UnknownSchemaVersionError,
)
from retour_contracts.models import (
    CaseEvent,
    ContractModel,
    DataProtectionEvent,
    Event,
    ReturneeMerged,
    ReturneeUpdated,
)
from retour_contracts.models.types import FROM_THE_WIRE
from retour_contracts.traceparent import is_valid_traceparent, new_traceparent, validate_traceparent

E = TypeVar("E", bound=ContractModel)

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

H_SPECVERSION = "ce_specversion"
H_ID = "ce_id"
H_TYPE = "ce_type"
H_SOURCE = "ce_source"
H_TIME = "ce_time"
H_SUBJECT = "ce_subject"
H_SCHEMAVERSION = "ce_schemaversion"  # CloudEvents extension attribute "schemaversion"
H_DATASCHEMA = "ce_dataschema"
H_CONTENT_TYPE = "content-type"
H_TRACEPARENT = "traceparent"

REQUIRED_HEADERS = (
    H_SPECVERSION,
    H_ID,
    H_TYPE,
    H_SOURCE,
    H_TIME,
    H_SUBJECT,
    H_SCHEMAVERSION,
    H_CONTENT_TYPE,
    H_TRACEPARENT,
)
"""Headers ``parse_envelope`` insists on (``ce_dataschema`` is informative only)."""

_RFC3339 = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})$"
)
_CE_TYPE = re.compile(rf"^{re.escape(CE_TYPE_PREFIX)}(?P<name>.+)\.v(?P<version>[0-9]+)$")

HeadersIn = Mapping[str, bytes | str | None] | Iterable[tuple[str, bytes | str | None]]
"""aiokafka gives a sequence of ``(name, bytes)``; FastStream a ``dict[str, str]``."""


@dataclass(frozen=True)
class Envelope:
    """A Kafka record ready to send."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def header_map(self) -> dict[str, str]:
        """Headers as ``dict[str, str]``, the form FastStream's ``publish(headers=...)`` takes."""
        return {name: value.decode() for name, value in self.headers}


@dataclass(frozen=True)
class ParsedEvent:
    """A validated event and its envelope metadata."""

    event: Event | ReturneeUpdated | ReturneeMerged | DataProtectionEvent | CaseEvent
    spec: EventSpec[Any]
    event_id: str
    type: str
    source: str
    time: datetime
    subject: str
    schema_version: int
    traceparent: str


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix, as ``ce_time`` carries it."""
    if value.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_envelope(
    spec: EventSpec[E],
    event: E,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
) -> Envelope:
    """Wrap ``event`` for ``spec.topic``.

    ``source`` is the producing service as a URI reference (``/intake``). ``event_id`` defaults to
    a new uuid4 (pass a stored one when an outbox re-publishes). ``time`` defaults to now; a new
    trace is started when no ``traceparent`` is given. Invalid arguments raise ``ValueError``.
    """
    if not isinstance(event, spec.model):
        raise TypeError(f"{type(event).__name__} is not a {spec.model.__name__}")
    if not source:
        raise ValueError("source must not be empty")
    if event_id is not None and not event_id:
        raise ValueError("event_id must not be empty")
    key = spec.key(event)
    headers = {
        H_SPECVERSION: SPECVERSION,
        H_ID: event_id or str(uuid4()),
        H_TYPE: spec.ce_type,
        H_SOURCE: source,
        H_TIME: format_time(time or datetime.now(UTC)),
        H_SUBJECT: key,
        H_SCHEMAVERSION: str(spec.version),
        H_DATASCHEMA: spec.schema_id,
        H_CONTENT_TYPE: CONTENT_TYPE,
        H_TRACEPARENT: validate_traceparent(traceparent) if traceparent else new_traceparent(),
    }
    return Envelope(
        topic=spec.topic,
        key=key.encode(),
        value=event.model_dump_json().encode(),
        headers=[(name, value.encode()) for name, value in headers.items()],
    )


def parse_envelope(
    topic: str,
    key: bytes | str | None,
    value: bytes | str | None,
    headers: HeadersIn,
) -> ParsedEvent:
    """Validate a Kafka record read from ``topic`` and return the typed event.

    Raises an ``EnvelopeError`` subclass whose message says precisely what is wrong; such a record
    will never become valid, so consumers dead-letter it instead of retrying.
    """
    h = _decode_headers(headers)
    if _required(h, H_SPECVERSION) != SPECVERSION:
        raise InvalidHeaderError(f"{H_SPECVERSION} {h[H_SPECVERSION]!r} is not {SPECVERSION!r}")
    spec = _spec_for(topic, _required(h, H_TYPE))
    schema_version = _schema_version(h, spec)
    event_id = _required(h, H_ID)
    source = _required(h, H_SOURCE)
    time = _parse_time(_required(h, H_TIME))
    subject = _required(h, H_SUBJECT)
    media_type = _required(h, H_CONTENT_TYPE).split(";")[0].strip().lower()
    if media_type != CONTENT_TYPE:
        raise InvalidHeaderError(f"{H_CONTENT_TYPE} {media_type!r} is not {CONTENT_TYPE!r}")
    traceparent = _required(h, H_TRACEPARENT)
    if not is_valid_traceparent(traceparent):
        raise InvalidHeaderError(f"{H_TRACEPARENT} {traceparent!r} is not a W3C traceparent")

    event = _validate_value(spec, value)
    expected_key = spec.key(event)
    actual_key = _decode_key(key)
    if actual_key != expected_key:
        raise InvalidKeyError(f"key {actual_key!r} is not the event's key {expected_key!r}")
    if subject != expected_key:
        raise InvalidHeaderError(f"{H_SUBJECT} {subject!r} is not the event's key {expected_key!r}")
    return ParsedEvent(
        event=event,
        spec=spec,
        event_id=event_id,
        type=spec.ce_type,
        source=source,
        time=time,
        subject=subject,
        schema_version=schema_version,
        traceparent=traceparent,
    )


def _decode_headers(headers: HeadersIn) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    decoded: dict[str, str] = {}
    for name, raw in items:
        if name in decoded:
            # Two ids or two types make the record ambiguous; refuse rather than pick one.
            raise InvalidHeaderError(f"duplicate header {name}")
        if isinstance(raw, bytes):
            try:
                decoded[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidHeaderError(f"header {name} is not UTF-8") from None
        else:
            decoded[name] = raw or ""
    return decoded


def _required(headers: dict[str, str], name: str) -> str:
    value = headers.get(name, "")
    if not value:
        raise MissingHeaderError(f"missing header {name}")
    return value


def _spec_for(topic: str, ce_type: str) -> EventSpec[Any]:
    spec = spec_for_ce_type(ce_type)
    if spec is None:
        match = _CE_TYPE.fullmatch(ce_type)
        if match is not None and any(known.name == match["name"] for known in CATALOG):
            raise UnknownSchemaVersionError(
                f"unknown schema version {match['version']} of {match['name']} ({ce_type})"
            )
        raise UnknownEventTypeError(f"unknown {H_TYPE} {ce_type!r}")
    if spec.topic != topic:
        raise UnknownEventTypeError(f"{H_TYPE} {ce_type} does not belong on topic {topic}")
    return spec


def _schema_version(headers: dict[str, str], spec: EventSpec[Any]) -> int:
    raw = _required(headers, H_SCHEMAVERSION)
    if not raw.isdigit():
        raise InvalidHeaderError(f"{H_SCHEMAVERSION} {raw!r} is not an integer")
    if int(raw) != spec.version:
        raise InvalidHeaderError(f"{H_SCHEMAVERSION} {raw} contradicts {H_TYPE} {spec.ce_type}")
    return spec.version


def _parse_time(raw: str) -> datetime:
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise InvalidHeaderError(f"{H_TIME} {raw!r} is not an RFC 3339 timestamp")
    # Python keeps microseconds; producers in other languages may send nanoseconds.
    fraction = f".{match['fraction'][:6]}" if match["fraction"] else ""
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    try:
        parsed = datetime.fromisoformat(f"{match['base'].upper()}{fraction}{offset}")
    except ValueError:
        raise InvalidHeaderError(f"{H_TIME} {raw!r} is not a valid date and time") from None
    return parsed.astimezone(UTC)


def _decode_key(key: bytes | str | None) -> str:
    if key is None:
        raise InvalidKeyError("missing key")
    if isinstance(key, str):
        return key
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidKeyError("key is not UTF-8") from None


def _validate_value(spec: EventSpec[E], value: bytes | str | None) -> E:
    if not value:
        raise InvalidJsonError("empty value")
    try:
        return spec.model.model_validate_json(value, context={FROM_THE_WIRE: True})
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        # pydantic reports unparsable JSON as a validation error; it deserves its own reason.
        for error in errors:
            if error["type"] == "json_invalid":
                raise InvalidJsonError(f"invalid JSON: {error['msg']}") from None
        locations = tuple(_location(error["loc"]) for error in errors)
        details = "; ".join(
            f"{loc}: {error['msg']}" for loc, error in zip(locations, errors, strict=True)
        )
        raise SchemaViolationError(
            f"schema violation in {spec.name} v{spec.version}: {details}", locations
        ) from None


def _location(loc: tuple[int | str, ...]) -> str:
    """``("shares", 0, "amount")`` -> ``shares[0].amount``; field values are never included."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"
