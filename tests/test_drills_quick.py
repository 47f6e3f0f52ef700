"""The quick subset of `make drills` (docs/drills.md), run by `make test` on the real stack:
short faults, small loads. Every drill of the subset leaves the stack as it found it (Postgres
and Kafka restarted, reporting started again). And the proof that a drill fails when the
guarantee it checks is broken on purpose: DRILL_SABOTAGE, a mechanism of the framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / ".local" / "drills" / "results.json"
QUICK_DRILLS = "postgres-kill,kafka-down"
RUN_TIMEOUT_SECONDS = 900

pytestmark = pytest.mark.integration


def run_drills(names: str, **env: str) -> tuple[int, str, list[dict[str, Any]]]:
    RESULTS.unlink(missing_ok=True)
    process = subprocess.run(
        [sys.executable, "-m", "drills", "--quick", names],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    return process.returncode, process.stdout + process.stderr, results


def test_the_quick_drills_lose_nothing_and_apply_nothing_twice() -> None:
    code, output, results = run_drills(QUICK_DRILLS)

    assert code == 0, output
    assert [r["drill"] for r in results] == QUICK_DRILLS.split(","), output
    for result in results:
        assert (result["lost"], result["applied_twice"], result["sms_twice"]) == (0, 0, 0), output
        assert result["recover_seconds"] is not None, output
        assert result["broken"] == [], output
    # One line per drill, then the table.
    assert output.count("[drill] ") == len(results), output
    assert "recover s" in output, output


def test_a_drill_fails_when_its_guarantees_are_broken_on_purpose() -> None:
    """One run of the cheapest drill with the three breakages at once (a run each would take
    three times as long): each counter shows its own, and the drill fails. A lost event is
    waited for until the recovery timeout: a short one here, since the breakages themselves
    are done before the wait begins, and a late honest event would only raise the count."""
    code, output, results = run_drills(
        "steady",
        DRILL_SABOTAGE="lose-event,apply-twice,sms-twice",
        DRILL_RECOVERY_TIMEOUT_SECONDS="30",
    )

    assert code == 1, output
    [result] = results
    assert result["lost"] >= 1, output
    assert result["applied_twice"] >= 1, output
    assert result["sms_twice"] >= 1, output
    assert result["failed"] is True
    assert "FAILED" in output


def test_an_unknown_sabotage_is_refused_before_anything_runs() -> None:
    code, output, results = run_drills("steady", DRILL_SABOTAGE="nonsense")

    assert code != 0
    assert "DRILL_SABOTAGE must be one of" in output
    assert results == []
