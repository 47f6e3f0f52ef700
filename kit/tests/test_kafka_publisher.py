import asyncio
from typing import Any

import pytest

from retour_kit import kafka_publisher
from retour_kit.kafka_publisher import IdempotentProducer


class SlowToStartProducer:
    created: list["SlowToStartProducer"] = []

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.stopped = False
        SlowToStartProducer.created.append(self)

    async def start(self) -> None:
        await asyncio.sleep(0.05)  # long enough for every caller to arrive meanwhile

    async def stop(self) -> None:
        self.stopped = True


async def test_callers_arriving_together_share_one_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    SlowToStartProducer.created.clear()
    monkeypatch.setattr(kafka_publisher, "AIOKafkaProducer", SlowToStartProducer)
    producer = IdempotentProducer("127.0.0.1:9092", client_id="test")

    started = await asyncio.gather(*(producer.started() for _ in range(6)))

    assert len(SlowToStartProducer.created) == 1
    assert all(each is SlowToStartProducer.created[0] for each in started)
    assert SlowToStartProducer.created[0].options["acks"] == "all"
    await producer.close()
    assert SlowToStartProducer.created[0].stopped
