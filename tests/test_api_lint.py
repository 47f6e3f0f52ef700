"""Each service's OpenAPI document passes Spectral, the ecosystem's OpenAPI linter, with the
repository's ruleset (.spectral.yaml: Spectral's own OpenAPI rules, and retour's: errors are
problem details only, writes declare their 428, CSV exports are CSV), without a warning.

Spectral is installed by `make setup` (tools/npm-ci.sh tools/api-lint, from the npm registry,
pinned by its lock). The apps are built pointing at nothing, as in test_service_apps.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_service_apps import settings_and_app

ROOT = Path(__file__).resolve().parent.parent
SPECTRAL = ROOT / "tools" / "api-lint" / "node_modules" / ".bin" / "spectral"
RULESET = ROOT / ".spectral.yaml"
SERVICES = ("intake", "reintegration", "notifications", "reporting")


@pytest.fixture(scope="module")
def spectral() -> Path:
    if not SPECTRAL.exists():
        pytest.fail("Spectral is missing: run `make setup`", pytrace=False)
    return SPECTRAL


def lint(spectral: Path, document: Path) -> list[str]:
    """Spectral's findings of warning severity or worse, one line each, naming the rule and
    the place in the document (``paths > /returnees > post``)."""
    # The findings go to a file: on the standard output Spectral adds a sentence to the JSON.
    findings = document.with_suffix(".findings.json")
    linted = subprocess.run(
        [
            *(str(spectral), "lint", str(document), "--ruleset", str(RULESET)),
            *("--format", "json", "--output", str(findings)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if linted.returncode not in (0, 1) or not findings.exists():  # 1: there are findings
        pytest.fail(f"Spectral failed ({linted.returncode}): {linted.stderr}", pytrace=False)
    return [
        f"{_SEVERITIES[finding['severity']]} {finding['code']} at"
        f" {' > '.join(str(part) for part in finding['path'])}: {finding['message']}"
        for finding in json.loads(findings.read_text())
        if finding["severity"] in _SEVERITIES
    ]


_SEVERITIES = {0: "error", 1: "warning"}  # Spectral's; 2 (information) and 3 (hint) pass


@pytest.mark.parametrize("service", SERVICES)
def test_the_services_document_passes_spectral(
    spectral: Path, tmp_path: Path, service: str
) -> None:
    _, app = settings_and_app(service)
    document = tmp_path / f"{service}.json"
    document.write_text(json.dumps(app.openapi()))

    findings = lint(spectral, document)

    assert not findings, f"{service}:\n" + "\n".join(findings)


def test_the_ruleset_refuses_an_error_that_is_not_problem_details(
    spectral: Path, tmp_path: Path
) -> None:
    # The ruleset's own rules must be able to fail: an error answered as plain JSON, and a
    # write without its 428.
    _, app = settings_and_app("intake")
    broken = json.loads(json.dumps(app.openapi()))
    registration = broken["paths"]["/returnees"]["post"]["responses"]
    registration["409"]["content"] = {"application/json": {"schema": {"type": "object"}}}
    del registration["428"]
    document = tmp_path / "broken.json"
    document.write_text(json.dumps(broken))

    findings = "\n".join(lint(spectral, document))

    assert "error retour-errors-are-problem-details at paths > /returnees > post" in findings
    assert "error retour-writes-declare-their-key at paths > /returnees > post" in findings
