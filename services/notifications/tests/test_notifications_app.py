import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from retour_contracts import ReceptionCentre
from retour_kit.settings import describe_errors
from retour_notifications.adapters.jinja_templates import PACKAGED_TEMPLATES
from retour_notifications.main import build_app
from retour_notifications.settings import Settings


def explicit_settings(**changes: Any) -> Settings:
    return Settings(
        database_url="postgresql://notifications@127.0.0.1:1/unused",
        auth_jwt_secret="test-secret-that-is-at-least-32-chars",
        kafka_bootstrap_servers="127.0.0.1:1",
        **changes,
    )


def refusal(**changes: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        explicit_settings(**changes)
    return describe_errors(refused.value)


def test_defaults_name_the_service_its_port_and_the_local_gateways() -> None:
    settings = explicit_settings()

    assert settings.service_name == "retour-notifications"
    assert Settings.model_fields["http_port"].default == 8003
    assert str(settings.kannel_sendsms_url) == "http://127.0.0.1:13013/cgi-bin/sendsms"
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 8025)
    assert settings.consumer_group == "notifications"


def test_centre_team_addresses_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    addresses = {c: f"{c}@example.org" for c in ("bamako", "kayes", "gao", "mopti", "tombouctou")}
    monkeypatch.setenv("CENTRE_TEAM_EMAILS", str(addresses).replace("'", '"'))

    assert explicit_settings().centre_team_emails[ReceptionCentre.GAO] == "gao@example.org"


def test_every_centre_needs_a_team_address() -> None:
    assert "CENTRE_TEAM_EMAILS has no address for gao, tombouctou" in refusal(
        centre_team_emails={"bamako": "a@x.org", "kayes": "b@x.org", "mopti": "c@x.org"}
    )


def test_a_team_address_must_look_like_one() -> None:
    assert "CENTRE_TEAM_EMAILS_GAO" in refusal(centre_team_emails={"gao": "not an address"})


def test_no_extra_wave_summary_address_by_default() -> None:
    """By default a wave's summary goes to its centre team alone (usecases/waves.py)."""
    assert explicit_settings().wave_summary_emails == {}


def test_wave_summary_addresses_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVE_SUMMARY_EMAILS", '{"kayes": ["a@example.org", "b@example.org"]}')

    assert explicit_settings().wave_summary_emails == {
        ReceptionCentre.KAYES: ["a@example.org", "b@example.org"]
    }


@pytest.mark.parametrize(
    ("emails", "reason"),
    [
        ({"kayes": []}, "WAVE_SUMMARY_EMAILS lists no address for kayes: give at least one"),
        ({"kayes": ["a@example.org", "A@example.org"]}, "lists an address twice for kayes"),
        ({"sikasso": ["a@example.org"]}, "WAVE_SUMMARY_EMAILS_SIKASSO_[KEY]: input should be"),
        ({"kayes": ["not an address"]}, "WAVE_SUMMARY_EMAILS_KAYES_0: string should match"),
    ],
)
def test_wave_summary_addresses_are_checked(emails: dict[str, list[str]], reason: str) -> None:
    message = refusal(wave_summary_emails=emails)

    assert reason in message
    assert "a@example.org" not in message and "not an address" not in message


def test_the_wave_summary_template_is_required_even_without_extra_addresses(
    tmp_path: Path,
) -> None:
    """Every wave's summary goes to its centre team: no configuration does without it."""
    templates = tmp_path / "templates"
    shutil.copytree(PACKAGED_TEMPLATES, templates)
    for part in ("email", "subject"):
        (templates / "fr" / f"wave_summary.{part}.j2").unlink()

    assert "missing template fr/wave_summary.email.j2" in refusal(templates_dir=templates)
    assert "missing template fr/wave_summary.email.j2" in refusal(
        templates_dir=templates, wave_summary_emails={"gao": ["gao@example.org"]}
    )


def test_a_send_must_end_long_before_its_row_counts_as_interrupted() -> None:
    assert "SENDING_LEASE_SECONDS" in refusal(gateway_timeout_seconds=10, sending_lease_seconds=20)


def test_a_paced_send_waits_for_its_slot_within_its_lease() -> None:
    paced = {"gateway_timeout_seconds": 1, "sms_max_per_second": 5}
    assert "+ 1 with SMS_MAX_PER_SECOND" in refusal(**paced, sending_lease_seconds=3)
    assert explicit_settings(**paced, sending_lease_seconds=4).sms_max_per_second == 5


def test_delivery_reports_need_both_their_url_and_a_long_secret() -> None:
    url = "http://notifications:8003/sms/delivery-reports"
    secret = "a-delivery-report-secret-of-32-chars!"
    assert "go together" in refusal(sms_delivery_report_url=url)
    assert "go together" in refusal(sms_delivery_report_secret=secret)
    short = refusal(sms_delivery_report_url=url, sms_delivery_report_secret="tiny")
    assert short.startswith("SMS_DELIVERY_REPORT_SECRET: ") and "tiny" not in short
    settings = explicit_settings(sms_delivery_report_url=url, sms_delivery_report_secret=secret)
    assert settings.sms_delivery_report_wait_seconds == 900


def test_retention_defaults() -> None:
    settings = explicit_settings()

    assert (settings.inbox_retention_days, settings.ledger_retention_days) == (30, 90)
    assert settings.max_event_age_hours == 168


@pytest.mark.parametrize("setting", ["inbox_retention_days", "ledger_retention_days"])
def test_no_retention_may_end_before_an_event_is_too_old_to_notify(setting: str) -> None:
    message = refusal(max_event_age_hours=72, **{setting: 2})

    assert message == (
        f"{setting.upper()} (2 days) must be at least MAX_EVENT_AGE_HOURS (72 hours): an event"
        " redelivered after its rows are pruned would be notified a second time"
    )
    assert explicit_settings(max_event_age_hours=72, **{setting: 3})  # 72 hours: enough


def test_the_duplicate_hold_defaults_to_a_day_and_stays_within_a_week() -> None:
    assert explicit_settings().duplicate_hold_hours == 24
    assert explicit_settings(duplicate_hold_hours=0).duplicate_hold_hours == 0  # no hold
    assert explicit_settings(duplicate_hold_hours=168).duplicate_hold_hours == 168
    assert refusal(duplicate_hold_hours=169) == (
        "DUPLICATE_HOLD_HOURS: input should be less than or equal to 168"
    )
    assert refusal(duplicate_hold_hours=-1) == (
        "DUPLICATE_HOLD_HOURS: input should be greater than or equal to 0"
    )


def test_the_merge_topic_is_a_setting_like_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    assert explicit_settings().returnee_merged_topic == "returnee.merged"
    monkeypatch.setenv("RETURNEE_MERGED_TOPIC", "replay.returnee.merged")

    assert explicit_settings().returnee_merged_topic == "replay.returnee.merged"


def test_a_ledger_retention_shorter_than_a_day_is_refused() -> None:
    assert refusal(ledger_retention_days=0) == (
        "LEDGER_RETENTION_DAYS: input should be greater than or equal to 1"
    )


def test_the_local_kannel_password_is_refused_for_a_remote_kannel() -> None:
    message = refusal(kannel_sendsms_url="https://sms.example.org/cgi-bin/sendsms")

    assert "KANNEL_PASSWORD must be set" in message


def test_a_missing_rules_file_is_named() -> None:
    assert refusal(rules_file="/nowhere/rules.toml").startswith("RULES_FILE:")


def test_a_broken_rules_file_stops_the_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "x"\nevent = "aid.granted"\n')

    assert "rules and templates:" in refusal(rules_file=rules)


def test_a_template_missing_for_a_rule_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "fr").mkdir()

    assert "rules and templates: missing template fr/" in refusal(templates_dir=tmp_path)


async def test_notifications_need_a_bearer_token() -> None:
    app = build_app(explicit_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/notifications", params={"returnee_id": "x"})

    assert response.status_code == 401


def test_case_workers_addresses_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert explicit_settings().staff_emails == {}  # everyone through their centre team
    monkeypatch.setenv("STAFF_EMAILS", '{"caseworker.bamako.3": "a.traore@example.org"}')

    assert explicit_settings().staff_emails == {"caseworker.bamako.3": "a.traore@example.org"}


@pytest.mark.parametrize(
    ("staff", "complaint"),
    [
        ({"caseworker.bamako.3": "not an address"}, "STAFF_EMAILS_CASEWORKER.BAMAKO.3: string"),
        ({" caseworker.bamako.3": "a@example.org"}, "STAFF_EMAILS_ CASEWORKER.BAMAKO.3_[KEY]"),
        (["a@example.org"], "STAFF_EMAILS: input should be a valid dictionary"),
    ],
)
def test_a_broken_staff_address_book_stops_the_start(staff: object, complaint: str) -> None:
    assert refusal(staff_emails=staff).startswith(complaint)


def test_follow_up_reminders_and_overdue_emails_have_their_days() -> None:
    settings = explicit_settings()

    assert (settings.follow_up_reminder_days, settings.follow_up_overdue_days) == (3, 7)
    assert refusal(follow_up_reminder_days=0) == (
        "FOLLOW_UP_REMINDER_DAYS: input should be greater than or equal to 1"
    )
