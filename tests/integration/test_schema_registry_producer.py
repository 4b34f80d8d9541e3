"""The producer writes through a Confluent-compatible Schema Registry (README.md#schema-registries).

Records are published to the real broker and read back with Confluent's own
``AvroDeserializer`` against the same in-memory registry (``mock://``) the function used:
what a Confluent consumer would see. Registry failures are real HTTP (tests/support/registry.py).
"""

import base64
import json
import sys
import uuid

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from moto import mock_aws

from functions.producer import app
from kafka_connector.errors import ConnectorInputError, KafkaNonRetryableError, KafkaRetryableError
from kafka_connector.serialization import schema_registry
from local.context import LocalLambdaContext
from tests.support.kafka import read_one
from tests.support.leaks import leaks, logger_writing_to
from tests.support.registry import V1, V2, answering

VALUE = {"orderId": "o-1", "amount": 5}


@pytest.fixture
def registry():
    url = f"mock://registry-{uuid.uuid4().hex}"
    yield url, schema_registry.client(schema_registry.RegistryAccess(url))
    schema_registry.client.cache_clear()
    schema_registry.schema_by_id.cache_clear()
    schema_registry.id_under_subject.cache_clear()


def invoke(event):
    return app.lambda_handler(event, LocalLambdaContext("producer"))


def publish(bootstrap, topic, avro, value=VALUE):
    return invoke(
        {
            "topic": {"bootstrapServers": bootstrap, "topicName": topic},
            "message": {"key": "o-1", "value": value},
            "serializationType": "avro",
            "avro": avro,
        }
    )


def read_back(bootstrap, client, response):
    """The record as stored, and its value as Confluent's deserializer reads it."""
    record = read_one(bootstrap, response["topic"], response["partition"], response["offset"])
    context = SerializationContext(response["topic"], MessageField.VALUE)
    return record.value, AvroDeserializer(client)(record.value, context)


def register(client, subject, schema):
    """Register ``schema`` as compact JSON: the text the producer sends for a schema given as an object.

    (Confluent's in-memory registry matches a lookup's text exactly; a real one compares parsed schemas.)
    """
    return client.register_schema(subject, Schema(json.dumps(schema, separators=(",", ":")), "AVRO"))


# -- with avro.schema: its id under the subject ---------------------------------------------------------


def test_a_registered_schema_is_written_with_its_id_under_the_topics_subject(bootstrap, topic, registry):
    url, client = registry
    register(client, f"{topic}-value", V2)  # another schema first: ids are the registry's, not ours
    v1_id = register(client, f"{topic}-value", V1)
    response = publish(bootstrap, topic, {"schemaRegistry": {"url": url}, "schema": V1})
    stored, decoded = read_back(bootstrap, client, response)
    assert stored[:5] == b"\x00" + v1_id.to_bytes(4, "big")
    assert decoded == VALUE


@pytest.mark.parametrize(
    ("fields", "subject"),
    [
        ({"subjectNameStrategy": "RecordNameStrategy"}, "shop.Payment"),
        ({"subjectNameStrategy": "TopicRecordNameStrategy"}, "{topic}-shop.Payment"),
        ({"subject": "payments-v1"}, "payments-v1"),
    ],
)
def test_subject_name_strategies(bootstrap, topic, registry, fields, subject):
    url, client = registry
    schema_id = register(client, subject.format(topic=topic), V1)
    response = publish(bootstrap, topic, {"schemaRegistry": {"url": url}, "schema": V1, **fields})
    assert read_back(bootstrap, client, response)[0][:5] == b"\x00" + schema_id.to_bytes(4, "big")


def test_an_unknown_schema_is_an_input_error_naming_the_subject_unless_auto_registered(
    bootstrap, topic, registry
):
    url, client = registry
    with pytest.raises(ConnectorInputError, match=f"not registered under subject '{topic}-value'"):
        publish(bootstrap, topic, {"schemaRegistry": {"url": url}, "schema": V1})
    response = publish(bootstrap, topic, {"schemaRegistry": {"url": url}, "schema": V1, "autoRegister": True})
    latest = client.get_latest_version(f"{topic}-value")  # registered by the producer
    stored, decoded = read_back(bootstrap, client, response)
    assert (stored[:5], decoded) == (b"\x00" + latest.schema_id.to_bytes(4, "big"), VALUE)


def test_a_given_schema_id_must_agree_with_the_registry(bootstrap, topic, registry):
    url, client = registry
    schema_id = register(client, f"{topic}-value", V1)
    avro = {"schemaRegistry": {"url": url}, "schema": V1}
    with pytest.raises(ConnectorInputError, match=f"under subject '{topic}-value' is {schema_id}"):
        publish(bootstrap, topic, {**avro, "schemaId": schema_id + 100})
    assert publish(bootstrap, topic, {**avro, "schemaId": schema_id})["topic"] == topic


# -- without avro.schema: the subject's latest, or avro.version -----------------------------------------


def test_without_a_schema_the_subjects_latest_or_given_version_is_used(bootstrap, topic, registry):
    url, client = registry
    v1_id = register(client, f"{topic}-value", V1)
    v2_id = register(client, f"{topic}-value", V2)
    latest = publish(bootstrap, topic, {"schemaRegistry": {"url": url}})
    stored, decoded = read_back(bootstrap, client, latest)
    assert (stored[:5], decoded) == (b"\x00" + v2_id.to_bytes(4, "big"), {**VALUE, "currency": "EUR"})
    first = publish(bootstrap, topic, {"schemaRegistry": {"url": url}, "version": 1})
    stored, decoded = read_back(bootstrap, client, first)
    assert (stored[:5], decoded) == (b"\x00" + v1_id.to_bytes(4, "big"), VALUE)


@pytest.mark.parametrize(
    ("avro", "message"),
    [
        ({}, "subject '{topic}-value' has no versions"),
        ({"version": 9}, "subject '{topic}-value' has no version 9"),
        ({"version": 0}, "'avro.version' must be a version number"),
        ({"subjectNameStrategy": "RecordNameStrategy"}, "needs 'avro.schema'"),
        ({"subjectNameStrategy": "Topic"}, "'avro.subjectNameStrategy' must be one of"),
        ({"wireFormat": "glue"}, "'avro.schemaRegistry' is for wireFormat 'confluent'"),
    ],
)
def test_what_the_registry_cannot_answer_is_an_input_error(bootstrap, topic, registry, avro, message):
    url, client = registry
    if "version" in avro:
        register(client, f"{topic}-value", V1)
    with pytest.raises(ConnectorInputError) as caught:
        publish(bootstrap, topic, {"schemaRegistry": {"url": url}, **avro})
    assert message.format(topic=topic) in caught.value.message


# -- registry failures: the producer's error table -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (503, KafkaRetryableError, "schema registry unavailable"),
        (500, KafkaRetryableError, "schema registry unavailable"),
        (401, KafkaNonRetryableError, "schema registry authentication failed"),
        (403, KafkaNonRetryableError, "schema registry authentication failed"),
    ],
)
def test_registry_failures(bootstrap, topic, status, error, message):
    with answering(status) as server:
        try:
            with pytest.raises(error) as caught:
                publish(bootstrap, topic, {"schemaRegistry": {"url": server.url}, "schema": V1})
        finally:
            schema_registry.client.cache_clear()
    assert caught.value.message.startswith(message)
    assert f"HTTP {status}" in caught.value.description


def test_an_unreachable_registry_is_retryable(bootstrap, topic):
    try:
        with pytest.raises(KafkaRetryableError, match="schema registry unavailable"):
            publish(bootstrap, topic, {"schemaRegistry": {"url": "http://127.0.0.1:1"}})
    finally:
        schema_registry.client.cache_clear()


@mock_aws
def test_registry_credentials_from_placeholders_are_sent_and_never_echoed(bootstrap, topic, capsys):
    parameters.clear_caches()
    password = "sr-api-secret-0123456789abcdef"
    boto3.client("secretsmanager").create_secret(
        Name="CONFLUENT_SR", SecretString=json.dumps({"key": "SRKEY42", "secret": password})
    )
    registry = {
        "url": None,
        "username": "{{secrets.CONFLUENT_SR.key}}",
        "password": "{{secrets.CONFLUENT_SR.secret}}",
    }
    with answering(401) as server, logger_writing_to(app.logger, sys.stdout):
        registry["url"] = server.url
        try:
            with pytest.raises(KafkaNonRetryableError) as caught:
                publish(bootstrap, topic, {"schemaRegistry": registry, "schema": V1})
        finally:
            schema_registry.client.cache_clear()
    assert set(server.authorizations) == {
        "Basic " + base64.b64encode(f"SRKEY42:{password}".encode()).decode()
    }
    logs = capsys.readouterr()
    assert leaks({"password": password}, {"error": str(caught.value), "logs": logs.out + logs.err}) == []


@pytest.mark.parametrize("status", [401, 503])
def test_registry_credentials_typed_in_are_never_echoed(bootstrap, topic, capsys, status):
    password = "typed+in/pa55=wörd%\"'\\"
    with answering(status) as server, logger_writing_to(app.logger, sys.stdout):
        registry = {"url": server.url, "username": "SRKEY42", "password": password}
        try:
            with pytest.raises((KafkaNonRetryableError, KafkaRetryableError)) as caught:
                publish(bootstrap, topic, {"schemaRegistry": registry, "schema": V1})
        finally:
            schema_registry.client.cache_clear()
    logs = capsys.readouterr()
    assert server.authorizations  # the credentials went to the registry
    assert leaks({"password": password}, {"error": str(caught.value), "logs": logs.out + logs.err}) == []
