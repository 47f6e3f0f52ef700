"""Create every topic of the contracts catalogue and its dead-letter topic.

Reporting rebuilds its projections from the full topic history, so event topics keep their
records forever (retention.ms=-1); dead-letter topics too, because a message there is one that
nobody has processed yet and must not age out before an operator looks at it.

Replication follows the cluster: min(3, brokers) copies unless KAFKA_REPLICATION_FACTOR says
otherwise, and with three copies min.insync.replicas=2, so that the producers' acks=all means
"written on two brokers": an acknowledged event survives the loss of its leader (with
min.insync.replicas=1 it does not, and the relay has already deleted its outbox row). Unclean
leader election stays off: a replica that missed writes never becomes leader.

    python -m retour_kit.topics    # KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PARTITIONS,
                                   # KAFKA_REPLICATION_FACTOR (default: from the cluster)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from retour_contracts import CATALOG
from retour_kit.kafka_security import kafka_options

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
SAFE_REPLICATION = 3
SAFE_MIN_INSYNC_REPLICAS = 2


@dataclass(frozen=True)
class TopicPlan:
    name: str
    partitions: int
    replication_factor: int

    @property
    def configs(self) -> dict[str, str]:
        return topic_configs(self.replication_factor)


def replication_for(brokers: int) -> int:
    """As many copies as the cluster allows, up to three."""
    return max(1, min(SAFE_REPLICATION, brokers))


def topic_configs(replication_factor: int) -> dict[str, str]:
    configs = {**KEEP_FOREVER, "unclean.leader.election.enable": "false"}
    if replication_factor >= SAFE_REPLICATION:
        # Two copies acknowledged before a write counts; one broker may be down meanwhile.
        configs["min.insync.replicas"] = str(SAFE_MIN_INSYNC_REPLICAS)
    return configs


def plan_topics(*, partitions: int | None = None, replication_factor: int = 1) -> list[TopicPlan]:
    """Every event topic and its DLQ, with the catalogue's partition count unless overridden."""
    plans: list[TopicPlan] = []
    for spec in CATALOG:
        count = partitions or spec.default_partitions
        for name in (spec.topic, spec.dlq_topic):
            plans.append(TopicPlan(name, count, replication_factor))
    return plans


async def connected_admin(bootstrap: str, wait_seconds: float) -> AIOKafkaAdminClient:
    # The broker opens its port a little before it accepts metadata requests.
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        admin = AIOKafkaAdminClient(**kafka_options(bootstrap), request_timeout_ms=10_000)
        try:
            await admin.start()
            await admin.list_topics()
            return admin
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def ensure_topics(
    bootstrap: str, plans: Iterable[TopicPlan], *, wait_seconds: float = 60.0
) -> list[str]:
    """Create the missing topics and return their names; existing topics are left alone."""
    admin = await connected_admin(bootstrap, wait_seconds)
    try:
        existing = set(await admin.list_topics())
        missing = [p for p in plans if p.name not in existing]
        for plan in missing:
            # Another process may create it between our listing and our request.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            plan.name,
                            num_partitions=plan.partitions,
                            replication_factor=plan.replication_factor,
                            topic_configs=plan.configs,
                        )
                    ]
                )
        return [p.name for p in missing]
    finally:
        await admin.close()


async def cluster_size(bootstrap: str, *, wait_seconds: float = 60.0) -> int:
    """How many brokers the cluster has now."""
    admin = await connected_admin(bootstrap, wait_seconds)
    try:
        cluster = await admin.describe_cluster()
        return len(cluster["brokers"])
    finally:
        await admin.close()


def main() -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    raw_partitions = os.environ.get("KAFKA_TOPIC_PARTITIONS", "")
    raw_replication = os.environ.get("KAFKA_REPLICATION_FACTOR", "")
    try:
        partitions = int(raw_partitions) if raw_partitions else None
        replication = int(raw_replication) if raw_replication else 0
    except ValueError:
        sys.stderr.write(
            "topics: KAFKA_TOPIC_PARTITIONS and KAFKA_REPLICATION_FACTOR must be integers" + "\n"
        )
        return 2
    if (partitions is not None and partitions < 1) or (raw_replication and replication < 1):
        sys.stderr.write("topics: partitions and replication factor must be at least 1" + "\n")
        return 2
    if not replication:
        replication = replication_for(asyncio.run(cluster_size(bootstrap)))
    plans = plan_topics(partitions=partitions, replication_factor=replication)
    created = asyncio.run(ensure_topics(bootstrap, plans))
    for name in created:
        sys.stdout.write(f"created topic {name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
