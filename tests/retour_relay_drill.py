"""Replicas of an outbox relay as real processes, for drills of its leadership: a throwaway
schema and topic, relays started from ``retour_relay_process.py``, an enqueuer of keyed events,
and a reader of what Kafka committed."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from retour_contracts import RETURNEE_REGISTERED_V1, build_envelope
from retour_contracts.examples import example_returnee_registered
from retour_kit import outbox
from retour_kit.db import create_pool
from retour_test_infra import Infra, scratch_schema, scratch_topic

RELAY_PROCESS = Path(__file__).with_name("retour_relay_process.py")


@dataclass(frozen=True)
class Scratch:
    """A schema with the kit's outbox table, and a topic of three partitions."""

    schema: str
    topic: str

    @property
    def transactional_id(self) -> str:
        return f"retour-test-outbox.{self.schema}"


@asynccontextmanager
async def scratch_outbox(infra: Infra) -> AsyncIterator[Scratch]:
    ddl = resources.files("retour_kit.tables").joinpath("outbox.sql").read_text()
    async with (
        scratch_schema(infra, "relay_drill", ddl) as schema,
        scratch_topic(infra, "relay") as topic,
    ):
        yield Scratch(schema, topic)


@dataclass
class RelayReplica:
    """One relay process; ``lines`` are what it printed, each with the time it was read."""

    name: str
    process: subprocess.Popen[str]
    lines: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        name: str,
        infra: Infra,
        scratch: Scratch,
        work_dir: Path,
        *,
        bootstrap: str | None = None,
        lease_seconds: float = 3.0,
        kafka_give_up_seconds: float = 2.0,
        batch_size: int = 20,
    ) -> RelayReplica:
        config = {
            "dsn": infra.admin_dsn,
            "schema": scratch.schema,
            "bootstrap": bootstrap or infra.kafka_bootstrap,
            "transactional_id": scratch.transactional_id,
            "lease_seconds": lease_seconds,
            "kafka_give_up_seconds": kafka_give_up_seconds,
            "batch_size": batch_size,
            "freeze_flag": str(freeze_flag(work_dir)),
        }
        with (work_dir / f"{name}.log").open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(RELAY_PROCESS), json.dumps(config)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        replica = cls(name, process)
        threading.Thread(target=replica._read, daemon=True).start()
        return replica

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), json.loads(line)))

    def said(self, event: str, *, since: float = 0.0) -> list[dict[str, Any]]:
        return [line for at, line in list(self.lines) if line["event"] == event and at >= since]

    @property
    def leading(self) -> bool:
        turns = [line["event"] for _, line in list(self.lines) if line["event"] in LEADERSHIP]
        return bool(turns) and turns[-1] == "leader"

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def wake(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGCONT)  # a stopped process cannot die of SIGKILL yet
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


LEADERSHIP = ("leader", "standby")


def freeze_flag(work_dir: Path) -> Path:
    """Created by a test, this file makes the leader stop itself mid-batch (records sent, its
    Kafka transaction not committed), once: see retour_relay_process."""
    return work_dir / "freeze-the-leader"


def leaders(replicas: list[RelayReplica]) -> list[RelayReplica]:
    return [replica for replica in replicas if replica.leading]


@dataclass
class KeyedEvents:
    """Enqueues returnee.registered events for a few returnees, one transaction each, and
    remembers each returnee's events (their ce_id) in the order they were enqueued."""

    infra: Infra
    scratch: Scratch
    keys: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(8)])
    enqueued: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def count(self) -> int:
        return sum(len(events) for events in self.enqueued.values())

    async def enqueue_until(self, stop: asyncio.Event, *, pause: float = 0.01) -> None:
        pool = await create_pool(self.infra.admin_dsn, search_path=self.scratch.schema)
        try:
            sequence = 0
            while not stop.is_set():
                key = self.keys[sequence % len(self.keys)]
                event = example_returnee_registered(returnee_id=uuid.UUID(key))
                envelope = build_envelope(RETURNEE_REGISTERED_V1, event, source="/drill")
                async with pool.acquire() as conn:
                    await outbox.enqueue(conn, envelope, topic=self.scratch.topic)
                self.enqueued[key].append(envelope.header_map["ce_id"])
                sequence += 1
                await asyncio.sleep(pause)  # pacing, not an assertion
        finally:
            await pool.close()


@dataclass
class CommittedReader:
    """Reads the topic from its start as the services' consumers do (read_committed): records
    of aborted transactions, a fenced leader's, are never seen."""

    bootstrap: str
    topic: str
    seen: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> CommittedReader:
        self._consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def read_more(self) -> dict[str, list[str]]:
        assert self._consumer is not None
        for records in (await self._consumer.getmany(timeout_ms=200)).values():
            for record in records:
                self.seen[record.key.decode()].append(dict(record.headers)["ce_id"].decode())
        return self.seen


def first_occurrences(events: list[str]) -> list[str]:
    """Each event once, where it first appeared: redeliveries (at-least-once) come later."""
    return list(dict.fromkeys(events))
