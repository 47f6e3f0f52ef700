"""Plays a scenario through the public HTTP APIs, phase by phase, with a progress bar."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from retour_demo.casework_runner import CaseWorkOutcome, CaseWorkRunner
from retour_demo.client import ApiClient
from retour_demo.field_intake import OPENROSA_CENTRE
from retour_demo.openrosa import OpenRosaClient, instance_xml
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
    corrected: int = 0
    corrections_refused: int = 0  # the new phone matched another registration (409)
    transferred: int = 0
    re_registered: int = 0  # registered a second time, a weak match: queued for review
    merged: int = 0
    told_apart: int = 0
    case_work: CaseWorkOutcome = field(default_factory=CaseWorkOutcome)
    expected: int = 0  # people on the wave's manifest
    via_openrosa: int = 0  # registrations synced from ODK Collect tablets
    wave: dict[str, Any] = field(default_factory=dict)  # intake's count of the wave
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
        supervisor: ApiClient,
        case_workers: dict[str, ApiClient],
        concurrency: int = 16,
    ) -> None:
        self.scenario = scenario
        self.intake = intake
        self.supervisor = supervisor  # intake as a supervisor: overrides and the review queue
        self.reintegration = reintegration
        self.case_workers = case_workers  # reintegration, as each case worker of the scenario
        self.concurrency = concurrency
        self.outcome = Outcome()
        # The keys of a run name the whole scenario, not only its seed: the same seed with
        # other sizes or dates makes other requests, which must not reuse the first run's keys.
        digest = hashlib.sha256(repr(scenario.params).encode()).hexdigest()[:12]
        self._seed = f"{scenario.params.seed}-{digest}"
        self._second: dict[str, str] = {}  # second registration -> the original's id
        self._tablet: OpenRosaClient | None = None
        self._wave_id: str | None = None

    async def run(self, progress: Progress) -> Outcome:
        s = self.scenario
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as tablets:
            await self._announce_wave(progress, tablets)
            await _each(
                progress, "Registering returnees", s.returnees, self._register, self.concurrency
            )
        await self._count_wave()
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
        await _each(progress, "Corrections and transfers", s.corrections, self._correct, 8)
        await _each(progress, "Registered a second time", s.re_registrations, self._again, 4)
        reviews = await self._open_reviews()
        await _each(progress, "Duplicate review", reviews, self._decide, 4)
        await _each(progress, "Cases moved with transfers", s.corrections, self._case_moved, 8)
        await self._case_work(progress)
        return self.outcome

    async def _case_work(self, progress: Progress) -> None:
        s = self.scenario
        work = CaseWorkRunner(
            supervisor=self.reintegration,
            case_workers=self.case_workers,
            returnee_ids=self.outcome.returnee_ids,
            arrivals={
                r.index: date.fromisoformat(r.registration["arrival_date"]) for r in s.returnees
            },
            seed=self._seed,
            expect=_expect,
        )
        partners = progress.add_task("Partner organisations", total=1)
        await work.register_partners()
        progress.advance(partners)
        await _each(progress, "Case workers signing in", sorted(self.case_workers), work.sign_in, 4)
        await _each(
            progress,
            "Case work: plans, referrals, visits",
            s.case_work,
            work.work,
            self.concurrency,
        )
        self.outcome.case_work = work.outcome

    async def _announce_wave(self, progress: Progress, tablets: httpx.AsyncClient) -> None:
        """The embassy's manifest, two days before the wave lands, and a registration tablet
        (ODK Collect) for the centre that receives it."""
        manifest = self.scenario.manifest
        if manifest is None:
            return
        task = progress.add_task("Manifest of the wave (CSV)", total=1)
        response = await self.supervisor.post_csv(
            "/expected-arrivals",
            manifest.csv(),
            key=f"demo-{self._seed}-manifest",
            params=manifest.query,
        )
        wave = _expect(response, 201, what="the wave's manifest")
        self._wave_id = wave["wave_id"]
        self.outcome.expected = wave["people"]
        progress.advance(task)
        # A new tablet each run: its password is shown once, so a replay could not give it.
        device = _expect(
            await self.supervisor.post(
                "/openrosa/devices",
                {"registrar": "demo-registrar", "centres": [OPENROSA_CENTRE], "label": "Tablette"},
                key=f"demo-{self._seed}-tablet-{uuid.uuid4()}",
            ),
            201,
            what="device credentials for the tablet",
        )
        self._tablet = OpenRosaClient(
            tablets, self.intake.base_url, device["username"], device["password"]
        )

    async def _count_wave(self) -> None:
        if self._wave_id is None:
            return
        waves = _expect(await self.supervisor.get("/expected-arrivals/waves"), 200, what="waves")
        for wave in waves["items"]:
            if wave["wave_id"] == self._wave_id:
                self.outcome.wave = wave

    async def _register(self, planned: PlannedReturnee) -> None:
        if planned.index in self.scenario.via_openrosa and await self._submit(planned):
            return
        key = f"demo-{self._seed}-registration-{planned.index}"
        response = await self.intake.post("/returnees", planned.registration, key=key)
        if response.status_code == 409 and response.json().get("error") == "possible_duplicate":
            # A namesake born the same year: the registrar checks and confirms.
            body = {
                **planned.registration,
                "confirm_not_duplicate": True,
                "override_reason": "documents_checked",
            }
            response = await self.supervisor.post("/returnees", body, key=f"{key}-confirmed")
            self.outcome.confirmed_after_review += 1
        record = _expect(response, 201, what=f"registration {planned.index}")
        self.outcome.returnee_ids[planned.index] = record["returnee_id"]
        self.outcome.registered += 1

    async def _submit(self, planned: PlannedReturnee) -> bool:
        """Sends the registration as the tablet would; False when the server refused it as a
        possible duplicate (the registrar then registers the person with a supervisor)."""
        assert self._tablet is not None
        # The instance id is the submission's identity: the same one on every run of the same
        # scenario, so a run played again finds its registrations instead of making new ones.
        instance_id = f"uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{self._seed}/{planned.index}')}"
        xml = instance_xml(planned.registration, instance_id=instance_id)
        for attempt in range(6):
            try:
                response = await self._tablet.submit(xml)
            except httpx.TransportError:
                # A dropped connection: Collect keeps the form and sends it again.
                if attempt == 5:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)
                continue
            if response.status_code == 409:
                return False
            if response.status_code != 201:
                raise DemoError(f"submission {planned.index}: HTTP {response.status_code}")
            self.outcome.returnee_ids[planned.index] = self._tablet.returnee_id(response)
            self.outcome.registered += 1
            self.outcome.via_openrosa += 1
            return True
        raise AssertionError("unreachable")

    async def _duplicate(self, attempt: tuple[int, dict[str, Any]]) -> None:
        original, body = attempt
        key = f"demo-{self._seed}-duplicate-{original}"
        response = await self.intake.post("/returnees", body, key=key)
        answer = _expect(response, 409, what=f"double registration of {original}")
        if self.outcome.returnee_ids[original] not in answer.get("matches", []):
            raise DemoError(f"double registration of {original} matched {answer}")
        self.outcome.duplicates_refused += 1

    async def _correct(self, planned: tuple[int, dict[str, Any]]) -> None:
        index, change = planned
        path = f"/returnees/{self.outcome.returnee_ids[index]}"
        read = await self.intake.get(path)
        _expect(read, 200, what=f"registration {index}")
        key = f"demo-{self._seed}-correction-{index}"
        response = await self.intake.patch(path, change, key=key, etag=read.headers["ETag"])
        if response.status_code == 409 and response.json().get("error") == "possible_duplicate":
            # The new phone makes the person someone else's double: left to a supervisor.
            self.outcome.corrections_refused += 1
            return
        _expect(response, 200, what=f"correction of {index}")
        if "reception_centre" in change:
            self.outcome.transferred += 1
        else:
            self.outcome.corrected += 1

    async def _again(self, planned: tuple[int, dict[str, Any]]) -> None:
        original, body = planned
        key = f"demo-{self._seed}-again-{original}"
        response = await self.intake.post("/returnees", body, key=key)
        if response.status_code == 409:
            return  # a namesake made it a strong match: refused at the door, nothing to merge
        record = _expect(response, 201, what=f"second registration of {original}")
        if self.outcome.returnee_ids[original] not in record["possible_duplicate_of"]:
            raise DemoError(f"the second registration of {original} was not flagged")
        self._second[record["returnee_id"]] = self.outcome.returnee_ids[original]
        self.outcome.re_registered += 1

    async def _open_reviews(self) -> list[dict[str, Any]]:
        """The open pairs this run made (the queue also holds earlier runs' and tests')."""
        ours = set(self.outcome.returnee_ids.values()) | set(self._second)
        found, cursor = [], None
        while True:
            params = {"status": "open", "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = _expect(
                await self.supervisor.get("/duplicates", **params), 200, what="review queue"
            )
            found += [item for item in page["items"] if item["returnee_id"] in ours]
            cursor = page["next_cursor"]
            if not cursor:
                return found

    async def _decide(self, review: dict[str, Any]) -> None:
        same = self._second.get(review["returnee_id"]) == review["candidate_id"]
        body = (
            {"decision": "same_person"}
            if same
            else {"decision": "not_duplicate", "reason": "documents_checked"}
        )
        key = f"demo-{self._seed}-review-{review['review_id']}"
        path = f"/duplicates/{review['review_id']}/decision"
        response = await self.supervisor.post(path, body, key=key)
        if response.status_code == 409 and response.json().get("error") == "cannot_merge":
            return  # merged through another pair of the same person already
        _expect(response, 200, what=f"decision on review {review['review_id']}")
        if same:
            self.outcome.merged += 1
        else:
            self.outcome.told_apart += 1

    async def _case_moved(self, planned: tuple[int, dict[str, Any]]) -> None:
        # The case follows the person to their new centre, through returnee.updated.
        index, change = planned
        centre = change.get("reception_centre")
        if centre is None:
            return
        returnee_id = self.outcome.returnee_ids[index]
        for _ in range(600):
            case = await self.reintegration.get(f"/cases/{returnee_id}")
            if case.status_code == 200 and case.json()["reception_centre"] == centre:
                return
            await asyncio.sleep(0.1)
        raise DemoError(f"the case of {returnee_id} did not move to {centre} within 60 s")

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
