"""Offsets of the consumed topics: where they begin and end, and where a group stands."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError

from retour_kit.kafka_security import kafka_options
from retour_reporting.usecases.ports import Offsets
from retour_reporting.usecases.rebuilding import RebuildAlreadyRunningError


class KafkaTopicPositions:
    def __init__(self, bootstrap_servers: str, topics: Sequence[str]) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topics = list(topics)

    async def start_offsets(self) -> Offsets:
        async with _Reader(self._bootstrap_servers, self._topics) as reader:
            return _by_key(await reader.consumer.beginning_offsets(reader.partitions))

    async def end_offsets(self) -> Offsets:
        async with _Reader(self._bootstrap_servers, self._topics) as reader:
            return _by_key(await reader.consumer.end_offsets(reader.partitions))

    async def committed(self, group: str) -> Offsets:
        admin = AIOKafkaAdminClient(**kafka_options(self._bootstrap_servers))
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {
            (tp.topic, tp.partition): meta.offset
            for tp, meta in offsets.items()
            if tp.topic in self._topics
        }

    async def rewind(self, group: str) -> None:
        """Commits the first offset of every partition for ``group``.

        Kafka accepts such a commit only while the group has no live member, so a second
        rebuild started while one runs fails here, before it has touched anything.
        """
        async with _Reader(self._bootstrap_servers, self._topics, group=group) as reader:
            starts = await reader.consumer.beginning_offsets(reader.partitions)
            try:
                await reader.consumer.commit(starts)
            except CommitFailedError as error:
                raise RebuildAlreadyRunningError(f"group {group} has live members") from error


class _Reader:
    """A consumer that joins no group (it only reads metadata, or commits for ``group``)."""

    def __init__(self, bootstrap_servers: str, topics: list[str], group: str | None = None):
        # read_committed, as the consumers read: its end offsets are the last stable offsets,
        # which the consumers' commits reach (they commit past the relay's transaction markers).
        self.consumer = AIOKafkaConsumer(
            **kafka_options(bootstrap_servers),
            group_id=group,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        self._bootstrap_servers = bootstrap_servers
        self._topics = topics
        self.partitions: list[TopicPartition] = []

    async def __aenter__(self) -> _Reader:
        self.partitions = await _partitions(self._bootstrap_servers, self._topics)
        await self.consumer.start()
        try:
            self.consumer.assign(self.partitions)
        except BaseException:
            await self.consumer.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()


async def _partitions(bootstrap_servers: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**kafka_options(bootstrap_servers))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    missing = sorted(d["topic"] for d in described if d["error_code"] or not d["partitions"])
    if missing:
        raise LookupError(f"topics not found: {', '.join(missing)}")
    return [
        TopicPartition(d["topic"], p["partition"])
        for d in described
        for p in sorted(d["partitions"], key=lambda p: p["partition"])
    ]


def _by_key(offsets: dict[TopicPartition, int]) -> Offsets:
    return {(tp.topic, tp.partition): offset for tp, offset in offsets.items()}
