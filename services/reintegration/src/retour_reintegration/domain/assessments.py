"""The assessments of a case (IOM Reintegration Handbook 2019, module 2.2): the returnee's
vulnerabilities and family situation, their skills, and the Reintegration Sustainability
Survey taken as the baseline before the plan.

Each is a typed document of codes, numbers and dates only: free text about a returnee would be
personal data outside the fields kept as such, so there is none. Vulnerabilities found here are
added to the case's; the baseline is scored, and its scores (never its answers) published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import ConfigDict, Field, model_validator

from retour_contracts import (
    AssessmentKind,
    ReintegrationAssessed,
    Sector,
    SustainabilityScores,
    VisitOutcome,
    Vulnerability,
)
from retour_contracts.models.types import UniqueList
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.commands import Command, SurveyAnswersGiven
from retour_reintegration.domain.follow_up import check_day, example_answers, survey_answers
from retour_reintegration.domain.sustainability import METHOD, score


class AssessmentType(StrEnum):
    VULNERABILITY_FAMILY = "vulnerability_family"
    SKILLS = "skills"
    SUSTAINABILITY_BASELINE = "sustainability_baseline"


class FamilySupport(StrEnum):
    """How much the returnee's family supports them now."""

    NONE = "none"
    SOME = "some"
    STRONG = "strong"
    NO_FAMILY = "no_family"  # no family in reach


class FamilyAttitude(StrEnum):
    """How the family takes the return (the Handbook's family and community reception)."""

    WELCOMING = "welcoming"
    NEUTRAL = "neutral"
    DISAPPOINTED = "disappointed"  # e.g. debts incurred for the journey
    HOSTILE = "hostile"
    UNKNOWN = "unknown"  # not in contact yet


class EducationLevel(StrEnum):
    NONE = "none"
    KORANIC = "koranic"
    PRIMARY = "primary"
    LOWER_SECONDARY = "lower_secondary"
    UPPER_SECONDARY = "upper_secondary"
    VOCATIONAL = "vocational"
    HIGHER = "higher"


class Literacy(StrEnum):
    NONE = "none"
    READS = "reads"  # reads, does not write
    READS_AND_WRITES = "reads_and_writes"


class Language(StrEnum):
    """Languages spoken, as ISO 639 codes: Mali's most spoken, and those of the routes."""

    FRENCH = "fr"
    ENGLISH = "en"
    ARABIC = "ar"
    SPANISH = "es"
    ITALIAN = "it"
    BAMBARA = "bm"
    FULA = "ff"
    SONGHAY = "son"
    SONINKE = "snk"
    TAMASHEQ = "tmh"
    DYULA = "dyu"
    OTHER = "other"


Headcount = Annotated[int, Field(ge=0, le=50)]


class Document(Command):
    assessed_on: date | None = Field(
        default=None, description="The day it was taken with the returnee; today if not given."
    )


class VulnerabilityFamily(Document):
    """Vulnerabilities found, and the family situation, as codes and numbers."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "vulnerability_family",
                    "vulnerabilities": ["mental_health"],
                    "household_size": 7,
                    "dependants": 4,
                    "family_support": "some",
                    "family_attitude": "disappointed",
                }
            ]
        }
    )

    kind: Literal["vulnerability_family"]
    vulnerabilities: UniqueList[Vulnerability] = Field(
        default_factory=list,
        max_length=len(Vulnerability),
        description="Found at this assessment; added to the case's (those of the registration"
        " stay).",
    )
    household_size: Annotated[int, Field(ge=1, le=50)] = Field(
        description="People in the household the returnee lives in, returnee included."
    )
    dependants: Headcount = Field(description="People who depend on the returnee's income.")
    family_support: FamilySupport
    family_attitude: FamilyAttitude


class Occupation(Command):
    sector: Sector
    years_of_experience: Annotated[int, Field(ge=0, le=60)]


class Skills(Document):
    """Education, literacy, languages and trades, as codes and numbers."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "skills",
                    "education_level": "primary",
                    "literacy": "reads_and_writes",
                    "languages": ["bm", "fr"],
                    "occupations": [{"sector": "crafts", "years_of_experience": 4}],
                    "desired_sector": "livestock",
                }
            ]
        }
    )

    kind: Literal["skills"]
    education_level: EducationLevel
    literacy: Literacy
    languages: UniqueList[Language] = Field(min_length=1, max_length=len(Language))
    occupations: list[Occupation] = Field(default_factory=list, max_length=len(Sector))
    desired_sector: Sector | None = Field(default=None, description="Where they want to work.")

    @model_validator(mode="after")
    def _one_occupation_per_sector(self) -> Self:
        sectors = [occupation.sector for occupation in self.occupations]
        if len(sectors) != len(set(sectors)):
            raise ValueError("occupations: one per sector (add up the years)")
        return self


def _baseline_examples(schema: dict[str, Any]) -> None:
    # Built when the OpenAPI document is, not at import: it reads the method's data file.
    schema["examples"] = [{"kind": "sustainability_baseline", "answers": dict(example_answers())}]


class SustainabilityBaseline(Document):
    """The Reintegration Sustainability Survey, taken before the plan (GET
    /sustainability-survey lists its questions and answer codes)."""

    model_config = ConfigDict(json_schema_extra=_baseline_examples)

    kind: Literal["sustainability_baseline"]
    answers: SurveyAnswersGiven = Field(description="Question code -> answer code.")


RecordAssessment = Annotated[
    VulnerabilityFamily | Skills | SustainabilityBaseline, Field(discriminator="kind")
]


@dataclass(frozen=True)
class Assessment:
    assessment_id: UUID
    returnee_id: UUID
    kind: AssessmentType
    assessed_on: date
    document: Mapping[str, Any]
    """The document as recorded (codes, numbers, dates), without ``kind`` and ``assessed_on``."""
    recorded_at: datetime
    recorded_by: str
    scores: SustainabilityScores | None = None
    method: str | None = None

    @property
    def vulnerabilities(self) -> list[Vulnerability]:
        return [Vulnerability(code) for code in self.document.get("vulnerabilities", ())]

    def event(self) -> ReintegrationAssessed | None:
        """``reintegration.assessed`` for the baseline (scores only); None for the others,
        which stay in reintegration."""
        if self.kind is not AssessmentType.SUSTAINABILITY_BASELINE:
            return None
        assert self.scores is not None
        assert self.method is not None
        return ReintegrationAssessed(
            assessment_id=self.assessment_id,
            returnee_id=self.returnee_id,
            kind=AssessmentKind.BASELINE,
            outcome=VisitOutcome.COMPLETED,
            scores=self.scores,
            method=self.method,
            assessed_at=self.recorded_at,
            assessed_by=self.recorded_by,
        )


def assess(
    case: Case,
    command: VulnerabilityFamily | Skills | SustainabilityBaseline,
    *,
    assessment_id: UUID,
    at: datetime,
    by: str,
) -> Assessment:
    """The assessment ``command`` of ``case`` (open, the caller's to act on), checked: taken
    on a day between the arrival and today, a baseline's answers fitting the survey."""
    case.check_is_open()
    assessed_on = command.assessed_on or at.date()
    check_day(assessed_on, case, today=at.date(), field="body.assessed_on")
    scores = method = None
    if isinstance(command, SustainabilityBaseline):
        survey = survey_answers(command.answers)
        document: dict[str, Any] = {"answers": dict(survey.answers)}
        scores, method = score(survey), METHOD
    else:
        document = command.model_dump(mode="json", exclude={"kind", "assessed_on"})
    return Assessment(
        assessment_id=assessment_id,
        returnee_id=case.returnee_id,
        kind=AssessmentType(command.kind),
        assessed_on=assessed_on,
        document=document,
        recorded_at=at,
        recorded_by=by,
        scores=scores,
        method=method,
    )


def newly_found(assessment: Assessment, known: Iterable[Vulnerability]) -> list[Vulnerability]:
    """The vulnerabilities ``assessment`` found that the case did not have (``known``: the
    registration's and those found before)."""
    have = set(known)
    return [v for v in assessment.vulnerabilities if v not in have]
