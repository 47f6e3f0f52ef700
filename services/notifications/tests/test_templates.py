"""Templates per language, the fallback language, and messages within the SMS limit."""

import itertools
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from retour_contracts import ReceptionCentre
from retour_contracts.examples import (
    RETURNEE_ID,
    example_activity_launched,
    example_aid_granted,
    example_returnee_registered,
)
from retour_notifications.adapters.jinja_templates import PACKAGED_TEMPLATES, JinjaTemplates
from retour_notifications.adapters.rules_file import PACKAGED_RULES, load_rule_book
from retour_notifications.domain.follow_ups import (
    Addressee,
    Schedule,
    Visit,
    overdue_context,
    reminder_context,
)
from retour_notifications.domain.planning import Event, Intent, intents
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.compose import Composer
from retour_notifications.usecases.ports import TemplateProblem

BOOK = load_rule_book(PACKAGED_RULES)
EVENTS: list[Event] = [
    example_returnee_registered(),
    example_aid_granted(),
    example_aid_granted(amount=None, category="psychosocial", modality="referral", partner="ONG"),
    example_activity_launched(),
]


def composer(directory: Path = PACKAGED_TEMPLATES, max_segments: int = 3) -> Composer:
    templates = JinjaTemplates(directory, fallback_language="fr")
    return Composer(templates, sms_max_segments=max_segments)


def intent_of(event: Event, channel: Channel = Channel.SMS) -> Intent:
    return next(i for i in intents(BOOK, event, uuid4()) if i.rule.channel is channel)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_shipped_sms_fit_one_gsm7_segment(event: Event, language: str) -> None:
    # French and English both keep to GSM-7 letters in the shipped texts: one SMS each.
    intent = intent_of(event)

    composed = composer().compose(intent.rule, intent.context, language)

    assert composed.language == language
    assert (composed.encoding, composed.segments, composed.adjustment) == ("gsm7", 1, "none")
    assert "\n" not in composed.body and "  " not in composed.body


def test_the_welcome_sms_speaks_the_returnees_language() -> None:
    intent = intent_of(example_returnee_registered())

    french = composer().compose(intent.rule, intent.context, "fr").body
    english = composer().compose(intent.rule, intent.context, "en").body

    assert french.startswith("Bienvenue au Mali. Vous avez été enregistré(e)")
    assert "centre d'accueil de Bamako, dossier 5F0C6D1E" in french
    assert english.startswith("Welcome to Mali. You are registered at the Bamako")


def test_cash_amounts_are_written_in_fcfa() -> None:
    intent = intent_of(example_aid_granted(category="cash", amount={"amount": "75000"}))

    body = composer().compose(intent.rule, intent.context, "fr").body

    assert "une aide en espèces de 75 000 FCFA." in body


def test_an_activity_share_is_announced_to_each_participant() -> None:
    first, second = uuid4(), uuid4()
    event = example_activity_launched(
        returnee_ids=[str(first), str(second)],
        level="collective",
        shares=[{"returnee_id": str(second), "amount": {"amount": "125000"}}],
    )
    by_returnee = {i.recipient.returnee_id: i for i in intents(BOOK, event, uuid4())}

    bodies = {
        rid: composer().compose(i.rule, i.context, "en").body for rid, i in by_returnee.items()
    }

    assert "Your share of the funding: 125 000 FCFA." in bodies[second]
    assert "share" not in bodies[first] and "Funding" not in bodies[first]


def test_a_language_without_templates_falls_back_to_french() -> None:
    intent = intent_of(example_returnee_registered(preferred_language="bm"))

    composed = composer().compose(intent.rule, intent.context, "bm")

    assert composed.language == "fr"
    assert composed.body.startswith("Bienvenue au Mali")


def test_a_language_is_added_by_dropping_files(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    shutil.copytree(PACKAGED_TEMPLATES, directory)
    (directory / "bm").mkdir()
    (directory / "bm" / "welcome.sms.j2").write_text(
        '{% import "words.j2" as words %}I ni ce, {{ words.centres[reception_centre] }}'
        " {{ reference }}"
    )
    welcome = intent_of(example_returnee_registered())
    aid = intent_of(example_aid_granted())

    welcome_bm = composer(directory).compose(welcome.rule, welcome.context, "bm")
    aid_bm = composer(directory).compose(aid.rule, aid.context, "bm")

    # words.j2 came from the fallback language; the aid template too.
    assert (welcome_bm.language, welcome_bm.body) == ("bm", "I ni ce, Bamako 5F0C6D1E")
    assert aid_bm.language == "fr"


def test_a_language_code_is_never_a_path() -> None:
    intent = intent_of(example_returnee_registered())

    assert composer().compose(intent.rule, intent.context, "../fr").language == "fr"


def test_the_centre_team_email_has_a_subject_and_no_personal_names() -> None:
    event = example_returnee_registered(vulnerabilities=["unaccompanied_child", "medical_need"])
    intent = intent_of(event, Channel.EMAIL)

    composed = composer().compose(intent.rule, intent.context, "fr")

    assert composed.subject == "[retour] Personne vulnérable arrivée à Bamako, dossier 5F0C6D1E"
    assert "  - enfant non accompagné\n  - besoin médical\n" in composed.body
    assert "Aminata" not in composed.body and "+223" not in composed.body
    assert composed.segments is None


def test_a_long_text_is_kept_within_the_configured_segments() -> None:
    intent = intent_of(example_aid_granted(partner="Ô" * 200, modality="referral"))

    composed = composer(max_segments=2).compose(intent.rule, intent.context, "fr")

    assert composed.segments is not None and composed.segments <= 2
    assert composed.adjustment == "shortened"


def test_a_template_error_names_the_template_not_the_data(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    shutil.copytree(PACKAGED_TEMPLATES, directory)
    (directory / "fr" / "welcome.sms.j2").write_text("Bonjour {{ given_name }}")
    intent = intent_of(example_returnee_registered())

    with pytest.raises(TemplateProblem, match=r"fr/welcome.sms.j2: UndefinedError"):
        composer(directory).compose(intent.rule, intent.context, "fr")


def test_start_up_check_finds_a_missing_template(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    shutil.copytree(PACKAGED_TEMPLATES, directory)
    (directory / "fr" / "aid_granted.sms.j2").unlink()

    with pytest.raises(TemplateProblem, match=r"missing template fr/aid_granted\.sms\.j2"):
        JinjaTemplates(directory, fallback_language="fr").check(BOOK.templates())


def test_templates_cannot_reach_python_internals(tmp_path: Path) -> None:
    directory = tmp_path / "templates"
    shutil.copytree(PACKAGED_TEMPLATES, directory)
    (directory / "fr" / "welcome.sms.j2").write_text("{{ reference.__class__.__mro__ }}")
    intent = intent_of(example_returnee_registered())
    context: dict[str, Any] = intent.context

    with pytest.raises(TemplateProblem, match=r"SecurityError|UndefinedError"):
        composer(directory).compose(intent.rule, context, "fr")


def visit_on(due_on: date, centre: str = "bamako") -> Visit:
    schedule = Schedule(centre, 6, due_on, datetime(2025, 1, 1, tzinfo=UTC), uuid4())
    return Visit(uuid4(), RETURNEE_ID, schedule)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_follow_up_reminder_fits_one_gsm7_segment_every_month_at_every_centre(
    language: str,
) -> None:
    rule = BOOK.named("follow_up_reminder_sms")
    assert rule is not None

    for month, centre in itertools.product(range(1, 13), ReceptionCentre):
        context = reminder_context(visit_on(date(2025, month, 15), centre.value))
        composed = composer().compose(rule, context, language)
        assert (composed.encoding, composed.segments, composed.adjustment) == ("gsm7", 1, "none")


def test_a_follow_up_reminder_names_the_month_and_the_centre_in_the_returnees_language() -> None:
    rule = BOOK.named("follow_up_reminder_sms")
    assert rule is not None
    context = reminder_context(visit_on(date(2025, 8, 15), "tombouctou"))

    french = composer().compose(rule, context, "fr").body
    english = composer().compose(rule, context, "en").body
    bambara = composer().compose(rule, context, "bm")  # no Bambara templates: French

    assert "centre d'accueil de Tombouctou est prévue en aout 2025. Dossier 5F0C6D1E." in french
    assert "the Timbuktu reception centre is planned for August 2025. Case 5F0C6D1E." in english
    assert (bambara.language, bambara.body) == ("fr", french)


def test_the_overdue_email_tells_the_team_why_it_is_told_and_names_no_one() -> None:
    rule = BOOK.named("follow_up_overdue_email")
    assert rule is not None
    visit = visit_on(date(2025, 3, 1), "gao")
    to_team = Addressee("centre_team:gao", "equipe.gao@example.org", "unassigned")
    to_worker = Addressee("case_worker:caseworker.gao.1", "a@example.org")
    now = datetime(2025, 3, 11, 9, tzinfo=UTC)

    team = composer().compose(rule, overdue_context(visit, to_team, now), "fr")
    worker = composer().compose(rule, overdue_context(visit, to_worker, now), "en")

    assert team.subject == "[retour] Visite de suivi en retard, dossier 5F0C6D1E (Gao)"
    assert "10 jours après la date prévue" in team.body
    assert "Visite : 6 mois après l'arrivée\nPrévue le : 01/03/2025" in team.body
    assert "n'est attribué à aucun gestionnaire de cas" in team.body
    assert worker.subject == "[retour] Follow-up visit overdue, case 5F0C6D1E (Gao)"
    assert "You are this case's case worker" in worker.body
    for body in (team.body, worker.body):
        assert "Aminata" not in body and "+223" not in body and "caseworker" not in body
