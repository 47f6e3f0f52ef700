"""`python -m drills [--quick] [NAME,...]`: runs the drills (all, or those named; DRILLS=a,b
in `make drills`), prints one line each and the table, writes .local/drills/results.json,
and exits 1 when anything was lost, applied twice, sent twice or never recovered."""

from __future__ import annotations

import argparse
import asyncio
import sys

import drills.catalogue
import drills.faults  # noqa: F401 (these two register the drills)
from drills.framework import REGISTRY, Drill, Result, Settings, run_one, table, write_results
from drills.stack import Stack


def chosen(names: str) -> list[str]:
    wanted = [name.strip() for name in names.split(",") if name.strip()] or list(REGISTRY)
    unknown = [name for name in wanted if name not in REGISTRY]
    if unknown:
        raise SystemExit(f"no drill named {', '.join(unknown)}; there are: {', '.join(REGISTRY)}")
    return wanted


async def run(names: list[str], settings: Settings) -> list[Result]:
    stack = Stack.load()
    results = []
    for name in names:
        result = await run_one(REGISTRY[name], Drill(stack, settings))
        print(result.line(), flush=True)  # noqa: T201 (the drills' report is their output)
        results.append(result)
    write_results(stack, results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__)
    parser.add_argument("names", nargs="?", default="", help="comma-separated drill names")
    parser.add_argument("--quick", action="store_true", help="short faults, small loads")
    parser.add_argument("--list", action="store_true", help="list the drills and exit")
    args = parser.parse_args(argv)
    if args.list:
        for registered in REGISTRY.values():
            print(f"{registered.name:<24} {registered.summary}")  # noqa: T201
        return 0
    results = asyncio.run(run(chosen(args.names), Settings.from_env(quick=args.quick)))
    print("\n" + table(results))  # noqa: T201
    return 1 if any(result.failed for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
