"""An example result of each report, for the OpenAPI document: a route's JSON and CSV examples
are its example rendered by the report's own functions, so they are what the route answers for
that result. The figures are invented (a first quarter at the Malian reception centres) and
are no one's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

from retour_reporting.domain.case_results import (
    PLAN_AIM_DAYS,
    CaseCell,
    ClosureReport,
    FollowUpPeriod,
    FollowUpReport,
    PartnerReferrals,
    PlanOutcomes,
    PlanReport,
    ReferralCell,
    ReferralGroup,
    ReferralReport,
    ScoreCell,
    Scores,
    ScoreSeries,
    SustainabilityReport,
    VisitCounts,
)
from retour_reporting.domain.expected_results import (
    ArrivalCounts,
    ExpectedArrivalsReport,
    WaveArrivals,
)
from retour_reporting.domain.outcomes import CohortOutcomes, KpiReport
from retour_reporting.domain.queries import Period, ReportQuery
from retour_reporting.domain.results import (
    ActivityCell,
    ActivityReport,
    AidCell,
    AidReport,
    MonthlyRegistrations,
    PeopleCell,
    RegistrationReport,
)

QUERY = ReportQuery(period=Period(date(2025, 1, 1), date(2025, 3, 31)))
"""The request of every example: the first quarter of 2025, no filter."""


def _people(**cells: int) -> list[PeopleCell]:
    return [PeopleCell(value, people) for value, people in cells.items()]


REGISTRATIONS = RegistrationReport(
    total=212,
    breakdowns={
        "age_group": [PeopleCell("0-17", 3), PeopleCell("18-44", 189), PeopleCell("45+", 20)],
        "host_country": _people(DZ=98, LY=71, NE=43),
        "reception_centre": _people(bamako=150, gao=12, kayes=50),
        "region_of_origin": _people(kayes=96, koulikoro=64, sikasso=52),
        "return_type": _people(avrr=131, vhr=81),
        "sex": _people(female=24, male=188),
        "vulnerability": _people(medical_need=13, none=197, unaccompanied_child=3),
    },
)

MONTHLY_REGISTRATIONS = [
    MonthlyRegistrations("2025-01", "bamako", 48),
    MonthlyRegistrations("2025-01", "gao", 3),
    MonthlyRegistrations("2025-01", "kayes", 17),
    MonthlyRegistrations("2025-02", "bamako", 55),
    MonthlyRegistrations("2025-02", "kayes", 21),
    MonthlyRegistrations("2025-03", "bamako", 47),
    MonthlyRegistrations("2025-03", "gao", 9),
    MonthlyRegistrations("2025-03", "kayes", 12),
]


def _aid(value: str, aids: int, people: int, xof: int, other_currency: int = 0) -> AidCell:
    return AidCell(value, aids, people, Decimal(xof), other_currency)


AID = AidReport(
    total=_aid("all", 46, 30, 4_750_000, 1),
    breakdowns={
        "category": [
            _aid("business_start_up_grant", 8, 8, 2_400_000),
            _aid("cash", 12, 12, 1_800_000, 1),
            _aid("food", 20, 18, 0),
            _aid("medical", 6, 4, 550_000),
        ],
        "dimension": [_aid("economic", 20, 15, 4_200_000, 1), _aid("social", 26, 22, 550_000)],
        "level": [_aid("individual", 46, 30, 4_750_000, 1)],
        "modality": [_aid("direct", 42, 30, 4_350_000, 1), _aid("referral", 4, 4, 400_000)],
        "phase": [_aid("immediate", 26, 22, 550_000), _aid("reintegration", 20, 15, 4_200_000, 1)],
    },
)


def _activity(value: str, activities: int, participants: int, xof: int) -> ActivityCell:
    return ActivityCell(value, activities, participants, Decimal(xof))


ACTIVITIES = ActivityReport(
    total=_activity("all", 5, 18, 7_000_000),
    breakdowns={
        "level": [
            _activity("collective", 2, 15, 5_000_000),
            _activity("individual", 3, 3, 2_000_000),
        ],
        "sector": [
            _activity("agriculture", 2, 9, 3_000_000),
            _activity("commerce", 2, 8, 3_250_000),
            _activity("livestock", 1, 1, 750_000),
        ],
    },
)

# CohortOutcomes: cohort, aided, immediate aid within 72 hours, reintegration aid, in an
# activity, aided and in an activity, median hours to the first aid.
KPIS = KpiReport(
    overall=CohortOutcomes(162, 140, 124, 55, 16, 16, 19.25),
    by_centre={
        "bamako": CohortOutcomes(150, 131, 118, 52, 14, 14, 18.75),
        "gao": CohortOutcomes(12, 9, 6, 3, 2, 2, 30.5),
    },
)

PLANS = PlanReport(
    aim_days=PLAN_AIM_DAYS,
    overall=PlanOutcomes(cohort=162, with_plan=120, within_aim=90, median_days=24.5),
    by_centre={
        "bamako": PlanOutcomes(cohort=150, with_plan=112, within_aim=86, median_days=24.0),
        "gao": PlanOutcomes(cohort=12, with_plan=8, within_aim=4, median_days=27.5),
    },
)


def _referrals(total: tuple[int, int], *by_status: tuple[int, int]) -> ReferralGroup:
    """The referrals and people in all, then sent, accepted, completed and declined."""
    statuses = ("sent", "accepted", "completed", "declined")
    return ReferralGroup(
        total=ReferralCell(*total),
        by_status={
            status: ReferralCell(*cell) for status, cell in zip(statuses, by_status, strict=True)
        },
    )


REFERRALS = ReferralReport(
    overall=_referrals((40, 36), (10, 10), (12, 12), (15, 13), (3, 3)),
    partners=[
        PartnerReferrals(
            partner_id=UUID("37526555-6387-4303-82ee-bd988cbb9788"),
            partner_name="Association Jeunesse et Emploi de Bamako",
            referrals=_referrals((25, 22), (6, 6), (8, 8), (10, 9), (1, 1)),
        ),
        PartnerReferrals(
            partner_id=UUID("9dcf5576-51dd-40f2-99ce-2a0661cc487e"),
            partner_name="Centre de formation professionnelle de Kayes",
            referrals=_referrals((15, 14), (4, 4), (4, 4), (5, 4), (2, 2)),
        ),
    ],
)

FOLLOW_UPS = FollowUpReport(
    as_of=date(2025, 4, 1),
    periods=[
        FollowUpPeriod(
            period_months=3,
            overall=VisitCounts(scheduled=60, completed=44, unreachable=5, overdue=8, due=52),
            by_centre={
                "bamako": VisitCounts(scheduled=52, completed=40, unreachable=3, overdue=5, due=45),
                "kayes": VisitCounts(scheduled=8, completed=4, unreachable=2, overdue=3, due=7),
            },
        )
    ],
)


def _scores(value: str, people: int, economic: float, social: float, psycho: float) -> ScoreCell:
    """A cell's mean scores, the composite weighted as the survey's method does."""
    composite = round(0.33 * economic + 0.33 * social + 0.34 * psycho, 4)
    return ScoreCell(value, people, Scores(economic, social, psycho, composite))


# No baseline series (its `period_months` is null) and no small cell (its `means` are): the
# OpenAPI document drops every null, those of examples too, and the example would lose keys.
SUSTAINABILITY = SustainabilityReport(
    series=[
        ScoreSeries(
            kind="follow_up",
            period_months=3,
            method="rss-2017-wca-weights",
            total=_scores("all", 42, 0.52, 0.61, 0.67),
            breakdowns={
                "reception_centre": [
                    _scores("bamako", 36, 0.53, 0.62, 0.68),
                    _scores("kayes", 6, 0.46, 0.55, 0.61),
                ],
                "return_type": [
                    _scores("avrr", 30, 0.54, 0.63, 0.69),
                    _scores("vhr", 12, 0.47, 0.56, 0.62),
                ],
                "sex": [
                    _scores("female", 8, 0.48, 0.6, 0.65),
                    _scores("male", 34, 0.5294, 0.6124, 0.6747),
                ],
            },
        )
    ]
)

CLOSURES = ClosureReport(
    closed=25,
    by_reason=[
        CaseCell("reintegration_completed", 18),
        CaseCell("returnee_unreachable", 4),
        CaseCell("remigrated", 3),
    ],
    reopenings=2,
    reopenings_by_reason=[CaseCell("contact_regained", 2)],
)

_CHARTER = ArrivalCounts(
    expected=118,
    arrived=112,
    arrived_elsewhere=2,
    awaited=3,
    closed_lapsed=2,
    closed_withdrawn=1,
    cared=110,
    cared_within_72h=104,
    median_hours_to_care=6.5,
)
EXPECTED_ARRIVALS = ExpectedArrivalsReport(
    total=_CHARTER,
    waves=[
        WaveArrivals(
            wave_id=UUID("81e5a9ec-6d63-445e-8612-397a479e5798"),
            wave_name="Charter Tripoli-Bamako 2025-02-14",
            wave_size=120,
            reception_centre="bamako",
            expected_date=date(2025, 2, 14),
            host_country="LY",
            counts=_CHARTER,
        )
    ],
)
