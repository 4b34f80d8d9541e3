"""The producer and Glue Schema Registry by version, and with autoRegister (docs/payloads.md#producer-input).

moto's Glue holds the schema; each record is read back from the real broker and its header's
version id and body compared with what Glue holds.
"""

import io
import json
import uuid

import boto3
import fastavro
import pytest
from moto import mock_aws

from functions.producer import app
from kafka_connector.errors import ConnectorInputError
from kafka_connector.serialization import glue_registry, glue_versions
from local.context import LocalLambdaContext
from tests.support.aws import register_glue_schema
from tests.support.kafka import read_one
from tests.support.registry import V1, V2

VALUE = {"orderId": "o-1", "amount": 5}


@pytest.fixture(autouse=True)
def glue():
    with mock_aws():
        glue_registry.schema_version_id.cache_clear()
        glue_versions._numbered_version.cache_clear()
        yield boto3.client("glue")


def publish(bootstrap, topic, value=VALUE, **avro):
    return app.lambda_handler(
        {
            "topic": {"bootstrapServers": bootstrap, "topicName": topic},
            "message": {"value": value},
            "serializationType": "avro",
            "avro": {"wireFormat": "glue", "registryName": "payments", "schemaName": "payment", **avro},
        },
        LocalLambdaContext("producer"),
    )


def read_back(bootstrap, glue, response):
    """(version id in the header, the body read with that version's definition)."""
    data = read_one(bootstrap, response["topic"], response["partition"], response["offset"]).value
    assert data[:2] == b"\x03\x00"
    version = str(uuid.UUID(bytes=data[2:18]))
    definition = glue.get_schema_version(SchemaVersionId=version)["SchemaDefinition"]
    return version, fastavro.schemaless_reader(
        io.BytesIO(data[18:]), fastavro.parse_schema(json.loads(definition))
    )


def test_a_version_by_number_or_latest_instead_of_the_definition(bootstrap, topic, glue):
    v1 = register_glue_schema("payments", "payment", V1)
    v2 = glue.register_schema_version(
        SchemaId={"RegistryName": "payments", "SchemaName": "payment"}, SchemaDefinition=json.dumps(V2)
    )["SchemaVersionId"]
    assert read_back(bootstrap, glue, publish(bootstrap, topic, version=1)) == (v1, VALUE)
    latest = publish(bootstrap, topic, {**VALUE, "currency": "USD"}, version="latest")
    assert read_back(bootstrap, glue, latest) == (v2, {**VALUE, "currency": "USD"})


def test_auto_register_adds_a_version_glue_does_not_have(bootstrap, topic, glue):
    v1 = register_glue_schema("payments", "payment", V1)
    with pytest.raises(ConnectorInputError, match="not registered in Glue schema payments/payment"):
        publish(bootstrap, topic, schema=V2)
    response = publish(bootstrap, topic, schema=V2, autoRegister=True)
    second = glue.get_schema_version(
        SchemaId={"RegistryName": "payments", "SchemaName": "payment"},
        SchemaVersionNumber={"VersionNumber": 2},
    )
    version, decoded = read_back(bootstrap, glue, response)
    assert version == second["SchemaVersionId"] != v1  # the producer registered version 2, and wrote with it
    assert json.loads(second["SchemaDefinition"]) == V2
    assert decoded == {**VALUE, "currency": "EUR"}


@pytest.mark.parametrize(
    ("avro", "message"),
    [
        ({"version": 9}, "Glue schema payments/payment has no version 9"),
        ({"version": 0}, "'avro.version' must be a version number"),
        ({"version": 1, "schemaName": None}, "'avro.schemaName' is required with wireFormat 'glue'"),
    ],
)
def test_what_glue_cannot_answer_is_an_input_error(bootstrap, topic, avro, message):
    register_glue_schema("payments", "payment", V1)
    with pytest.raises(ConnectorInputError) as caught:
        publish(bootstrap, topic, **avro)
    assert message in caught.value.message
