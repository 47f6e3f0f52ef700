"""Who is told what, on which event, through which channel: rules as data.

Rules come from a file (``rules.toml``), each naming an event type, a channel, an audience, a
template and the conditions under which it applies. Conditions are picked from a fixed
vocabulary, so an operator can change what is sent without code, and a typo fails at start-up
instead of silently never matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

REGISTERED = "returnee.registered"
AID_GRANTED = "aid.granted"
ACTIVITY_LAUNCHED = "activity.launched"
FOLLOW_UP_SCHEDULED = "follow_up.scheduled"
"""A monitoring visit. Its rules are not applied when the event is read but by the follow-up
worker, when the time comes: a reminder to the returnee FOLLOW_UP_REMINDER_DAYS before the
visit, an email to the case worker once it is FOLLOW_UP_OVERDUE_DAYS overdue
(domain/follow_ups.py)."""


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Audience(StrEnum):
    RETURNEE = "returnee"
    """The returnee the event is about."""
    PARTICIPANTS = "participants"
    """Each returnee taking part in an activity."""
    CENTRE_TEAM = "centre_team"
    """The team of the reception centre where the returnee was registered."""
    CASE_WORKER = "case_worker"
    """The case worker the case is assigned to (STAFF_EMAILS); the team of the case's centre
    when it is assigned to nobody, or to someone whose address is not known."""


class Condition(StrEnum):
    SMS_CONSENT = "sms_consent"
    PHONE_PRESENT = "phone_present"
    VULNERABLE = "vulnerable"

    @property
    def needs_contact(self) -> bool:
        """Decided by what the returnee's registration said, not by the event itself."""
        return self in (Condition.SMS_CONSENT, Condition.PHONE_PRESENT)


AUDIENCES = {
    REGISTERED: frozenset({Audience.RETURNEE, Audience.CENTRE_TEAM}),
    AID_GRANTED: frozenset({Audience.RETURNEE}),
    ACTIVITY_LAUNCHED: frozenset({Audience.PARTICIPANTS}),
    FOLLOW_UP_SCHEDULED: frozenset({Audience.RETURNEE, Audience.CASE_WORKER}),
}
CHANNELS = {
    Channel.SMS: frozenset({Audience.RETURNEE, Audience.PARTICIPANTS}),
    Channel.EMAIL: frozenset({Audience.CENTRE_TEAM, Audience.CASE_WORKER}),
}
EVENT_CONDITIONS = {Condition.VULNERABLE: frozenset({REGISTERED})}
# Contacting a returnee by SMS without consent is never a configuration choice.
REQUIRED_FOR_SMS = frozenset({Condition.SMS_CONSENT, Condition.PHONE_PRESENT})

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FIELDS = frozenset({"name", "event", "channel", "to", "template", "when"})


class RulesError(ValueError):
    """The rules file is not valid; raised at start-up."""


@dataclass(frozen=True)
class Rule:
    name: str
    event: str
    channel: Channel
    audience: Audience
    template: str
    when: frozenset[Condition]


class RuleBook:
    def __init__(self, rules: Sequence[Rule]) -> None:
        names = [rule.name for rule in rules]
        if len(set(names)) != len(names):
            raise RulesError(f"rule names must be unique: {sorted(names)}")
        targets = [(rule.event, rule.audience, rule.channel) for rule in rules]
        if len(set(targets)) != len(targets):
            # The notification id is derived from (event, recipient, channel): two rules with
            # the same triple would share one ledger row, and the second would never be sent.
            raise RulesError("two rules send the same event to the same audience and channel")
        self.rules = tuple(rules)

    def for_event(self, event_type: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.event == event_type)

    def named(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    def for_audience(self, event_type: str, audience: Audience) -> Rule | None:
        """The rule sending ``event_type`` to ``audience``, if the file has one."""
        return next(
            (rule for rule in self.for_event(event_type) if rule.audience is audience), None
        )

    def templates(self) -> set[tuple[str, Channel]]:
        return {(rule.template, rule.channel) for rule in self.rules}


def parse_rules(document: Mapping[str, Any]) -> RuleBook:
    """Rules from the parsed ``[[rule]]`` tables of a rules file."""
    entries = document.get("rule")
    if not isinstance(entries, list) or not entries:
        raise RulesError("the rules file needs at least one [[rule]] table")
    return RuleBook([_rule(index, entry) for index, entry in enumerate(entries, start=1)])


def _rule(index: int, entry: Any) -> Rule:
    where = f"rule {index}"
    if not isinstance(entry, dict):
        raise RulesError(f"{where}: must be a table")
    where = f"rule {index} ({entry.get('name', 'unnamed')})"
    unknown = set(entry) - _FIELDS
    if unknown:
        raise RulesError(f"{where}: unknown fields {sorted(unknown)}")
    rule = Rule(
        name=_name(where, entry, "name"),
        event=_choice(where, entry, "event", AUDIENCES),
        channel=Channel(_choice(where, entry, "channel", Channel)),
        audience=Audience(_choice(where, entry, "to", Audience)),
        template=_name(where, entry, "template"),
        when=_conditions(where, entry.get("when", [])),
    )
    _check_consistent(where, rule)
    return rule


def _name(where: str, entry: Mapping[str, Any], field: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not _NAME.match(value):
        raise RulesError(f"{where}: {field} must be a lower-case name like welcome_sms")
    return value


def _choice(where: str, entry: Mapping[str, Any], field: str, choices: Iterable[str]) -> str:
    value = entry.get(field)
    allowed = sorted(str(choice) for choice in choices)
    if value not in allowed:
        raise RulesError(f"{where}: {field} must be one of {allowed}")
    return str(value)


def _conditions(where: str, values: Any) -> frozenset[Condition]:
    if not isinstance(values, list):
        raise RulesError(f"{where}: when must be a list of conditions")
    allowed = sorted(Condition)
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise RulesError(f"{where}: unknown conditions {unknown}; known: {allowed}")
    return frozenset(Condition(value) for value in values)


def _check_consistent(where: str, rule: Rule) -> None:
    if rule.audience not in AUDIENCES[rule.event]:
        raise RulesError(f"{where}: {rule.event} has no audience {rule.audience}")
    if rule.audience not in CHANNELS[rule.channel]:
        raise RulesError(f"{where}: the {rule.channel} channel cannot reach {rule.audience}")
    for condition in rule.when:
        events = EVENT_CONDITIONS.get(condition)
        if events is not None and rule.event not in events:
            raise RulesError(f"{where}: {condition} cannot be decided on {rule.event}")
    if rule.channel is Channel.SMS and not rule.when >= REQUIRED_FOR_SMS:
        raise RulesError(f"{where}: an sms rule must require {sorted(REQUIRED_FOR_SMS)}")
