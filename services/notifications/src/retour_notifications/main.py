"""Composition root of the notifications service: what it is, declared on the kit's runtime."""

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from retour_contracts import (
    ACTIVITY_LAUNCHED_V1,
    AID_GRANTED_V1,
    CASE_ASSIGNED_V1,
    CASE_CLOSED_V1,
    CASE_REOPENED_V1,
    CONSENT_CHANGED_V1,
    FOLLOW_UP_SCHEDULED_V1,
    REINTEGRATION_ASSESSED_V1,
    RETURNEE_ERASED_V1,
    RETURNEE_EXPECTED_V1,
    RETURNEE_MERGED_V1,
    RETURNEE_REGISTERED_V2,
    RETURNEE_UPDATED_V1,
)
from retour_kit.consuming import EventConsumer, HandleBatch
from retour_kit.db import Database
from retour_kit.runtime import (
    Parts,
    ServiceDefinition,
    Wiring,
    Worker,
    build_service_app,
    service_command,
)
from retour_kit.runtime import build_consumer as build_service_consumer
from retour_notifications.adapters.intake_keys import IntakeDataKeys, self_signed_bearer
from retour_notifications.adapters.kannel import DeliveryReportCallback, KannelSms
from retour_notifications.adapters.ledger_views import PgLedgerViews
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.pg_contacts import forget_contacts
from retour_notifications.adapters.pg_delivery_reports import PgDeliveryReports
from retour_notifications.adapters.pg_queue import PgDeliveryQueue
from retour_notifications.adapters.pg_waves import give_up_incomplete_waves
from retour_notifications.adapters.rules_file import load_rule_book
from retour_notifications.adapters.smtp import SmtpEmail
from retour_notifications.adapters.unit_of_work import LedgerWork
from retour_notifications.domain.delivery import DeliveryRetryPolicy
from retour_notifications.domain.delivery_reports import ReportSignature
from retour_notifications.domain.follow_ups import FollowUpTimes
from retour_notifications.domain.rules import Channel
from retour_notifications.entrypoints.consumer import notification_recorder
from retour_notifications.entrypoints.delivery_reports import delivery_reports_router
from retour_notifications.entrypoints.follow_up_worker import FollowUpWorker
from retour_notifications.entrypoints.http_api import notifications_router
from retour_notifications.entrypoints.senders import ChannelSender
from retour_notifications.entrypoints.upkeep import Upkeep
from retour_notifications.settings import Settings
from retour_notifications.usecases.compose import Composer
from retour_notifications.usecases.ports import Gateway
from retour_notifications.usecases.record import Recording
from retour_notifications.usecases.remind import FollowUpSending
from retour_notifications.usecases.waves import WaveSummaries

SCHEMA = "notifications"
MIGRATIONS_PACKAGE = "retour_notifications"
INBOX_CONSUMER = "notifications"


def wire(parts: Parts[Settings]) -> Wiring:
    metrics = NotificationMetrics.register(parts.registry)

    def workers() -> list[Worker]:
        senders, upkeep = build_senders(parts.settings, PgDeliveryQueue(parts.pool()), metrics)
        follow_ups = FollowUpWorker(
            parts.unit_of_work(LedgerWork),
            build_follow_up_sending(parts.settings),
            metrics=metrics,
            interval_seconds=parts.settings.follow_up_check_seconds,
        )
        return [*senders, upkeep, follow_ups]

    routers = [notifications_router(parts.unit_of_work(PgLedgerViews))]
    signature = report_signature(parts.settings)
    if signature is not None:
        reports = parts.unit_of_work(PgDeliveryReports)
        routers.append(delivery_reports_router(reports, signature, metrics))
    return Wiring(routers=routers, handler=recorder(parts, metrics), workers=workers)


SERVICE = ServiceDefinition(
    name=SCHEMA,
    description=(
        "Tells returnees and staff what concerns them, by SMS (through Kannel) and email"
        " (SMTP), from the events of the other services: welcome and aid messages, alerts to a"
        " centre's team, follow-up reminders. Each message is recorded in a ledger, sent once,"
        " and its delivery reports are kept; an erasure or a withdrawn consent stops them."
    ),
    settings=Settings,
    wire=wire,
    migrations_package=MIGRATIONS_PACKAGE,
    consumes=(
        RETURNEE_REGISTERED_V2,  # and version 1, still on the topic: read by ce_type
        AID_GRANTED_V1,
        ACTIVITY_LAUNCHED_V1,
        RETURNEE_ERASED_V1,
        CONSENT_CHANGED_V1,
        RETURNEE_UPDATED_V1,  # corrections: phone, language, centre (usecases/correct.py)
        RETURNEE_MERGED_V1,  # one person, contacted once as the kept registration (merge.py)
        # A case's life: monitoring visits, reminded and chased (usecases/follow_ups.py)
        CASE_ASSIGNED_V1,
        CASE_CLOSED_V1,
        CASE_REOPENED_V1,
        FOLLOW_UP_SCHEDULED_V1,
        REINTEGRATION_ASSESSED_V1,
        # Manifests: the centre team's summary of each wave, once all of it is read (waves.py)
        RETURNEE_EXPECTED_V1,
    ),
    inbox=INBOX_CONSUMER,
)


def build_app(settings: Settings) -> FastAPI:
    return build_service_app(SERVICE, settings)


def recorder(parts: Parts[Settings], metrics: NotificationMetrics) -> HandleBatch:
    record = notification_recorder(
        build_recording(parts.settings),
        metrics,
        build_data_keys(parts.settings),
        build_wave_summaries(parts.settings),
    )
    return parts.unit_of_work(LedgerWork).handling(record)


def build_data_keys(settings: Settings) -> IntakeDataKeys:
    if settings.intake_token is not None:
        token = settings.intake_token.get_secret_value()
        bearer = lambda: token  # noqa: E731
    else:
        assert settings.auth_jwt_secret is not None  # Settings guarantees one of the two
        bearer = self_signed_bearer(settings.auth_jwt_secret)
    return IntakeDataKeys(
        str(settings.intake_url),
        bearer,
        timeout_seconds=settings.gateway_timeout_seconds,
        max_cache_seconds=settings.data_key_cache_seconds,
    )


def build_consumer(
    settings: Settings,
    database: Database,
    registry: CollectorRegistry,
    metrics: NotificationMetrics,
) -> EventConsumer:
    """The service's consumer alone, for replays and benchmarks."""
    parts = Parts(settings, database, registry)
    return build_service_consumer(SERVICE, parts, recorder(parts, metrics))


def build_recording(settings: Settings) -> Recording:
    return Recording(
        rules=load_rule_book(settings.rules_file),
        composer=Composer(settings.templates(), sms_max_segments=settings.sms_max_segments),
        team_addresses={c.value: a for c, a in settings.centre_team_emails.items()},
        team_language=settings.team_language,
        max_event_age=timedelta(hours=settings.max_event_age_hours),
        duplicate_hold=timedelta(hours=settings.duplicate_hold_hours),
    )


def build_wave_summaries(settings: Settings) -> WaveSummaries:
    return WaveSummaries(
        recording=build_recording(settings),
        extra_addresses={c.value: tuple(a) for c, a in settings.wave_summary_emails.items()},
    )


def build_follow_up_sending(settings: Settings) -> FollowUpSending:
    return FollowUpSending(
        recording=build_recording(settings),
        times=FollowUpTimes(
            reminder_days=settings.follow_up_reminder_days,
            overdue_days=settings.follow_up_overdue_days,
            overdue_window_days=settings.follow_up_overdue_window_days,
        ),
        staff_addresses=dict(settings.staff_emails),
    )


def report_signature(settings: Settings) -> ReportSignature | None:
    secret = settings.sms_delivery_report_secret
    return None if secret is None else ReportSignature(secret.get_secret_value().encode())


def build_senders(
    settings: Settings, queue: PgDeliveryQueue, metrics: NotificationMetrics
) -> tuple[list[ChannelSender], Upkeep]:
    timeout = settings.gateway_timeout_seconds
    gateways: dict[Channel, Gateway] = {
        Channel.SMS: KannelSms(
            str(settings.kannel_sendsms_url),
            username=settings.kannel_username,
            password=settings.kannel_password,
            sender=settings.sms_sender,
            timeout_seconds=timeout,
            reports=report_callback(settings),
        ),
        Channel.EMAIL: SmtpEmail(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.email_from,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout_seconds=timeout,
        ),
    }
    policy = DeliveryRetryPolicy(
        max_attempts=settings.retry_max_attempts,
        backoff_seconds=settings.retry_backoff_seconds,
        backoff_cap_seconds=settings.retry_backoff_cap_seconds,
    )
    # SMS_MAX_PER_SECOND is the operator's throughput: a budget of all replicas together.
    rates = {Channel.SMS: settings.sms_max_per_second, Channel.EMAIL: None}
    senders = [
        ChannelSender(
            channel,
            queue=queue,
            gateway=gateway,
            policy=policy,
            metrics=metrics,
            workers=settings.sender_workers,
            poll_seconds=settings.sender_poll_seconds,
            per_second=rates[channel],
        )
        for channel, gateway in gateways.items()
    ]
    retention = timedelta(days=settings.contact_retention_days)

    async def forget() -> int:
        return await forget_contacts(queue.pool, datetime.now(UTC) - retention)

    async def give_up_waves() -> int:
        # As old as an event that no longer notifies anyone: the wave's summary never will.
        return await give_up_incomplete_waves(
            queue.pool, timedelta(hours=settings.max_event_age_hours)
        )

    upkeep = Upkeep(
        queue=queue,
        forget_contacts=forget,
        metrics=metrics,
        interrupted_after=timedelta(seconds=settings.sending_lease_seconds),
        held_at_most=timedelta(hours=settings.max_event_age_hours),
        interval_seconds=settings.upkeep_interval_seconds,
        ledger_retention=timedelta(days=settings.ledger_retention_days),
        prune_every_seconds=settings.retention_interval_seconds,
        give_up_waves=give_up_waves,
        report_wait=timedelta(seconds=settings.sms_delivery_report_wait_seconds),
    )
    return senders, upkeep


def report_callback(settings: Settings) -> DeliveryReportCallback | None:
    signature = report_signature(settings)
    if settings.sms_delivery_report_url is None or signature is None:
        return None
    return DeliveryReportCallback(str(settings.sms_delivery_report_url), signature)


cli = service_command(SERVICE)
