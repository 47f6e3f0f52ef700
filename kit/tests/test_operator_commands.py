"""A service's own operator commands (``retour-intake rewrap-keys``) beside serve and migrate."""

from __future__ import annotations

import json

import pytest

from retour_kit.cli import OperatorCommand, service_cli
from retour_kit.settings import ServiceSettings


def run(argv: list[str], commands: dict[str, OperatorCommand[ServiceSettings]]) -> None:
    service_cli(
        settings_cls=ServiceSettings,
        build_app=lambda _settings: pytest.fail("an operator command must not build the app"),
        schema_of=lambda _settings: "unused",
        migrations_package="unused",
        commands=commands,
        argv=argv,
    )


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/unused")
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    """The JSON lines the command logged (configure_logging writes them to stdout)."""
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_operator_command_runs_with_the_settings_and_logs_its_summary(
    isolated_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[ServiceSettings] = []

    async def count(settings: ServiceSettings) -> str:
        seen.append(settings)
        return "3 things counted"

    run(["count-things"], {"count-things": OperatorCommand("count things", count)})

    assert [s.database_url for s in seen] == ["postgresql://nobody@127.0.0.1:1/unused"]
    last = logged(capsys)[-1]
    assert (last["event"], last["summary"]) == ("count-things done", "3 things counted")


def test_a_failing_operator_command_exits_non_zero_without_a_traceback(
    isolated_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fail(settings: ServiceSettings) -> str:
        raise LookupError("no topic returnee.registered")

    with pytest.raises(SystemExit) as exited:
        run(["fail"], {"fail": OperatorCommand("fail", fail)})

    assert exited.value.code == 1
    last = logged(capsys)[-1]
    assert (last["event"], last["reason"]) == (
        "fail failed",
        "LookupError: no topic returnee.registered",
    )


def test_an_unknown_command_is_refused_by_the_parser() -> None:
    with pytest.raises(SystemExit) as exited:
        run(["nonsense"], {})
    assert exited.value.code == 2
