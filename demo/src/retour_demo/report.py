"""The headline report printed at the end of the demo, as terminal tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from retour_demo.client import ApiClient
from retour_demo.runner import Outcome
from retour_demo.scenario import Scenario


def _outcome_table(scenario: Scenario, outcome: Outcome) -> Table:
    table = Table(title="What the demo did through the APIs")
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("returnees registered", f"{outcome.registered:,}")
    table.add_row("  namesakes confirmed after review", f"{outcome.confirmed_after_review:,}")
    table.add_row("double registrations refused (409)", f"{outcome.duplicates_refused:,}")
    for category, count in sorted(outcome.aid_granted.items()):
        table.add_row(f"aid granted: {category}", f"{count:,}")
    table.add_row("immediate care given after 72 h", f"{outcome.late_immediate:,}")
    for sector, count in sorted(outcome.activities.items()):
        table.add_row(f"activities launched: {sector}", f"{count:,}")
    return table


async def print_headline_report(
    console: Console, scenario: Scenario, outcome: Outcome, reporting: ApiClient
) -> None:
    console.print(_outcome_table(scenario, outcome))
