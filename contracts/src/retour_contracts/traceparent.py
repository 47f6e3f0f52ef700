"""W3C Trace Context ``traceparent`` values (https://www.w3.org/TR/trace-context/).

Every event carries one, so a registration can be followed from the intake HTTP request to the
SMS sent by notifications even when no tracing SDK created it.
"""

import re
import secrets

_TRACEPARENT = re.compile(
    r"^(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<parent_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})$"
)
_SAMPLED = "01"


def is_valid_traceparent(value: str) -> bool:
    """True for a well-formed traceparent: lower-case hex, no all-zero ids, version not ``ff``."""
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return False
    return (
        match["version"] != "ff"
        and match["trace_id"] != "0" * 32
        and match["parent_id"] != "0" * 16
    )


def validate_traceparent(value: str) -> str:
    """Return ``value`` unchanged, or raise ``ValueError`` if it is not a valid traceparent."""
    if not is_valid_traceparent(value):
        raise ValueError(f"invalid traceparent {value!r}")
    return value


def new_traceparent() -> str:
    """Start a new sampled trace: random trace id and parent id, version 00."""
    while True:
        candidate = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{_SAMPLED}"
        # All-zero ids are invalid; the odds are nil but the loop keeps the promise exact.
        if is_valid_traceparent(candidate):
            return candidate
