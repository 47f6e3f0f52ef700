"""Rules as data: the packaged file, and what a broken file is told at start-up."""

from pathlib import Path
from typing import Any

import pytest

from retour_notifications.adapters.rules_file import PACKAGED_RULES, load_rule_book
from retour_notifications.domain.rules import Audience, Channel, Condition, RulesError, parse_rules


def sms_rule(**changes: Any) -> dict[str, Any]:
    return {
        "name": "welcome_sms",
        "event": "returnee.registered",
        "channel": "sms",
        "to": "returnee",
        "template": "welcome",
        "when": ["sms_consent", "phone_present"],
        **changes,
    }


def test_the_packaged_rules_cover_the_events() -> None:
    book = load_rule_book(PACKAGED_RULES)

    welcome, alert = book.for_event("returnee.registered")
    assert (welcome.channel, welcome.audience) == (Channel.SMS, Audience.RETURNEE)
    assert (alert.channel, alert.audience, alert.when) == (
        Channel.EMAIL,
        Audience.CENTRE_TEAM,
        frozenset({Condition.VULNERABLE}),
    )
    assert [r.audience for r in book.for_event("aid.granted")] == [Audience.RETURNEE]
    assert [r.audience for r in book.for_event("activity.launched")] == [Audience.PARTICIPANTS]
    reminder = book.for_audience("follow_up.scheduled", Audience.RETURNEE)
    overdue = book.for_audience("follow_up.scheduled", Audience.CASE_WORKER)
    assert reminder is not None and reminder.channel is Channel.SMS
    assert reminder.when == frozenset({Condition.SMS_CONSENT, Condition.PHONE_PRESENT})
    assert overdue is not None and overdue.channel is Channel.EMAIL


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        (sms_rule(when=["sms_consent", "phone_present", "sunny"]), "unknown conditions ['sunny']"),
        (sms_rule(when=["phone_present"]), "an sms rule must require"),
        (sms_rule(channel="fax"), "channel must be one of"),
        (sms_rule(to="centre_team"), "the sms channel cannot reach centre_team"),
        (sms_rule(event="aid.granted", to="participants"), "aid.granted has no audience"),
        (
            sms_rule(event="aid.granted", when=["sms_consent", "phone_present", "vulnerable"]),
            "vulnerable cannot be decided on aid.granted",
        ),
        (
            sms_rule(event="follow_up.scheduled", to="case_worker"),
            "the sms channel cannot reach case_worker",
        ),
        (
            sms_rule(event="aid.granted", channel="email", to="case_worker", when=[]),
            "aid.granted has no audience case_worker",
        ),
        (sms_rule(event="follow_up.scheduled", when=["sms_consent"]), "an sms rule must require"),
        (sms_rule(template="../etc/passwd"), "template must be a lower-case name"),
        (sms_rule(sender="x"), "unknown fields ['sender']"),
    ],
)
def test_a_broken_rule_is_refused_with_its_reason(rule: dict[str, Any], complaint: str) -> None:
    with pytest.raises(RulesError, match=r"rule 1 \(welcome_sms\)") as refused:
        parse_rules({"rule": [rule]})

    assert complaint in str(refused.value)


def test_two_rules_for_the_same_event_recipient_and_channel_are_refused() -> None:
    # They would share one notification id, so the second could never be sent.
    with pytest.raises(RulesError, match="same audience and channel"):
        parse_rules({"rule": [sms_rule(), sms_rule(name="other", template="other")]})


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(RulesError, match=r"at least one \[\[rule\]\]"):
        parse_rules({})


def test_a_file_that_is_not_toml_names_itself(tmp_path: Path) -> None:
    broken = tmp_path / "rules.toml"
    broken.write_text("[[rule]\nname=")

    with pytest.raises(RulesError, match=str(broken)):
        load_rule_book(broken)
