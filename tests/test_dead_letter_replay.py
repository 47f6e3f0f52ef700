"""``dead-letters replay``: after a fix, a consumer's dead letters are applied through its own
pipeline (inbox and handler in one transaction), in their original order, and a second replay
applies nothing; a dry run changes nothing; what fails again stays a dead letter.

Uses the private topic, schema and consumer of test_systematic_failures.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from test_systematic_failures import Running, Stream, failing_for, private_stream

from retour_contracts import RETURNEE_REGISTERED_V1
from retour_kit.consuming import Subscription
from retour_kit.consuming.dead_letters import DeadLetterPublisher
from retour_kit.consuming.replay import ReplaySummary, replay_dead_letters
from retour_kit.consuming.settings import ConsumerSetupError
from retour_test_infra import Infra, eventually, read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def stream(infra: Infra) -> AsyncIterator[Stream]:
    async with private_stream(infra) as created:
        yield created


async def someone_elses_dead_letter(stream: Stream) -> None:
    """A record another consumer gave up on, in the same dead-letter topic: not ours."""
    record = (await read_topic(stream.bootstrap, stream.topic, 1, within=5))[0]
    publisher = DeadLetterPublisher(
        stream.bootstrap, consumer_name="someone-else", client_id="replay-test"
    )
    try:
        await publisher.publish(record, dlq_topic=stream.dlq, reason="theirs", code="theirs")
    finally:
        await publisher.close()


async def test_dead_letters_are_replayed_in_order_once_and_failures_stay(stream: Stream) -> None:
    produced = await stream.produce(12)
    # Poison records apart from each other, so each is dead-lettered alone.
    culprits = {produced[1], produced[5], produced[9]}
    broken = set(culprits)
    settings = stream.settings()
    async with Running(settings, stream.pool, failing_for(broken)):
        await read_topic(stream.bootstrap, stream.dlq, 3)
        await eventually(
            stream.applied_in_order,
            until=lambda applied: len(applied) == 9,
            what="the healthy events applied",
        )
    await someone_elses_dead_letter(stream)
    handler = failing_for(broken)

    dry = await replay_dead_letters(settings, stream.pool, handler, dry_run=True)
    assert dry == ReplaySummary(dry_run=True, dead_letters=3, replayed=3)
    assert len(await stream.applied_in_order()) == 9  # a dry run changes nothing

    broken.discard(produced[1])
    broken.discard(produced[5])  # fixed for two of them; the third still fails
    first = await replay_dead_letters(settings, stream.pool, handler, topic=stream.dlq)
    assert first == ReplaySummary(dry_run=False, dead_letters=3, replayed=2, failed_again=1)
    applied = await stream.applied_in_order()
    assert applied[9:] == [produced[1], produced[5]]  # their original order

    again = await replay_dead_letters(settings, stream.pool, handler)
    assert again == ReplaySummary(dry_run=False, dead_letters=3, already_applied=2, failed_again=1)
    assert await stream.applied_in_order() == applied  # nothing applied twice

    broken.clear()
    last = await replay_dead_letters(settings, stream.pool, handler, topic=stream.topic)
    assert last == ReplaySummary(dry_run=False, dead_letters=3, replayed=1, already_applied=2)
    assert sorted(await stream.applied_in_order()) == sorted(produced)
    # The dead-letter topic keeps its records (ours and the other consumer's): nothing deleted.
    assert len(await read_topic(stream.bootstrap, stream.dlq, 4)) == 4
    assert last.line() == "3 dead letters: replayed 1, already applied 2, failed again 0"


async def test_a_topic_the_consumer_does_not_read_is_refused(stream: Stream) -> None:
    with pytest.raises(ConsumerSetupError, match="not a topic this consumer reads"):
        await replay_dead_letters(
            stream.settings(), stream.pool, failing_for(set()), topic=f"other.{uuid.uuid4()}"
        )


async def test_a_consumer_without_dead_letters_replays_nothing(stream: Stream) -> None:
    summary = await replay_dead_letters(stream.settings(), stream.pool, failing_for(set()))
    assert summary == ReplaySummary(dry_run=False)
    assert await stream.applied_in_order() == []


async def test_a_dead_letter_topic_that_does_not_exist_holds_no_dead_letters(
    stream: Stream,
) -> None:
    absent = f"test.absent.{uuid.uuid4().hex[:12]}"
    settings = stream.settings(subscriptions=(Subscription(RETURNEE_REGISTERED_V1, topic=absent),))
    summary = await replay_dead_letters(settings, stream.pool, failing_for(set()), dry_run=True)
    assert summary == ReplaySummary(dry_run=True)
    admin = AIOKafkaAdminClient(bootstrap_servers=stream.bootstrap)
    await admin.start()
    try:
        assert f"{absent}.dlq" not in await admin.list_topics()  # not created by looking
    finally:
        await admin.close()
