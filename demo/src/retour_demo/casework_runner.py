"""Plays the case work of the scenario (retour_demo.casework) through reintegration's API: the
partner registry, case workers taking or being given cases, assessments, plans agreed with the
returnees, referrals, follow-up visits with the sustainability survey, closures and reopenings.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from retour_demo.casework import (
    CASE_WORKERS_PER_CENTRE,
    PARTNERS,
    PlannedCase,
    PlannedItem,
    answers_for,
    case_worker,
)
from retour_demo.client import ApiClient, dev_token
from retour_demo.scenario import CENTRES


@dataclass
class CaseWorkOutcome:
    assigned: int = 0
    taken: int = 0  # by the case worker themselves
    assessments: int = 0
    plans_agreed: int = 0
    plans_within_a_month: int = 0
    referrals: Counter[str] = field(default_factory=Counter)
    visits: Counter[str] = field(default_factory=Counter)
    closed: Counter[str] = field(default_factory=Counter)
    reopened: int = 0


Expect = Callable[..., Any]


class CaseWorkRunner:
    def __init__(
        self,
        *,
        supervisor: ApiClient,
        case_workers: dict[str, ApiClient],
        returnee_ids: dict[int, str],
        arrivals: dict[int, date],
        seed: str,
        expect: Expect,
    ) -> None:
        self.supervisor = supervisor  # reintegration, as a national supervisor
        self.case_workers = case_workers
        self.returnee_ids = returnee_ids
        self.arrivals = arrivals
        self.seed = seed
        self.expect = expect
        self.outcome = CaseWorkOutcome()
        self.partner_ids: dict[str, str] = {}
        self.survey: dict[str, Any] = {}
        self.today = datetime.now(UTC).date()

    def _key(self, *parts: object) -> str:
        return "-".join(["demo", self.seed, *map(str, parts)])

    def _path_key(self, path: str, step: str) -> str:
        # Keys are at most 100 characters: the path (ids) by a digest of it.
        return self._key(step, hashlib.sha256(path.encode()).hexdigest()[:16])

    async def register_partners(self) -> None:
        for partner in PARTNERS:
            body = {k: partner[k] for k in ("name", "centres", "services")}
            body["contact"] = {"name": "Accueil", "email": f"{partner['key']}@partenaires.example"}
            answer = await self.supervisor.post(
                "/partners", body, key=self._key("partner", partner["key"])
            )
            self.partner_ids[partner["key"]] = self.expect(
                answer, 201, what=f"partner {partner['key']}"
            )["partner_id"]

    async def sign_in(self, name: str) -> None:
        # A case worker becomes known to reintegration (its roster) by using it.
        answer = await self.case_workers[name].get("/cases", assigned_to="me", limit=1)
        self.expect(answer, 200, what=f"{name} signing in")
        if not self.survey:
            survey = await self.case_workers[name].get("/sustainability-survey")
            self.survey = self.expect(survey, 200, what="the survey")

    async def work(self, planned: PlannedCase) -> None:
        case = f"/cases/{self.returnee_ids[planned.index]}"
        worker = self.case_workers[planned.case_worker]
        rng = random.Random(f"{self.seed}/case/{planned.index}")
        await self._assign(planned, case, worker)
        await self._assess(planned, case, worker, rng)
        items = await self._plan(planned, case, worker)
        await self._refer(planned, case, worker, items)
        await self._visit(planned, case, worker, rng)
        await self._close(planned, case, worker)

    async def _post(
        self, client: ApiClient, path: str, body: Any, step: str, *statuses: int
    ) -> Any:
        answer = await client.post(path, body, key=self._path_key(path, step))
        return self.expect(answer, *(statuses or (200, 201)), what=f"{step} {path}")

    async def _assign(self, planned: PlannedCase, case: str, worker: ApiClient) -> None:
        client = worker if planned.taken_by_case_worker else self.supervisor
        body = {"case_worker": planned.case_worker}
        await self._post(client, f"{case}/assignment", body, "assignment")
        if planned.taken_by_case_worker:
            self.outcome.taken += 1
        else:
            self.outcome.assigned += 1

    async def _assess(
        self, planned: PlannedCase, case: str, worker: ApiClient, rng: random.Random
    ) -> None:
        family = {
            "kind": "vulnerability_family",
            "vulnerabilities": planned.vulnerabilities_found,
            "household_size": planned.household_size,
            "dependants": max(0, planned.household_size - 2),
            "family_support": planned.family_support,
            "family_attitude": "welcoming" if planned.family_support != "none" else "disappointed",
            "assessed_on": self._day(planned, 3).isoformat(),
        }
        baseline = {
            "kind": "sustainability_baseline",
            "answers": answers_for(self.survey, planned.baseline_wellbeing, rng),
            "assessed_on": self._day(planned, 10).isoformat(),
        }
        for number, body in enumerate((family, baseline)):
            await self._post(worker, f"{case}/assessments", body, f"assessment-{number}", 201)
            self.outcome.assessments += 1

    async def _plan(
        self, planned: PlannedCase, case: str, worker: ApiClient
    ) -> list[tuple[PlannedItem, dict[str, Any]]]:
        agreed_on = self._day(planned, planned.plan_agreed_after_days)
        items = [
            {
                "dimension": item.dimension,
                "category": item.category,
                "provider": "partner" if item.partner else "retour",
                **({"partner_id": self.partner_ids[item.partner]} if item.partner else {}),
                "target_date": (agreed_on + timedelta(days=item.target_after_days)).isoformat(),
                "status": "planned",
            }
            for item in planned.items
        ]
        draft = await self._post(worker, f"{case}/plan/revisions", {"items": items}, "plan", 201)
        agreement = {"revision": draft["revision"], "agreed_on": agreed_on.isoformat()}
        await self._post(worker, f"{case}/plan/agreement", agreement, "agreement")
        self.outcome.plans_agreed += 1
        self.outcome.plans_within_a_month += planned.plan_agreed_after_days <= 30
        made = draft["items"]
        for item, shown in zip(planned.items, made, strict=True):
            if item.done and not item.partner:
                await self._patch_item(worker, case, shown["item_id"])
        return list(zip(planned.items, made, strict=True))

    async def _patch_item(self, worker: ApiClient, case: str, item_id: str) -> None:
        path = f"{case}/plan/items/{item_id}"
        answer = await worker.patch(path, {"status": "done"}, key=self._path_key(path, "done"))
        self.expect(answer, 200, what=f"status of {path}")

    async def _refer(
        self,
        planned: PlannedCase,
        case: str,
        worker: ApiClient,
        items: list[tuple[PlannedItem, dict[str, Any]]],
    ) -> None:
        for item, shown in items:
            if not item.partner:
                continue
            body = {"plan_item_id": shown["item_id"]}
            step = f"referral-{shown['item_id']}"
            referral = await self._post(worker, f"{case}/referrals", body, step, 201)
            status = "sent"
            for status in item.referral:
                path = f"/referrals/{referral['referral_id']}/status"
                await self._post(worker, path, {"status": status}, f"referral-{status}")
            self.outcome.referrals[status] += 1

    async def _visit(
        self, planned: PlannedCase, case: str, worker: ApiClient, rng: random.Random
    ) -> None:
        if not planned.visits:
            return
        details = self.expect(await worker.get(case), 200, what=f"case {case}")
        by_period = {v["period_months"]: v for v in details["follow_ups"]}
        for visit in planned.visits:
            scheduled = by_period[visit.period_months]
            visited_on = date.fromisoformat(scheduled["due_on"]) + timedelta(days=rng.randint(0, 9))
            if visited_on > self.today:
                break  # not due yet
            body: dict[str, Any] = {
                "outcome": "completed" if visit.reached else "unreachable",
                "visited_on": visited_on.isoformat(),
            }
            if visit.reached:
                body["answers"] = answers_for(self.survey, visit.wellbeing, rng)
            path = f"{case}/follow-ups/{scheduled['follow_up_id']}/visit"
            await self._post(worker, path, body, "visit", 201)
            self.outcome.visits[body["outcome"]] += 1

    async def _close(self, planned: PlannedCase, case: str, worker: ApiClient) -> None:
        if planned.closure is None:
            return
        await self._post(worker, f"{case}/close", {"reason": planned.closure}, "close")
        self.outcome.closed[planned.closure] += 1
        if planned.reopening:
            body = {"reason": planned.reopening}
            await self._post(self.supervisor, f"{case}/reopening", body, "reopening")
            self.outcome.reopened += 1

    def _day(self, planned: PlannedCase, after: int) -> date:
        """``after`` days after the person's arrival, never later than today."""
        return min(self.arrivals[planned.index] + timedelta(days=after), self.today)


def case_worker_clients(base_url: str, secret: str) -> dict[str, ApiClient]:
    """Reintegration as each case worker of the scenario: a token of their own, for their
    centre alone."""
    return {
        name: ApiClient(
            base_url,
            dev_token(secret, "case_worker", subject=name, centres=[centre]),
            concurrency=4,
        )
        for centre in CENTRES
        for name in (case_worker(centre, n) for n in range(1, CASE_WORKERS_PER_CENTRE + 1))
    }
