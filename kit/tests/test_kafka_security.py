import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from retour_kit.kafka_security import KafkaSecuritySettings

KAFKA_SECURITY_VARIABLES = (
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SSL_CA_FILE",
)


@pytest.fixture(autouse=True)
def _no_kafka_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test process acts as the stack's operator principal (tests/retour_test_infra.py):
    these tests read the settings from nothing but what they give."""
    for name in KAFKA_SECURITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_local_clients_connect_in_plaintext() -> None:
    assert KafkaSecuritySettings().client_options() == {"security_protocol": "PLAINTEXT"}


def test_a_managed_cluster_gets_sasl_over_tls() -> None:
    options = KafkaSecuritySettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="retour-intake",
        kafka_sasl_password="s3cret",
    ).client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "retour-intake"
    assert options["sasl_plain_password"] == "s3cret"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_sasl_without_credentials_is_refused_naming_the_variables() -> None:
    with pytest.raises(ValidationError) as refused:
        KafkaSecuritySettings(kafka_security_protocol="SASL_SSL")
    assert "KAFKA_SASL_USERNAME" in str(refused.value)


def test_a_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        KafkaSecuritySettings(
            kafka_security_protocol="SSL",
            kafka_ssl_ca_file=tmp_path / "absent.pem",
        )
    assert "kafka_ssl_ca_file" in str(refused.value)
