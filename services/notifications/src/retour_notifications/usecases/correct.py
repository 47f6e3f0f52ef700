"""Applying returnee.updated: how to reach a person changes; nothing is sent for it.

Runs in the consumer's transaction, like recording. A correction is applied field by field
over an older version only (domain/corrections.py), so redeliveries and updates read out of
order end in the same contact. One read before the person's registration (topics are read
independently) waits in ``pending_corrections`` and is applied when the registration arrives
(record.py); an erased person's corrections are never kept, and their waiting ones were
deleted with their contact (pg_protection.py). A new phone is kept only if SMS consent stands
and was not withdrawn after the update was made (``updated_at``): a give-back brings no phone
back, whichever of the topics is read first. A registration merged into another one keeps
no phone: a new one is not kept either (the person is contacted as the other one).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol
from uuid import UUID

import structlog

from retour_notifications.domain.contacts import Contact, Refusals
from retour_notifications.domain.corrections import Corrections, OpenedUpdate, corrections_of
from retour_notifications.usecases.ports import Contacts, LedgerWriter

log = structlog.stdlib.get_logger(__name__)


class RefusalsReader(Protocol):
    async def refusals(self, returnee_ids: Collection[UUID]) -> Refusals:
        """Takes the per-returnee lock, then reads what erasures and consents decided."""
        ...


async def apply_corrections(
    updates: Sequence[OpenedUpdate],
    *,
    contacts: Contacts,
    ledger: LedgerWriter,
    forgetting: RefusalsReader,
) -> None:
    corrections = [c for c in map(corrections_of, updates) if c.fields]
    if not corrections:
        return  # names, dates, ages...: nothing notifications uses
    ids = list(dict.fromkeys(c.returnee_id for c in corrections))
    # First: the lock that orders this batch with an erasure, a consent change or a
    # registration of the same people handled by another replica; everything below is read
    # after it, so it sees what they committed.
    refusals = await forgetting.refusals(ids)
    known = await contacts.find(ids)
    waiting = await contacts.corrections_waiting([rid for rid in ids if rid not in known])
    phones_before = {rid: contact.phone for rid, contact in known.items()}
    corrected: dict[UUID, Contact] = {}
    kept_waiting: set[UUID] = set()
    for correction in corrections:
        returnee_id = correction.returnee_id
        if returnee_id in refusals.forgotten:
            log.info("correction skipped: the returnee was erased", returnee_id=str(returnee_id))
            continue
        if returnee_id in refusals.merged:
            correction = correction.without_phone()  # its version stays: no older phone back
        contact = known.get(returnee_id)
        if contact is not None:
            known[returnee_id] = corrected[returnee_id] = contact.corrected(
                correction, withdrawn_at=refusals.withdrawn_at(returnee_id)
            )
        else:
            waiting[returnee_id] = _waiting(waiting.get(returnee_id), correction, refusals)
            kept_waiting.add(returnee_id)
        log.info(
            "returnee corrected",
            returnee_id=str(returnee_id),
            fields=correction.fields,
            registered=contact is not None,
        )
    await contacts.save_all(list(corrected.values()))
    await contacts.keep_waiting([waiting[rid] for rid in kept_waiting])
    for returnee_id, contact in corrected.items():
        if contact.phone != phones_before[returnee_id]:
            # From now on, the new number: also for the SMS not sent yet.
            changed = await ledger.readdress_sms(returnee_id, contact.phone)
            log.info("waiting sms readdressed", returnee_id=str(returnee_id), changed=changed)


def _waiting(
    earlier: Corrections | None, correction: Corrections, refusals: Refusals
) -> Corrections:
    # A phone whose SMS consent is already known to be withdrawn (now, or after the phone was
    # set) is not kept even until the registration: it would be dropped then anyway.
    correction = refusals.waiting_phone(correction)
    return correction if earlier is None else earlier.then(correction)
