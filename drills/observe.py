"""What the drills check, read where the services keep it: each consumer's own tables and
the fake SMS centre's log. Nothing here decides pass or fail; `verdict` turns it into counts."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from drills.stack import Stack

# One query per consumer: how many rows each acknowledged registration left there. A row
# missing is an event lost; more than one welcome SMS owed is an event applied twice.
APPLIED = {
    "reintegration": "SELECT returnee_id::text, count(*) FROM cases "
    "WHERE returnee_id = ANY($1::uuid[]) GROUP BY 1",
    "reporting": "SELECT returnee_id::text, count(*) FROM registrations "
    "WHERE returnee_id = ANY($1::uuid[]) GROUP BY 1",
    "notifications": "SELECT returnee_id::text, count(*) FROM deliveries "
    "WHERE returnee_id = ANY($1::uuid[]) AND rule = 'welcome_sms' GROUP BY 1",
}
# "Got message 7: <SENDER +22376543210 text Bonjour>": one line per SMS the network received.
POLL_SECONDS = 1.0
RECEIVED_SMS = re.compile(r"Got message \d+: <(?P<message>.*)>$")


@dataclass(frozen=True)
class Applied:
    lost: int
    applied_twice: int

    @property
    def complete(self) -> bool:
        return self.lost == 0


async def applied(
    stack: Stack, returnees: list[str], *, services: tuple[str, ...] = tuple(APPLIED)
) -> Applied:
    lost = twice = 0
    for service in services:
        query = APPLIED[service]
        connection = await asyncpg.connect(stack.dsn(service))
        try:
            counts: dict[str, int] = {
                row[0]: row[1] for row in await connection.fetch(query, returnees)
            }
        finally:
            await connection.close()
        lost += sum(1 for returnee in returnees if returnee not in counts)
        twice += sum(1 for count in counts.values() if count > 1)
    return Applied(lost, twice)


class SmsLog:
    """The SMS the fake SMS centre received after the drill started (the log only grows)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._start = path.stat().st_size if path.exists() else 0

    def received(self) -> list[str]:
        if not self._path.exists():
            return []
        with open(self._path, "rb") as log:
            log.seek(self._start)
            lines = log.read().decode("utf-8", "replace").splitlines()
        return [m["message"] for line in lines if (m := RECEIVED_SMS.search(line))]

    def sent_twice(self) -> int:
        # The same text to the same number twice: every drill person has their own number and
        # is owed one welcome, so any repeat is an SMS sent twice.
        return sum(1 for count in Counter(self.received()).values() if count > 1)


async def caught_up(
    stack: Stack,
    returnees: list[str],
    *,
    within: float,
    services: tuple[str, ...] = tuple(APPLIED),
) -> float | None:
    """Seconds until every consumer (of `services`) applied every acknowledged registration,
    or None if they had not when `within` ran out (then what is still missing counts as
    lost)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if (await applied(stack, returnees, services=services)).complete:
            return time.monotonic() - started
        await asyncio.sleep(POLL_SECONDS)
    return None
