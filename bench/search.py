"""Search over a registry of realistic size (bench/registry.py): p50/p95 of GET
/returnees/search's query against a primary-key read of one registration on the same data, the
same connection, the same run. The query is the adapter's own
(retour_intake.adapters.returnee_views), without HTTP around it.
"""

from __future__ import annotations

import random
import time

from bench.common import Stack, percentile
from bench.registry import Person, Registry, connect
from retour_intake.adapters.returnee_views import PgReturneeViews
from retour_intake.domain.search import SearchQuery

QUERIES = 400


def _queries(people: list[Person], rng: random.Random) -> list[str]:
    chosen = rng.sample(people, QUERIES // 4)
    queries = []
    for person in chosen:
        national = person.phone.removeprefix("+223")
        queries += [
            person.returnee_id.hex[:8].upper(),
            f"{national[:2]} {national[2:4]} {national[4:6]} {national[6:]}",
            person.national_id.lower(),
            f"{person.given} {person.family}".replace("Cou", "Ku").replace("é", "e"),
        ]
    return queries


async def latencies(stack: Stack, registry: Registry) -> dict[str, float]:
    rng = random.Random(19)
    conn = await connect(stack, registry)
    try:
        views = PgReturneeViews(conn)
        searched, by_id = [], []
        for q in _queries(registry.people, rng):
            started = time.perf_counter()
            await views.search(SearchQuery.read(q), centres=None)
            searched.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await views.get(rng.choice(registry.people).returnee_id, centres=None)
            by_id.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    return {
        "search_p50_ms": percentile(searched, 50),
        "search_p95_ms": percentile(searched, 95),
        "by_id_p95_ms": percentile(by_id, 95),
    }
