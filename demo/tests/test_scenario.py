import random
from collections import Counter
from datetime import date

from retour_demo.casework import PARTNERS, answers_for
from retour_demo.scenario import ScenarioParams, build_scenario


def test_the_scenario_follows_the_published_figures() -> None:
    scenario = build_scenario(ScenarioParams())
    bodies = [r.registration for r in scenario.returnees]
    assert len(bodies) == 4577
    wave = [b for b in bodies if b["return_type"] == "emergency_evacuation"]
    assert len(wave) == 415
    assert {b["host_country"] for b in wave} == {"CI"}
    assert all("2024-01-01" <= b["arrival_date"] <= "2024-06-15" for b in bodies)
    centres = Counter(b["reception_centre"] for b in bodies)
    assert {"bamako", "kayes", "gao"} <= set(centres)
    late = sum(r.late for r in scenario.returnees)
    given_care = sum(bool(r.immediate_aid) for r in scenario.returnees)
    assert 0 < late < given_care / 5  # most within 72 hours, some late
    assert any(len(a.participants) > 1 for a in scenario.activities)  # some collective
    assert len(scenario.duplicates) == 12


def test_the_same_seed_gives_the_same_requests_and_another_seed_does_not() -> None:
    small = ScenarioParams(returnees=300, wave=30, duplicate_attempts=3)
    first, again = build_scenario(small), build_scenario(small)
    assert [r.registration for r in first.returnees] == [r.registration for r in again.returnees]
    other = build_scenario(ScenarioParams(returnees=300, wave=30, duplicate_attempts=3, seed=7))
    assert [r.registration for r in other.returnees] != [r.registration for r in first.returnees]


def test_size_and_dates_are_parameters() -> None:
    params = ScenarioParams(
        returnees=50, wave=0, start=date(2023, 7, 1), end=date(2023, 12, 31), duplicate_attempts=2
    )
    scenario = build_scenario(params)
    assert len(scenario.returnees) == 50
    assert all(
        "2023-07-01" <= r.registration["arrival_date"] <= "2023-12-31" for r in scenario.returnees
    )


def test_collective_shares_add_up_to_the_funding() -> None:
    for activity in build_scenario(ScenarioParams(returnees=600, wave=0)).activities:
        assert sum(activity.share_amounts) == int(activity.body["funding"]["amount"])


def test_the_wave_arrives_within_any_period() -> None:
    params = ScenarioParams(
        returnees=40, wave=10, start=date(2005, 3, 1), end=date(2005, 3, 15), duplicate_attempts=1
    )
    scenario = build_scenario(params)
    wave = [
        r.registration["arrival_date"]
        for r in scenario.returnees
        if r.registration["return_type"] == "emergency_evacuation"
    ]
    assert len(wave) == 10
    assert all("2005-03-01" <= day <= "2005-03-15" for day in wave)
    for planned in scenario.returnees:
        for aid in planned.immediate_aid + planned.reintegration_aid:
            assert aid["granted_at"][:10] >= planned.registration["arrival_date"]


def test_corrections_transfers_and_re_registrations_are_planned() -> None:
    scenario = build_scenario(ScenarioParams(returnees=600, wave=0))
    by_index = {r.index: r.registration for r in scenario.returnees}

    transfers = [(i, c) for i, c in scenario.corrections if "reception_centre" in c]
    assert len(transfers) == 12 and len(scenario.corrections) == 36
    assert all(c["reception_centre"] != by_index[i]["reception_centre"] for i, c in transfers)
    assert all(c["reason"] for _, c in scenario.corrections)
    for index, again in scenario.re_registrations:
        original = by_index[index]["personal"]
        assert again["personal"]["family_name"] == original["family_name"]
        assert again["personal"]["date_of_birth"] != original["date_of_birth"]
        assert again["personal"]["phone"] is None
    assert len(scenario.re_registrations) == 6
    # The same seed plans the same changes.
    assert build_scenario(ScenarioParams(returnees=600, wave=0)).corrections == scenario.corrections


def test_case_work_follows_people_given_reintegration_aid_whose_registration_stays() -> None:
    scenario = build_scenario(ScenarioParams())
    by_index = {r.index: r for r in scenario.returnees}
    corrected = {index for index, _ in scenario.corrections}
    work = scenario.case_work
    assert len(work) == 150
    for case in work:
        planned = by_index[case.index]
        assert planned.reintegration_aid and case.index not in corrected
        assert case.case_worker.startswith(f"caseworker.{case.centre}.")
        assert case.centre == planned.registration["reception_centre"]
        assert {item.dimension for item in case.items} >= {"economic"}
        for item in case.items:  # a partner only where one serves the centre with the service
            if item.partner:
                [partner] = [p for p in PARTNERS if p["key"] == item.partner]
                assert case.centre in partner["centres"] and item.category in partner["services"]
    # Most plans within the Handbook's month, some later; some cases closed, a few reopened.
    within = sum(case.plan_agreed_after_days <= 30 for case in work)
    assert len(work) / 2 < within < len(work)
    closed = [case for case in work if case.closure]
    assert len(closed) == 50 and 0 < sum(bool(case.reopening) for case in closed) <= 3
    # People do better over the year, on the whole.
    first = [c.visits[0].wellbeing for c in work if c.visits]
    assert sum(first) / len(first) > sum(c.baseline_wellbeing for c in work) / len(work)


def test_survey_answers_are_choices_offered_and_follow_how_well_the_person_does() -> None:
    survey = {
        "questions": [
            {"code": "a", "choices": {"good": 1.0, "fair": 0.5, "bad": 0.0, "dont_know": 0.5}},
            {"code": "b", "choices": {"yes": 1.0, "no": 0.0}},
            {
                "code": "c",
                "choices": {"wish": 1.0, "need": 0.0},
                "asked_when": {"question": "b", "answers": ["no"]},
            },
        ]
    }
    rng = random.Random(1)
    doing_well = [answers_for(survey, 0.95, rng) for _ in range(200)]
    doing_badly = [answers_for(survey, 0.05, rng) for _ in range(200)]
    for answers in doing_well + doing_badly:
        assert answers["a"] in survey["questions"][0]["choices"]
        assert ("c" in answers) == (answers["b"] == "no")  # asked only after "no"
    assert sum(a["b"] == "yes" for a in doing_well) > sum(a["b"] == "yes" for a in doing_badly)
