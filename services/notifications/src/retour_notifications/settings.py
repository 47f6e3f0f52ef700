"""Configuration of the notifications service, validated at start-up.

Defaults fit the local stack (`make up`): Kannel's smsbox on 127.0.0.1:13013 and the SMTP sink
on 127.0.0.1:8025. The rules file and the templates are checked here too, so a broken rule or a
missing template stops the service at start-up with the reason, not at the first event.
"""

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    DirectoryPath,
    Field,
    FilePath,
    HttpUrl,
    SecretStr,
    model_validator,
)

from retour_contracts import ReceptionCentre
from retour_kit.settings import ConsumingSettings
from retour_notifications.adapters.jinja_templates import PACKAGED_TEMPLATES, JinjaTemplates
from retour_notifications.adapters.pg_queue import PACING_HORIZON_SECONDS
from retour_notifications.adapters.rules_file import PACKAGED_RULES, load_rule_book
from retour_notifications.adapters.smtp import SmtpSecurity
from retour_notifications.domain.rules import RulesError
from retour_notifications.domain.waves import WAVE_SUMMARY_RULE
from retour_notifications.usecases.ports import TemplateProblem

Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
EmailAddress = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]
StaffSubject = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$")]
"""A staff member as tokens and case events name them (the token's subject)."""

WAVE_SUMMARY_TEMPLATE = (WAVE_SUMMARY_RULE.template, WAVE_SUMMARY_RULE.channel)

# Only good for the local stack, where smsbox listens on 127.0.0.1 alone.
LOCAL_KANNEL_PASSWORD = "retour-local-sendsms"  # noqa: S105


def _local_team_addresses() -> dict[ReceptionCentre, str]:
    return {centre: f"equipe.{centre.value}@centres.retour.local" for centre in ReceptionCentre}


class Settings(ConsumingSettings):
    service_name: str = "retour-notifications"
    http_port: int = 8003

    consumer_group: str = Field(default="notifications", min_length=1)
    duplicate_hold_hours: float = Field(
        default=24,
        ge=0,
        le=168,
        description="A registration that intake flagged as a possible duplicate, and nobody"
        " confirmed, greets its returnee only this long after it is recorded here, so that a"
        " supervisor's review within that time (returnee.merged) prevents a second greeting"
        " of the same person. 0: no wait. Messages to centre teams never wait.",
    )

    rules_file: FilePath = PACKAGED_RULES
    templates_dir: DirectoryPath = PACKAGED_TEMPLATES
    fallback_language: Language = "fr"
    team_language: Language = "fr"
    sms_max_segments: int = Field(default=3, ge=1, le=10)
    max_event_age_hours: float = Field(
        default=168,
        gt=0,
        description="Events published longer ago notify nobody; INBOX_RETENTION_DAYS and"
        " LEDGER_RETENTION_DAYS must cover it.",
    )
    contact_retention_days: int = Field(
        default=400,
        ge=1,
        description="Phone numbers are forgotten this long after registration (follow-ups"
        " last a year after return).",
    )
    ledger_retention_days: int = Field(
        default=90,
        ge=1,
        description="Finished deliveries (sent or failed) are deleted this long after they"
        " finished. They hold no address nor text, but still say whom the service told what:"
        " a quarter is enough to answer a case worker's or a returnee's question about a"
        " message, and to investigate a gateway's failures. At least a day, and at least"
        " MAX_EVENT_AGE_HOURS.",
    )
    follow_up_reminder_days: int = Field(
        default=3,
        ge=1,
        le=60,
        description="A returnee is reminded of a follow-up visit by SMS this many days before"
        " it is due (from 08:00, Mali's time), or at once if it is scheduled later than that;"
        " never on or after the day it is due.",
    )
    follow_up_overdue_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="A visit not recorded this many days after it was due, on an open case,"
        " is emailed about once to the case's case worker (STAFF_EMAILS), or to its centre"
        " team.",
    )
    follow_up_overdue_window_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="A visit overdue for longer than this (after FOLLOW_UP_OVERDUE_DAYS) is"
        " no longer emailed about, only listed on the due list: a replay of old history or an"
        " import of past cases must not flood the case workers with every visit ever missed.",
    )
    follow_up_check_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often the follow-up worker looks for reminders and overdue visits.",
    )
    staff_emails: dict[StaffSubject, EmailAddress] = Field(
        default_factory=dict,
        description="JSON object, case worker (token subject) -> address, e.g."
        ' {"caseworker.bamako.3": "a.traore@example.org"}. A case worker not listed is'
        " reached through their centre team.",
    )
    centre_team_emails: dict[ReceptionCentre, EmailAddress] = Field(
        default_factory=_local_team_addresses,
        description='JSON object, e.g. {"bamako": "equipe@example.org", ...}: every centre.',
    )
    wave_summary_emails: dict[ReceptionCentre, list[EmailAddress]] = Field(
        default_factory=dict,
        description="JSON object, reception centre -> addresses, e.g."
        ' {"bamako": ["medical.bamako@example.org"]}: who is emailed the summary of a wave'
        " announced by a manifest (returnee.expected: how many people, by sex, age group and"
        " vulnerability; no names) besides the centre's team (CENTRE_TEAM_EMAILS), which"
        " always gets it once the whole wave is read. A centre not listed (by default, every"
        " one) tells its team alone; an address equal to the team's is emailed once.",
    )

    kannel_sendsms_url: HttpUrl = HttpUrl("http://127.0.0.1:13013/cgi-bin/sendsms")
    kannel_username: str = Field(default="retour", min_length=1)
    kannel_password: SecretStr = SecretStr(LOCAL_KANNEL_PASSWORD)
    sms_sender: str | None = Field(default=None, description="`from`; Kannel's default if unset")
    sms_max_per_second: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="SMS handed to Kannel per second by all the replicas together (a budget"
        " shared through the database); no limit when unset.",
    )
    sms_delivery_report_url: HttpUrl | None = Field(
        default=None,
        description="This service's GET /sms/delivery-reports as Kannel's smsbox reaches it,"
        " e.g. http://retour-notifications:8003/sms/delivery-reports. Set, every SMS asks"
        " Kannel for delivery reports there, which settle the sends whose outcome is unknown;"
        " unset, those become ambiguous after SMS_DELIVERY_REPORT_WAIT_SECONDS.",
    )
    sms_delivery_report_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Signs each report URL (an HMAC of the notification id): required with"
        " SMS_DELIVERY_REPORT_URL, one per deployment (Secret).",
    )
    sms_delivery_report_wait_seconds: float = Field(
        default=900.0,
        gt=0,
        le=7 * 24 * 3600,
        description="An SMS whose outcome is unknown (a timeout after Kannel took the"
        " request) waits this long for its delivery report, then is recorded as ambiguous:"
        " never resent automatically.",
    )

    smtp_host: str = Field(default="127.0.0.1", min_length=1)
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    smtp_security: SmtpSecurity = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    email_from: EmailAddress = "notifications@retour.local"

    sender_workers: int = Field(default=4, ge=1, le=64, description="Per channel.")
    sender_poll_seconds: float = Field(default=1.0, gt=0)
    gateway_timeout_seconds: float = Field(default=10.0, gt=0)
    sending_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A row still `sending` after this was interrupted by a crash.",
    )
    retry_max_attempts: int = Field(default=20, ge=1)
    retry_backoff_seconds: float = Field(default=5.0, gt=0)
    retry_backoff_cap_seconds: float = Field(default=600.0, gt=0)
    upkeep_interval_seconds: float = Field(default=5.0, gt=0)

    intake_url: HttpUrl = Field(
        default=HttpUrl("http://127.0.0.1:8001"),
        description="Intake's API, whose key store opens the sealed personal blocks.",
    )
    intake_token: SecretStr | None = Field(
        default=None,
        description=(
            "A bearer token of the notifications_service role, for intake's key store, when"
            " tokens come from an identity provider (AUTH_JWKS_URL). With AUTH_JWT_SECRET"
            " (the local stack) the service signs short-lived ones itself."
        ),
    )
    data_key_cache_seconds: int = Field(
        default=60,
        ge=0,
        le=60,
        description="The longest a data key is kept in memory (intake may ask for less):"
        " an erasure must reach every holder within a minute.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.intake_token is None and self.auth_jwt_secret is None:
            raise ValueError(
                "INTAKE_TOKEN is required when tokens come from an identity provider: without"
                " it, no sealed personal block can be opened and nobody would be texted"
            )
        missing = sorted(set(ReceptionCentre) - set(self.centre_team_emails))
        if missing:
            # An alert about a vulnerable arrival must never have nowhere to go.
            raise ValueError(f"CENTRE_TEAM_EMAILS has no address for {', '.join(missing)}")
        _check_wave_summary_emails(self.wave_summary_emails)
        if (self.sms_delivery_report_url is None) != (self.sms_delivery_report_secret is None):
            raise ValueError(
                "SMS_DELIVERY_REPORT_URL and SMS_DELIVERY_REPORT_SECRET go together: set both"
                " (delivery reports) or neither"
            )
        if self.sending_lease_seconds < 3 * self.gateway_timeout_seconds:
            # A live send must always finish before its row is taken for a crashed one.
            raise ValueError("SENDING_LEASE_SECONDS must be at least 3 x GATEWAY_TIMEOUT_SECONDS")
        paced_wait = PACING_HORIZON_SECONDS if self.sms_max_per_second else 0.0
        if self.sending_lease_seconds < 3 * self.gateway_timeout_seconds + paced_wait:
            # A paced message waits for its send slot (up to the horizon) holding its row.
            raise ValueError(
                "SENDING_LEASE_SECONDS must be at least 3 x GATEWAY_TIMEOUT_SECONDS"
                f" + {PACING_HORIZON_SECONDS:g} with SMS_MAX_PER_SECOND"
            )
        for name, days in (
            ("INBOX_RETENTION_DAYS", self.inbox_retention_days),
            ("LEDGER_RETENTION_DAYS", self.ledger_retention_days),
        ):
            # Two guards keep an event delivered again from being notified twice: its inbox row
            # (skipped) and its ledger rows (notification ids made from the event's: kept as
            # they are). Each must outlive the age past which an event notifies nobody anyway,
            # so that pruning never leaves a fresh event guarded by one of them alone, or none.
            if days * 24 < self.max_event_age_hours:
                raise ValueError(
                    f"{name} ({days} days) must be at least MAX_EVENT_AGE_HOURS"
                    f" ({self.max_event_age_hours:g} hours): an event redelivered after its"
                    " rows are pruned would be notified a second time"
                )
        if self.kannel_password.get_secret_value() == LOCAL_KANNEL_PASSWORD and not _is_loopback(
            self.kannel_sendsms_url.host or ""
        ):
            raise ValueError("KANNEL_PASSWORD must be set for a Kannel that is not local")
        try:
            book = load_rule_book(self.rules_file)
            # Not a rule of the book, yet every wave's summary goes to its centre team.
            self.templates().check(book.templates() | {WAVE_SUMMARY_TEMPLATE})
        except (RulesError, TemplateProblem) as error:
            raise ValueError(f"rules and templates: {error}") from None
        return self

    def templates(self) -> JinjaTemplates:
        return JinjaTemplates(Path(self.templates_dir), fallback_language=self.fallback_language)


def _check_wave_summary_emails(emails: dict[ReceptionCentre, list[EmailAddress]]) -> None:
    for centre, addresses in emails.items():
        if not addresses:
            raise ValueError(
                f"WAVE_SUMMARY_EMAILS lists no address for {centre.value}: give at least one,"
                " or leave the centre out to send the summary to its team alone"
            )
        if len({address.lower() for address in addresses}) != len(addresses):
            # One ledger row per address and wave: a repeated address would get one email.
            raise ValueError(f"WAVE_SUMMARY_EMAILS lists an address twice for {centre.value}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(re.sub(r"^\[|\]$", "", host)).is_loopback
    except ValueError:
        return False
