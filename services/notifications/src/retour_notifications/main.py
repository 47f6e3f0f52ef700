"""Composition root of the notifications service: the one place where its parts are wired."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from retour_contracts import ACTIVITY_LAUNCHED_V1, AID_GRANTED_V1, RETURNEE_REGISTERED_V1
from retour_kit.cli import service_cli
from retour_kit.consuming import (
    ConsumerMetrics,
    ConsumerSettings,
    EventConsumer,
    Subscription,
)
from retour_kit.db import Database
from retour_kit.http import create_http_app
from retour_kit.lifespan import database_ready
from retour_kit.logging import configure_logging
from retour_kit.metrics import new_registry
from retour_kit.readiness import kafka_ready, postgres_ready
from retour_notifications.adapters.kannel import KannelSms
from retour_notifications.adapters.metrics import NotificationMetrics
from retour_notifications.adapters.pg_contacts import forget_contacts
from retour_notifications.adapters.pg_queue import PgDeliveryQueue
from retour_notifications.adapters.rules_file import load_rule_book
from retour_notifications.adapters.smtp import SmtpEmail
from retour_notifications.domain.delivery import RetryPolicy
from retour_notifications.domain.rules import Channel
from retour_notifications.entrypoints.background import running
from retour_notifications.entrypoints.consumer import notification_recorder
from retour_notifications.entrypoints.http_api import notifications_router
from retour_notifications.entrypoints.senders import ChannelSender, SendRate
from retour_notifications.entrypoints.upkeep import Upkeep
from retour_notifications.settings import Settings
from retour_notifications.usecases.compose import Composer
from retour_notifications.usecases.ports import Gateway
from retour_notifications.usecases.record import Recording

SCHEMA = "notifications"
MIGRATIONS_PACKAGE = "retour_notifications"
INBOX_CONSUMER = "notifications"


def build_app(settings: Settings) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level)
    registry = new_registry()
    metrics = NotificationMetrics.register(registry)
    database = Database.for_service(settings, schema=SCHEMA)
    consumer = build_consumer(settings, database, registry, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with database_ready(
            database,
            migrations_package=MIGRATIONS_PACKAGE,
            migrate_on_start=settings.migrate_on_start,
        ) as pool:
            senders, upkeep = build_senders(settings, PgDeliveryQueue(pool), metrics)
            async with running(consumer, senders, upkeep):
                yield

    app = create_http_app(
        title="retour notifications",
        version=version("retour-notifications"),
        settings=settings,
        lifespan=lifespan,
        readiness=[postgres_ready(database), kafka_ready(settings.kafka_bootstrap_servers)],
        registry=registry,
    )
    app.include_router(notifications_router(lambda: database.pool))
    return app


def build_recording(settings: Settings) -> Recording:
    return Recording(
        rules=load_rule_book(settings.rules_file),
        composer=Composer(settings.templates(), sms_max_segments=settings.sms_max_segments),
        team_addresses={c.value: a for c, a in settings.centre_team_emails.items()},
        team_language=settings.team_language,
        max_event_age=timedelta(hours=settings.max_event_age_hours),
    )


def build_consumer(
    settings: Settings,
    database: Database,
    registry: CollectorRegistry,
    metrics: NotificationMetrics,
) -> EventConsumer:
    consumer_settings = ConsumerSettings(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.consumer_group,
        # The inbox name stays whatever the group: a replay under another group recognises
        # every event already recorded (and the ledger's ids would catch the rest).
        consumer_name=INBOX_CONSUMER,
        client_id=settings.service_name,
        session_timeout_ms=settings.consumer_session_timeout_ms,
        subscriptions=(
            Subscription(RETURNEE_REGISTERED_V1, topic=settings.returnee_registered_topic),
            Subscription(AID_GRANTED_V1, topic=settings.aid_granted_topic),
            Subscription(ACTIVITY_LAUNCHED_V1, topic=settings.activity_launched_topic),
        ),
    )
    return EventConsumer(
        consumer_settings,
        database=database,
        handler=notification_recorder(build_recording(settings), metrics),
        metrics=ConsumerMetrics.register(registry),
    )


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
    policy = RetryPolicy(
        max_attempts=settings.retry_max_attempts,
        backoff_seconds=settings.retry_backoff_seconds,
        backoff_cap_seconds=settings.retry_backoff_cap_seconds,
    )
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
            rate=SendRate(rates[channel]),
        )
        for channel, gateway in gateways.items()
    ]
    retention = timedelta(days=settings.contact_retention_days)

    async def forget() -> int:
        return await forget_contacts(queue.pool, datetime.now(UTC) - retention)

    upkeep = Upkeep(
        queue=queue,
        forget_contacts=forget,
        metrics=metrics,
        interrupted_after=timedelta(seconds=settings.sending_lease_seconds),
        held_at_most=timedelta(hours=settings.max_event_age_hours),
        interval_seconds=settings.upkeep_interval_seconds,
    )
    return senders, upkeep


def cli() -> None:
    service_cli(
        settings_cls=Settings,
        build_app=build_app,
        schema=SCHEMA,
        migrations_package=MIGRATIONS_PACKAGE,
    )
