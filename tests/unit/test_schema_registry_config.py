"""The consumer's schema registry settings, checked at cold start (docs/environment.md#consumer-function)."""

import pytest

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.records import AvroSettings
from kafka_connector.inbound.registry_values import RegistrySource
from kafka_connector.serialization.schema_registry import RegistryAccess, record_full_name


def test_registry_settings_are_read():
    settings = AvroSettings.from_environment(
        {"SCHEMA_REGISTRY_URL": " https://sr.example.com ", "SCHEMA_REGISTRY_AUTH_SECRET": "sr-key"}
    )
    assert settings.registry == RegistrySource("https://sr.example.com", "sr-key")
    assert AvroSettings.from_environment({}).registry is None


def test_a_registry_makes_avro_schema_optional_with_confluent_framing():
    env = {"SERIALIZATION_TYPE": "avro", "AVRO_WIRE_FORMAT": "confluent"}
    with pytest.raises(ConnectorInputError, match=r"AVRO_SCHEMA is required .* \(or SCHEMA_REGISTRY_URL\)"):
        AvroSettings.from_environment(env)
    assert AvroSettings.from_environment({**env, "SCHEMA_REGISTRY_URL": "https://sr"}).schema is None
    with pytest.raises(ConnectorInputError, match="AVRO_SCHEMA is required"):
        AvroSettings.from_environment({"SERIALIZATION_TYPE": "avro", "SCHEMA_REGISTRY_URL": "https://sr"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCHEMA_REGISTRY_URL": "sr.example.com:8081"}, "'SCHEMA_REGISTRY_URL' must be an http"),
    ],
)
def test_bad_registry_settings_fail_the_cold_start(env, message):
    with pytest.raises(ConnectorInputError, match=message):
        AvroSettings.from_environment(env)


def test_the_url_shown_has_no_credentials():
    access = RegistryAccess("https://key:s3cret-value@sr.example.com:8443/base?token=abc#x", "u", "p")
    assert access.shown_url == "https://sr.example.com:8443/base"
    assert "p'" not in repr(access)


@pytest.mark.parametrize(
    ("schema", "name"),
    [
        ('{"type": "record", "name": "Payment", "namespace": "shop", "fields": []}', "shop.Payment"),
        ('{"type": "record", "name": "Payment", "fields": []}', "Payment"),
        ('{"type": "record", "name": "a.b.Payment", "namespace": "shop", "fields": []}', "a.b.Payment"),
        ('"string"', None),
    ],
)
def test_record_full_name(schema, name):
    assert record_full_name(schema) == name


def test_an_auth_secret_without_a_url_is_unused():
    """The template passes the mapping's secret even when the function decodes nothing itself."""
    assert AvroSettings.from_environment({"SCHEMA_REGISTRY_AUTH_SECRET": "sr-key"}).registry is None
