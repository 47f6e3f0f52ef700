"""Replay: `retour-reporting rebuild` over private copies of the topics, as an operator runs it.

The events are written to private topics first (not timed); the figure is the records per
second the rebuild reports for its own run (rewind, empty the projections, replay to the
end offsets), beside the ceiling loop reading the same records.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from bench import ceiling
from bench.common import (
    Stack,
    private_topic,
    produce,
    registration_records,
    scratch_copy,
    scratch_schema,
)
from bench.consumers import empty_topics


async def rebuild(stack: Stack, events: int, workers: int | None = None) -> dict[str, float]:
    """The rebuild over `events` registrations: its records per second and seconds (as the
    command reports them), and the ceiling's events per second over the same records."""
    # Every other subscription of reporting reads an empty private topic: the stack's own
    # (visits, case events, corrections: more with every run and test) would be replayed too,
    # work of unknown size in the measured time.
    async with (
        private_topic(stack.kafka, "replay-registered") as registered,
        empty_topics(stack.kafka, "reporting") as others,
    ):
        await produce(stack.kafka, registered, registration_records(events))
        async with scratch_schema(stack.admin_dsn, ceiling.INBOX_DDL) as inbox_schema:
            top = await ceiling.raw_loop(
                stack.kafka, registered, stack.admin_dsn, inbox_schema, events
            )
        async with scratch_copy(stack, "reporting", "retour_reporting") as schema:
            environment = {
                **os.environ,
                "DATABASE_URL": stack.dsns["reporting"],
                "AUTH_JWT_SECRET": stack.jwt_secret,
                "KAFKA_BOOTSTRAP_SERVERS": stack.kafka,
                "DATABASE_SCHEMA": schema,
                "CONSUMER_GROUP": f"bench-replay-{uuid.uuid4().hex[:8]}",
                "RETURNEE_REGISTERED_TOPIC": registered,
                **{setting.upper(): topic for setting, topic in others.items()},
                "LOG_LEVEL": "WARNING",
            }
            command = Path(sys.executable).parent / "retour-reporting"
            options = [] if workers is None else ["--workers", str(workers)]
            process = await asyncio.create_subprocess_exec(
                str(command), "rebuild", *options, env=environment, stdout=asyncio.subprocess.PIPE
            )
            output, _ = await process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"rebuild failed with exit code {process.returncode}")
            summary = json.loads(output.decode().strip().splitlines()[-1])
    if summary["records"] != events:
        raise RuntimeError(f"the rebuild replayed {summary['records']} records, not {events}")
    return {
        "per_second": summary["records"] / summary["seconds"],
        "seconds": summary["seconds"],
        "ceiling_per_second": top,
    }
