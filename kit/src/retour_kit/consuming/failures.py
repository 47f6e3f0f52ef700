"""Which failures are the event's fault and which are the infrastructure's.

- A record that is not a valid envelope (``EnvelopeError``) never becomes valid: it is
  dead-lettered at once.
- A handler that raises on a valid event is retried a few times, then the event is
  dead-lettered, so one bad event cannot stall its partition.
- Unless many different events fail the same way: then the consumer is at fault, not the
  events, and it pauses instead (``retour_kit.consuming.systematic``).
- An outage (Postgres unreachable or restarting, a connection lost, Kafka unable to take a dead
  letter, or a handler's ``TransientError``) is nobody's event's fault: dead-lettering during
  an outage would empty the whole stream into the DLQ. The batch is retried until the outage
  ends, and no offset moves meanwhile.
"""

from __future__ import annotations

import asyncpg

from retour_kit.consuming.handlers import TransientError
from retour_kit.db import DatabaseNotOpenError

_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    DatabaseNotOpenError,
    OSError,  # refused or reset connections, and TimeoutError (an OSError since Python 3.10)
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or was lost
    asyncpg.CannotConnectNowError,  # the server is starting up or recovering
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InsufficientResourcesError,  # too many connections, disk full, out of memory
    # The statement ran into its time limit (DATABASE_STATEMENT_TIMEOUT_SECONDS) or a lock it
    # could not get: a migration holding a table, a rebuild truncating, an overloaded server.
    # None of that is the event's fault; dead-lettering would empty the stream into the DLQ.
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
    # Postgres chose this batch's transaction to break a deadlock with another (two topics of
    # one person applied side by side): the batch succeeds when tried again.
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)


def is_outage(error: BaseException) -> bool:
    """True for errors that say a dependency is unavailable rather than the event is bad.

    Errors not listed here may still come from an outage (a statement that failed because the
    server went away mid-query); the consumer then asks Postgres directly before blaming the
    event.
    """
    if isinstance(error, _OUTAGE_ERRORS):
        return True
    if isinstance(error, asyncpg.InterfaceError):
        return "closed" in str(error)  # "connection is closed": lost under our feet
    return False
