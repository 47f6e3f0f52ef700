"""Closed vocabularies of the events.

Values are lower-case snake_case strings: they travel in JSON and end up as report dimensions,
so they must never change spelling. Adding a member is backward compatible for readers of old
data; removing one is a breaking change (see ``schema_compat``).
"""

from enum import StrEnum


class ReceptionCentre(StrEnum):
    """Reception platforms where returnees are registered (IOM / ministry sites)."""

    BAMAKO = "bamako"
    KAYES = "kayes"
    GAO = "gao"
    MOPTI = "mopti"
    TOMBOUCTOU = "tombouctou"


class ReturnType(StrEnum):
    """IOM return categories, published as a disaggregation."""

    AVRR = "avrr"  # assisted voluntary return and reintegration
    VHR = "vhr"  # voluntary humanitarian return
    EMERGENCY_EVACUATION = "emergency_evacuation"
    FORCED_RETURN = "forced_return"
    SPONTANEOUS_RETURN = "spontaneous_return"


class MaliRegion(StrEnum):
    """Regions of Mali and the Bamako district.

    Both the ten regions in use before 2023 and the nine created by the 2023 territorial reform
    are listed: registrars record what the returnee names, and older records keep old regions.
    """

    BAMAKO = "bamako"  # district of Bamako
    KAYES = "kayes"
    KOULIKORO = "koulikoro"
    SIKASSO = "sikasso"
    SEGOU = "segou"
    MOPTI = "mopti"
    TOMBOUCTOU = "tombouctou"
    GAO = "gao"
    KIDAL = "kidal"
    TAOUDENIT = "taoudenit"
    MENAKA = "menaka"
    # Regions created by the 2023 reform.
    NIORO = "nioro"
    KITA = "kita"
    DIOILA = "dioila"
    NARA = "nara"
    BOUGOUNI = "bougouni"
    KOUTIALA = "koutiala"
    SAN = "san"
    DOUENTZA = "douentza"
    BANDIAGARA = "bandiagara"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class Vulnerability(StrEnum):
    """Vulnerabilities screened at registration."""

    UNACCOMPANIED_CHILD = "unaccompanied_child"
    SEPARATED_CHILD = "separated_child"
    MEDICAL_NEED = "medical_need"
    DISABILITY = "disability"
    TRAFFICKING_VICTIM = "trafficking_victim"
    PREGNANT_OR_LACTATING = "pregnant_or_lactating"
    ELDERLY = "elderly"
    GBV_SURVIVOR = "gbv_survivor"
    MENTAL_HEALTH = "mental_health"


class AidPhase(StrEnum):
    """Immediate care (first 72 hours) or reintegration assistance."""

    IMMEDIATE = "immediate"
    REINTEGRATION = "reintegration"


class AidCategory(StrEnum):
    LODGING = "lodging"
    FOOD = "food"
    MEDICAL = "medical"
    CASH = "cash"
    TRANSPORT = "transport"
    PSYCHOSOCIAL = "psychosocial"
    VOCATIONAL_TRAINING = "vocational_training"
    BUSINESS_START_UP_GRANT = "business_start_up_grant"
    IN_KIND_KIT = "in_kind_kit"
    EDUCATION = "education"
    HOUSING = "housing"


class Dimension(StrEnum):
    """IOM reintegration dimensions."""

    ECONOMIC = "economic"
    SOCIAL = "social"
    PSYCHOSOCIAL = "psychosocial"


class Level(StrEnum):
    """Who the support targets: one returnee, a group of returnees, or their community."""

    INDIVIDUAL = "individual"
    COLLECTIVE = "collective"
    COMMUNITY = "community"


class Modality(StrEnum):
    """Assistance given directly, or through referral to a partner organisation."""

    DIRECT = "direct"
    REFERRAL = "referral"


class Sector(StrEnum):
    """Economic sector of an income-generating activity (AGR)."""

    AGRICULTURE = "agriculture"
    LIVESTOCK = "livestock"
    FISHING = "fishing"
    COMMERCE = "commerce"
    CRAFTS = "crafts"
    TRANSPORT = "transport"
    SERVICES = "services"
    MANUFACTURING = "manufacturing"
    OTHER = "other"


class ErasureReason(StrEnum):
    """Why a returnee's personal data was erased (the request itself stays with the data
    protection officer: free text could hold personal data, so the event carries a code)."""

    DATA_SUBJECT_REQUEST = "data_subject_request"  # the person asked
    CONSENT_WITHDRAWN = "consent_withdrawn"  # consent to processing withdrawn
    NO_LONGER_NEEDED = "no_longer_needed"  # the purpose is over
    REGISTERED_IN_ERROR = "registered_in_error"
    LEGAL_OBLIGATION = "legal_obligation"


class ChangeReason(StrEnum):
    """Why a registration was corrected or the person transferred to another centre (a code:
    free text could hold personal data)."""

    DATA_ENTRY_ERROR = "data_entry_error"  # typed wrong at the desk
    NEW_INFORMATION = "new_information"  # a document seen, a new phone number
    RETURNEE_REQUEST = "returnee_request"  # the person asked
    RELOCATION = "relocation"  # the person lives near another centre now
    CENTRE_CAPACITY = "centre_capacity"  # moved to relieve a full centre


class RegistrationField(StrEnum):
    """A field of a registration that a correction can change. ``personal.*`` fields travel
    sealed; consents have their own event (``consent.changed``) and duplicates their review."""

    RECEPTION_CENTRE = "reception_centre"
    ARRIVAL_DATE = "arrival_date"
    RETURN_TYPE = "return_type"
    HOST_COUNTRY = "host_country"
    REGION_OF_ORIGIN = "region_of_origin"
    SEX = "sex"
    AGE_YEARS = "age_years"
    AGE_IS_ESTIMATED = "age_is_estimated"
    HOUSEHOLD_SIZE = "household_size"
    VULNERABILITIES = "vulnerabilities"
    PREFERRED_LANGUAGE = "preferred_language"
    GIVEN_NAME = "personal.given_name"
    FAMILY_NAME = "personal.family_name"
    OTHER_NAMES = "personal.other_names"
    DATE_OF_BIRTH = "personal.date_of_birth"
    PHONE = "personal.phone"
    NATIONAL_ID = "personal.national_id"

    @property
    def is_personal(self) -> bool:
        return self.value.startswith("personal.")


class ClosureReason(StrEnum):
    """Why a case was closed (IOM Reintegration Handbook 2.7, case closure); a fixed list so
    reports can count them."""

    REINTEGRATION_COMPLETED = "reintegration_completed"
    RETURNEE_DECLINED = "returnee_declined"  # declined further assistance
    RETURNEE_UNREACHABLE = "returnee_unreachable"  # lost contact during follow-up
    REMIGRATED = "remigrated"
    RELOCATED = "relocated"  # moved out of the areas the programme covers
    INELIGIBLE = "ineligible"  # found ineligible on re-checking eligibility
    DUPLICATE_REGISTRATION = "duplicate_registration"  # the person's earlier case serves them
    DECEASED = "deceased"


class ReopeningReason(StrEnum):
    """Why a closed case was opened again."""

    RETURNEE_RESUMED = "returnee_resumed"  # came back to the programme after declining
    CONTACT_REGAINED = "contact_regained"  # reached again after being unreachable
    NEW_NEEDS = "new_needs"  # new vulnerabilities or needs after completion
    CLOSED_IN_ERROR = "closed_in_error"


class Provider(StrEnum):
    """Who provides a plan item: retour's programme itself, or a partner through a referral."""

    RETOUR = "retour"
    PARTNER = "partner"


class PlanItemStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class ReferralStatus(StrEnum):
    """A referral's life: sent to the partner, then accepted or declined; an accepted one is
    completed when the partner has delivered."""

    SENT = "sent"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    DECLINED = "declined"


class AssessmentKind(StrEnum):
    """When the Reintegration Sustainability Survey was taken: as the baseline before the plan,
    or at a monitoring visit."""

    BASELINE = "baseline"
    FOLLOW_UP = "follow_up"


class VisitOutcome(StrEnum):
    COMPLETED = "completed"
    UNREACHABLE = "unreachable"  # the returnee could not be reached for the visit
