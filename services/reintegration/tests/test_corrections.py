"""Corrections and transfers of a case (returnee.updated), as pure rules: which facts a case
takes from an update, and that the result does not depend on the order updates are read in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import permutations
from typing import Any
from uuid import UUID, uuid4

import pytest

from retour_contracts import ChangeReason, MaliRegion, ReceptionCentre, ReturneeUpdated
from retour_contracts.examples import example_returnee_registered, example_returnee_updated
from retour_reintegration.domain.case import Case
from retour_reintegration.domain.corrections import CaseFacts, Correction, transfers

AT = datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
REGISTERED = CaseFacts(ReceptionCentre.GAO, MaliRegion.GAO, date(2024, 6, 11))


def an_update(
    returnee_id: UUID, version: int, *, personal: bool = False, **facts: Any
) -> ReturneeUpdated:
    """A returnee.updated changing ``facts`` (and the phone number, if ``personal``)."""
    data: dict[str, Any] = {
        "returnee_id": str(returnee_id),
        "version": version,
        "updated_at": (AT + timedelta(hours=version)).isoformat(),
        "updated_by": "agent.gao.7",
        "reason": "relocation",
        "changed": list(facts) + (["personal.phone"] if personal else []),
        "facts": facts,
    }
    if personal:
        data["sealed_personal"] = example_returnee_updated().model_dump(mode="json")[
            "sealed_personal"
        ]
    return ReturneeUpdated.model_validate(data)


def correction(version: int, **facts: Any) -> Correction:
    made = Correction.of(an_update(UUID(int=1), version, **facts))
    assert made is not None
    return made


class TestWhatACaseTakesFromAnUpdate:
    def test_the_facts_a_case_keeps_and_who_changed_them_when(self) -> None:
        update = an_update(
            uuid4(),
            4,
            reception_centre="bamako",
            region_of_origin="kayes",
            arrival_date="2024-06-09",
            household_size=5,
        )

        taken = Correction.of(update)

        assert taken == Correction(
            returnee_id=update.returnee_id,
            version=4,
            corrected_at=update.updated_at,
            corrected_by="agent.gao.7",
            reason=ChangeReason.RELOCATION,
            reception_centre=ReceptionCentre.BAMAKO,
            region_of_origin=MaliRegion.KAYES,
            arrival_date=date(2024, 6, 9),
        )
        assert taken.is_transfer

    def test_an_update_of_nothing_a_case_keeps_is_no_correction(self) -> None:
        # A new phone number and a preferred language: intake's and notifications' business.
        assert Correction.of(example_returnee_updated()) is None
        assert Correction.of(an_update(uuid4(), 2, personal=True, household_size=3)) is None

    def test_the_personal_block_is_neither_opened_nor_kept(self) -> None:
        update = an_update(uuid4(), 2, personal=True, region_of_origin="mopti")

        taken = Correction.of(update)

        assert taken is not None and not taken.is_transfer
        assert taken.changes == {"region_of_origin": MaliRegion.MOPTI}
        assert update.sealed_personal is not None
        kept = " ".join(str(value) for value in vars(taken).values())
        assert update.sealed_personal.ciphertext not in kept

    def test_a_correction_comes_after_the_registration_and_changes_something(self) -> None:
        with pytest.raises(ValueError, match="version"):
            Correction(UUID(int=1), 1, AT, "a", ChangeReason.DATA_ENTRY_ERROR, ReceptionCentre.GAO)
        with pytest.raises(ValueError, match="at least one fact"):
            Correction(UUID(int=1), 2, AT, "a", ChangeReason.DATA_ENTRY_ERROR)


class TestApplyingCorrections:
    def test_each_fact_takes_its_newest_value(self) -> None:
        corrected = REGISTERED.corrected(
            [
                correction(2, reception_centre="bamako", arrival_date="2024-06-10"),
                correction(3, reception_centre="kayes"),
                correction(4, region_of_origin="sikasso"),
            ]
        )

        assert corrected == CaseFacts(ReceptionCentre.KAYES, MaliRegion.SIKASSO, date(2024, 6, 10))

    def test_the_order_they_are_read_in_does_not_matter(self) -> None:
        received = [
            correction(2, reception_centre="bamako", arrival_date="2024-06-10"),
            correction(3, reception_centre="kayes"),
            correction(4, arrival_date="2024-06-08", region_of_origin="mopti"),
        ]
        expected = CaseFacts(ReceptionCentre.KAYES, MaliRegion.MOPTI, date(2024, 6, 8))

        results = {REGISTERED.corrected(order) for order in permutations(received)}

        assert results == {expected}

    def test_an_older_version_does_not_undo_a_newer_one(self) -> None:
        newer = correction(5, reception_centre="mopti")
        older = correction(3, reception_centre="bamako")

        assert REGISTERED.corrected([newer, older]).reception_centre is ReceptionCentre.MOPTI
        # ...while a fact the newer one left alone still takes the older one's value.
        older_arrival = correction(3, arrival_date="2024-06-01")
        assert REGISTERED.corrected([newer, older_arrival]) == CaseFacts(
            ReceptionCentre.MOPTI, MaliRegion.GAO, date(2024, 6, 1)
        )


class TestCorrectingACase:
    def test_a_transfer_moves_the_case_and_keeps_the_registration(self) -> None:
        registration = example_returnee_registered(reception_centre="gao")
        case = Case.open_for(registration)
        move = Correction.of(an_update(registration.returnee_id, 2, reception_centre="bamako"))
        assert move is not None

        moved = case.corrected([move])

        assert moved.reception_centre is ReceptionCentre.BAMAKO
        assert moved.as_registered.reception_centre is ReceptionCentre.GAO
        assert (moved.region_of_origin, moved.arrival_date) == (
            case.region_of_origin,
            case.arrival_date,
        )
        assert (moved.status, moved.registered_at) == (case.status, case.registered_at)

    def test_another_returnees_correction_is_ignored(self) -> None:
        case = Case.open_for(example_returnee_registered(returnee_id=uuid4()))
        other = Correction.of(an_update(uuid4(), 2, reception_centre="tombouctou"))
        assert other is not None

        assert case.corrected([other]) == case


class TestTransfers:
    def test_each_transfer_starts_where_the_one_before_left_the_case(self) -> None:
        received = [
            correction(4, reception_centre="kayes"),
            correction(2, reception_centre="bamako"),
            correction(3, arrival_date="2024-06-10"),  # not a transfer
        ]

        history = transfers(ReceptionCentre.GAO, received)

        assert [(t.version, t.from_centre, t.to_centre) for t in history] == [
            (2, ReceptionCentre.GAO, ReceptionCentre.BAMAKO),
            (4, ReceptionCentre.BAMAKO, ReceptionCentre.KAYES),
        ]
        assert history[0].transferred_at == AT + timedelta(hours=2)
        assert (history[0].transferred_by, history[0].reason) == (
            "agent.gao.7",
            ChangeReason.RELOCATION,
        )

    def test_a_case_never_transferred_has_no_transfers(self) -> None:
        assert transfers(ReceptionCentre.GAO, [correction(2, region_of_origin="kayes")]) == []
