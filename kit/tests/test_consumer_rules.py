"""Consumer machinery without a broker: configuration, retry policy, failure classification."""

from typing import Any

import asyncpg
import pytest

from retour_contracts import RETURNEE_REGISTERED_V1
from retour_kit.consuming import (
    ConsumerSettings,
    ConsumerSetupError,
    RetryPolicy,
    Subscription,
    TransientError,
)
from retour_kit.consuming.failures import is_outage
from retour_kit.db import DatabaseNotOpenError
from retour_kit.safe_errors import describe_error

REGISTERED = Subscription(RETURNEE_REGISTERED_V1)


def settings(**overrides: Any) -> ConsumerSettings:
    values: dict[str, Any] = {
        "bootstrap_servers": "127.0.0.1:9092",
        "group_id": "reintegration",
        "subscriptions": (REGISTERED,),
    }
    return ConsumerSettings(**(values | overrides))


class TestConsumerSettings:
    def test_a_group_is_required(self) -> None:
        with pytest.raises(ConsumerSetupError, match="group_id is required"):
            settings(group_id=" ")

    def test_at_least_one_topic_is_required(self) -> None:
        with pytest.raises(ConsumerSetupError, match="at least one topic"):
            settings(subscriptions=())

    def test_a_topic_cannot_be_subscribed_twice(self) -> None:
        with pytest.raises(ConsumerSetupError, match="subscribed twice"):
            settings(subscriptions=(REGISTERED, Subscription(RETURNEE_REGISTERED_V1)))

    def test_dead_letter_topics_are_not_consumed(self) -> None:
        with pytest.raises(ConsumerSetupError, match="dead-letter"):
            settings(subscriptions=(Subscription(RETURNEE_REGISTERED_V1, "x.dlq"),))

    def test_handler_attempts_must_be_positive(self) -> None:
        with pytest.raises(ConsumerSetupError):
            settings(retry=RetryPolicy(handler_attempts=0))

    def test_the_inbox_name_defaults_to_the_group(self) -> None:
        assert settings().inbox_name == "reintegration"
        assert settings(group_id="replay-7", consumer_name="reintegration").inbox_name == (
            "reintegration"
        )

    def test_a_subscription_may_read_a_copy_of_the_topic(self) -> None:
        copy = Subscription(RETURNEE_REGISTERED_V1, topic="replay.returnee.registered")

        assert (REGISTERED.kafka_topic, REGISTERED.dlq_topic) == (
            "returnee.registered",
            "returnee.registered.dlq",
        )
        assert (copy.kafka_topic, copy.dlq_topic) == (
            "replay.returnee.registered",
            "replay.returnee.registered.dlq",
        )


class TestRetryPolicy:
    def test_handler_retries_back_off_exponentially(self) -> None:
        policy = RetryPolicy(handler_backoff_seconds=0.2)

        assert [policy.handler_pause(n) for n in (1, 2, 3)] == [0.2, 0.4, 0.8]

    def test_outage_backoff_is_capped(self) -> None:
        policy = RetryPolicy(outage_backoff_seconds=1.0, outage_backoff_cap_seconds=5.0)

        assert [policy.outage_pause(n) for n in (1, 2, 3, 4, 10)] == [1, 2, 4, 5, 5]


class TestFailureClassification:
    @pytest.mark.parametrize(
        "error",
        [
            TransientError("sms gateway down"),
            ConnectionRefusedError(),
            TimeoutError(),
            DatabaseNotOpenError(),
            asyncpg.ConnectionDoesNotExistError("connection was closed in the middle"),
            asyncpg.CannotConnectNowError("the database system is starting up"),
            asyncpg.AdminShutdownError("terminating connection"),
            asyncpg.TooManyConnectionsError("sorry, too many clients"),
            asyncpg.InterfaceError("connection is closed"),
            # Since statements have a time limit, a cancelled one means the database was busy
            # or locked (a migration, a rebuild): waiting is right, dead-lettering is not.
            asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
            asyncpg.LockNotAvailableError("could not obtain lock on relation"),
            # Two batches of one person's topics deadlocked: trying again succeeds.
            asyncpg.DeadlockDetectedError("deadlock detected"),
            asyncpg.SerializationError("could not serialize access"),
        ],
    )
    def test_infrastructure_failures_are_outages(self, error: BaseException) -> None:
        assert is_outage(error)

    @pytest.mark.parametrize(
        "error",
        [
            ValueError("no case"),
            KeyError("x"),
            asyncpg.UniqueViolationError("duplicate key"),
            asyncpg.CheckViolationError("new row violates check constraint"),
            asyncpg.InterfaceError("another operation is in progress"),
        ],
    )
    def test_handler_failures_are_not_outages(self, error: BaseException) -> None:
        assert not is_outage(error)

    def test_a_reason_names_the_exception_and_stays_short(self) -> None:
        assert describe_error(ValueError("case is closed")) == "ValueError: case is closed"
        assert describe_error(RuntimeError()) == "RuntimeError"
        assert len(describe_error(ValueError("x" * 2000))) == 500
