"""The registration XLSForm cannot drift from the API: the committed XForm is what pyxform
makes of the XLSForm, and its questions, choices and constraints are RegisterReturnee's."""

from __future__ import annotations

from datetime import date
from typing import Any
from xml.etree.ElementTree import Element, tostring

import pytest
from defusedxml.ElementTree import fromstring
from pydantic import ValidationError

from retour_intake.domain.commands import EXAMPLE, RegisterReturnee
from retour_intake.domain.xform import (
    FORM_HELPERS,
    FORM_ID,
    MULTIPLE_CHOICE,
    YES_NO_ANSWERS,
    UnreadableSubmission,
    form_problems,
    read_submission,
)
from retour_intake.forms import build, registration_xform

XF = "{http://www.w3.org/2002/xforms}"
JR = "{http://openrosa.org/javarosa}"
ROOT = f"/{FORM_ID}/"

API_ONLY = frozenset({"confirm_not_duplicate", "override_reason", "expected_id"})
"""Decided in the API, not at the desk: a supervisor's override, a confirmed expected person."""

ONE_OF_TWO = frozenset({"personal/date_of_birth", "age_estimate"})
"""Optional in the command, exactly one given: each is required when the form asks it."""


def model_fields() -> dict[str, dict[str, Any]]:
    """RegisterReturnee's leaf fields by XForm path, from its JSON Schema (refs resolved),
    each with ``required``."""
    schema = RegisterReturnee.model_json_schema()
    definitions = schema["$defs"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in node:
            return resolve(definitions[node["$ref"].rpartition("/")[2]])
        if "items" in node:
            return {**node, "items": resolve(node["items"])}
        if "anyOf" in node:
            [kept] = [resolve(option) for option in node["anyOf"] if option != {"type": "null"}]
            return {**kept, **{k: v for k, v in node.items() if k != "anyOf"}}
        return node

    fields: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, child in node["properties"].items():
            resolved = resolve(child)
            if resolved.get("type") == "object":
                walk(resolved, f"{prefix}{name}/")
            else:
                required = name in node.get("required", ())
                fields[f"{prefix}{name}"] = {**resolved, "required": required}

    walk(schema, "")
    return {path: field for path, field in fields.items() if path not in API_ONLY}


def xform() -> Element:
    root: Element = fromstring(registration_xform())
    return root


def binds() -> dict[str, dict[str, str]]:
    return {
        bind.attrib["nodeset"].removeprefix(ROOT): dict(bind.attrib)
        for bind in xform().iter(f"{XF}bind")
    }


def choices() -> dict[str, list[str]]:
    """The choice names of each select question, by XForm path, in the form's order."""
    form = xform()
    lists = {
        instance.attrib["id"]: [name.text or "" for name in instance.iter(f"{XF}name")]
        for instance in form.iter(f"{XF}instance")
        if "id" in instance.attrib
    }
    found = {}
    for tag in ("select1", "select"):
        for question in form.iter(f"{XF}{tag}"):
            itemset = question.find(f"{XF}itemset")
            assert itemset is not None
            list_name = itemset.attrib["nodeset"].split("'")[1]
            found[question.attrib["ref"].removeprefix(ROOT)] = lists[list_name]
    return found


def test_the_committed_xform_is_what_pyxform_makes_of_the_xlsform() -> None:
    assert build.is_current(), "run: python -m retour_intake.forms.build write"


def test_every_field_of_the_command_is_a_question_and_every_question_a_field() -> None:
    questions = set(binds()) - {"meta/instanceID"} - FORM_HELPERS
    assert questions == set(model_fields())


def test_every_choice_list_is_its_contract_enum() -> None:
    selects = choices()
    for path, field in model_fields().items():
        if "enum" in field:
            assert selects[path] == field["enum"], path
        elif field.get("type") == "array":
            assert path in MULTIPLE_CHOICE
            assert selects[path] == field["items"]["enum"], path
        elif field.get("type") == "boolean":
            assert path in YES_NO_ANSWERS
            assert selects[path] == ["yes", "no"], path
    assert set(selects) - FORM_HELPERS == {
        path
        for path, field in model_fields().items()
        if "enum" in field or field.get("type") in ("array", "boolean")
    }


def test_required_and_constraints_are_the_commands() -> None:
    form = binds()
    for path, field in model_fields().items():
        bind = form[path]
        required = bind.get("required") == "true()"
        constraint = bind.get("constraint", "")
        if field["required"]:
            assert required, f"{path} is required by the command"
        elif required:
            # The form may insist where the command has a default, or on one of two.
            assert "default" in field or path in ONE_OF_TWO, path
        if "minimum" in field:
            bounds = f". >= {field['minimum']} and . <= {field['maximum']}"
            assert constraint == bounds, path
            assert bind["type"] == "int", path
        if "pattern" in field:
            assert constraint == f"regex(., '{field['pattern']}')", path
        if "maxLength" in field:
            assert constraint == f"string-length(.) <= {field['maxLength']}", path
        if field.get("const") is True:
            assert constraint == ". = 'yes'", path
        if field.get("format") == "date":
            assert bind["type"] == "date", path
    assert form["arrival_date"]["constraint"] == ". <= today()"  # not in the future
    assert "sms_contact" in form["personal/phone"]["relevant"]  # a phone only with consent
    assert "'yes'" in form["personal/date_of_birth"]["relevant"]
    assert "'no'" in form["age_estimate"]["relevant"]
    assert form["meta/instanceID"]["{http://openrosa.org/javarosa}preload"] == "uid"


def test_labels_are_french_and_english_only() -> None:
    languages = {t.attrib["lang"] for t in xform().iter(f"{XF}translation")}
    assert languages == {"Français (fr)", "English (en)"}


def filled_template(answers: dict[str, str], *, instance_id: str) -> bytes:
    """The form's own primary instance, filled: what a client built from this XForm sends."""
    template = next(xform().iter(f"{XF}instance"))
    [root] = list(template)
    for element in root.iter():
        element.tag = element.tag.removeprefix(XF)
    for path, value in {**answers, "meta/instanceID": instance_id}.items():
        question = root.find(path)
        assert question is not None, path
        question.text = value
    filled: bytes = tostring(root, encoding="utf-8")
    return filled


def as_answers(body: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A JSON API body as the form's answers, by XForm path (what a registrar would choose)."""
    answers: dict[str, str] = {}
    for name, value in body.items():
        if name in API_ONLY or value is None:
            continue
        if isinstance(value, dict):
            answers.update(as_answers(value, f"{prefix}{name}/"))
        elif isinstance(value, bool):
            answers[f"{prefix}{name}"] = "yes" if value else "no"
        elif isinstance(value, list):
            answers[f"{prefix}{name}"] = " ".join(value)
        else:
            answers[f"{prefix}{name}"] = str(value)
    return answers


# The JSON API's own example, with the age estimated instead of the date of birth.
FILLED = {
    **{k: v for k, v in as_answers(EXAMPLE).items() if k != "personal/date_of_birth"},
    "vulnerabilities": "medical_need disability",
    "personal/birth_date_known": "no",
    "age_estimate": "29",
}


def test_a_filled_instance_is_a_valid_registration() -> None:
    submission = read_submission(filled_template(FILLED, instance_id="uuid:1234"))
    assert submission.instance_id == "uuid:1234"
    command = RegisterReturnee.model_validate(submission.answers)
    assert command.arrival_date == date(2024, 3, 2)
    assert command.household_size == 5
    assert [v.value for v in command.vulnerabilities] == ["medical_need", "disability"]
    assert command.consents.sms_contact is True
    assert command.consents.partner_sharing is False
    assert command.preferred_language == "fr"  # the form's default
    assert command.personal.phone == "+22365012345"
    assert command.personal.date_of_birth is None
    assert command.age_estimate == 29


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"consents/data_processing": "no"}, "consents/data_processing"),
        ({"household_size": "0"}, "household_size"),
        ({"host_country": "ZZ"}, "host_country"),
        ({"region_of_origin": "atlantis"}, "region_of_origin"),
        ({"personal/date_of_birth": "1990-02-30"}, "personal/date_of_birth"),
        ({"personal/date_of_birth": "2024-05-01", "age_estimate": ""}, "personal/date_of_birth"),
        ({"age_estimate": "121"}, "age_estimate"),
    ],
)
def test_a_refused_answer_is_named_by_its_form_path(answers: dict[str, str], field: str) -> None:
    submission = read_submission(filled_template({**FILLED, **answers}, instance_id="uuid:1"))
    with pytest.raises(ValidationError) as refused:
        RegisterReturnee.model_validate(submission.answers)
    problems = form_problems(refused.value.errors(include_input=False))
    assert [path for path, _ in problems] == [field]


@pytest.mark.parametrize(
    ("xml", "field"),
    [
        (b"<not xml", "xml_submission_file"),
        (b'<other id="other"><meta><instanceID>uuid:1</instanceID></meta></other>', "id"),
        (b'<retour_registration id="retour_registration"/>', "meta/instanceID"),
        (
            b'<!DOCTYPE x [<!ENTITY a "aaaa">]><retour_registration id="retour_registration">'
            b"<sex>&a;</sex></retour_registration>",
            "xml_submission_file",
        ),
    ],
)
def test_what_is_not_an_instance_of_the_form_is_named(xml: bytes, field: str) -> None:
    with pytest.raises(UnreadableSubmission) as refused:
        read_submission(xml)
    assert refused.value.field == field
