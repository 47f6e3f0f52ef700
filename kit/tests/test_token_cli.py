from typing import Any

import jwt
import pytest

from retour_contracts import ReceptionCentre
from retour_kit.token import main

SECRET = "local-development-secret-32-chars!"


def test_prints_a_token_for_the_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    monkeypatch.delenv("AUTH_AUDIENCE", raising=False)
    monkeypatch.delenv("AUTH_ISSUER", raising=False)

    status = main(["case_worker", "--subject", "moussa", "--ttl-hours", "1"])

    # Without AUTH_AUDIENCE, the token is for retour's APIs, the audience the stack checks.
    claims = jwt.decode(
        capsys.readouterr().out.strip(), SECRET, algorithms=["HS256"], audience="retour-api"
    )
    assert status == 0
    assert claims["aud"] == "retour-api"
    assert claims["sub"] == "moussa"
    assert claims["roles"] == ["case_worker"]
    assert claims["exp"] - claims["iat"] == 3600


def test_explains_a_missing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUTH_JWT_SECRET", raising=False)

    status = main(["registrar"])

    assert status == 2
    assert "AUTH_JWT_SECRET is not set" in capsys.readouterr().err


def test_rejects_unknown_roles(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["superuser"])

    assert "invalid choice" in capsys.readouterr().err


def test_names_the_centres_given_and_every_centre_without(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)

    monkeypatch.delenv("AUTH_AUDIENCE", raising=False)

    def claims() -> dict[str, Any]:
        token = capsys.readouterr().out.strip()
        decoded: dict[str, Any] = jwt.decode(
            token, SECRET, algorithms=["HS256"], audience="retour-api"
        )
        return decoded

    main(["registrar", "--centres", "gao, Kayes"])
    scoped = claims()
    main(["registrar", "--centres", ""])
    everywhere = claims()

    assert scoped["centres"] == ["gao", "kayes"]
    assert everywhere["centres"] == sorted(centre.value for centre in ReceptionCentre)


def test_rejects_an_unknown_centre_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)

    with pytest.raises(SystemExit):
        main(["registrar", "--centres", "gao,timbuktoo"])

    assert "unknown reception centre 'timbuktoo'" in capsys.readouterr().err
