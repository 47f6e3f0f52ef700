"""The Reintegration Sustainability Survey's scores, checked against sums worked out by hand.

Each expected value below is written as the sum the method prescribes (docs/case-management.md):
an answer's value times its question's weight, the weights typed here from the method's table,
not read from ``rss_method.toml``, so a changed weight or a changed rule fails here.
"""

from typing import Any

import pytest

from retour_contracts import SustainabilityScores
from retour_reintegration.domain.sustainability import (
    METHOD,
    InvalidAnswers,
    method_from_data,
    parse_answers,
    questionnaire,
    rss_method,
    score,
)

STRUGGLING_ECONOMICALLY: dict[str, str] = {
    # economic
    "economic_satisfaction": "dissatisfied",  # 0.25
    "food_reduction": "often",  # 0.25
    "can_borrow": "no",  # 0
    "borrowing_frequency": "sometimes",  # 0.5
    "debt_vs_spending": "debt_larger",  # 0
    "access_to_opportunities": "poor",  # 0.25
    "currently_working": "no",  # 0
    "productive_assets": "none",  # 0
    "looking_for_job": "yes",  # 0
    # social
    "access_to_housing": "good",  # 0.75
    "housing_condition": "fair",  # 0.5
    "access_to_education": "good",  # 0.75
    "children_in_school": "all",  # 1
    "access_to_justice": "fair",  # 0.5
    "has_identity_document": "yes",  # 1
    "access_to_documentation": "good",  # 0.75
    "access_to_safe_water": "very_good",  # 1
    "access_to_health_care": "good",  # 0.75
    "health_care_quality": "fair",  # 0.5
    # psychosocial
    "social_activities": "sometimes",  # 0.5
    "support_network": "good",  # 0.75
    "sense_of_belonging": "somewhat_agree",  # 0.75
    "physical_safety": "safe_most_of_the_time",  # 0.75
    "family_conflict": "rarely",  # 0.75
    "discrimination": "sometimes",  # 0.5
    "distress": "often",  # 0.25
    "wants_psychological_support": "yes",  # 0
    "able_to_stay": "no",  # 0
    "reason_for_feeling": "need_to_leave",  # 0
}

WELL_BUT_WISHING_TO_LEAVE: dict[str, str] = {
    "economic_satisfaction": "very_satisfied",
    "food_reduction": "never",
    "can_borrow": "yes",
    "borrowing_frequency": "never",
    "debt_vs_spending": "no_debt",
    "access_to_opportunities": "very_good",
    "currently_working": "yes",
    "productive_assets": "owns_assets",
    "looking_for_job": "no",
    "access_to_housing": "very_good",
    "housing_condition": "very_good",
    "access_to_education": "very_good",
    "children_in_school": "no_school_age_children",  # 0.5
    "access_to_justice": "very_good",
    "has_identity_document": "yes",
    "access_to_documentation": "very_good",
    "access_to_safe_water": "very_good",
    "access_to_health_care": "very_good",
    "health_care_quality": "very_good",
    "social_activities": "very_often",
    "support_network": "very_good",
    "sense_of_belonging": "agree",
    "physical_safety": "very_safe_all_the_time",
    "family_conflict": "never",
    "discrimination": "never",
    "distress": "never",
    "wants_psychological_support": "no",
    "able_to_stay": "dont_know",  # 0, so asked why
    "reason_for_feeling": "wish_to_leave",  # 1: remigration = 0 + 1
}

RELUCTANT: dict[str, str] = {
    # "Don't know" or "prefer not to say" wherever the question offers it (0.5 each).
    "economic_satisfaction": "prefer_not_to_say",
    "food_reduction": "prefer_not_to_say",
    "can_borrow": "dont_know",
    "borrowing_frequency": "prefer_not_to_say",
    "debt_vs_spending": "prefer_not_to_say",
    "access_to_opportunities": "dont_know",
    "currently_working": "not_applicable",
    "productive_assets": "dont_know",
    "looking_for_job": "dont_know",
    "access_to_housing": "dont_know",
    "housing_condition": "dont_know",
    "access_to_education": "dont_know",
    "children_in_school": "no_school_age_children",
    "access_to_justice": "dont_know",
    "has_identity_document": "yes",  # only yes or no: 1
    "access_to_documentation": "dont_know",
    "access_to_safe_water": "dont_know",
    "access_to_health_care": "dont_know",
    "health_care_quality": "dont_know",
    "social_activities": "prefer_not_to_say",
    "support_network": "dont_know",
    "sense_of_belonging": "dont_know",
    "physical_safety": "prefer_not_to_say",
    "family_conflict": "prefer_not_to_say",
    "discrimination": "prefer_not_to_say",
    "distress": "prefer_not_to_say",
    "wants_psychological_support": "dont_know",
    "able_to_stay": "prefer_not_to_say",  # 0.5, and reason_for_feeling is not asked
}


def _worked_struggling() -> SustainabilityScores:
    economic = 0.15 * 0.25 + 0.12 * 0.25 + 0.08 * 0 + 0.10 * 0.5 + 0.08 * 0
    economic += 0.13 * 0.25 + 0.10 * 0 + 0.11 * 0 + 0.13 * 0  # = 0.15
    services = (0.75 + 0.75 + 0.5 + 0.75 + 1 + 0.75) / 6  # housing, education, justice,
    # documentation, water, health: 0.75
    social = 0.10 * 0.75 + 0.12 * 0.5 + 0.11 * 0.75 + 0.07 * 1 + 0.12 * 0.5 + 0.05 * 1
    social += 0.20 * 0.75 + 0.15 * 0.5 + 0.08 * services  # = 0.6825
    psychosocial = 0.12 * 0.5 + 0.05 * 0.75 + 0.15 * 0.75 + 0.10 * 0.75 + 0.12 * 0.75
    psychosocial += 0.11 * 0.5 + 0.10 * 0.25 + 0.10 * 0 + 0.15 * (0 + 0)  # = 0.455
    composite = 0.05 * 0.25 + 0.08 * 0.25 + 0.02 * 0 + 0.02 * 0.5 + 0.04 * 0
    composite += 0.03 * 0.25 + 0.03 * 0 + 0.03 * 0 + 0.03 * 0  # economic part: 0.05
    composite += 0.03 * 0.75 + 0.03 * 0.5 + 0.03 * 0.75 + 0.02 * 1 + 0.04 * 0.5 + 0.05 * 1
    composite += 0.06 * 0.75 + 0.03 * 0.5 + 0.04 * services  # social part: 0.24
    composite += 0.04 * 0.5 + 0.03 * 0.75 + 0.04 * 0.75 + 0.05 * 0.75 + 0.01 * 0.75
    composite += 0.0 * 0.5 + 0.04 * 0.25 + 0.03 * 0 + 0.10 * 0  # psychosocial part: 0.1275
    return _scores(economic, social, psychosocial, composite)


def _worked_wishing_to_leave() -> SustainabilityScores:
    economic = 0.15 + 0.12 + 0.08 + 0.10 + 0.08 + 0.13 + 0.10 + 0.11 + 0.13  # all 1
    services = 1.0
    social = 0.10 + 0.12 + 0.11 + 0.07 * 0.5 + 0.12 + 0.05 + 0.20 + 0.15 + 0.08 * services
    psychosocial = 0.12 + 0.05 + 0.15 + 0.10 + 0.12 + 0.11 + 0.10 + 0.10 + 0.15 * (0 + 1)
    composite = 0.05 + 0.08 + 0.02 + 0.02 + 0.04 + 0.03 + 0.03 + 0.03 + 0.03
    composite += 0.03 + 0.03 + 0.03 + 0.02 * 0.5 + 0.04 + 0.05 + 0.06 + 0.03 + 0.04 * services
    composite += 0.04 + 0.03 + 0.04 + 0.05 + 0.01 + 0.0 + 0.04 + 0.03 + 0.10 * (0 + 1)
    return _scores(economic, social, psychosocial, composite)  # 1, 0.965, 1, 0.99


def _worked_reluctant() -> SustainabilityScores:
    economic = 0.5 * (0.15 + 0.12 + 0.08 + 0.10 + 0.08 + 0.13 + 0.10 + 0.11 + 0.13)
    services = 0.5
    social = 0.5 * (0.10 + 0.12 + 0.11 + 0.07 + 0.12 + 0.20 + 0.15) + 0.05 * 1
    social += 0.08 * services  # = 0.525
    psychosocial = 0.5 * (0.12 + 0.05 + 0.15 + 0.10 + 0.12 + 0.11 + 0.10 + 0.10)
    psychosocial += 0.15 * (0.5 + 0)  # reason not asked: 0; = 0.5
    composite = 0.5 * (0.05 + 0.08 + 0.02 + 0.02 + 0.04 + 0.03 + 0.03 + 0.03 + 0.03)
    composite += 0.5 * (0.03 + 0.03 + 0.03 + 0.02 + 0.04 + 0.06 + 0.03) + 0.05 * 1
    composite += 0.04 * services
    composite += 0.5 * (0.04 + 0.03 + 0.04 + 0.05 + 0.01 + 0.0 + 0.04 + 0.03) + 0.10 * 0.5
    return _scores(economic, social, psychosocial, composite)  # 0.5, 0.525, 0.5, 0.525


def _scores(
    economic: float, social: float, psychosocial: float, composite: float
) -> SustainabilityScores:
    return SustainabilityScores(
        economic=round(economic, 4),
        social=round(social, 4),
        psychosocial=round(psychosocial, 4),
        composite=round(composite, 4),
    )


@pytest.mark.parametrize(
    ("answers", "worked", "by_eye"),
    [
        (STRUGGLING_ECONOMICALLY, _worked_struggling, (0.15, 0.6825, 0.455, 0.4175)),
        (WELL_BUT_WISHING_TO_LEAVE, _worked_wishing_to_leave, (1.0, 0.965, 1.0, 0.99)),
        (RELUCTANT, _worked_reluctant, (0.5, 0.525, 0.5, 0.525)),
    ],
    ids=["struggling-economically", "well-but-wishing-to-leave", "reluctant"],
)
def test_scores_match_the_sums_worked_by_hand(
    answers: dict[str, str], worked: Any, by_eye: tuple[float, float, float, float]
) -> None:
    scores = score(parse_answers(answers))
    assert scores == worked()
    # The totals of the sums above, added up on paper as a check of the check.
    assert (scores.economic, scores.social, scores.psychosocial, scores.composite) == by_eye


def test_the_shipped_weights_add_up_and_are_named() -> None:
    method = rss_method()
    assert method.name == METHOD
    assert len(method.questions) == 29
    assert {c.code for c in method.constructs} == {"services_access", "remigration"}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"food_reduction": None}, "answers.food_reduction", "required"),
        ({"food_reduction": "always"}, "answers.food_reduction", "must be one of"),
        ({"shoe_size": "42"}, "answers", "1 answer(s) to no question of the survey"),
        ({"reason_for_feeling": None}, "answers.reason_for_feeling", "required"),
        (
            {"able_to_stay": "yes"},
            "answers.reason_for_feeling",
            "asked only when able_to_stay is dont_know or no",
        ),
        ({"can_borrow": 1}, "answers.can_borrow", "must be one of"),
    ],
)
def test_incomplete_or_wrong_answers_are_refused_naming_the_question(
    change: dict[str, object], field: str, message: str
) -> None:
    answers: dict[str, object] = {**STRUGGLING_ECONOMICALLY, **change}
    answers = {code: answer for code, answer in answers.items() if answer is not None}
    with pytest.raises(InvalidAnswers) as refused:
        parse_answers(answers)
    assert (field, message) in [(f, m[: len(message)]) for f, m in refused.value.problems]


def test_answers_that_are_not_an_object_are_refused() -> None:
    with pytest.raises(InvalidAnswers) as refused:
        parse_answers(["food_reduction", "never"])
    assert refused.value.problems[0][0] == "answers"


def test_weights_that_do_not_add_up_are_refused() -> None:
    data: dict[str, Any] = {
        "method": "broken",
        "questions": [
            {
                "code": code,
                "dimension": dimension,
                "text": code,
                "choices": {"yes": 1.0, "no": 0.0},
                "dimension_weight": 1.0,
                "composite_weight": 0.3,
            }
            for code, dimension in [("a", "economic"), ("b", "social"), ("c", "psychosocial")]
        ],
    }
    with pytest.raises(ValueError, match=r"composite weights sum to 0\.9,"):
        method_from_data(data)
    data["questions"][2]["composite_weight"] = 0.4
    assert method_from_data(data).name == "broken"
    data["questions"][0]["dimension_weight"] = 0.9
    with pytest.raises(ValueError, match=r"economic weights sum to 0\.9,"):
        method_from_data(data)


def test_the_questionnaire_lists_every_question_with_its_choices() -> None:
    shown = questionnaire()
    assert shown["method"] == METHOD
    codes = [q["code"] for q in shown["questions"]]
    assert codes[0] == "economic_satisfaction"
    assert set(STRUGGLING_ECONOMICALLY) == set(codes)
    reason = next(q for q in shown["questions"] if q["code"] == "reason_for_feeling")
    assert reason["asked_when"] == {"question": "able_to_stay", "answers": ["dont_know", "no"]}
    assert reason["choices"] == {"wish_to_leave": 1.0, "need_to_leave": 0.0}
