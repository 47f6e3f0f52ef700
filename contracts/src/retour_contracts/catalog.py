"""The event catalogue: one ``EventSpec`` per event version, the single source for topics, keys,
producers and consumers (the AsyncAPI document and the services' wiring both read it).
"""

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, TypeVar, cast
from uuid import UUID

from retour_contracts.models import (
    ActivityLaunched,
    AidGranted,
    CaseAssigned,
    CaseClosed,
    CaseReopened,
    ConsentChanged,
    ContractModel,
    ExpectedArrivalClosed,
    FollowUpScheduled,
    PlanAgreed,
    ReferralUpdated,
    ReintegrationAssessed,
    ReturneeErased,
    ReturneeExpected,
    ReturneeMerged,
    ReturneeRegistered,
    ReturneeRegisteredV2,
    ReturneeUpdated,
)

E = TypeVar("E", bound=ContractModel)

CE_TYPE_PREFIX = "org.retour."
DEFAULT_PARTITIONS = 6

# Service names; a producer's CloudEvents source is "/<service>" (e.g. "/intake").
INTAKE = "intake"
REINTEGRATION = "reintegration"
NOTIFICATIONS = "notifications"
REPORTING = "reporting"
SERVICES = (INTAKE, REINTEGRATION, NOTIFICATIONS, REPORTING)


@dataclass(frozen=True)
class EventSpec(Generic[E]):
    """Everything a producer or consumer needs to know about one version of one event."""

    name: str
    model: type[E]
    version: int
    producer: str
    consumers: tuple[str, ...]
    key_of: Callable[[E], UUID]
    """Returns the id used as Kafka key and CloudEvents subject."""
    key_field: str
    """Where the key comes from, for documentation (``returnee_id``)."""
    default_partitions: int = DEFAULT_PARTITIONS

    @property
    def topic(self) -> str:
        # Topic names are the event names; a breaking v2 would get its own spec and, usually, topic.
        return self.name

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def ce_type(self) -> str:
        return f"{CE_TYPE_PREFIX}{self.name}.v{self.version}"

    @property
    def schema_id(self) -> str:
        """``$id`` of the JSON Schema, also sent as ``ce_dataschema``."""
        return f"urn:retour:schema:{self.name}:v{self.version}"

    @property
    def schema_file(self) -> str:
        """File name of the committed JSON Schema under ``contracts/schemas/``."""
        return f"{self.name}.v{self.version}.json"

    def key(self, event: E) -> str:
        """Kafka key (and ``ce_subject``) of ``event``: events sharing it keep their order."""
        return str(self.key_of(event))


def _registered_key(event: ReturneeRegistered | ReturneeRegisteredV2) -> UUID:
    return event.returnee_id


def _updated_key(event: ReturneeUpdated) -> UUID:
    return event.returnee_id


def _merged_key(event: ReturneeMerged) -> UUID:
    # The registration that goes: its merge follows its own registration on its partition.
    return event.returnee_id


def _aid_key(event: AidGranted) -> UUID:
    return event.returnee_id


def _activity_key(event: ActivityLaunched) -> UUID:
    # A Kafka record has one key, so the participants of a collective activity cannot all share
    # it. The first (lead) returnee keeps the activity ordered after that returnee's registration
    # and aid; consumers must not rely on ordering across the other participants' partitions.
    return event.returnee_ids[0]


def _erased_key(event: ReturneeErased) -> UUID:
    return event.returnee_id


def _consent_key(event: ConsentChanged) -> UUID:
    return event.returnee_id


RETURNEE_REGISTERED_V1: EventSpec[ReturneeRegistered] = EventSpec(
    name="returnee.registered",
    model=ReturneeRegistered,
    version=1,
    producer=INTAKE,
    consumers=(REINTEGRATION, NOTIFICATIONS, REPORTING),
    key_of=_registered_key,
    key_field="returnee_id",
)
RETURNEE_REGISTERED_V2: EventSpec[ReturneeRegisteredV2] = EventSpec(
    # Breaking (the clear personal block is gone), so a new version on the same topic: the
    # records already there stay version 1, and every consumer reads both (docs/operations.md).
    name="returnee.registered",
    model=ReturneeRegisteredV2,
    version=2,
    producer=INTAKE,
    consumers=(REINTEGRATION, NOTIFICATIONS, REPORTING),
    key_of=_registered_key,
    key_field="returnee_id",
)
RETURNEE_UPDATED_V1: EventSpec[ReturneeUpdated] = EventSpec(
    # Keyed like the registration, so one person's changes stay in order on their partition;
    # across the two topics, ``version`` orders them (a consumer may read either first).
    name="returnee.updated",
    model=ReturneeUpdated,
    version=1,
    producer=INTAKE,
    consumers=(REINTEGRATION, NOTIFICATIONS, REPORTING),
    key_of=_updated_key,
    key_field="returnee_id",
)
RETURNEE_MERGED_V1: EventSpec[ReturneeMerged] = EventSpec(
    name="returnee.merged",
    model=ReturneeMerged,
    version=1,
    producer=INTAKE,
    consumers=(REINTEGRATION, NOTIFICATIONS, REPORTING),
    key_of=_merged_key,
    key_field="returnee_id",
)
AID_GRANTED_V1: EventSpec[AidGranted] = EventSpec(
    name="aid.granted",
    model=AidGranted,
    version=1,
    producer=REINTEGRATION,
    consumers=(NOTIFICATIONS, REPORTING),
    key_of=_aid_key,
    key_field="returnee_id",
)
ACTIVITY_LAUNCHED_V1: EventSpec[ActivityLaunched] = EventSpec(
    name="activity.launched",
    model=ActivityLaunched,
    version=1,
    producer=REINTEGRATION,
    consumers=(NOTIFICATIONS, REPORTING),
    key_of=_activity_key,
    key_field="returnee_ids[0]",
)

RETURNEE_ERASED_V1: EventSpec[ReturneeErased] = EventSpec(
    name="returnee.erased",
    model=ReturneeErased,
    version=1,
    producer=INTAKE,
    consumers=(NOTIFICATIONS,),
    key_of=_erased_key,
    key_field="returnee_id",
)
CONSENT_CHANGED_V1: EventSpec[ConsentChanged] = EventSpec(
    name="consent.changed",
    model=ConsentChanged,
    version=1,
    producer=INTAKE,
    consumers=(NOTIFICATIONS,),
    key_of=_consent_key,
    key_field="returnee_id",
)

RETURNEE_EXPECTED_V1: EventSpec[ReturneeExpected] = EventSpec(
    # Keyed by the expected person: the closure of an expectation follows its announcement on
    # the same partition. A wave's people spread over partitions; wave_size tells a consumer
    # when it has them all.
    name="returnee.expected",
    model=ReturneeExpected,
    version=1,
    producer=INTAKE,
    consumers=(NOTIFICATIONS, REPORTING),
    key_of=attrgetter("expected_id"),
    key_field="expected_id",
)
EXPECTED_ARRIVAL_CLOSED_V1: EventSpec[ExpectedArrivalClosed] = EventSpec(
    name="expected_arrival.closed",
    model=ExpectedArrivalClosed,
    version=1,
    producer=INTAKE,
    consumers=(REPORTING,),
    key_of=attrgetter("expected_id"),
    key_field="expected_id",
)


def _case_spec(name: str, model: type[E], consumers: tuple[str, ...]) -> EventSpec[E]:
    # Every case event has ``returnee_id`` (``CaseEvent``): a case is one registration's, so
    # keyed by it a case's events stay in order after that person's registration, aid and
    # activities.
    assert "returnee_id" in model.model_fields
    return EventSpec(
        name=name,
        model=model,
        version=1,
        producer=REINTEGRATION,
        consumers=consumers,
        key_of=attrgetter("returnee_id"),
        key_field="returnee_id",
    )


CASE_ASSIGNED_V1 = _case_spec("case.assigned", CaseAssigned, (NOTIFICATIONS,))
CASE_CLOSED_V1 = _case_spec("case.closed", CaseClosed, (NOTIFICATIONS, REPORTING))
CASE_REOPENED_V1 = _case_spec("case.reopened", CaseReopened, (NOTIFICATIONS, REPORTING))
PLAN_AGREED_V1 = _case_spec("reintegration.plan_agreed", PlanAgreed, (REPORTING,))
REFERRAL_UPDATED_V1 = _case_spec("referral.updated", ReferralUpdated, (REPORTING,))
FOLLOW_UP_SCHEDULED_V1 = _case_spec(
    "follow_up.scheduled", FollowUpScheduled, (NOTIFICATIONS, REPORTING)
)
REINTEGRATION_ASSESSED_V1 = _case_spec(
    "reintegration.assessed", ReintegrationAssessed, (NOTIFICATIONS, REPORTING)
)
CASE_EVENTS: tuple[EventSpec[Any], ...] = (
    CASE_ASSIGNED_V1,
    CASE_CLOSED_V1,
    CASE_REOPENED_V1,
    PLAN_AGREED_V1,
    REFERRAL_UPDATED_V1,
    FOLLOW_UP_SCHEDULED_V1,
    REINTEGRATION_ASSESSED_V1,
)
"""The events of a case's life after it opened, all produced by reintegration."""

CATALOG: tuple[EventSpec[Any], ...] = (
    RETURNEE_REGISTERED_V1,
    RETURNEE_REGISTERED_V2,
    RETURNEE_UPDATED_V1,
    RETURNEE_MERGED_V1,
    AID_GRANTED_V1,
    ACTIVITY_LAUNCHED_V1,
    RETURNEE_ERASED_V1,
    CONSENT_CHANGED_V1,
    *CASE_EVENTS,
    RETURNEE_EXPECTED_V1,
    EXPECTED_ARRIVAL_CLOSED_V1,
)
"""Every event version, current versions included. A topic may list several versions once a
breaking change is introduced; ``spec_for_topic`` returns the highest one."""


@dataclass(frozen=True)
class Partner:
    """An organisation outside retour that subscribes to some topics with a Kafka principal of
    its own (``retour-<name>``), in consumer groups named ``<name>...``, and may write nothing
    (docs/partners.md). Personal data reaches it only through intake's key store, for the
    returnees who consented to partner sharing."""

    name: str
    reads: tuple[str, ...]
    description: str


PARTNER_EXAMPLE = Partner(
    name="partner-example",
    # The registrations, and what a partner holding personal data must act on: a consent
    # withdrawn, an erasure.
    reads=(RETURNEE_REGISTERED_V2.topic, CONSENT_CHANGED_V1.topic, RETURNEE_ERASED_V1.topic),
    description="The example partner of examples/partner-consumer: an organisation that follows"
    " up returnees who agreed to it, and must see nobody else's personal data.",
)
PARTNERS: tuple[Partner, ...] = (PARTNER_EXAMPLE,)
"""Every partner principal the brokers know; each is granted exactly what it reads."""


def spec_for_topic(topic: str) -> EventSpec[Any]:
    """Current (highest) version of the event published on ``topic``; ``KeyError`` if unknown."""
    specs = [spec for spec in CATALOG if spec.topic == topic]
    if not specs:
        raise KeyError(f"no event on topic {topic!r}")
    return max(specs, key=lambda spec: spec.version)


def spec_for_model(model: type[E]) -> EventSpec[E]:
    """The spec whose model class is ``model``; ``KeyError`` if unknown."""
    for spec in CATALOG:
        if spec.model is model:
            return cast(EventSpec[E], spec)
    raise KeyError(f"{model.__name__} is not an event of the catalogue")


# Looked up for every record a consumer reads: a dict, not a scan building each ce_type.
_BY_CE_TYPE: dict[str, EventSpec[Any]] = {spec.ce_type: spec for spec in CATALOG}


def spec_for_ce_type(ce_type: str) -> EventSpec[Any] | None:
    """The spec of a CloudEvents type such as ``org.retour.aid.granted.v1``, if known."""
    return _BY_CE_TYPE.get(ce_type)
