"""Guarantees broken on purpose (DRILL_SABOTAGE=<name>), to show that a drill fails when what
it checks does not hold. Each does to the real stack what a defect would do:

- lose-event: a consumer that committed its offset without its transaction (reporting's
  projection row of one acknowledged registration never written, as if skipped);
- apply-twice: a handler that skipped its dedupe (a second welcome SMS queued for one person,
  under another notification id);
- sms-twice: a gateway request retried after a timeout (the welcome SMS of one person sent
  through Kannel a second time).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
import httpx

from drills.observe import SmsLog
from drills.stack import Stack

WAIT_FOR_EFFECT_SECONDS = 600.0
POLL_SECONDS = 0.5


async def _poll_row(dsn: str, query: str, *args: Any) -> bool:
    deadline = time.monotonic() + WAIT_FOR_EFFECT_SECONDS
    connection = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            if await connection.fetchval(query, *args):
                return True
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await connection.close()
    return False


async def lose_event(stack: Stack, returnees: list[str]) -> None:
    victim = returnees[0]
    # Once reporting applied it, undo it: the offset is committed, so nothing brings it back.
    exists = "SELECT true FROM registrations WHERE returnee_id = $1::uuid"
    if await _poll_row(stack.dsn("reporting"), exists, victim):
        connection = await asyncpg.connect(stack.dsn("reporting"))
        try:
            await connection.execute(
                "DELETE FROM registrations WHERE returnee_id = $1::uuid", victim
            )
        finally:
            await connection.close()


async def apply_twice(stack: Stack, returnees: list[str]) -> None:
    connection = await asyncpg.connect(stack.dsn("notifications"))
    try:
        await connection.execute(
            "INSERT INTO deliveries (notification_id, event_id, event_type, rule, channel,"
            " recipient, returnee_id, template, status, finished_at)"
            " VALUES ($1, $2, 'returnee.registered', 'welcome_sms', 'sms', $3, $4::uuid,"
            " 'welcome', 'sent', now())",
            uuid.uuid4(),
            uuid.uuid4(),
            f"returnee:{returnees[0]}",
            returnees[0],
        )
    finally:
        await connection.close()


async def sms_twice(stack: Stack, returnees: list[str]) -> None:
    log = SmsLog(stack.fakesmsc_log)
    deadline = time.monotonic() + WAIT_FOR_EFFECT_SECONDS
    while time.monotonic() < deadline:
        # "SENDER +223... text Bonjour": a one-part text, sent again exactly as it was.
        for message in await asyncio.to_thread(log.received):
            sender, to, kind, text = [*message.split(" ", 3), "", ""][:4]
            if kind == "text" and text:
                await _resend(stack, sender, to, text)
                return
        await asyncio.sleep(POLL_SECONDS)


async def _resend(stack: Stack, sender: str, to: str, text: str) -> None:
    params = {
        "username": stack.values.get("KANNEL_USERNAME", "retour"),
        "password": stack.values.get("KANNEL_PASSWORD", "retour-local-sendsms"),
        "from": sender,
        "to": to,
        "text": text,
        "charset": "UTF-8",
    }
    async with httpx.AsyncClient(timeout=10.0) as http:
        (await http.get(stack.kannel_sendsms_url, params=params)).raise_for_status()


Sabotage = Callable[[Stack, list[str]], Coroutine[Any, Any, None]]
SABOTAGES: dict[str, Sabotage] = {
    "lose-event": lose_event,
    "apply-twice": apply_twice,
    "sms-twice": sms_twice,
}


class Sabotaged:
    """The sabotage running beside a drill; the drill's result is read once it is done."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, breakage: Awaitable[None]) -> None:
        async def run() -> None:
            await breakage

        self._tasks.append(asyncio.create_task(run()))

    async def finished(self) -> None:
        await asyncio.gather(*self._tasks)
        self._tasks.clear()
