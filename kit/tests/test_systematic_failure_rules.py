"""The rules that tell a broken consumer from a bad event, the bookkeeping of deferred
verdicts, the readiness detail of a pause, and the ``dead-letters replay`` command line; no
broker or database needed."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from retour_kit.cli import ReplayRequest, service_cli
from retour_kit.consuming.batch import BatchProcessor
from retour_kit.consuming.deferring import DeferredRecords, HeldPartitions
from retour_kit.consuming.pausing import SystematicPause
from retour_kit.consuming.settings import (
    ConsumerSettings,
    ConsumerSetupError,
    Subscription,
    SystematicFailurePolicy,
)
from retour_kit.consuming.systematic import FailureEvidence, Halt, classify
from retour_kit.readiness import (
    OK,
    NotReady,
    ReadinessCheck,
    consumer_ready,
    run_readiness_checks,
)
from retour_kit.settings import ServiceSettings

POLICY = SystematicFailurePolicy(threshold=3, window_seconds=60)


def record(offset: int, topic: str = "returnee.registered", partition: int = 0) -> object:
    return SimpleNamespace(topic=topic, partition=partition, offset=offset)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CodedError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__("Aminata Traoré, +22370000000")  # what a message may quote
        self.code = code


def test_a_classification_is_the_type_and_a_stable_code_never_the_message() -> None:
    missing = asyncpg.UndefinedColumnError('column "note" of relation "applied" does not exist')
    assert classify(missing) == "UndefinedColumnError/42703"
    assert classify(CodedError("case_rules")) == "CodedError/case_rules"
    assert classify(CodedError("not an identifier: +22370000000")) == "CodedError"
    assert classify(CodedError("22370000000")) == "CodedError"
    assert classify(ValueError("Aminata Traoré")) == "ValueError"


def test_different_records_failing_alike_become_systematic_at_the_threshold() -> None:
    evidence = FailureEvidence(POLICY)
    assert not evidence.failed(record(1), "ValueError")
    assert not evidence.failed(record(1), "ValueError")  # the same record again: one record
    assert not evidence.failed(record(2), "TypeError")  # another way of failing
    assert not evidence.failed(record(2, topic="aid.granted"), "ValueError")  # another topic
    assert not evidence.failed(record(2), "ValueError")
    assert evidence.failed(record(1, partition=1), "ValueError")


def test_a_record_applied_in_between_clears_the_evidence() -> None:
    evidence = FailureEvidence(POLICY)
    evidence.failed(record(1), "ValueError")
    evidence.failed(record(2), "ValueError")
    evidence.applied("returnee.registered")
    assert not evidence.failed(record(3), "ValueError")
    assert not evidence.failed(record(4), "ValueError")
    assert evidence.failed(record(5), "ValueError")


def test_failures_older_than_the_window_no_longer_count() -> None:
    clock = Clock()
    evidence = FailureEvidence(POLICY, clock=clock)
    evidence.failed(record(1), "ValueError")
    clock.now += 61
    evidence.failed(record(2), "ValueError")
    assert not evidence.failed(record(3), "ValueError")
    assert evidence.failed(record(4), "ValueError")


@pytest.mark.parametrize(
    "values",
    [
        {"threshold": 1},
        {"window_seconds": 0},
        {"probe_seconds": 0},
        {"probe_seconds": 10, "probe_cap_seconds": 5},
        {"verdict_wait_seconds": 0},
        {"window_seconds": 20, "verdict_wait_seconds": 30},
    ],
)
def test_a_policy_that_cannot_work_is_refused_at_construction(values: dict[str, float]) -> None:
    with pytest.raises(ConsumerSetupError):
        SystematicFailurePolicy(**values)  # type: ignore[arg-type]


def test_a_record_is_deferred_once_within_the_window() -> None:
    clock = Clock()
    deferred = DeferredRecords(window_seconds=60, clock=clock)
    assert deferred.first_deferral(record(7))
    assert not deferred.first_deferral(record(7))  # its second failure is judged for good
    assert deferred.first_deferral(record(7, partition=1))  # another record
    clock.now += 61
    # Forgotten with the window (the memory stays bounded): a new deferral is allowed.
    assert deferred.first_deferral(record(7))
    assert len(deferred) == 1


def test_a_rebalance_forgets_the_deferrals_of_the_revoked_partitions_only() -> None:
    deferred = DeferredRecords(window_seconds=60)
    deferred.first_deferral(record(1, partition=0))
    deferred.first_deferral(record(2, partition=1))
    deferred.forget([TopicPartition("returnee.registered", 0)])
    assert deferred.first_deferral(record(1, partition=0))
    assert not deferred.first_deferral(record(2, partition=1))


class FakeConsumer:
    """What the deferral and the pause ask of an ``AIOKafkaConsumer``."""

    def __init__(self, *assigned: TopicPartition) -> None:
        self.assigned = set(assigned)
        self.paused: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused -= set(partitions)

    def as_consumer(self) -> AIOKafkaConsumer:
        return cast(AIOKafkaConsumer, self)


P0, P1, P2 = (TopicPartition("returnee.registered", n) for n in range(3))


def test_a_held_partition_alone_waits_until_its_wait_is_over() -> None:
    clock = Clock()
    fake = FakeConsumer(P0, P1)
    consumer = fake.as_consumer()
    held = HeldPartitions(wait_seconds=30, clock=clock)
    held.hold(consumer, P0)
    held.hold(consumer, P2)  # revoked meanwhile: nothing to hold
    assert fake.paused == {P0}
    assert held.waiting() == {P0}
    clock.now += 29
    held.release_due(consumer)
    assert fake.paused == {P0}
    clock.now += 1
    assert held.waiting() == set()
    held.release_due(consumer)
    assert fake.paused == set()


def test_a_rebalance_forgets_a_held_partition() -> None:
    clock = Clock()
    fake = FakeConsumer(P0)
    held = HeldPartitions(wait_seconds=30, clock=clock)
    held.hold(fake.as_consumer(), P0)
    held.forget([P0])
    assert held.waiting() == set()
    fake.paused.clear()  # a new assignment starts unpaused; a stale timer must not matter
    clock.now += 31
    held.release_due(fake.as_consumer())
    assert fake.paused == set()


class ProbeThatApplies:
    async def probe(self, halt: Halt) -> bool:
        return True


async def test_the_end_of_a_pause_leaves_a_partition_paused_while_its_verdict_wait_lasts() -> None:
    clock = Clock()
    settings = ConsumerSettings(
        bootstrap_servers="unused:9092",
        group_id="rules",
        subscriptions=(Subscription(cast(Any, SimpleNamespace(topic="returnee.registered"))),),
        systematic=SystematicFailurePolicy(probe_seconds=0.001, probe_cap_seconds=0.001),
    )
    fake = FakeConsumer(P0, P1, P2)
    consumer = fake.as_consumer()
    held = HeldPartitions(wait_seconds=30, clock=clock)
    pause = SystematicPause(settings, cast(BatchProcessor, ProbeThatApplies()), held, None)
    held.hold(consumer, P0)  # its wait ends during the pause
    pause.begin(consumer, Halt(settings.subscriptions[0], record(5, partition=2), "X"))
    clock.now += 20
    held.hold(consumer, P1)  # its wait goes on after the pause
    assert fake.paused == {P0, P1, P2}
    clock.now += 15

    while pause.active:
        await pause.hold_or_resume(consumer)
    assert fake.paused == {P1}
    held.release_due(consumer)  # what the loop does next: P0's wait ended during the pause
    assert fake.paused == {P1}
    clock.now += 15
    held.release_due(consumer)
    assert fake.paused == set()


def test_probes_back_off_up_to_their_cap() -> None:
    policy = SystematicFailurePolicy(probe_seconds=5, probe_cap_seconds=30)
    assert [policy.probe_pause(n) for n in range(5)] == [5, 10, 20, 30, 30]


async def test_a_paused_consumer_is_reported_with_its_reason_without_making_it_unready() -> None:
    reason: list[str | None] = [None]
    check = consumer_ready(lambda: reason[0])
    assert not check.required
    assert await run_readiness_checks([check]) == {"consumer": OK}
    reason[0] = "paused: systematic failure UndefinedColumnError/42703"
    assert await run_readiness_checks([check]) == {"consumer": reason[0]}


async def test_other_probes_keep_their_failed_outcome() -> None:
    async def broken() -> None:
        raise ConnectionRefusedError

    async def explained() -> None:
        raise NotReady("paused: systematic failure X")

    checks = [ReadinessCheck("a", broken), ReadinessCheck("b", explained)]
    assert await run_readiness_checks(checks) == {
        "a": "failed",
        "b": "paused: systematic failure X",
    }


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/unused")
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)


def run(argv: list[str], requests: list[ReplayRequest] | None) -> None:
    async def replay(_settings: ServiceSettings, request: ReplayRequest) -> str:
        assert requests is not None
        requests.append(request)
        return "3 dead letters: replayed 3, already applied 0, failed again 0"

    service_cli(
        settings_cls=ServiceSettings,
        build_app=lambda _settings: pytest.fail("a replay must not build the app"),
        schema_of=lambda _settings: "unused",
        migrations_package="unused",
        replay_dead_letters=replay if requests is not None else None,
        argv=argv,
    )


def test_dead_letters_replay_passes_its_options_and_logs_the_summary(
    environment: None, isolated_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    requests: list[ReplayRequest] = []
    run(["dead-letters", "replay"], requests)
    run(["dead-letters", "replay", "--dry-run", "--topic", "aid.granted"], requests)

    assert requests == [ReplayRequest(), ReplayRequest(topic="aid.granted", dry_run=True)]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    assert (lines[-1]["event"], lines[-1]["summary"]) == (
        "dead-letters replay done",
        "3 dead letters: replayed 3, already applied 0, failed again 0",
    )


@pytest.mark.parametrize(
    ("argv", "requests"),
    [
        (["dead-letters", "replay"], None),  # a service that consumes nothing
        (["dead-letters"], []),  # the action is required
        (["dead-letters", "replay", "--force"], []),
    ],
)
def test_dead_letters_commands_the_service_cannot_run_are_refused(
    environment: None, argv: list[str], requests: list[ReplayRequest] | None
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(argv, requests)
    assert exited.value.code == 2
