"""Message templates as Jinja2 files, one folder per language.

    templates/fr/welcome.sms.j2                 the text of an SMS
    templates/fr/vulnerable_arrival.email.j2    the body of an email...
    templates/fr/vulnerable_arrival.subject.j2  ...and its subject
    templates/fr/words.j2                       labels of codes (aid categories, centres...)

A language is added by dropping a folder (``bm/`` for Bambara). A template missing from it is
taken from the fallback language, and so is anything it imports, so a partial translation
still sends complete messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from retour_notifications.domain.money import format_money
from retour_notifications.domain.rules import Channel
from retour_notifications.usecases.ports import Rendered, TemplateProblem

PACKAGED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class JinjaTemplates:
    def __init__(self, directory: Path, *, fallback_language: str) -> None:
        self._directory = directory
        self._fallback = fallback_language
        self._environments: dict[str, jinja2.Environment] = {}
        self._present: dict[tuple[str, str], bool] = {}

    def languages(self) -> set[str]:
        return {p.name for p in self._directory.iterdir() if p.is_dir() and _LANGUAGE.match(p.name)}

    def check(self, templates: Iterable[tuple[str, Channel]]) -> None:
        """Fails at start-up when the fallback language lacks a template a rule names."""
        if self._fallback not in self.languages():
            raise TemplateProblem(f"no {self._fallback}/ folder in {self._directory}")
        for template, channel in sorted(templates):
            for name in _files(template, channel):
                if not (self._directory / self._fallback / name).is_file():
                    raise TemplateProblem(f"missing template {self._fallback}/{name}")

    def render(
        self, template: str, channel: Channel, language: str, context: Mapping[str, Any]
    ) -> Rendered:
        body_file, *subject_file = _files(template, channel)
        used = language if self._has(language, body_file) else self._fallback
        environment = self._environment(used)
        try:
            body = environment.get_template(body_file).render(context).strip()
            subject = None
            if subject_file:
                subject = environment.get_template(subject_file[0]).render(context)
                subject = " ".join(subject.split())
        except jinja2.TemplateError as error:
            raise TemplateProblem(
                f"template {used}/{body_file}: {type(error).__name__}: {error.message}"
            ) from None
        return Rendered(language=used, subject=subject, body=body)

    def _has(self, language: str, file_name: str) -> bool:
        # Looked up once per language and file: the folder is read as it was at start-up,
        # like the templates themselves (no auto_reload), which were checked then.
        key = (language, file_name)
        if key not in self._present:
            known = bool(_LANGUAGE.match(language))  # never a path like ../x from an event
            self._present[key] = known and (self._directory / language / file_name).is_file()
        return self._present[key]

    def _environment(self, language: str) -> jinja2.Environment:
        if language not in self._environments:
            folders = [self._directory / language, self._directory / self._fallback]
            environment = ImmutableSandboxedEnvironment(
                loader=jinja2.FileSystemLoader([str(f) for f in folders]),
                # Plain text (SMS, text/plain email): nothing to escape, and a variable
                # that is not defined is a template bug to report, not an empty string.
                autoescape=False,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                # Compiled once: a stat() of every file on every render cost a few percent of the
                # consumer's time, and the files are checked at start-up, not on the fly.
                auto_reload=False,
            )
            environment.filters["money"] = _money
            environment.filters["day"] = _day
            self._environments[language] = environment
        return self._environments[language]


def _files(template: str, channel: Channel) -> list[str]:
    if channel is Channel.EMAIL:
        return [f"{template}.email.j2", f"{template}.subject.j2"]
    return [f"{template}.{channel.value}.j2"]


def _money(value: Mapping[str, str] | None) -> str:
    if not value:
        return ""
    return format_money(value["amount"], value.get("currency", "XOF"))


def _day(value: str) -> str:
    return date.fromisoformat(value).strftime("%d/%m/%Y")
