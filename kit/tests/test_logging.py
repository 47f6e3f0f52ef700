import io
import json
import logging
from typing import Any

import pytest
import structlog

from retour_kit.logging import bound_event_context, configure_logging


@pytest.fixture
def log_stream(isolated_logging: None) -> io.StringIO:
    stream = io.StringIO()
    configure_logging("retour-test", "INFO", stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_lines_carry_service_and_bound_event_ids(log_stream: io.StringIO) -> None:
    with bound_event_context(event_id="evt-1", trace_id="trace-1", returnee_id="ret-1"):
        structlog.stdlib.get_logger("test").info("aid granted", amount_xof=150000)
    structlog.stdlib.get_logger("test").info("after the block")

    inside, after = lines(log_stream)
    assert inside["event"] == "aid granted"
    assert inside["service"] == "retour-test"
    assert inside["level"] == "info"
    assert inside["timestamp"].endswith("Z")
    assert (inside["event_id"], inside["trace_id"], inside["returnee_id"]) == (
        "evt-1",
        "trace-1",
        "ret-1",
    )
    assert "event_id" not in after


def test_stdlib_library_logs_use_the_same_json_shape(log_stream: io.StringIO) -> None:
    with bound_event_context(event_id="evt-2"):
        logging.getLogger("aiokafka").warning("broker %s unreachable", "kafka:9092")

    (line,) = lines(log_stream)
    assert line["event"] == "broker kafka:9092 unreachable"
    assert line["logger"] == "aiokafka"
    assert line["level"] == "warning"
    assert line["service"] == "retour-test"
    assert line["event_id"] == "evt-2"


def test_exceptions_are_rendered_as_structured_tracebacks(log_stream: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.stdlib.get_logger("test").exception("handler failed")

    (line,) = lines(log_stream)
    assert line["exception"][0]["exc_type"] == "ValueError"


def test_level_filters_lower_levels(log_stream: io.StringIO) -> None:
    structlog.stdlib.get_logger("test").debug("noise")

    assert lines(log_stream) == []


def test_lines_below_the_level_are_dropped_before_any_processing(
    log_stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    original = structlog.processors.TimeStamper.__call__

    def counting(self: Any, logger: Any, name: str, event_dict: Any) -> Any:
        rendered.append(event_dict["event"])
        return original(self, logger, name, event_dict)

    monkeypatch.setattr(structlog.processors.TimeStamper, "__call__", counting)
    log = structlog.stdlib.get_logger("test")

    log.debug("per-event detail", event_id="evt-1")
    log.info("per-batch summary", events=3)

    assert [line["event"] for line in lines(log_stream)] == ["per-batch summary"]
    assert rendered == ["per-batch summary"]


def test_kafka_client_debug_lines_stay_out_even_at_debug_level(isolated_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("retour-test", "DEBUG", stream=stream)

    # What aiokafka's producer logs for every record it sends: the whole value.
    logging.getLogger("aiokafka.producer.producer").debug(
        "Sending (key=%s value=%s) to %s", b"id", b'{"personal": {"given_name": "Awa"}}', "tp"
    )
    logging.getLogger("aiokafka.conn").warning("connection to broker lost")
    structlog.stdlib.get_logger("retour").debug("per-event detail")

    assert [line["event"] for line in lines(stream)] == [
        "connection to broker lost",
        "per-event detail",
    ]
