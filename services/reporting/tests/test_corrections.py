"""Corrections and transfers (``returnee.updated``) in the projections: what is kept of an
update, the version guard, and that every order of the same events ends in the same rows."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from retour_contracts import ReturneeRegistered, ReturneeUpdated
from retour_contracts.examples import (
    example_aid_granted,
    example_returnee_registered,
    example_returnee_updated,
)
from retour_reporting.domain.corrections import FieldChange, field_changes, newest
from retour_reporting.domain.merges import KeptMerge, Merge
from retour_reporting.domain.projection import (
    ProjectionRows,
    RegistrationRow,
    corrected,
    registration_row,
    rows_for,
)
from retour_reporting.usecases.projecting import apply_rows


def update(returnee_id: UUID, version: int, **facts: Any) -> ReturneeUpdated:
    reason = "relocation" if "reception_centre" in facts else "data_entry_error"
    return ReturneeUpdated.model_validate(
        {
            "returnee_id": str(returnee_id),
            "version": version,
            "updated_at": "2024-07-01T10:15:00Z",
            "updated_by": "agent.gao.003",
            "reason": reason,
            "changed": list(facts),
            "facts": facts,
        }
    )


def registered(returnee_id: UUID, **overrides: Any) -> ReturneeRegistered:
    return example_returnee_registered(
        returnee_id=str(returnee_id),
        reception_centre="gao",
        age_years=17,
        vulnerabilities=["unaccompanied_child"],
        personal={"date_of_birth": None},
        **overrides,
    )


class TestWhatIsKeptOfAnUpdate:
    def test_a_transfer_is_a_new_reception_centre(self) -> None:
        person = uuid4()

        [change] = field_changes(update(person, 2, reception_centre="bamako"))

        assert change == FieldChange(person, "reception_centre", 2, "bamako")

    def test_a_corrected_age_is_kept_as_its_age_group_only(self) -> None:
        # A fixed id: a random one may hold "52" itself.
        [change] = field_changes(update(UUID(int=1), 3, age_years=52))

        assert (change.field, change.value) == ("age_group", "45+")
        assert "52" not in repr(change)

    def test_emptied_vulnerabilities_are_a_change_not_an_absence(self) -> None:
        [change] = field_changes(update(uuid4(), 2, vulnerabilities=[]))

        assert (change.field, change.value) == ("vulnerabilities", "")

    def test_facts_no_report_uses_are_left_out(self) -> None:
        facts = {"household_size": 4, "preferred_language": "fr", "age_is_estimated": False}
        event = update(uuid4(), 2, **facts)

        assert field_changes(event) == []

    def test_personal_changes_are_never_opened(self) -> None:
        # Sealed under a key reporting does not have: the facts beside it are all it reads.
        event = example_returnee_updated(
            changed=["arrival_date", "personal.phone"],
            facts={"preferred_language": None, "arrival_date": "2024-06-29"},
        )

        changes = field_changes(event)

        assert event.sealed_personal is not None
        assert [(c.field, c.value) for c in changes] == [("arrival_date", "2024-06-29")]
        assert "+223" not in repr(changes)

    def test_every_changed_fact_of_one_update_shares_its_version(self) -> None:
        event = update(
            uuid4(),
            4,
            arrival_date="2024-02-03",
            return_type="forced_return",
            host_country="LY",
            region_of_origin="kayes",
            sex="male",
            vulnerabilities=["medical_need", "disability"],
        )

        changes = {c.field: c for c in field_changes(event)}

        assert {c.version for c in changes.values()} == {4}
        assert changes["vulnerabilities"].value == "disability,medical_need"
        assert set(changes) == {
            "arrival_date",
            "return_type",
            "host_country",
            "region_of_origin",
            "sex",
            "vulnerabilities",
        }


class TestTheVersionGuard:
    def test_the_newest_change_of_each_field_wins_in_any_order(self) -> None:
        person = uuid4()
        changes = [
            FieldChange(person, "reception_centre", 2, "bamako"),
            FieldChange(person, "reception_centre", 4, "kayes"),
            FieldChange(person, "reception_centre", 3, "mopti"),
            FieldChange(person, "sex", 3, "male"),
        ]

        for order in itertools.permutations(changes):
            assert sorted(newest(order)) == [
                FieldChange(person, "reception_centre", 4, "kayes"),
                FieldChange(person, "sex", 3, "male"),
            ]

    def test_a_change_of_the_same_version_does_not_replace_the_one_kept(self) -> None:
        person = uuid4()
        first = FieldChange(person, "sex", 2, "male")

        assert newest([first, first._replace(value="female")]) == [first]

    def test_people_and_fields_are_guarded_separately(self) -> None:
        one, two = uuid4(), uuid4()
        changes = [
            FieldChange(one, "sex", 5, "male"),
            FieldChange(two, "sex", 2, "female"),
            FieldChange(one, "age_group", 2, "0-17"),
        ]

        assert sorted(newest(changes)) == sorted(changes)


class TestACorrectedRow:
    def test_a_transfer_moves_the_row_to_the_new_centre_and_keeps_the_rest(self) -> None:
        person = uuid4()
        row = registration_row(registered(person))

        moved = corrected(row, [FieldChange(person, "reception_centre", 2, "bamako")])

        assert moved.reception_centre == "bamako"
        assert moved._replace(reception_centre=row.reception_centre) == row

    def test_an_age_group_and_dates_and_lists_are_replaced(self) -> None:
        person = uuid4()
        row = registration_row(registered(person))
        changes = field_changes(
            update(person, 2, age_years=45, arrival_date="2024-05-01", vulnerabilities=[])
        )

        new = corrected(row, changes)

        assert (row.age_group, new.age_group) == ("0-17", "45+")
        assert new.arrival_date == date(2024, 5, 1)
        assert new.vulnerabilities == ()

    def test_older_changes_after_newer_ones_change_nothing(self) -> None:
        person = uuid4()
        row = registration_row(registered(person))
        newer = FieldChange(person, "reception_centre", 3, "kayes")
        older = FieldChange(person, "reception_centre", 2, "bamako")

        assert corrected(row, [newer, older]) == corrected(row, [older, newer])
        assert corrected(corrected(row, [newer]), [newer, older]).reception_centre == "kayes"

    def test_changes_of_someone_else_are_ignored(self) -> None:
        person = uuid4()
        row = registration_row(registered(person))

        assert corrected(row, [FieldChange(uuid4(), "sex", 9, "male")]) == row


def test_a_batch_keeps_the_newest_change_of_each_field_of_its_updates() -> None:
    person = uuid4()
    events = [
        update(person, 3, reception_centre="kayes"),
        update(person, 2, reception_centre="bamako", sex="male"),
        update(person, 3, reception_centre="kayes"),  # delivered twice
    ]

    rows = rows_for(events)

    assert sorted(rows.changes) == [
        FieldChange(person, "reception_centre", 3, "kayes"),
        FieldChange(person, "sex", 2, "male"),
    ]
    assert rows.registrations == []


# ---- the use case, against a store that behaves as the tables do ------------------------------


class MemoryStore:
    """The projections as the Postgres store keeps them: first registration wins, the newest
    change of each field is kept. Records the order of its calls."""

    def __init__(self) -> None:
        self.registrations: dict[UUID, RegistrationRow] = {}
        self.changes: dict[tuple[UUID, str], FieldChange] = {}
        self.aid: set[UUID] = set()
        self.calls: list[str] = []

    async def lock_registrations(self, *, exclusive: bool) -> None:
        self.calls.append("lock exclusive" if exclusive else "lock shared")

    async def record_changes(self, changes: Sequence[FieldChange]) -> None:
        self.calls.append("record changes")
        for change in changes:
            key = (change.returnee_id, change.field)
            if key not in self.changes or self.changes[key].version < change.version:
                self.changes[key] = change

    async def changes_of(self, returnee_ids: Collection[UUID]) -> list[FieldChange]:
        self.calls.append("read changes")
        return [c for c in self.changes.values() if c.returnee_id in returnee_ids]

    async def record_merges(self, merges: Sequence[Merge]) -> None:
        raise AssertionError("no merge here: test_merges.py has them")

    async def merges(self) -> list[KeptMerge]:
        raise AssertionError("no merge here: test_merges.py has them")

    async def count_as(self, people: Mapping[UUID, UUID]) -> None:
        raise AssertionError("no merge here: test_merges.py has them")

    async def registrations_of(self, returnee_ids: Collection[UUID]) -> list[RegistrationRow]:
        self.calls.append("read registrations")
        return [row for key, row in self.registrations.items() if key in returnee_ids]

    async def write(self, rows: ProjectionRows) -> None:
        self.calls.append("write")
        for row in rows.registrations:
            self.registrations.setdefault(row.returnee_id, row)
        self.aid.update(row.aid_id for row in rows.aid)

    async def replace_registrations(self, rows: Sequence[RegistrationRow]) -> None:
        self.calls.append("replace registrations")
        self.registrations.update((row.returnee_id, row) for row in rows)


PERSON = uuid4()
REGISTRATION = registered(PERSON)
TRANSFER = update(PERSON, 2, reception_centre="bamako")
AGE_CORRECTED = update(PERSON, 3, age_years=46, vulnerabilities=[])
TRANSFER_BACK = update(PERSON, 4, reception_centre="gao")
EXPECTED = registration_row(REGISTRATION)._replace(
    reception_centre="gao", age_group="45+", vulnerabilities=()
)


async def _applied(*batches: Sequence[Any]) -> MemoryStore:
    store = MemoryStore()
    for batch in batches:
        await apply_rows(store, rows_for(batch))
    return store


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations([REGISTRATION, TRANSFER, AGE_CORRECTED, TRANSFER_BACK])),
    ids=lambda order: "-".join(
        f"v{e.version}" if isinstance(e, ReturneeUpdated) else "registered" for e in order
    ),
)
async def test_every_order_of_a_registration_and_its_updates_ends_in_the_same_row(
    order: tuple[Any, ...],
) -> None:
    one_by_one = await _applied(*([event] for event in order))
    together = await _applied(order)

    assert one_by_one.registrations == {PERSON: EXPECTED}
    assert together.registrations == {PERSON: EXPECTED}


async def test_an_update_before_its_registration_waits_and_is_applied_when_it_arrives() -> None:
    store = await _applied([TRANSFER])
    assert store.registrations == {}

    await apply_rows(store, rows_for([REGISTRATION]))

    assert store.registrations[PERSON].reception_centre == "bamako"


async def test_redelivered_and_older_updates_change_nothing() -> None:
    store = await _applied([REGISTRATION], [TRANSFER], [AGE_CORRECTED], [TRANSFER_BACK])
    before, calls = dict(store.registrations), len(store.calls)

    await apply_rows(store, rows_for([TRANSFER]))
    await apply_rows(store, rows_for([TRANSFER_BACK, AGE_CORRECTED]))

    assert store.registrations == before == {PERSON: EXPECTED}
    assert "replace registrations" not in store.calls[calls:]


async def test_a_registration_published_again_keeps_its_corrections() -> None:
    store = await _applied([REGISTRATION], [TRANSFER])

    await apply_rows(store, rows_for([REGISTRATION]))

    assert store.registrations[PERSON].reception_centre == "bamako"


async def test_the_lock_is_taken_before_anything_is_read_or_written() -> None:
    # Exclusive for updates (rare), shared for registrations (side by side in a replay).
    updates = await _applied([TRANSFER])
    registrations = await _applied([REGISTRATION])

    assert updates.calls[:2] == ["lock exclusive", "record changes"]
    assert registrations.calls[:2] == ["lock shared", "read changes"]


async def test_aid_alone_takes_no_lock() -> None:
    store = await _applied([example_aid_granted()])

    assert store.calls == ["write"]
    assert len(store.aid) == 1
