"""A submitted instance of the registration XForm, read into the body RegisterReturnee
validates, and validation problems named as the form names its fields.

The form's instance mirrors RegisterReturnee (groups ``consents`` and ``personal``, the same
field names), so a field's XForm path is its location in the command joined by ``/``. Only the
form's own helpers and OpenRosa's ``meta`` block are left out. Nothing here echoes a submitted
value: problems name the field and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

FORM_ID = "retour_registration"

OPENROSA_BLOCK = "meta"
"""OpenRosa's own block (``meta/instanceID``), not an answer."""

FORM_HELPERS = frozenset({"personal/birth_date_known"})
"""Questions that only steer the form (which of date of birth or age is asked)."""

MULTIPLE_CHOICE = frozenset({"vulnerabilities"})
"""select_multiple answers: the chosen names separated by spaces."""

YES_NO_ANSWERS = frozenset(
    {"consents/data_processing", "consents/sms_contact", "consents/partner_sharing"}
)
"""Answers from the form's ``yes_no`` list, booleans in the command."""

_YES_NO = {"yes": True, "no": False}


class UnreadableSubmission(ValueError):
    """The submission is not an instance of the registration form; ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Submission:
    form_id: str
    instance_id: str
    """``meta/instanceID`` (``uuid:...``): the same on every resend of one filled form."""
    answers: dict[str, Any]
    """The body RegisterReturnee validates."""


def read_submission(xml: bytes) -> Submission:
    """Reads an instance as ODK clients submit it. Raises UnreadableSubmission."""
    try:
        # defusedxml: no entity expansion, no external entities or DTDs from a phone.
        root = fromstring(xml)
    except (ParseError, DefusedXmlException) as error:
        raise UnreadableSubmission("xml_submission_file", "not a well-formed XML instance") from (
            error
        )
    form_id = root.get("id") or ""
    if form_id != FORM_ID:
        raise UnreadableSubmission("id", f"not an instance of the form {FORM_ID}")
    instance_id = _text_at(root, (OPENROSA_BLOCK, "instanceID"))
    if not instance_id:
        raise UnreadableSubmission("meta/instanceID", "required")
    return Submission(form_id, instance_id, _answers(root, prefix=""))


def form_path(location: Sequence[str | int]) -> str:
    """The XForm path of a location in RegisterReturnee (``("personal", "date_of_birth")``
    -> ``personal/date_of_birth``); list positions name the question itself."""
    return "/".join(str(part) for part in location if not isinstance(part, int))


def form_problems(errors: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(XForm path, message) of pydantic errors (``ValidationError.errors(include_input=
    False)``): the message states the rule, the input is never part of it. A rule checked on
    a whole group names the field it is about first (``personal.date_of_birth is after
    arrival_date``): that field is the question the registrar must correct."""
    problems = []
    for error in errors:
        message = str(error["msg"])
        named = _FIELD_NAMED_FIRST.match(message)
        location = named.group(1).split(".") if named else error["loc"]
        problems.append((form_path(location), message))
    return problems


_FIELD_NAMED_FIRST = re.compile(r"^(?:Value error, )?([a-z_]+(?:\.[a-z_]+)+) ")


def _answers(element: Element, *, prefix: str) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for child in element:
        name = _local_name(child.tag)
        path = f"{prefix}{name}"
        if (not prefix and name == OPENROSA_BLOCK) or path in FORM_HELPERS:
            continue
        if name in answers:
            raise UnreadableSubmission(path, "answered more than once")
        value = _answers(child, prefix=f"{path}/") if len(child) else _answer(path, child.text)
        # An unanswered or non-relevant question arrives empty: the command's default applies.
        if value not in (None, {}):
            answers[name] = value
    return answers


def _answer(path: str, text: str | None) -> Any:
    text = (text or "").strip()
    if not text:
        return None
    if path in MULTIPLE_CHOICE:
        return text.split()
    if path in YES_NO_ANSWERS:
        # Any other answer is left as it is, for the command to refuse with the field named.
        return _YES_NO.get(text, text)
    return text


def _text_at(element: Element, path: Sequence[str]) -> str:
    for name in path:
        found = next((child for child in element if _local_name(child.tag) == name), None)
        if found is None:
            return ""
        element = found
    return (element.text or "").strip()


def _local_name(tag: str) -> str:
    # Clients differ: ODK Collect submits without a namespace, others in the XForms one.
    return tag.rpartition("}")[2]
