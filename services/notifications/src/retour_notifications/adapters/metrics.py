"""Prometheus metrics of the notifications: recorded, sent, failed, retried, pending, pruned."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from retour_notifications.domain.delivery import CANCELLED, Outcome, Status
from retour_notifications.domain.rules import Channel

PENDING_STATES = ("held", "queued", "retrying", "sending", "uncertain")


@dataclass(frozen=True)
class NotificationMetrics:
    recorded: Counter
    sent: Counter
    failed: Counter
    retries: Counter
    uncertain: Counter
    ambiguous: Counter
    delivery_reports: Counter
    stale_events: Counter
    pruned: Counter
    pending: Gauge
    send_duration: Histogram

    @classmethod
    def register(cls, registry: CollectorRegistry) -> NotificationMetrics:
        return cls(
            recorded=Counter(
                "notifications_recorded",
                "Notifications written to the ledger by the consumer and the follow-up worker,"
                " by channel and status.",
                ["channel", "status"],
                registry=registry,
            ),
            sent=Counter(
                "notifications_sent",
                "Notifications the gateway accepted.",
                ["channel"],
                registry=registry,
            ),
            failed=Counter(
                "notifications_failed",
                "Notifications recorded as failed: rejected by the gateway, given up after"
                " retries, interrupted mid-send (not resent), held for a registration that"
                " never came, or not composed.",
                ["channel", "reason"],
                registry=registry,
            ),
            retries=Counter(
                "notifications_retries",
                "Sends that failed transiently and were scheduled again.",
                ["channel"],
                registry=registry,
            ),
            uncertain=Counter(
                "notifications_uncertain",
                "Sends whose outcome is unknown (the gateway took the request, then gave no"
                " clear answer): never sent again automatically, they wait for a delivery"
                " report.",
                ["channel"],
                registry=registry,
            ),
            ambiguous=Counter(
                "notifications_ambiguous",
                "Uncertain sends no delivery report settled within"
                " SMS_DELIVERY_REPORT_WAIT_SECONDS: whether they reached the phone is unknown;"
                " each deserves an operator's decision.",
                ["channel"],
                registry=registry,
            ),
            delivery_reports=Counter(
                "notifications_delivery_reports",
                "Delivery reports received from Kannel, by report and by what they did: kept"
                " (on a sent row), settled (an uncertain or ambiguous row), or unknown (no such"
                " SMS, or older than the phone's own report).",
                ["report", "effect"],
                registry=registry,
            ),
            stale_events=Counter(
                "notifications_stale_events",
                "Events older than MAX_EVENT_AGE_HOURS, for which nothing was recorded.",
                registry=registry,
            ),
            pruned=Counter(
                "notifications_ledger_pruned",
                "Finished deliveries (sent or failed) deleted after LEDGER_RETENTION_DAYS.",
                registry=registry,
            ),
            pending=Gauge(
                "notifications_pending",
                "Unfinished notifications by channel and state; `retrying` is the retry"
                " backlog (queued again after a failed attempt).",
                ["channel", "state"],
                registry=registry,
            ),
            send_duration=Histogram(
                "notifications_send_duration_seconds",
                "Time the gateway took to take (or refuse) one message.",
                ["channel"],
                registry=registry,
            ),
        )

    def count_outcome(self, channel: Channel, outcome: Outcome) -> None:
        if outcome.reason == CANCELLED:
            return  # a cancelled message, as those cancelled before a sender took them
        if outcome.status is Status.SENT:
            self.sent.labels(channel.value).inc()
        elif outcome.status is Status.FAILED:
            self.failed.labels(channel.value, outcome.reason).inc()
        elif outcome.status is Status.UNCERTAIN:
            self.uncertain.labels(channel.value).inc()
        else:
            self.retries.labels(channel.value).inc()

    def set_pending(self, counts: Iterable[tuple[Channel, str, int]]) -> None:
        observed = {(channel.value, state): rows for channel, state, rows in counts}
        for channel in Channel:
            for state in PENDING_STATES:
                rows = observed.get((channel.value, state), 0)
                self.pending.labels(channel.value, state).set(rows)
