"""seal_history: the registrations published before version 2, sealed in place on Kafka.

Run once by operators after the upgrade (``retour-intake seal-history``, docs/operations.md),
for ``returnee.registered`` and its dead-letter topic. Each record before the cut is replaced
by its sealed twin (domain/history.py), under the returnee's data key (issued now for people
registered before sealing existed, or whose key was lost with a master key), or under a key
nobody keeps for a person erased since or unknown to intake: their block can never be opened
again. Then the originals are deleted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import structlog

from retour_contracts import ReturneeRegistered, new_data_key
from retour_intake.adapters.kafka_history import Appender, chunks_before, cut_of, delete_before
from retour_intake.domain.history import HistoryKeys, Outcome, read, sealed_copy

log = structlog.stdlib.get_logger(__name__)

KeysOf = Callable[[Sequence[UUID]], Awaitable[HistoryKeys]]


async def seal_history(
    topic: str,
    *,
    bootstrap: str,
    keys_of: KeysOf,
    reissued: dict[UUID, ReturneeRegistered] | None = None,
) -> Counter[str]:
    """Rewrites ``topic`` up to its current end; returns how many records had each outcome.

    ``reissued`` remembers, across the chunks and the topics of one run, the people given a
    new key: each of their records is sealed again, not only the first one met (a person's
    registration and its dead letter lie on two topics)."""
    reissued = {} if reissued is None else reissued
    cut = await cut_of(bootstrap, topic)
    tally: Counter[str] = Counter()
    async with Appender(bootstrap, topic) as appender:
        async for chunk in chunks_before(bootstrap, cut):
            reads = [read(record) for record in chunk]
            wanted = {found.returnee_id for found in reads if found.returnee_id is not None}
            # Committed before the copies are written: a consumer reading a copy finds its key.
            found = await keys_of(sorted(wanted))
            reissued.update(found.reissued)
            keys = HistoryKeys(found.keys, {rid: reissued[rid] for rid in wanted & reissued.keys()})
            # The erased and the unknown get a key nobody keeps: their blocks are shredded.
            throwaway = new_data_key()
            copies = [sealed_copy(found, keys, throwaway) for found in reads]
            await appender.append([copy.record for copy in copies])
            tally.update(copy.outcome.value for copy in copies)
    # Only once every copy is acknowledged: the originals go.
    await delete_before(bootstrap, cut)
    log.info("history sealed", topic=topic, **{k: tally[k] for k in sorted(tally)})
    if tally[Outcome.UNREADABLE.value]:
        log.warning(
            "records that are not valid registrations were copied as they were",
            topic=topic,
            count=tally[Outcome.UNREADABLE.value],
        )
    return tally
