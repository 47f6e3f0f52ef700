"""Notifications' cache of data keys against the running intake: a key is kept no longer than
intake allows (60 s at most), so an erasure reaches this holder within a minute even if its
event were late, and at once when the event goes by."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
from pydantic import SecretStr
from test_end_to_end import running_services
from test_notifications_delivery import erase_in_intake, unique_person
from test_notifications_gateways import free_port, new_phone

from retour_kit.auth import Role, issue_dev_token
from retour_notifications.adapters.intake_keys import (
    IntakeDataKeys,
    KeyStoreUnavailable,
    self_signed_bearer,
)
from retour_test_infra import FRESH_IDEMPOTENCY_KEYS, Infra

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def register(infra: Infra) -> UUID:
    intake = running_services().intake
    token = issue_dev_token(infra.jwt_secret, "registrar", centres=["kayes"])
    async with httpx.AsyncClient(timeout=30, event_hooks=FRESH_IDEMPOTENCY_KEYS) as http:
        created = await http.post(
            f"{intake}/returnees",
            json=unique_person(new_phone()),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert created.status_code == 201, created.text
    return UUID(created.json()["returnee_id"])


def keys(infra: Infra, clock: Clock, **changes: Any) -> IntakeDataKeys:
    options: dict[str, Any] = {"timeout_seconds": 5.0, "max_cache_seconds": 60.0, **changes}
    return IntakeDataKeys(
        running_services().intake,
        _bearer(infra),
        clock=clock,
        **options,
    )


def _bearer(infra: Infra) -> Callable[[], str]:
    return self_signed_bearer(SecretStr(infra.jwt_secret))


async def test_an_erased_key_is_forgotten_within_the_cache_period(infra: Infra) -> None:
    clock = Clock()
    store = keys(infra, clock)
    returnee_id = await register(infra)
    first = await store.keys_of([returnee_id])
    assert isinstance(first[returnee_id], bytes) and len(first[returnee_id]) == 32

    await erase_in_intake(infra, returnee_id)
    clock.now += 59  # still within the period intake allowed: the copy in memory answers
    assert await store.keys_of([returnee_id]) == first
    clock.now += 2  # past it: intake is asked again, and refuses
    assert await store.keys_of([returnee_id]) == {returnee_id: "erased"}


async def test_an_erasure_event_drops_the_key_at_once(infra: Infra) -> None:
    clock = Clock()
    store = keys(infra, clock)
    returnee_id = await register(infra)
    assert isinstance((await store.keys_of([returnee_id]))[returnee_id], bytes)
    await erase_in_intake(infra, returnee_id)
    store.forget(returnee_id)
    assert await store.keys_of([returnee_id]) == {returnee_id: "erased"}


async def test_a_shorter_local_limit_wins_and_unknown_returnees_are_refused(
    infra: Infra,
) -> None:
    clock = Clock()
    store = keys(infra, clock, max_cache_seconds=5.0)
    returnee_id, stranger = await register(infra), uuid.uuid4()
    found = await store.keys_of([returnee_id, stranger])
    assert found[stranger] == "unknown" and isinstance(found[returnee_id], bytes)
    await erase_in_intake(infra, returnee_id)
    clock.now += 6
    assert (await store.keys_of([returnee_id]))[returnee_id] == "erased"


async def test_an_unreachable_key_store_is_a_transient_failure(infra: Infra) -> None:
    store = IntakeDataKeys(
        f"http://127.0.0.1:{free_port()}",
        _bearer(infra),
        timeout_seconds=2.0,
        max_cache_seconds=60.0,
    )
    with pytest.raises(KeyStoreUnavailable, match=r"ConnectionRefusedError|OSError"):
        await store.keys_of([uuid.uuid4()])


async def test_a_refused_account_is_a_transient_failure_too(infra: Infra) -> None:
    """A misconfigured account (here: reporting's) must stop the consumer loudly, never make
    it drop registrations as if everyone had been erased."""

    def reporting_bearer() -> str:
        return issue_dev_token(SecretStr(infra.jwt_secret), Role.REPORTING_SERVICE)

    store = IntakeDataKeys(
        running_services().intake, reporting_bearer, timeout_seconds=5.0, max_cache_seconds=60.0
    )
    with pytest.raises(KeyStoreUnavailable, match="403"):
        await store.keys_of([uuid.uuid4()])
