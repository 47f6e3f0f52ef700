"""JSON-lines logging for structlog and the standard library alike.

One line per event on stdout, with an ISO UTC timestamp, the level, the service
name and whatever identifiers are bound for the current task (`event_id`,
`trace_id`, `returnee_id`). Libraries that log through `logging` (uvicorn,
aiokafka, asyncpg) are rendered by the same processors.

Personal data must never be logged: no names, dates of birth, phone numbers,
addresses or free-text case notes, neither as message nor as bound values.
Identify people by `returnee_id` only. Logs are shipped to places with wider
access and longer retention than the case database. Exceptions are rendered by
`retour_kit.safe_errors`: frames without their local variables, messages without
the values that caused them.
"""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from retour_kit.safe_errors import exception_chain

# Libraries whose debug lines print whole Kafka records, personal block included (aiokafka's
# producer logs "Sending (key=... value=...)" for each record): they stay at INFO or above,
# whatever LOG_LEVEL says, so a service debugged in the field cannot spill its events.
RECORD_PRINTING_LOGGERS = ("aiokafka",)

# Marks the handler this module installs, so reconfiguring replaces it and leaves
# handlers installed by others (pytest's capture, for one) alone.
_HANDLER_NAME = "retour-json"


def configure_logging(service: str, level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to JSON lines on `stream` (stdout by default)."""
    shared = _shared_processors(service)
    structlog.configure(
        processors=[
            # First: a call below the level costs one comparison, not the whole chain
            # (the consumers log each event at debug level).
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # No caching: module-level loggers must follow a later reconfiguration (tests).
        cache_logger_on_first_use=False,
    )
    _install_root_handler(_json_handler(shared, stream or sys.stdout), level)
    floor = max(logging.getLevelNamesMapping()[level], logging.INFO)
    for name in RECORD_PRINTING_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    # uvicorn configures its own handlers unless told otherwise; send them to root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


@contextmanager
def bound_event_context(
    *,
    event_id: str | None = None,
    trace_id: str | None = None,
    returnee_id: str | None = None,
) -> Iterator[None]:
    """Attach event identifiers to every log line emitted inside the block."""
    values = {"event_id": event_id, "trace_id": trace_id, "returnee_id": returnee_id}
    with structlog.contextvars.bound_contextvars(
        **{key: value for key, value in values.items() if value is not None}
    ):
        yield


def _shared_processors(service: str) -> list[Processor]:
    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
    ]


def _drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn passes an ANSI-coloured copy of its message as an `extra`; useless in JSON.
    event_dict.pop("color_message", None)
    return event_dict


def _safe_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """``exc_info`` rendered as ``exception`` by ``safe_errors`` (structlog's own renderers
    would add each frame's local variables, and error messages that quote personal data)."""
    error = _exception_of(event_dict.pop("exc_info", None))
    if error is not None:
        event_dict["exception"] = exception_chain(error)
    return event_dict


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1] if len(exc_info) == 3 else None
    # exc_info=True (log.exception): rendering happens inside the except block.
    return sys.exc_info()[1] if exc_info else None


def _json_handler(shared: list[Processor], stream: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _safe_exception,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    return handler


def _install_root_handler(handler: logging.Handler, level: str) -> None:
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
