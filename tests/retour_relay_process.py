"""One outbox relay in a process of its own, as a replica runs it: the leadership tests freeze
it (SIGSTOP), wake it and kill it. It prints one JSON line for each thing they watch:

- ``leader`` / ``standby``: it won, or lost or gave up, the leadership;
- ``committed``: the Kafka transaction of a batch committed (the outbox ids it carried);
- ``failed``: a publication attempt failed;
- ``frozen``: it stopped itself (SIGSTOP) with a batch sent but its transaction not committed,
  because the test created the ``freeze_flag`` file: a leader frozen with records in flight.

Usage: ``python retour_relay_process.py '<json config>'`` (see ``RelayConfig`` in
``retour_relay_drill``); logs go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer

from retour_kit.kafka_publisher import KafkaRecordPublisher
from retour_kit.outbox import OutboxRecord, OutboxRelay, RelaySettings


def say(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class ReportingPublisher(KafkaRecordPublisher):
    def __init__(self, bootstrap: str, *, transactional_id: str, freeze_flag: Path) -> None:
        super().__init__(bootstrap, client_id=transactional_id, transactional_id=transactional_id)
        self._freeze_flag = freeze_flag

    async def publish_all(self, records: Sequence[OutboxRecord]) -> None:
        await super().publish_all(records)
        say("committed", ids=[record.id for record in records])

    async def _send_all(self, producer: AIOKafkaProducer, records: Sequence[OutboxRecord]) -> None:
        await super()._send_all(producer, records)
        if self._freeze_flag.exists():
            self._freeze_flag.unlink()
            say("frozen", ids=[record.id for record in records])
            os.kill(os.getpid(), signal.SIGSTOP)  # acknowledged by the broker, not committed


class ReportingMetrics:
    def published(self, count: int) -> None:
        pass

    def publish_failed(self) -> None:
        say("failed")

    def backlog(self, size: int, oldest_age_seconds: float) -> None:
        pass

    def leading(self, is_leader: bool) -> None:
        say("leader" if is_leader else "standby")


async def main(config: dict[str, Any]) -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    publisher = ReportingPublisher(
        config["bootstrap"],
        transactional_id=config["transactional_id"],
        freeze_flag=Path(config["freeze_flag"]),
    )
    relay = OutboxRelay(
        dsn=config["dsn"],
        schema=config["schema"],
        publisher=publisher,
        metrics=ReportingMetrics(),
        settings=RelaySettings.for_lease(
            config["lease_seconds"],
            kafka_give_up_seconds=config["kafka_give_up_seconds"],
            batch_size=config["batch_size"],
        ),
    )
    say("started")
    await relay.run_forever()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
