"""`retour-demo`: play the seeded first half of 2024 against the running local stack."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from rich.console import Console

from retour_demo.casework_runner import case_worker_clients
from retour_demo.client import ApiClient, Endpoints, dev_token
from retour_demo.report import print_headline_report
from retour_demo.runner import DemoError, DemoRunner, new_progress
from retour_demo.scenario import ScenarioParams, build_scenario


def _parse(argv: list[str] | None) -> argparse.Namespace:
    defaults = ScenarioParams()
    parser = argparse.ArgumentParser(prog="retour-demo", description=__doc__)
    parser.add_argument("--returnees", type=int, default=defaults.returnees)
    parser.add_argument(
        "--wave",
        type=int,
        default=defaults.wave,
        help="emergency evacuation from Côte d'Ivoire (Port-Bouët)",
    )
    parser.add_argument("--start", type=date.fromisoformat, default=defaults.start)
    parser.add_argument("--end", type=date.fromisoformat, default=defaults.end)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--duplicates", type=int, default=defaults.duplicate_attempts)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".local/env"),
        help="where make up wrote AUTH_JWT_SECRET",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.wave <= args.returnees or args.returnees < 1:
        parser.error("need 1 <= returnees and 0 <= wave <= returnees")
    if args.start > args.end or args.end > date.today():
        parser.error("need start <= end <= today")
    if not 0 <= args.duplicates <= args.returnees:
        parser.error("need 0 <= duplicates <= returnees")
    return args


def _jwt_secret(env_file: Path) -> str:
    for line in env_file.read_text().splitlines() if env_file.exists() else []:
        name, _, value = line.partition("=")
        if name == "AUTH_JWT_SECRET" and value:
            return value
    raise DemoError(f"AUTH_JWT_SECRET not found in {env_file}: run `make up` first")


async def _play(args: argparse.Namespace, console: Console) -> None:
    params = ScenarioParams(
        returnees=args.returnees,
        wave=args.wave,
        start=args.start,
        end=args.end,
        seed=args.seed,
        duplicate_attempts=args.duplicates,
    )
    scenario = build_scenario(params)
    secret = _jwt_secret(args.env_file)
    endpoints = Endpoints()
    intake = ApiClient(
        endpoints.intake, dev_token(secret, "registrar"), concurrency=args.concurrency
    )
    reintegration = ApiClient(
        endpoints.reintegration, dev_token(secret, "supervisor"), concurrency=args.concurrency
    )
    supervisor = ApiClient(
        endpoints.intake, dev_token(secret, "supervisor"), concurrency=args.concurrency
    )
    reporting = ApiClient(endpoints.reporting, dev_token(secret, "analyst"))
    case_workers = case_worker_clients(endpoints.reintegration, secret)
    try:
        console.print(
            f"[bold]retour demo[/]: {params.returnees:,} returnees from {params.start} to"
            f" {params.end}, {params.wave:,} in the Port-Bouët wave, seed {params.seed}"
        )
        with new_progress() as progress:
            outcome = await DemoRunner(
                scenario,
                intake=intake,
                reintegration=reintegration,
                supervisor=supervisor,
                case_workers=case_workers,
                concurrency=args.concurrency,
            ).run(progress)
        await print_headline_report(console, scenario, outcome, reporting, endpoints)
        console.print(
            f"\nDashboard: {endpoints.reporting}/#token=<token> with the token that"
            " `make token ROLE=analyst` prints"
        )
    finally:
        for client in (intake, reintegration, supervisor, reporting, *case_workers.values()):
            await client.close()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console()
    try:
        asyncio.run(_play(args, console))
    except DemoError as error:
        console.print(f"[red]demo failed:[/] {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
