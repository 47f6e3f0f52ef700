"""What a service plugs into an ``EventConsumer``: a function of a connection and events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from retour_contracts import ParsedEvent
from retour_kit.db import Connection

HandleBatch = Callable[[Connection, Sequence[ParsedEvent]], Awaitable[None]]
"""Applies new events of one partition, in offset order (e.g. with one ``executemany``).

Must not commit, roll back or open a connection of its own. Only what it writes through
``conn`` is exactly-once: a batch that fails is rolled back and retried (its events then one
by one), so an effect outside the transaction (an SMS sent, an HTTP call) can happen again.
After an event failed, the events behind it may also be run once and rolled back, to tell a
poison event from a broken consumer (``retour_kit.consuming.systematic``).
Record the intent in the transaction and act on it afterwards, or make the effect idempotent.
An exception's description becomes ``dlq_reason`` and a log field (retour_kit.safe_errors).
"""


class TransientError(Exception):
    """Raise from a handler when a dependency is unavailable (an SMS gateway, an SMTP relay).

    The batch is retried with capped backoff for as long as it takes and never dead-lettered,
    exactly like a Postgres outage; any other exception counts against the event's attempts.
    """
