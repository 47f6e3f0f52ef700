"""Plays a scenario through the public HTTP APIs, phase by phase, with a progress bar."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retour_demo.client import ApiClient
from retour_demo.scenario import PlannedReturnee, Scenario

T = TypeVar("T")


class DemoError(RuntimeError):
    pass


@dataclass
class Outcome:
    registered: int = 0
    confirmed_after_review: int = 0  # namesakes the registrar confirmed as different people
    duplicates_refused: int = 0
    aid_granted: Counter[str] = field(default_factory=Counter)
    late_immediate: int = 0
    activities: Counter[str] = field(default_factory=Counter)
    returnee_ids: dict[int, str] = field(default_factory=dict)
    business_grant_ids: dict[int, str] = field(default_factory=dict)


async def _each(
    progress: Progress,
    label: str,
    items: list[T],
    action: Callable[[T], Awaitable[None]],
    concurrency: int,
) -> None:
    task = progress.add_task(label, total=len(items))
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with gate:
            await action(item)
        progress.advance(task)

    await asyncio.gather(*(one(item) for item in items))


def _expect(response: Any, *statuses: int, what: str) -> Any:
    if response.status_code not in statuses:
        raise DemoError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


class DemoRunner:
    def __init__(
        self,
        scenario: Scenario,
        *,
        intake: ApiClient,
        reintegration: ApiClient,
        concurrency: int = 16,
    ) -> None:
        self.scenario = scenario
        self.intake = intake
        self.reintegration = reintegration
        self.concurrency = concurrency
        self.outcome = Outcome()
        self._seed = scenario.params.seed

    async def run(self, progress: Progress) -> Outcome:
        s = self.scenario
        await _each(
            progress, "Registering returnees", s.returnees, self._register, self.concurrency
        )
        await _each(progress, "Attempted double registrations", s.duplicates, self._duplicate, 4)
        await _each(progress, "Opening cases (from events)", s.returnees, self._case_opened, 32)
        await _each(
            progress, "72-hour immediate assistance", s.returnees, self._immediate, self.concurrency
        )
        await _each(
            progress, "Reintegration aid", s.returnees, self._reintegration, self.concurrency
        )
        await _each(
            progress, "Income-generating activities", s.activities, self._activity, self.concurrency
        )
        return self.outcome

    async def _register(self, planned: PlannedReturnee) -> None:
        key = f"demo-{self._seed}-registration-{planned.index}"
        response = await self.intake.post("/returnees", planned.registration, key=key)
        if response.status_code == 409 and response.json().get("error") == "possible_duplicate":
            # A namesake born the same year: the registrar checks and confirms.
            body = {**planned.registration, "confirm_not_duplicate": True}
            response = await self.intake.post("/returnees", body, key=f"{key}-confirmed")
            self.outcome.confirmed_after_review += 1
        record = _expect(response, 201, what=f"registration {planned.index}")
        self.outcome.returnee_ids[planned.index] = record["returnee_id"]
        self.outcome.registered += 1

    async def _duplicate(self, attempt: tuple[int, dict[str, Any]]) -> None:
        original, body = attempt
        key = f"demo-{self._seed}-duplicate-{original}"
        response = await self.intake.post("/returnees", body, key=key)
        answer = _expect(response, 409, what=f"double registration of {original}")
        if self.outcome.returnee_ids[original] not in answer.get("matches", []):
            raise DemoError(f"double registration of {original} matched {answer}")
        self.outcome.duplicates_refused += 1

    async def _case_opened(self, planned: PlannedReturnee) -> None:
        # Cases are opened by the reintegration service from returnee.registered events:
        # wait until the event has gone through Kafka.
        returnee_id = self.outcome.returnee_ids[planned.index]
        for _ in range(600):
            response = await self.reintegration.get(f"/cases/{returnee_id}")
            if response.status_code == 200:
                return
            await asyncio.sleep(0.1)
        raise DemoError(f"no case opened for returnee {returnee_id} within 60 s")

    async def _grant(
        self, planned: PlannedReturnee, aid: Iterable[dict[str, Any]], kind: str
    ) -> None:
        returnee_id = self.outcome.returnee_ids[planned.index]
        for number, body in enumerate(aid):
            key = f"demo-{self._seed}-{kind}-{planned.index}-{number}"
            response = await self.reintegration.post(f"/cases/{returnee_id}/aid", body, key=key)
            granted = _expect(response, 201, what=f"aid for {returnee_id}")
            self.outcome.aid_granted[body["category"]] += 1
            if body["category"] == "business_start_up_grant":
                self.outcome.business_grant_ids[planned.index] = granted["aid_id"]

    async def _immediate(self, planned: PlannedReturnee) -> None:
        await self._grant(planned, planned.immediate_aid, "immediate")
        self.outcome.late_immediate += planned.late

    async def _reintegration(self, planned: PlannedReturnee) -> None:
        await self._grant(planned, planned.reintegration_aid, "reintegration")

    async def _activity(self, activity: Any) -> None:
        ids = [self.outcome.returnee_ids[i] for i in activity.participants]
        body = {
            **activity.body,
            "returnee_ids": ids,
            "aid_ids": [self.outcome.business_grant_ids[i] for i in activity.participants],
            "shares": [
                {"returnee_id": rid, "amount": {"amount": str(amount), "currency": "XOF"}}
                for rid, amount in zip(ids, activity.share_amounts, strict=True)
            ]
            if len(ids) > 1
            else [],
        }
        key = f"demo-{self._seed}-activity-{activity.participants[0]}"
        response = await self.reintegration.post("/activities", body, key=key)
        _expect(response, 201, what=f"activity of {ids}")
        self.outcome.activities[body["sector"]] += 1


def new_progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
