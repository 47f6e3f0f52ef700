import pytest
from pydantic import ValidationError

from retour_contracts import AID_GRANTED_V1, RETURNEE_REGISTERED_V1
from retour_kit.settings import ConsumingSettings, ServiceSettings, describe_errors, load_settings

SECRET = "s" * 32


class IntakeLikeSettings(ServiceSettings):
    service_name: str = "retour-intake"
    http_port: int = 8001


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in IntakeLikeSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_reads_unprefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://intake:pw@db:5432/retour")
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("MIGRATE_ON_START", "false")

    settings = load_settings(IntakeLikeSettings)

    assert settings.database_url == "postgresql://intake:pw@db:5432/retour"
    assert settings.http_port == 8001
    assert settings.log_level == "DEBUG"
    assert settings.migrate_on_start is False
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert "pw" not in repr(settings)


def test_names_each_bad_variable_by_its_environment_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HTTP_PORT", "eighty")
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)

    with pytest.raises(SystemExit) as exit_info:
        load_settings(IntakeLikeSettings)

    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert message.startswith("retour-intake: invalid configuration: ")
    assert "DATABASE_URL: field required" in message
    assert "HTTP_PORT: input should be a valid integer" in message


def test_never_echoes_the_rejected_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root:hunter2@db/retour")
    monkeypatch.setenv("AUTH_JWT_SECRET", "too-short-hunter2")

    with pytest.raises(SystemExit):
        load_settings(IntakeLikeSettings)

    message = capsys.readouterr().err
    assert "DATABASE_URL: URL scheme should be 'postgres' or 'postgresql'" in message
    assert "AUTH_JWT_SECRET: must be at least 32 characters" in message
    assert "hunter2" not in message


def test_requires_a_token_key_source() -> None:
    with pytest.raises(ValidationError) as error:
        IntakeLikeSettings(database_url="postgresql://db/retour")

    assert "set AUTH_JWKS_URL (identity provider, RS256)" in describe_errors(error.value)


def test_takes_both_token_key_sources_for_the_local_stack() -> None:
    # Keycloak's tokens and `make token`'s side by side (retour_kit.auth).
    settings = IntakeLikeSettings(
        database_url="postgresql://db/retour",
        auth_jwt_secret=SECRET,
        auth_jwks_url="https://idp.example/certs",
    )

    assert settings.auth_jwt_secret is not None and settings.auth_jwks_url is not None


def test_rejects_unknown_log_levels() -> None:
    with pytest.raises(ValidationError) as error:
        IntakeLikeSettings(
            database_url="postgresql://db/retour", auth_jwt_secret=SECRET, log_level="loud"
        )

    assert describe_errors(error.value).startswith("LOG_LEVEL: ")


class ConsumerSettingsForTest(ConsumingSettings):
    consumer_group: str = "test-group"


def test_consumers_read_each_event_topic_under_one_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/retour")
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)
    monkeypatch.setenv("RETURNEE_REGISTERED_TOPIC", "copy.returnee.registered")

    settings = ConsumerSettingsForTest()

    assert settings.topic_of(RETURNEE_REGISTERED_V1) == "copy.returnee.registered"
    assert settings.topic_of(AID_GRANTED_V1) == "aid.granted"
    assert ConsumerSettingsForTest.deprecated_names_in_use() == []


def test_the_former_topic_names_are_read_for_one_release_and_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/retour")
    monkeypatch.setenv("AUTH_JWT_SECRET", "s" * 32)
    monkeypatch.setenv("REGISTRATIONS_TOPIC", "old.returnee.registered")
    monkeypatch.setenv("ACTIVITIES_TOPIC", "old.activity.launched")

    settings = ConsumerSettingsForTest()

    assert settings.returnee_registered_topic == "old.returnee.registered"
    assert settings.activity_launched_topic == "old.activity.launched"
    assert ConsumerSettingsForTest.deprecated_names_in_use() == [
        "REGISTRATIONS_TOPIC is read for one more release only: rename it"
        " RETURNEE_REGISTERED_TOPIC",
        "ACTIVITIES_TOPIC is read for one more release only: rename it ACTIVITY_LAUNCHED_TOPIC",
    ]


def test_a_former_name_set_beside_its_new_one_is_not_reported() -> None:
    environ = {"registrations_topic": "old", "RETURNEE_REGISTERED_TOPIC": "new"}

    assert ConsumerSettingsForTest.deprecated_names_in_use(environ) == []
    assert ConsumerSettingsForTest.deprecated_names_in_use({"aid_topic": "x"}) == [
        "AID_TOPIC is read for one more release only: rename it AID_GRANTED_TOPIC"
    ]
