"""Partner organisations that provide part of a reintegration plan through referrals: which
reception centres and regions they serve, and what they offer.

The IOM Reintegration Handbook (2019, section 1.4 and module 2) has case managers refer
returnees to service providers mapped beforehand; this is that map. A partner is deactivated,
never deleted: referrals and plan items keep pointing at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from retour_contracts import AidCategory, Dimension, MaliRegion, ReceptionCentre
from retour_reintegration.domain.errors import NotAllowed, RuleViolation

DIMENSIONS_OF_SERVICE: Mapping[AidCategory, frozenset[Dimension]] = {
    # The Reintegration Sustainability Survey's indicators place food security and work in
    # the economic dimension, housing, education and access to health care in the social one,
    # psychological support in the psychosocial one (see rss_method.toml); a service serves
    # the dimensions of the needs it meets.
    AidCategory.CASH: frozenset({Dimension.ECONOMIC}),
    AidCategory.BUSINESS_START_UP_GRANT: frozenset({Dimension.ECONOMIC}),
    AidCategory.VOCATIONAL_TRAINING: frozenset({Dimension.ECONOMIC}),
    AidCategory.IN_KIND_KIT: frozenset({Dimension.ECONOMIC}),
    AidCategory.FOOD: frozenset({Dimension.ECONOMIC}),
    AidCategory.LODGING: frozenset({Dimension.SOCIAL}),
    AidCategory.HOUSING: frozenset({Dimension.SOCIAL}),
    AidCategory.EDUCATION: frozenset({Dimension.SOCIAL}),
    AidCategory.TRANSPORT: frozenset({Dimension.ECONOMIC, Dimension.SOCIAL}),
    # Health care is a social indicator; mental health care meets psychosocial needs.
    AidCategory.MEDICAL: frozenset({Dimension.SOCIAL, Dimension.PSYCHOSOCIAL}),
    AidCategory.PSYCHOSOCIAL: frozenset({Dimension.PSYCHOSOCIAL}),
}
"""The dimensions each kind of service (an aid category) belongs to."""

REGION_OF_CENTRE: Mapping[ReceptionCentre, MaliRegion] = {
    ReceptionCentre.BAMAKO: MaliRegion.BAMAKO,
    ReceptionCentre.KAYES: MaliRegion.KAYES,
    ReceptionCentre.GAO: MaliRegion.GAO,
    ReceptionCentre.MOPTI: MaliRegion.MOPTI,
    ReceptionCentre.TOMBOUCTOU: MaliRegion.TOMBOUCTOU,
}
"""The region each reception centre stands in: a partner serving a region serves its centre."""


def dimensions_of(services: Iterable[AidCategory]) -> frozenset[Dimension]:
    return frozenset().union(*(DIMENSIONS_OF_SERVICE[service] for service in services))


@dataclass(frozen=True)
class PartnerContact:
    """Whom staff call at the partner. Contact details of an organisation, for staff only:
    never in events, logs or error bodies."""

    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Partner:
    partner_id: UUID
    name: str
    centres: frozenset[ReceptionCentre]
    regions: frozenset[MaliRegion]
    services: frozenset[AidCategory]
    contact: PartnerContact | None = None
    active: bool = True

    @property
    def dimensions(self) -> frozenset[Dimension]:
        return dimensions_of(self.services)

    @property
    def served_centres(self) -> frozenset[ReceptionCentre]:
        return served_centres(self.centres, self.regions)

    def serves(self, centre: ReceptionCentre) -> bool:
        return centre in self.served_centres

    def offers(self, service: AidCategory) -> bool:
        return service in self.services


def served_centres(
    centres: frozenset[ReceptionCentre], regions: frozenset[MaliRegion]
) -> frozenset[ReceptionCentre]:
    """The centres a partner serves: those it names, and those standing in a region it names."""
    return centres | {centre for centre, region in REGION_OF_CENTRE.items() if region in regions}


def check_reach(centres: frozenset[ReceptionCentre], regions: frozenset[MaliRegion]) -> None:
    if not centres and not regions:
        raise RuleViolation(
            "partner_reach_required",
            "a partner serves at least one reception centre or region",
            field="body.centres",
        )


def check_may_manage(
    actor_centres: frozenset[ReceptionCentre] | None,
    centres: frozenset[ReceptionCentre],
    regions: frozenset[MaliRegion],
) -> None:
    """A supervisor whose token names centres manages only partners that serve no other
    centre: every centre named is theirs, and so is every centre standing in a region named
    (a region without a reception centre widens nobody's reach). National supervisors manage
    every partner."""
    if actor_centres is None:
        return
    if not centres <= actor_centres:
        raise outside_centres("body.centres")
    if not served_centres(centres, regions) <= actor_centres:
        raise outside_centres("body.regions")


def outside_centres(field: str, **context: Any) -> NotAllowed:
    """A 403 like the kit's ``outside_centres``: the partner reaches centres not the caller's."""
    return NotAllowed(
        "outside_your_centres",
        f"{field}: your token does not give you every reception centre this names",
        field=field,
        **context,
    )
