"""``python -m retour_contracts.artefacts``: staleness, compatibility guard, CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from retour_contracts.artefacts import (
    ASYNCAPI_PATH,
    SCHEMA_DIR,
    check,
    find_root,
    generate,
    main,
    write,
)

REPO = Path(__file__).resolve().parents[2]
AID_SCHEMA = SCHEMA_DIR / "aid.granted.v1.json"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    problems, written = write(tmp_path)
    assert problems == []
    assert len(written) == 18  # seventeen schemas and the AsyncAPI document
    return tmp_path


def _edit_schema(root: Path, relative: Path, edit: str) -> None:
    """Apply a known change to a committed schema (the generated one then differs from it)."""
    path = root / relative
    schema = json.loads(path.read_text(encoding="utf-8"))
    if edit == "currency-integer":
        schema["$defs"]["Money"]["properties"]["currency"]["type"] = "integer"
    elif edit == "extra-category":
        schema["$defs"]["AidCategory"]["enum"].append("weapons")
    elif edit == "description":
        schema["description"] = "edited by hand"
    path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")


def test_committed_artefacts_are_current() -> None:
    assert check(REPO) == []


def test_generated_files() -> None:
    paths = [artefact.path.as_posix() for artefact in generate()[0]]
    assert paths == [
        "contracts/schemas/returnee.registered.v1.json",
        "contracts/schemas/returnee.registered.v2.json",
        "contracts/schemas/returnee.updated.v1.json",
        "contracts/schemas/returnee.merged.v1.json",
        "contracts/schemas/aid.granted.v1.json",
        "contracts/schemas/activity.launched.v1.json",
        "contracts/schemas/returnee.erased.v1.json",
        "contracts/schemas/consent.changed.v1.json",
        "contracts/schemas/case.assigned.v1.json",
        "contracts/schemas/case.closed.v1.json",
        "contracts/schemas/case.reopened.v1.json",
        "contracts/schemas/reintegration.plan_agreed.v1.json",
        "contracts/schemas/referral.updated.v1.json",
        "contracts/schemas/follow_up.scheduled.v1.json",
        "contracts/schemas/reintegration.assessed.v1.json",
        "contracts/schemas/returnee.expected.v1.json",
        "contracts/schemas/expected_arrival.closed.v1.json",
        "docs/asyncapi.yaml",
    ]
    assert all(artefact.content.endswith("\n") for artefact in generate()[0])
    assert generate() == generate()  # deterministic


def test_fresh_root_is_clean(root: Path) -> None:
    assert check(root) == []
    assert write(root) == ([], [])


def test_missing_and_stale_files(root: Path) -> None:
    (root / ASYNCAPI_PATH).unlink()
    _edit_schema(root, AID_SCHEMA, "description")
    assert check(root) == [
        "contracts/schemas/aid.granted.v1.json is stale: run make contracts",
        "docs/asyncapi.yaml is missing: run make contracts",
    ]
    problems, written = write(root)
    assert problems == []
    assert written == [AID_SCHEMA, ASYNCAPI_PATH]
    assert check(root) == []


def test_breaking_change_fails_check_and_write(root: Path) -> None:
    _edit_schema(root, AID_SCHEMA, "currency-integer")
    before = (root / AID_SCHEMA).read_text(encoding="utf-8")
    expected = (
        "aid.granted v1: field 'amount.currency' type changed from integer to string"
        " (bump the schema version)"
    )
    assert expected in check(root)
    problems, written = write(root)
    assert expected in problems
    assert written == []
    assert (root / AID_SCHEMA).read_text(encoding="utf-8") == before  # baseline kept


def test_enum_value_removed_is_reported(root: Path) -> None:
    _edit_schema(root, AID_SCHEMA, "extra-category")
    assert "aid.granted v1: field 'category' enum value 'weapons' removed" in check(root)[0]


def test_unreadable_committed_schema(root: Path) -> None:
    (root / AID_SCHEMA).write_text("{", encoding="utf-8")
    problems, written = write(root)
    assert problems[0].startswith("contracts/schemas/aid.granted.v1.json is not valid JSON")
    assert written == []


def test_cli(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--root", str(root)]) == 0
    assert capsys.readouterr().out == "contract artefacts are up to date\n"

    _edit_schema(root, AID_SCHEMA, "description")
    assert main(["check", "--root", str(root)]) == 1
    assert "aid.granted.v1.json is stale: run make contracts" in capsys.readouterr().err
    assert main(["write", "--root", str(root)]) == 0
    assert capsys.readouterr().out == "wrote contracts/schemas/aid.granted.v1.json\n"

    _edit_schema(root, AID_SCHEMA, "currency-integer")
    assert main(["write", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "field 'amount.currency' type changed" in err
    assert "refusing to overwrite" in err


def test_find_root() -> None:
    assert find_root() == REPO
    assert find_root(REPO / "contracts" / "tests") == REPO


def test_module_is_runnable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "retour_contracts.artefacts", "check", "--root", str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
