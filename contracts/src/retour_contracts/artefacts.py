"""Generate or check the committed contract artefacts.

    python -m retour_contracts.artefacts write [--root PATH]
    python -m retour_contracts.artefacts check [--root PATH]

Artefacts: ``contracts/schemas/<topic>.v<version>.json`` (one per event version) and
``docs/asyncapi.yaml``. A committed schema is the baseline of its version: ``write`` refuses to
replace it with an incompatible one, and ``check`` (CI) fails when a file is stale or when the
models drifted incompatibly. The fix for a breaking change is a new schema version.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from retour_contracts.asyncapi import render_asyncapi
from retour_contracts.catalog import CATALOG, EventSpec
from retour_contracts.schema_compat import breaking_changes
from retour_contracts.schemas import event_json_schema, render_json

SCHEMA_DIR = Path("contracts/schemas")
ASYNCAPI_PATH = Path("docs/asyncapi.yaml")
REGENERATE = "run make contracts"


@dataclass(frozen=True)
class Artefact:
    """A generated file: ``path`` is relative to the repository root."""

    path: Path
    content: str
    spec: EventSpec[Any] | None = None  # set for event schemas, which are compatibility-checked


def generate() -> tuple[list[Artefact], list[str]]:
    """Every artefact, rendered in memory, and the problems that kept one from rendering.

    The AsyncAPI document embeds example events; a model change that invalidates an example
    must still let the schema compatibility check run and name the changed field.
    """
    artefacts = [
        Artefact(SCHEMA_DIR / spec.schema_file, render_json(event_json_schema(spec)), spec)
        for spec in CATALOG
    ]
    try:
        artefacts.append(Artefact(ASYNCAPI_PATH, render_asyncapi()))
    except ValidationError as exc:
        fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        return artefacts, [
            f"{ASYNCAPI_PATH.as_posix()} cannot be generated: the example {exc.title} no longer"
            f" validates ({fields}); update retour_contracts.examples"
        ]
    return artefacts, []


def find_root(cwd: Path | None = None) -> Path:
    """The repository root: from the package location (workspace install), else from ``cwd`` up."""
    here = Path(__file__).resolve()
    start = (cwd or Path.cwd()).resolve()
    for candidate in (*here.parents, start, *start.parents):
        if (candidate / "contracts" / "pyproject.toml").is_file():
            return candidate
    raise FileNotFoundError(
        "cannot find the repository root (contracts/pyproject.toml); use --root"
    )


def incompatibilities(root: Path, artefacts: Sequence[Artefact]) -> list[str]:
    """Breaking changes of each generated schema against the file on disk of the same version."""
    problems: list[str] = []
    for artefact in artefacts:
        committed = root / artefact.path
        if artefact.spec is None or not committed.is_file():
            continue
        spec = artefact.spec
        try:
            baseline = json.loads(committed.read_text(encoding="utf-8"))
        except ValueError as exc:
            problems.append(
                f"{artefact.path.as_posix()} is not valid JSON ({exc}): fix or restore it"
            )
            continue
        problems.extend(
            f"{spec.name} v{spec.version}: {change} (bump the schema version)"
            for change in breaking_changes(baseline, json.loads(artefact.content))
        )
    return problems


def stale(root: Path, artefacts: Sequence[Artefact]) -> list[str]:
    """Artefacts whose file is missing or differs from what the code generates."""
    problems: list[str] = []
    for artefact in artefacts:
        target = root / artefact.path
        name = artefact.path.as_posix()
        if not target.is_file():
            problems.append(f"{name} is missing: {REGENERATE}")
        elif target.read_text(encoding="utf-8") != artefact.content:
            problems.append(f"{name} is stale: {REGENERATE}")
    return problems


def check(root: Path) -> list[str]:
    """All problems; empty when the committed artefacts are current and compatible."""
    artefacts, unrendered = generate()
    return incompatibilities(root, artefacts) + unrendered + stale(root, artefacts)


def write(root: Path) -> tuple[list[str], list[Path]]:
    """Write the artefacts unless a schema would break its committed version.

    Returns ``(problems, written)``; nothing is written when there is any problem, so the
    committed snapshot stays the baseline.
    """
    artefacts, unrendered = generate()
    problems = incompatibilities(root, artefacts) + unrendered
    if problems:
        return problems, []
    written: list[Path] = []
    for artefact in artefacts:
        target = root / artefact.path
        if target.is_file() and target.read_text(encoding="utf-8") == artefact.content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(artefact.content, encoding="utf-8")
        written.append(artefact.path)
    return [], written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retour_contracts.artefacts",
        description="Write or check contracts/schemas/*.json and docs/asyncapi.yaml.",
    )
    parser.add_argument("command", choices=("write", "check"))
    parser.add_argument("--root", type=Path, help="repository root (default: found automatically)")
    args = parser.parse_args(argv)
    try:
        root: Path = args.root.resolve() if args.root else find_root()
    except FileNotFoundError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    if args.command == "check":
        problems = check(root)
        for problem in problems:
            sys.stderr.write(f"{problem}\n")
        if not problems:
            sys.stdout.write("contract artefacts are up to date\n")
        return 1 if problems else 0
    problems, written = write(root)
    if problems:
        for problem in problems:
            sys.stderr.write(f"{problem}\n")
        sys.stderr.write(
            "refusing to overwrite a committed schema with a breaking change: add a new schema"
            " version (new model and EventSpec, version + 1) instead; see contracts/README.md\n"
        )
        return 1
    for path in written:
        sys.stdout.write(f"wrote {path.as_posix()}\n")
    if not written:
        sys.stdout.write("contract artefacts are up to date\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
