"""Composition root of the reintegration service: what it is, declared on the kit's runtime."""

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from retour_contracts import RETURNEE_MERGED_V1, RETURNEE_REGISTERED_V2, RETURNEE_UPDATED_V1
from retour_kit.consuming import EventConsumer
from retour_kit.db import Database
from retour_kit.runtime import (
    Parts,
    ServiceDefinition,
    Wiring,
    build_service_app,
    service_command,
)
from retour_kit.runtime import build_consumer as build_service_consumer
from retour_kit.unit_of_work import UnitOfWork
from retour_reintegration.adapters.immediate_care_metrics import ImmediateCareGauge
from retour_reintegration.adapters.unit_of_work import CaseWork
from retour_reintegration.domain.aid import ReintegrationBudget
from retour_reintegration.entrypoints.activities_api import activities_router
from retour_reintegration.entrypoints.assessment_routes import assessment_router
from retour_reintegration.entrypoints.assignment_routes import assignment_router
from retour_reintegration.entrypoints.cases_api import cases_router
from retour_reintegration.entrypoints.context import ApiContext
from retour_reintegration.entrypoints.follow_up_routes import follow_up_router
from retour_reintegration.entrypoints.immediate_care_watch import ImmediateCareWatch
from retour_reintegration.entrypoints.partners_api import partners_router
from retour_reintegration.entrypoints.plans_api import plans_router
from retour_reintegration.entrypoints.referrals_api import referrals_router
from retour_reintegration.entrypoints.returnee_events import returnee_events_handler
from retour_reintegration.entrypoints.rule_violations import install_rule_violation_handler
from retour_reintegration.entrypoints.staff_roster import install_roster
from retour_reintegration.settings import Settings

SCHEMA = "reintegration"
MIGRATIONS_PACKAGE = "retour_reintegration"
INBOX_CONSUMER = "reintegration"


def wire(parts: Parts[Settings]) -> Wiring:
    budget = ReintegrationBudget(limit=parts.settings.reintegration_budget_xof, currency="XOF")
    work = parts.unit_of_work(CaseWork)
    context = ApiContext(work=work, budget=budget)
    care_gauge = ImmediateCareGauge(parts.registry)
    return Wiring(
        routers=[
            cases_router(context),
            activities_router(context),
            assignment_router(context),
            assessment_router(context),
            follow_up_router(context),
            partners_router(context),
            plans_router(context),
            referrals_router(context),
        ],
        handler=work.handling(returnee_events_handler(parts.settings.follow_up_periods_months)),
        workers=lambda: [
            ImmediateCareWatch(
                parts.pool(), care_gauge, every=parts.settings.immediate_care_check_seconds
            )
        ],
        install=lambda app: install_service_parts(app, work),
    )


def install_service_parts(app: FastAPI, work: UnitOfWork[CaseWork]) -> None:
    install_rule_violation_handler(app)
    install_roster(app, work)


SERVICE = ServiceDefinition(
    name=SCHEMA,
    description=(
        "The reintegration case of each returnee, opened when the registration arrives: its"
        " assignment to a case worker, assessments and sustainability scores, the"
        " reintegration plan and its agreement, referrals to partners, aid granted within the"
        " budget, income-generating activities, follow-up visits, closure and reopening. Aid"
        " and activities are published as `aid.granted` and `activity.launched`."
    ),
    settings=Settings,
    wire=wire,
    migrations_package=MIGRATIONS_PACKAGE,
    outbox=True,
    # returnee.registered version 1 too: records are read by ce_type. The three topics go to
    # one handler, each batch in one transaction with its inbox rows (returnee_events_handler).
    consumes=(RETURNEE_REGISTERED_V2, RETURNEE_UPDATED_V1, RETURNEE_MERGED_V1),
    inbox=INBOX_CONSUMER,
)


def build_app(settings: Settings) -> FastAPI:
    return build_service_app(SERVICE, settings)


def build_consumer(
    settings: Settings, database: Database, registry: CollectorRegistry
) -> EventConsumer:
    """The service's consumer alone, for replays and benchmarks."""
    parts = Parts(settings, database, registry)
    periods = settings.follow_up_periods_months
    handler = parts.unit_of_work(CaseWork).handling(returnee_events_handler(periods))
    return build_service_consumer(SERVICE, parts, handler)


cli = service_command(SERVICE)
