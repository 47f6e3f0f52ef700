"""CloudEvents binary-mode envelope: build, parse, round trip, and every rejection."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from retour_contracts import (
    ACTIVITY_LAUNCHED_V1,
    AID_GRANTED_V1,
    CATALOG,
    RETURNEE_REGISTERED_V1,
    Envelope,
    EnvelopeError,
    EventSpec,
    InvalidHeaderError,
    InvalidJsonError,
    InvalidKeyError,
    MissingHeaderError,
    SchemaViolationError,
    UnknownEventTypeError,
    UnknownSchemaVersionError,
    build_envelope,
    is_valid_traceparent,
    parse_envelope,
)
from retour_contracts.envelope import REQUIRED_HEADERS
from retour_contracts.examples import (
    RETURNEE_ID,
    SECOND_RETURNEE_ID,
    example_activity_launched,
    example_for,
    example_returnee_registered,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TIME = datetime(2024, 6, 12, 9, 30, 1, 250000, tzinfo=UTC)


def _envelope(**kwargs: Any) -> Envelope:
    return build_envelope(
        RETURNEE_REGISTERED_V1, example_returnee_registered(), source="/intake", **kwargs
    )


def _with_header(envelope: Envelope, name: str, value: bytes | None) -> list[tuple[str, bytes]]:
    """The envelope's headers with ``name`` replaced (or removed when ``value`` is None)."""
    headers = [(n, v) for n, v in envelope.headers if n != name]
    return headers if value is None else [*headers, (name, value)]


def _parse_error(
    envelope: Envelope,
    *,
    headers: list[tuple[str, bytes]] | None = None,
    key: bytes | None = b"",
    value: bytes | None = b"",
    topic: str | None = None,
) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as info:
        parse_envelope(
            topic or envelope.topic,
            envelope.key if key == b"" else key,
            envelope.value if value == b"" else value,
            envelope.headers if headers is None else headers,
        )
    return info.value


def test_build_produces_binary_mode_record() -> None:
    envelope = _envelope(event_id="evt-1", time=TIME, traceparent=TRACEPARENT)
    headers = dict(envelope.headers)
    assert envelope.topic == "returnee.registered"
    assert envelope.key == str(RETURNEE_ID).encode()
    assert json.loads(envelope.value)["returnee_id"] == str(RETURNEE_ID)
    assert headers == {
        "ce_specversion": b"1.0",
        "ce_id": b"evt-1",
        "ce_type": b"org.retour.returnee.registered.v1",
        "ce_source": b"/intake",
        "ce_time": b"2024-06-12T09:30:01.250000Z",
        "ce_subject": str(RETURNEE_ID).encode(),
        "ce_schemaversion": b"1",
        "ce_dataschema": b"urn:retour:schema:returnee.registered:v1",
        "content-type": b"application/json",
        "traceparent": TRACEPARENT.encode(),
    }
    assert all(isinstance(value, bytes) for _, value in envelope.headers)
    assert envelope.header_map["ce_id"] == "evt-1"


def test_build_defaults() -> None:
    before = datetime.now(UTC)
    first, second = _envelope(), _envelope()
    assert first.header_map["ce_id"] != second.header_map["ce_id"]
    assert is_valid_traceparent(first.header_map["traceparent"])
    assert first.header_map["traceparent"] != second.header_map["traceparent"]
    parsed = parse_envelope(first.topic, first.key, first.value, first.headers)
    assert before <= parsed.time <= datetime.now(UTC)


def test_build_converts_time_to_utc() -> None:
    paris = timezone(timedelta(hours=2))
    envelope = _envelope(time=datetime(2024, 6, 12, 11, 30, tzinfo=paris))
    assert envelope.header_map["ce_time"] == "2024-06-12T09:30:00Z"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"time": datetime(2024, 6, 12, 9, 30)},
        {"traceparent": "00-abc-01"},
        {"event_id": ""},
    ],
)
def test_build_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"time|traceparent|event_id"):
        _envelope(**kwargs)


def test_build_rejects_empty_source_and_wrong_event() -> None:
    with pytest.raises(ValueError, match="source"):
        build_envelope(RETURNEE_REGISTERED_V1, example_returnee_registered(), source="")
    wrong: Any = example_activity_launched()
    with pytest.raises(TypeError, match="ActivityLaunched is not a ReturneeRegistered"):
        build_envelope(RETURNEE_REGISTERED_V1, wrong, source="/intake")


@pytest.mark.parametrize("spec", CATALOG, ids=lambda spec: spec.name)
def test_round_trip(spec: EventSpec[Any]) -> None:
    event = example_for(spec.model)
    envelope = build_envelope(
        spec, event, source=f"/{spec.producer}", event_id="e-42", time=TIME, traceparent=TRACEPARENT
    )
    parsed = parse_envelope(envelope.topic, envelope.key, envelope.value, envelope.headers)
    assert parsed.event == event
    assert type(parsed.event) is spec.model
    assert parsed.spec is spec
    assert (parsed.event_id, parsed.type, parsed.source) == (
        "e-42",
        spec.ce_type,
        f"/{spec.producer}",
    )
    assert (parsed.time, parsed.subject) == (TIME, spec.key(event))
    assert parsed.schema_version == spec.version
    assert parsed.traceparent == TRACEPARENT


def test_parse_accepts_faststream_style_headers() -> None:
    envelope = _envelope()
    parsed = parse_envelope(
        envelope.topic, envelope.key.decode(), envelope.value.decode(), envelope.header_map
    )
    assert parsed.event == example_returnee_registered()


def test_activity_key_is_first_participant() -> None:
    activity = example_activity_launched(
        returnee_ids=[SECOND_RETURNEE_ID, RETURNEE_ID], level="collective"
    )
    envelope = build_envelope(ACTIVITY_LAUNCHED_V1, activity, source="/reintegration")
    assert envelope.key == str(SECOND_RETURNEE_ID).encode()
    assert envelope.header_map["ce_subject"] == str(SECOND_RETURNEE_ID)


def test_parsed_time_accepts_offsets_and_nanoseconds() -> None:
    envelope = _envelope()
    headers = _with_header(envelope, "ce_time", b"2024-06-12T11:30:01.123456789+02:00")
    parsed = parse_envelope(envelope.topic, envelope.key, envelope.value, headers)
    assert parsed.time == datetime(2024, 6, 12, 9, 30, 1, 123456, tzinfo=UTC)


@pytest.mark.parametrize("header", REQUIRED_HEADERS)
def test_missing_header(header: str) -> None:
    envelope = _envelope()
    error = _parse_error(envelope, headers=_with_header(envelope, header, None))
    assert isinstance(error, MissingHeaderError)
    assert error.reason == f"missing header {header}"
    assert error.code == "missing_header"


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("ce_specversion", b"0.3", "ce_specversion '0.3' is not '1.0'"),
        ("ce_time", b"yesterday", "ce_time 'yesterday' is not an RFC 3339 timestamp"),
        ("ce_time", b"2024-06-12T09:30:00", "ce_time '2024-06-12T09:30:00' is not an RFC 3339"),
        ("ce_time", b"2024-13-12T09:30:00Z", "is not a valid date and time"),
        ("content-type", b"text/plain", "content-type 'text/plain' is not 'application/json'"),
        ("traceparent", b"00-xyz", "traceparent '00-xyz' is not a W3C traceparent"),
        ("ce_schemaversion", b"one", "ce_schemaversion 'one' is not an integer"),
        ("ce_schemaversion", b"2", "ce_schemaversion 2 contradicts ce_type"),
        ("ce_subject", b"someone-else", "ce_subject 'someone-else' is not the event's key"),
        ("ce_id", b"\xff", "header ce_id is not UTF-8"),
    ],
)
def test_invalid_header(header: str, value: bytes, reason: str) -> None:
    envelope = _envelope()
    error = _parse_error(envelope, headers=_with_header(envelope, header, value))
    assert isinstance(error, InvalidHeaderError)
    assert reason in error.reason


def test_content_type_parameters_are_accepted() -> None:
    envelope = _envelope()
    headers = _with_header(envelope, "content-type", b"application/json; charset=utf-8")
    assert parse_envelope(envelope.topic, envelope.key, envelope.value, headers).event


def test_duplicate_header() -> None:
    envelope = _envelope()
    error = _parse_error(envelope, headers=[*envelope.headers, ("ce_id", b"other")])
    assert isinstance(error, InvalidHeaderError)
    assert error.reason == "duplicate header ce_id"


def test_unknown_event_type() -> None:
    envelope = _envelope()
    error = _parse_error(
        envelope, headers=_with_header(envelope, "ce_type", b"org.retour.returnee.deported.v1")
    )
    assert isinstance(error, UnknownEventTypeError)
    assert error.reason == "unknown ce_type 'org.retour.returnee.deported.v1'"


def test_event_type_on_the_wrong_topic() -> None:
    error = _parse_error(_envelope(), topic=AID_GRANTED_V1.topic)
    assert isinstance(error, UnknownEventTypeError)
    assert error.reason == (
        "ce_type org.retour.returnee.registered.v1 does not belong on topic aid.granted"
    )


def test_unknown_schema_version() -> None:
    envelope = _envelope()
    headers = _with_header(envelope, "ce_type", b"org.retour.returnee.registered.v3")
    error = _parse_error(envelope, headers=headers)
    assert isinstance(error, UnknownSchemaVersionError)
    assert error.reason == (
        "unknown schema version 3 of returnee.registered (org.retour.returnee.registered.v3)"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty value"),
        (b"", "empty value"),
        (b"{not json", "invalid JSON: "),
    ],
)
def test_invalid_json(value: bytes | None, reason: str) -> None:
    envelope = _envelope()
    with pytest.raises(InvalidJsonError, match=reason) as info:
        parse_envelope(envelope.topic, envelope.key, value, envelope.headers)
    assert info.value.code == "invalid_json"


def test_schema_violation_names_fields_without_values() -> None:
    envelope = _envelope()
    body = json.loads(envelope.value)
    body["host_country"] = "XX"
    body["personal"]["phone"] = "12"
    del body["sex"]
    error = _parse_error(envelope, value=json.dumps(body).encode())
    assert isinstance(error, SchemaViolationError)
    assert error.locations == ("host_country", "sex", "personal.phone")
    assert error.reason.startswith("schema violation in returnee.registered v1: host_country: ")
    assert "sex: Field required" in error.reason
    assert "Aminata" not in error.reason


def test_schema_violation_location_of_list_items() -> None:
    activity = example_activity_launched()
    envelope = build_envelope(ACTIVITY_LAUNCHED_V1, activity, source="/reintegration")
    body = json.loads(envelope.value)
    body["aid_ids"] = ["not-a-uuid"]
    error = _parse_error(envelope, value=json.dumps(body).encode())
    assert isinstance(error, SchemaViolationError)
    assert error.locations == ("aid_ids[0]",)


def test_non_object_payload_is_a_schema_violation() -> None:
    error = _parse_error(_envelope(), value=b"[1, 2]")
    assert isinstance(error, SchemaViolationError)
    assert error.locations == ("(root)",)


def test_long_reasons_are_truncated() -> None:
    error = SchemaViolationError("x" * 2000, ())
    assert len(error.reason) == 500
    assert error.reason.endswith("...")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "missing key"),
        (b"\xff", "key is not UTF-8"),
        (str(SECOND_RETURNEE_ID).encode(), "is not the event's key"),
    ],
)
def test_invalid_key(key: bytes | None, reason: str) -> None:
    error = _parse_error(_envelope(), key=key)
    assert isinstance(error, InvalidKeyError)
    assert reason in error.reason


def test_every_error_is_a_value_error_with_a_code() -> None:
    codes = {
        cls.code
        for cls in (
            MissingHeaderError,
            InvalidHeaderError,
            UnknownEventTypeError,
            UnknownSchemaVersionError,
            InvalidKeyError,
            InvalidJsonError,
            SchemaViolationError,
        )
    }
    assert len(codes) == 7
    assert issubclass(EnvelopeError, ValueError)


def test_a_phone_read_off_the_wire_is_checked_for_its_e164_form_only() -> None:
    # The producer checked the numbering plan when the number entered the system; consumers
    # re-check the form, not libphonenumber's tables (the costliest part of parsing).
    from retour_contracts import RETURNEE_REGISTERED_V1, build_envelope, parse_envelope
    from retour_contracts.examples import example_returnee_registered

    envelope = build_envelope(RETURNEE_REGISTERED_V1, example_returnee_registered(), source="/t")
    value = envelope.value.replace(b"+22365012345", b"+22300000000")
    parsed = parse_envelope(envelope.topic, envelope.key, value, envelope.headers)
    assert parsed.event.personal.phone == "+22300000000"  # type: ignore[union-attr]
