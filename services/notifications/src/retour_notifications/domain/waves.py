"""Waves announced by a manifest (``returnee.expected``): what the centre team is told once the
whole wave is known, how many people to prepare for, and their needs. Counts only: no name, no
date of birth, nothing that identifies anyone (the sealed personal block is never opened).

A manifest is one ``returnee.expected`` per person, spread over partitions; ``wave_size`` says
how many people it holds, so the wave is complete once that many distinct ``expected_id`` of it
were read, whatever their order and however often one of them is delivered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid5

from retour_contracts import ReturneeExpected, Sex, Vulnerability
from retour_notifications.domain.planning import NOTIFICATION_NAMESPACE
from retour_notifications.domain.rules import Audience, Channel, Rule

EXPECTED = "returnee.expected"

WAVE_SUMMARY_RULE = Rule(
    name="wave_summary_email",
    event=EXPECTED,
    channel=Channel.EMAIL,
    audience=Audience.CENTRE_TEAM,
    template="wave_summary",
    when=frozenset(),
)
"""Not in the rules file: it always goes, to the wave's centre team (CENTRE_TEAM_EMAILS) and
the centre's extra addresses in WAVE_SUMMARY_EMAILS (summary_addresses)."""

ADULT_FROM, OLDER_FROM = 18, 60
AGE_GROUPS = ("children", "adults", "older", "unknown")
"""0-17, 18-59, 60 and over, age not given."""
SEXES = (*(sex.value for sex in Sex), "unknown")


@dataclass(frozen=True)
class Wave:
    """What the summary says of the wave itself, as its first event read gave it."""

    wave_id: UUID
    wave_name: str
    wave_size: int
    reception_centre: str
    expected_date: date
    host_country: str | None

    @classmethod
    def of(cls, event: ReturneeExpected) -> Wave:
        return cls(
            wave_id=event.wave_id,
            wave_name=event.wave_name,
            wave_size=event.wave_size,
            reception_centre=event.reception_centre.value,
            expected_date=event.expected_date,
            host_country=event.host_country,
        )


@dataclass(frozen=True)
class ExpectedPerson:
    """One person of a wave, as far as the summary counts them."""

    expected_id: UUID
    wave_id: UUID
    sex: str | None
    age_years: int | None
    vulnerabilities: tuple[str, ...]

    @classmethod
    def of(cls, event: ReturneeExpected) -> ExpectedPerson:
        return cls(
            expected_id=event.expected_id,
            wave_id=event.wave_id,
            sex=None if event.sex is None else event.sex.value,
            age_years=event.age_years,
            vulnerabilities=tuple(v.value for v in event.vulnerabilities),
        )


def is_complete(wave: Wave, people_read: int) -> bool:
    """Every person of the manifest was read (more than announced counts as complete: the
    summary then says how many were actually read)."""
    return people_read >= wave.wave_size


def age_group(age_years: int | None) -> str:
    if age_years is None:
        return "unknown"
    if age_years < ADULT_FROM:
        return "children"
    return "adults" if age_years < OLDER_FROM else "older"


@dataclass(frozen=True)
class WaveSummary:
    """The counts the centre team is sent: every group listed, zeros included, in a fixed
    order, so two summaries read alike."""

    wave: Wave
    people: int
    by_sex: dict[str, int]
    by_age_group: dict[str, int]
    by_vulnerability: dict[str, int]
    vulnerable_people: int
    """People with at least one vulnerability."""

    @property
    def unaccompanied_children(self) -> int:
        return self.by_vulnerability[Vulnerability.UNACCOMPANIED_CHILD.value]

    def context(self) -> dict[str, Any]:
        """The template's variables: codes and counts, JSON-ready."""
        wave = self.wave
        return {
            "wave_id": str(wave.wave_id),
            "wave_name": wave.wave_name,
            "reception_centre": wave.reception_centre,
            "expected_date": wave.expected_date.isoformat(),
            "host_country": wave.host_country,
            "people": self.people,
            "by_sex": self.by_sex,
            "by_age_group": self.by_age_group,
            "by_vulnerability": self.by_vulnerability,
            "vulnerable_people": self.vulnerable_people,
            "unaccompanied_children": self.unaccompanied_children,
        }


def summarise(wave: Wave, people: Sequence[ExpectedPerson]) -> WaveSummary:
    vulnerabilities = Counter(v for person in people for v in set(person.vulnerabilities))
    return WaveSummary(
        wave=wave,
        people=len(people),
        by_sex=_counted(SEXES, (person.sex or "unknown" for person in people)),
        by_age_group=_counted(AGE_GROUPS, (age_group(person.age_years) for person in people)),
        by_vulnerability={v.value: vulnerabilities[v.value] for v in Vulnerability},
        vulnerable_people=sum(1 for person in people if person.vulnerabilities),
    )


def _counted(groups: Sequence[str], values: Iterable[str]) -> dict[str, int]:
    counts = Counter(values)
    return {group: counts[group] for group in groups}


def summary_notification_id(wave_id: UUID, address: str) -> UUID:
    """One summary per wave and address, ever: the ledger's key is the second guard after the
    wave's own mark (the address only enters a hash, never a column of the ledger)."""
    return uuid5(NOTIFICATION_NAMESPACE, f"wave/{wave_id}/{address.lower()}")


def summary_addresses(team: str, extras: Sequence[str]) -> list[str]:
    """The centre team's address, then each extra one not already listed: one email per
    address. Compared case aside, as ``summary_notification_id`` compares them, so an extra
    equal to the team's address is not a second row (the ledger would keep the first alone)."""
    addresses: dict[str, str] = {}
    for address in (team, *extras):
        addresses.setdefault(address.lower(), address)
    return list(addresses.values())


def team_recipient(centre: str) -> str:
    return f"centre_team:{centre}"
