"""A misconfigured registry URL, secret or bucket is an input error that names the field and quotes no secret.

Found by attacking the schema-registry and secret inputs: credentials in a URL, a URL the client
cannot use, a URL that is not a registry (a redirect, a login page), a secret's contents pasted
where its name belongs, registry credentials in an idempotency payload, an invalid S3 bucket.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.registry_values import RegistrySource
from kafka_connector.outbound.request import ProducerRequest, published_fields
from local.secure.pki import key_pem
from tests.support.leaks import fragment_leaks, leaks

PASSWORD = "S3cr3tPassw0rd-registry"
SCHEMA = {"type": "record", "name": "P", "fields": [{"name": "n", "type": "int"}]}


def producer_event(url: str, **avro: object) -> dict:
    return {
        "topic": {"topicName": "payments", "bootstrapServers": "127.0.0.1:9"},
        "message": {"value": {"n": 1}},
        "serializationType": "avro",
        "avro": {"wireFormat": "confluent", "schema": SCHEMA, "schemaRegistry": {"url": url}, **avro},
    }


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"https://key:{PASSWORD}@registry.example.com", "must not carry credentials"),
        (f"https://registry.example.com/?password={PASSWORD}", "must not carry credentials"),
        ("http://127.0.0.1:abc", "invalid port"),
        ("http://127.0.0.1:99999", "invalid port"),
        ("https://a.example.com,https://b.example.com", "one http(s):// URL"),
        ("ftp://registry.example.com", "http(s)://"),
    ],
)
def test_a_registry_url_the_client_cannot_use_safely_is_an_input_error(url, reason):
    with pytest.raises(ConnectorInputError) as caught:
        ProducerRequest.from_event(producer_event(url))
    assert "'avro.schemaRegistry.url'" in caught.value.message
    assert reason in caught.value.message
    assert leaks({"password": PASSWORD}, {"error": str(caught.value)}) == []
    with pytest.raises(ConnectorInputError, match="SCHEMA_REGISTRY_URL"):
        RegistrySource.from_environment({"SCHEMA_REGISTRY_URL": url})


def test_a_private_key_pasted_as_the_mtls_secret_is_refused_unquoted():
    key = key_pem(ec.generate_private_key(ec.SECP256R1()))
    event = {
        "topic": {"topicName": "payments", "bootstrapServers": "127.0.0.1:9"},
        "message": {"value": 1},
        "authentication": {"type": "mtls", "secret": key},
    }
    with pytest.raises(ConnectorInputError, match="not its contents") as caught:
        ProducerRequest.from_event(event)
    assert "'authentication.secret'" in caught.value.message
    assert fragment_leaks({"key": key}, {"error": str(caught.value)}) == []


def test_registry_credentials_are_not_part_of_the_idempotency_payload():
    event = producer_event("https://registry.example.com")
    event["avro"]["schemaRegistry"].update(username="key", password=PASSWORD)
    compared = published_fields(event)
    assert compared["avro"]["schemaRegistry"] == {"url": "https://registry.example.com"}
    rotated = producer_event("https://registry.example.com")
    rotated["avro"]["schemaRegistry"].update(username="key", password="rotated-" + PASSWORD)
    assert published_fields(rotated) == compared  # a rotated password is not "a different payload"


@mock_aws
@pytest.mark.parametrize("bucket", ["my bucket", "a/b", "x" * 300])
def test_an_invalid_bucket_for_value_from_s3_is_an_input_error(bucket):
    event = {
        "topic": {"topicName": "payments", "bootstrapServers": "127.0.0.1:9"},
        "message": {"valueFromS3": {"bucket": bucket, "key": "v.json"}},
    }
    with pytest.raises(ConnectorInputError, match="not a valid S3 bucket and key") as caught:
        ProducerRequest.from_event(event)
    assert "'message.valueFromS3'" in caught.value.message
    assert len(caught.value.message) < 300
