"""The Reintegration Sustainability Survey (RSS) and its scoring system.

The survey and the scoring method come from IOM's MEASURE project (Samuel Hall / IOM, *Setting
Standards for an Integrated Approach to Reintegration*, 2017), which the IOM Reintegration
Handbook (2019, 2.2.5 and Annex 4) uses to assess returnees and to monitor their reintegration.
Every answer has a value from 0 (worst) to 1 (best); each question (or construct of questions)
has two weights: one inside its dimension, one inside the composite score. A dimension score is
the weighted sum of its items' values, the composite the weighted sum of all items' values.

The questions, answer values and weights are data, in ``rss_method.toml`` next to this module,
with where each number comes from: no public source this project could read gives Annex 4's
table, so the weights are those of a public third-party implementation, which is said there and
in docs/case-management.md rather than presented as IOM's. ``METHOD`` names them; an event
carries it so that scores of two methods are never averaged together.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from retour_contracts import Dimension, SustainabilityScores

METHOD = "rss-2017-wca-weights"
"""The method ``rss_method.toml`` holds (its ``method``, checked when it is read): a new set of
weights is a new name in both places."""

_TOLERANCE = 1e-9
_DECIMALS = 4


@dataclass(frozen=True)
class Question:
    code: str
    dimension: Dimension
    text: str
    choices: Mapping[str, float]
    """Each answer code and its value, 0 (worst) to 1 (best)."""
    dimension_weight: float
    composite_weight: float
    asked_when: tuple[str, frozenset[str]] | None = None
    """(question, answers): asked only after one of those answers to that question."""
    note: str | None = None


@dataclass(frozen=True)
class Construct:
    """An item computed from questions rather than asked: their mean, or their sum."""

    code: str
    dimension: Dimension
    text: str
    kind: str
    of: tuple[str, ...]
    dimension_weight: float
    composite_weight: float
    note: str | None = None

    def value(self, values: Mapping[str, float]) -> float:
        parts = [values.get(code, 0.0) for code in self.of]  # a question not asked counts 0
        if self.kind == "mean":
            return sum(parts) / len(parts)
        total = sum(parts)
        if total > 1 + _TOLERANCE:
            raise ValueError(f"{self.code} exceeds 1: the method's data is inconsistent")
        return total


@dataclass(frozen=True)
class ScoringMethod:
    name: str
    questions: tuple[Question, ...]
    constructs: tuple[Construct, ...]

    def question(self, code: str) -> Question | None:
        return next((q for q in self.questions if q.code == code), None)


@dataclass(frozen=True)
class SurveyAnswers:
    """A complete, valid set of answers: question code -> answer code."""

    answers: Mapping[str, str]


class InvalidAnswers(ValueError):
    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = list(problems)
        """(field, message) pairs, the field as ``answers.<question code>``."""


def parse_answers(raw: object, method: ScoringMethod | None = None) -> SurveyAnswers:
    """The survey's answers checked against the questionnaire: every question asked is answered
    with one of its choices, and nothing else is given. Raises ``InvalidAnswers`` naming each
    wrong question; what the client sent is never repeated in the messages."""
    method = method or rss_method()
    if not isinstance(raw, Mapping):
        raise InvalidAnswers([("answers", "must be an object of question codes and answers")])
    problems: list[tuple[str, str]] = []
    # Named by count, not by key: what a client sent is never echoed into an error body.
    unknown = sum(1 for code in raw if not isinstance(code, str) or method.question(code) is None)
    if unknown:
        problems.append(("answers", f"{unknown} answer(s) to no question of the survey"))
    for question in method.questions:
        field = f"answers.{question.code}"
        asked = _is_asked(question, raw)
        answer = raw.get(question.code)
        if not asked:
            if answer is not None:
                condition = question.asked_when
                assert condition is not None
                allowed = " or ".join(sorted(condition[1]))
                problems.append((field, f"asked only when {condition[0]} is {allowed}"))
            continue
        if answer is None:
            problems.append((field, "required"))
        elif not isinstance(answer, str) or answer not in question.choices:
            problems.append((field, f"must be one of: {', '.join(question.choices)}"))
    if problems:
        raise InvalidAnswers(problems)
    return SurveyAnswers({code: str(answer) for code, answer in raw.items()})


def score(answers: SurveyAnswers, method: ScoringMethod | None = None) -> SustainabilityScores:
    """Dimension and composite scores of a complete survey, 0..1, rounded to four decimals."""
    method = method or rss_method()
    values = {
        q.code: q.choices[answers.answers[q.code]]
        for q in method.questions
        if q.code in answers.answers
    }
    items: list[tuple[Dimension, float, float, float]] = [
        (q.dimension, q.dimension_weight, q.composite_weight, values.get(q.code, 0.0))
        for q in method.questions
    ]
    items += [
        (c.dimension, c.dimension_weight, c.composite_weight, c.value(values))
        for c in method.constructs
    ]
    by_dimension = {
        dimension: sum(weight * value for dim, weight, _, value in items if dim is dimension)
        for dimension in Dimension
    }
    composite = sum(weight * value for _, _, weight, value in items)
    return SustainabilityScores(
        economic=_rounded(by_dimension[Dimension.ECONOMIC]),
        social=_rounded(by_dimension[Dimension.SOCIAL]),
        psychosocial=_rounded(by_dimension[Dimension.PSYCHOSOCIAL]),
        composite=_rounded(composite),
    )


def questionnaire(method: ScoringMethod | None = None) -> dict[str, Any]:
    """The survey as a client shows it: questions, choices, and how it is scored."""
    method = method or rss_method()
    return {
        "method": method.name,
        "questions": [
            {
                "code": q.code,
                "dimension": q.dimension.value,
                "text": q.text,
                "choices": dict(q.choices),
                "dimension_weight": q.dimension_weight,
                "composite_weight": q.composite_weight,
                **_asked_when(q),
                **({"note": q.note} if q.note else {}),
            }
            for q in method.questions
        ],
        "constructs": [
            {
                "code": c.code,
                "dimension": c.dimension.value,
                "text": c.text,
                "of": list(c.of),
                "dimension_weight": c.dimension_weight,
                "composite_weight": c.composite_weight,
                **({"note": c.note} if c.note else {}),
            }
            for c in method.constructs
        ],
    }


def _asked_when(question: Question) -> dict[str, Any]:
    if question.asked_when is None:
        return {}
    previous, answers = question.asked_when
    return {"asked_when": {"question": previous, "answers": sorted(answers)}}


@cache
def rss_method() -> ScoringMethod:
    """The method shipped with the service (``rss_method.toml``), read once, on first use."""
    text = files(__package__).joinpath("rss_method.toml").read_text(encoding="utf-8")
    method = method_from_data(tomllib.loads(text))
    if method.name != METHOD:
        raise ValueError(f"rss_method.toml holds {method.name}, the code names {METHOD}")
    return method


def method_from_data(data: Mapping[str, Any]) -> ScoringMethod:
    """A method from its data, refused when its weights do not add up (1 per dimension, 1 in
    the composite): a typo in a weight must stop the service, not skew every score."""
    scales: Mapping[str, Mapping[str, float]] = data.get("scales", {})
    questions = tuple(_question(item, scales) for item in data["questions"])
    constructs = tuple(_construct(item) for item in data.get("constructs", ()))
    method = ScoringMethod(name=data["method"], questions=questions, constructs=constructs)
    _check(method)
    return method


def _question(item: Mapping[str, Any], scales: Mapping[str, Mapping[str, float]]) -> Question:
    choices = item.get("choices") or scales[item["scale"]]
    condition = item.get("asked_when")
    return Question(
        code=item["code"],
        dimension=Dimension(item["dimension"]),
        text=item["text"],
        choices={answer: float(value) for answer, value in choices.items()},
        dimension_weight=float(item["dimension_weight"]),
        composite_weight=float(item["composite_weight"]),
        asked_when=(condition["question"], frozenset(condition["answers"])) if condition else None,
        note=item.get("note"),
    )


def _construct(item: Mapping[str, Any]) -> Construct:
    if item["kind"] not in ("mean", "sum"):
        raise ValueError(f"construct {item['code']}: kind must be mean or sum")
    return Construct(
        code=item["code"],
        dimension=Dimension(item["dimension"]),
        text=item["text"],
        kind=item["kind"],
        of=tuple(item["of"]),
        dimension_weight=float(item["dimension_weight"]),
        composite_weight=float(item["composite_weight"]),
        note=item.get("note"),
    )


def _check(method: ScoringMethod) -> None:
    items: list[Question | Construct] = [*method.questions, *method.constructs]
    codes = {q.code for q in method.questions}
    for question in method.questions:
        if not all(0 <= value <= 1 for value in question.choices.values()):
            raise ValueError(f"{question.code}: answer values must lie between 0 and 1")
        if question.asked_when and question.asked_when[0] not in codes:
            raise ValueError(f"{question.code}: asked after an unknown question")
    for construct in method.constructs:
        if not set(construct.of) <= codes:
            raise ValueError(f"{construct.code}: built from an unknown question")
    for dimension in Dimension:
        total = sum(i.dimension_weight for i in items if i.dimension is dimension)
        if abs(total - 1) > _TOLERANCE:
            raise ValueError(f"{dimension.value} weights sum to {total:.6g}, not 1")
    composite = sum(i.composite_weight for i in items)
    if abs(composite - 1) > _TOLERANCE:
        raise ValueError(f"composite weights sum to {composite:.6g}, not 1")


def _is_asked(question: Question, raw: Mapping[Any, Any]) -> bool:
    if question.asked_when is None:
        return True
    previous, answers = question.asked_when
    return raw.get(previous) in answers


def _rounded(value: float) -> float:
    # Sums of weights times values carry float noise (0.30000000000000004): four decimals are
    # far finer than the survey can tell apart, and identical on every machine.
    return round(min(max(value, 0.0), 1.0), _DECIMALS)
