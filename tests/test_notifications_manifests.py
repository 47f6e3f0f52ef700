"""Issue 16, notifications: the centre team, and the centre's extra addresses
(WAVE_SUMMARY_EMAILS), are emailed one summary of a wave announced by a manifest
(returnee.expected), once every person of it was read, whatever the order, however often one
is delivered, and with two replicas reading; counts only, no name.

Events are produced, as intake would, to this module's private copies of the topics
notifications reads; the service runs in-process. Emails are read back from the SMTP sink
(`make up`). Every test invents its own wave, so it only looks at its own messages.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from test_notifications_delivery import Harness, Record, database, private_harness, service
from test_notifications_gateways import SmtpSink, free_port

from retour_contracts import (
    RETURNEE_EXPECTED_V1,
    ExpectedPersonal,
    ReceptionCentre,
    ReturneeExpected,
    build_envelope,
    new_data_key,
    seal_expected,
)
from retour_contracts.examples import example_returnee_expected
from retour_kit.db import Database
from retour_notifications.adapters.jinja_templates import PACKAGED_TEMPLATES, JinjaTemplates
from retour_notifications.adapters.pg_waves import give_up_incomplete_waves
from retour_notifications.domain.waves import WAVE_SUMMARY_RULE, ExpectedPerson, Wave, summarise
from retour_notifications.usecases.compose import Composer
from retour_test_infra import Infra, eventually

pytestmark = pytest.mark.integration

# The delivery tests' fixture: the isolated notifications database, migrated.
__all__ = ["database"]

EXPECTED_ON = date(2031, 6, 11)
TEAMS = {centre.value: f"equipe.{centre.value}@example.org" for centre in ReceptionCentre}

# (sex, age_years, vulnerabilities) of a wave of six: 3 women, 2 men, 1 not given; children
# 8 and 15, adults 27 and 34, 64, one age not given; four people with a vulnerability.
SIX = [
    ("female", 27, []),
    ("male", 8, ["unaccompanied_child"]),
    ("female", 15, ["separated_child", "medical_need"]),
    (None, None, []),
    ("male", 64, ["elderly", "medical_need"]),
    ("female", 34, ["pregnant_or_lactating"]),
]


@pytest.fixture(scope="module")
async def harness(infra: Infra) -> AsyncIterator[Harness]:
    async with private_harness(infra, "manifests") as harness:
        yield harness


def a_name() -> str:
    """A name nobody else uses, to look for in the emails."""
    return "".join(random.choices(string.ascii_lowercase, k=10)).capitalize()


@dataclass
class Manifest:
    """One wave as intake publishes it: one returnee.expected per person, each with its
    personal block sealed under the person's own key."""

    centre: str
    people: Sequence[tuple[str | None, int | None, list[str]]]
    wave_id: UUID = field(default_factory=uuid.uuid4)
    wave_name: str = field(default_factory=lambda: f"Évacuation Port-Bouët, vol {a_name()}")
    names: list[str] = field(default_factory=list)
    events: list[ReturneeExpected] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        for sex, age, vulnerabilities in self.people:
            event_id = str(uuid.uuid4())
            personal = ExpectedPersonal(
                given_name=a_name(), family_name=a_name(), passport_number=a_name().upper()
            )
            self.names += [personal.given_name or "", personal.family_name]
            self.names.append(personal.passport_number or "")
            event = example_returnee_expected(
                expected_id=uuid.uuid4(),
                wave_id=self.wave_id,
                wave_name=self.wave_name,
                wave_size=len(self.people),
                reception_centre=self.centre,
                expected_date=EXPECTED_ON,
                sex=sex,
                age_years=age,
                vulnerabilities=vulnerabilities,
                sealed_personal=seal_expected(personal, new_data_key(), event_id=event_id),
            )
            self.events.append(event)
            self.records.append(self.record(event, event_id))

    @staticmethod
    def record(
        event: ReturneeExpected, event_id: str | None = None, published: datetime | None = None
    ) -> Record:
        envelope = build_envelope(
            RETURNEE_EXPECTED_V1, event, source="/intake", event_id=event_id, time=published
        )
        return Record(RETURNEE_EXPECTED_V1.topic, envelope)

    def sent_again(self, index: int) -> Record:
        """The same person under a new event id: the manifest sent a second time."""
        return self.record(self.events[index])


def configured(harness: Harness, **changes: Any) -> dict[str, Any]:
    """The harness's settings, with this module's centre teams."""
    return harness.settings(centre_team_emails=TEAMS, **changes)


async def summaries_of(database: Database, manifest: Manifest) -> list[asyncpg.Record]:
    return list(
        await database.pool.fetch(
            "SELECT * FROM deliveries WHERE returnee_id = $1 ORDER BY notification_id",
            manifest.wave_id,
        )
    )


async def wave_row(database: Database, manifest: Manifest) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await database.pool.fetchrow(
        "SELECT w.*, (SELECT count(*) FROM expected_people p WHERE p.wave_id = w.wave_id) AS read"
        " FROM expected_waves w WHERE wave_id = $1",
        manifest.wave_id,
    )
    return row


async def until_read(harness: Harness, config: dict[str, Any]) -> None:
    """Every event produced so far is read and committed by the service's group."""
    await eventually(lambda: harness.caught_up(config["consumer_group"]), what="all events read")


async def until_sent(database: Database, manifest: Manifest, emails: int) -> list[asyncpg.Record]:
    def done(rows: list[asyncpg.Record]) -> bool:
        return len(rows) == emails and all(row["status"] == "sent" for row in rows)

    found: list[asyncpg.Record] = await eventually(
        partial(summaries_of, database, manifest),
        until=done,
        within=20,
        what=f"{emails} wave summaries sent",
    )
    return found


async def mails_of(sink: SmtpSink, rows: Sequence[asyncpg.Record]) -> list[EmailMessage]:
    ids = {f"<{row['notification_id']}@notifications.retour>" for row in rows}
    found: list[EmailMessage] = await eventually(
        partial(sink.kept, ids), until=lambda kept: len(kept) >= len(ids), what="the summaries"
    )
    return found


async def test_a_whole_wave_read_out_of_order_and_twice_is_summarised_once_per_address(
    harness: Harness, database: Database
) -> None:
    """Two replicas read the wave's two partitions; a person is delivered twice, and another
    sent again under a new event id: still one email per address (the team and the centre's
    extras), sent only once the sixth distinct person is read."""
    sink = SmtpSink()
    manifest = Manifest("kayes", SIX)
    extras = ["accueil.kayes@example.org", "medical.kayes@example.org"]
    config = configured(harness, wave_summary_emails={"kayes": extras, "gao": ["gao@example.org"]})
    first, last = manifest.records[:-1], manifest.records[-1]

    async with service(harness, config), service(harness, config):
        await harness.publish([*reversed(first), first[0], manifest.sent_again(2)])
        await until_read(harness, config)
        before = await wave_row(database, manifest)
        assert await summaries_of(database, manifest) == []  # five distinct people of six

        await harness.publish([last])
        sent = await until_sent(database, manifest, emails=3)
        await harness.publish([*manifest.records, manifest.sent_again(5)])  # all again
        await until_read(harness, config)
        after = await wave_row(database, manifest)

    assert before is not None and (before["read"], before["summary"]) == (5, None)
    assert after is not None and (after["read"], after["summary"]) == (0, "queued")
    assert await summaries_of(database, manifest) == sent  # the same three rows, nothing more
    assert {(r["rule"], r["recipient"], r["language"]) for r in sent} == {
        ("wave_summary_email", "centre_team:kayes", "fr")
    }
    mails = await mails_of(sink, sent)
    assert sorted(mail["To"] for mail in mails) == sorted([TEAMS["kayes"], *extras])  # one each
    for mail in mails:
        assert mail["Subject"] == (
            f"[retour] Arrivée annoncée à Kayes le 11/06/2031 : 6 personne(s), {manifest.wave_name}"
        )
        body = mail.get_content()
        for line in (
            f"Groupe : {manifest.wave_name}",
            "Arrivée prévue le : 11/06/2031",
            "Pays de départ : Côte d'Ivoire",
            "Nombre de personnes : 6",
            "  - femmes : 3\n  - hommes : 2\n  - non précisé : 1",
            "  - enfants (0 à 17 ans) : 2\n  - adultes (18 à 59 ans) : 2\n"
            "  - 60 ans et plus : 1\n  - âge non précisé : 1",
            "Personnes ayant au moins une vulnérabilité : 4",
            "Enfants non accompagnés : 1",
            "  - besoin médical : 2",
            "  - handicap : 0",
        ):
            assert line in body
        for name in manifest.names:
            assert name not in body and name not in mail["Subject"]
        for event in manifest.events:
            assert str(event.expected_id) not in body


async def test_the_team_alone_without_extras_else_team_and_extras_once_each(
    harness: Harness, database: Database
) -> None:
    """Gao has no extra address: its team alone is told. Bamako lists its team's address
    again (spelt otherwise) besides logistics: the team still gets one email, as it spells
    it. A person of a wave summarised, read again, is only recorded."""
    sink = SmtpSink()
    gao, bamako = Manifest("gao", SIX[:2]), Manifest("bamako", SIX[2:4])
    logistics = "logistique.bamako@example.org"
    extras = {"bamako": [TEAMS["bamako"].upper(), logistics], "kayes": ["k@example.org"]}
    config = configured(harness, wave_summary_emails=extras)

    async with service(harness, config):
        await harness.publish([*gao.records, *bamako.records])
        to_gao = await until_sent(database, gao, emails=1)
        to_bamako = await until_sent(database, bamako, emails=2)
        decided = await wave_row(database, gao)
        await harness.publish([gao.sent_again(0), gao.sent_again(1)])
        await until_read(harness, config)

    assert decided is not None and (decided["read"], decided["summary"]) == (0, "queued")
    assert (await wave_row(database, gao)) == decided  # only recorded
    assert await summaries_of(database, gao) == to_gao
    assert [row["recipient"] for row in to_gao] == ["centre_team:gao"]
    assert {row["recipient"] for row in to_bamako} == {"centre_team:bamako"}
    assert [mail["To"] for mail in await mails_of(sink, to_gao)] == [TEAMS["gao"]]
    assert sorted(mail["To"] for mail in await mails_of(sink, to_bamako)) == sorted(
        [TEAMS["bamako"], logistics]
    )


async def test_a_wave_left_incomplete_is_given_up_and_its_last_person_only_recorded(
    harness: Harness, database: Database
) -> None:
    manifest = Manifest("kayes", SIX[:3])
    config = configured(harness)

    async with service(harness, config):
        await harness.publish(manifest.records[:2])
        await until_read(harness, config)
        waiting = await wave_row(database, manifest)
        await database.pool.execute(
            "UPDATE expected_waves SET recorded_at = now() - interval '2 hours' WHERE wave_id = $1",
            manifest.wave_id,
        )
        given_up = await give_up_incomplete_waves(database.pool, timedelta(hours=1))
        await harness.publish(manifest.records[2:])
        await until_read(harness, config)

    assert waiting is not None and (waiting["read"], waiting["summary"]) == (2, None)
    assert given_up >= 1
    after = await wave_row(database, manifest)
    assert after is not None and (after["read"], after["summary"]) == (0, "incomplete")
    assert await summaries_of(database, manifest) == []


async def test_a_wave_completed_by_old_events_is_not_announced(
    harness: Harness, database: Database
) -> None:
    """A first deployment reading the topic from its start must not announce past waves."""
    manifest = Manifest("kayes", SIX[:3])
    config = configured(harness)
    long_ago = datetime.now(UTC) - timedelta(days=30)

    async with service(harness, config):
        await harness.publish([Manifest.record(e, published=long_ago) for e in manifest.events])
        await until_read(harness, config)

    decided = await wave_row(database, manifest)
    assert decided is not None and decided["summary"] == "stale"
    assert await summaries_of(database, manifest) == []


async def test_a_summary_the_relay_refused_is_sent_once_it_is_back(
    harness: Harness, database: Database
) -> None:
    sink = SmtpSink()
    manifest = Manifest("kayes", SIX[:1])
    unreachable = configured(harness, smtp_port=free_port())

    async with service(harness, unreachable):
        await harness.publish(manifest.records)
        await eventually(
            partial(summaries_of, database, manifest),
            until=lambda rows: len(rows) == 1 and rows[0]["last_error"] is not None,
            what="a failed attempt",
        )
    # Stopped: the attempt in hand finished, and the row waits for the next one.
    [waiting] = await summaries_of(database, manifest)
    assert (waiting["status"], waiting["sent_at"]) == ("queued", None)
    assert waiting["attempts"] >= 1 and "smtp unreachable" in waiting["last_error"]

    async with service(harness, configured(harness)):
        [sent] = await until_sent(database, manifest, emails=1)
    [mail] = await mails_of(sink, [sent])
    assert mail["To"] == TEAMS["kayes"]
    assert "Nombre de personnes : 1" in mail.get_content()


def test_the_summary_counts_and_reads_in_each_language() -> None:
    wave = Wave(uuid.uuid4(), "Vol 2", 6, "bamako", EXPECTED_ON, None)
    people = [
        ExpectedPerson(uuid.uuid4(), wave.wave_id, sex, age, tuple(vulnerabilities))
        for sex, age, vulnerabilities in [*SIX[:5], ("female", 17, ["medical_need"])]
    ]
    summary = summarise(wave, people)

    assert (summary.people, summary.vulnerable_people, summary.unaccompanied_children) == (6, 4, 1)
    assert summary.by_sex == {"female": 3, "male": 2, "unknown": 1}
    assert summary.by_age_group == {"children": 3, "adults": 1, "older": 1, "unknown": 1}
    assert summary.by_vulnerability == {
        "unaccompanied_child": 1,
        "separated_child": 1,
        "medical_need": 3,
        "disability": 0,
        "trafficking_victim": 0,
        "pregnant_or_lactating": 0,
        "elderly": 1,
        "gbv_survivor": 0,
        "mental_health": 0,
    }
    composer = Composer(
        JinjaTemplates(PACKAGED_TEMPLATES, fallback_language="fr"), sms_max_segments=3
    )
    english = composer.compose(WAVE_SUMMARY_RULE, summary.context(), "en")
    assert english.subject == "[retour] Arrival announced at Bamako on 11/06/2031: 6 people, Vol 2"
    assert "  - children (0 to 17): 3\n  - adults (18 to 59): 1\n" in english.body
    assert "Unaccompanied children: 1" in english.body
    assert "  - medical need: 3" in english.body and "Leaving from" not in english.body
    bambara = composer.compose(WAVE_SUMMARY_RULE, summary.context(), "bm")
    assert bambara.language == "fr" and "Nombre de personnes : 6" in bambara.body
