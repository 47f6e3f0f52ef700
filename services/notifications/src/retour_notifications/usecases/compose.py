"""Turning a rule and its template variables into the message a recipient will read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retour_notifications.domain.rules import Channel, Rule
from retour_notifications.domain.sms_text import fit
from retour_notifications.usecases.ports import Renderer


@dataclass(frozen=True)
class Composed:
    language: str
    subject: str | None
    body: str
    segments: int | None = None
    encoding: str | None = None
    adjustment: str = "none"
    """For SMS: "transliterated" or "shortened" when the text had to be made to fit."""


class Composer:
    def __init__(self, renderer: Renderer, *, sms_max_segments: int) -> None:
        self._renderer = renderer
        self._sms_max_segments = sms_max_segments

    def compose(self, rule: Rule, context: Mapping[str, Any], language: str) -> Composed:
        rendered = self._renderer.render(rule.template, rule.channel, language, context)
        if rule.channel is not Channel.SMS:
            return Composed(rendered.language, rendered.subject, rendered.body)
        # Template files wrap lines for their authors; an SMS is one paragraph, and every
        # character saved is room before the next segment.
        fitted = fit(" ".join(rendered.body.split()), self._sms_max_segments)
        return Composed(
            language=rendered.language,
            subject=None,
            body=fitted.text,
            segments=fitted.length.segments,
            encoding=fitted.length.encoding.value,
            adjustment=fitted.adjustment,
        )
