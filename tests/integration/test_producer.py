"""The producer against the real broker: every field, address form and error (docs/outcomes.md).

Each test reads the record back from the broker and compares bytes, not our own view of them.
"""

import io
import json
import sys
import time

import boto3
import fastavro
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from functions.producer import app
from kafka_connector.errors import ConnectorInputError, KafkaNonRetryableError, KafkaRetryableError
from kafka_connector.serialization import glue_registry
from local.context import LocalLambdaContext
from tests.support.aws import register_glue_schema
from tests.support.kafka import create_topic, read_one
from tests.support.leaks import logger_writing_to
from tests.support.samples import SAMPLE_SCHEMA, SAMPLE_VALUE


def invoke(event):
    return app.lambda_handler(event, LocalLambdaContext("producer"))


def event_for(bootstrap, topic_name, **fields):
    event = {
        "topic": {"bootstrapServers": bootstrap, "topicName": topic_name},
        "message": {"key": "employee1", "value": {"name": "John Doe", "age": 29}},
    }
    event.update(fields)
    return event


def stored(bootstrap, response):
    return read_one(bootstrap, response["topic"], response["partition"], response["offset"])


def test_json_record_lands_as_sent_and_response_matches_the_record(bootstrap, topic):
    response = invoke(event_for(bootstrap, topic, headers={"source": "checkout", "trace": "ü"}))
    assert set(response) == {"topic", "partition", "offset", "timestamp"}
    record = stored(bootstrap, response)
    assert record.key == b"employee1"
    assert record.value == b'{"name":"John Doe","age":29}'
    assert record.headers == [("source", b"checkout"), ("trace", "ü".encode())]
    assert (record.topic, record.partition, record.offset, record.timestamp) == (
        response["topic"],
        response["partition"],
        response["offset"],
        response["timestamp"],
    )
    assert abs(response["timestamp"] - time.time() * 1000) < 60_000


@pytest.mark.parametrize(
    ("key", "expected"),
    [({"id": 7}, b'{"id":7}'), (42, b"42"), ("", b""), (None, None)],
)
def test_key_forms(bootstrap, topic, key, expected):
    record = stored(bootstrap, invoke(event_for(bootstrap, topic, message={"key": key, "value": "v"})))
    assert record.key == expected


def test_absent_key_is_no_key_and_string_value_is_utf8(bootstrap, topic):
    record = stored(bootstrap, invoke(event_for(bootstrap, topic, message={"value": "héllo"})))
    assert (record.key, record.value) == (None, "héllo".encode())


def test_same_key_same_partition(bootstrap, topic):
    partitions = {invoke(event_for(bootstrap, topic))["partition"] for _ in range(4)}
    assert len(partitions) == 1


def test_address_with_key_overrides_message_key(bootstrap, topic):
    event = event_for(bootstrap, topic)
    del event["topic"]["topicName"]
    event["address"] = f"{topic}/order-17#x"
    record = stored(bootstrap, invoke(event))
    assert record.key == b"order-17#x"


@pytest.mark.parametrize("field", ["address", "topicName"])
def test_address_with_partition(bootstrap, topic, field):
    event = event_for(bootstrap, topic)
    if field == "address":
        del event["topic"]["topicName"]
        event["address"] = f"{topic}#2"
    else:
        event["topic"]["topicName"] = f"{topic}#2"
    response = invoke(event)
    assert response["partition"] == 2
    assert stored(bootstrap, response).key == b"employee1"


def test_plain_topic_address(bootstrap, topic):
    event = event_for(bootstrap, topic)
    del event["topic"]["topicName"]
    event["address"] = topic
    assert stored(bootstrap, invoke(event)).value == b'{"name":"John Doe","age":29}'


def test_avro_plain_and_confluent_round_trip(bootstrap, topic):
    parsed = fastavro.parse_schema(SAMPLE_SCHEMA)
    plain = invoke(
        event_for(
            bootstrap,
            topic,
            message={"key": "employee1", "value": SAMPLE_VALUE},
            serializationType="avro",
            avro={"schema": json.dumps(SAMPLE_SCHEMA)},
        )
    )
    body = stored(bootstrap, plain).value
    assert fastavro.schemaless_reader(io.BytesIO(body), parsed, None) == SAMPLE_VALUE

    confluent = invoke(
        event_for(
            bootstrap,
            topic,
            message={"key": "employee1", "value": json.dumps(SAMPLE_VALUE)},
            serializationType="avro",
            avro={"schema": SAMPLE_SCHEMA, "wireFormat": "confluent", "schemaId": 12},
        )
    )
    framed = stored(bootstrap, confluent).value
    assert framed[:5] == b"\x00\x00\x00\x00\x0c"
    assert fastavro.schemaless_reader(io.BytesIO(framed[5:]), parsed, None) == SAMPLE_VALUE


@mock_aws
def test_avro_glue_round_trip(bootstrap, topic):
    glue_registry.schema_version_id.cache_clear()
    version = register_glue_schema("payments", "sample", SAMPLE_SCHEMA)
    response = invoke(
        event_for(
            bootstrap,
            topic,
            message={"value": SAMPLE_VALUE},
            serializationType="avro",
            avro={
                "schema": json.dumps(SAMPLE_SCHEMA),
                "wireFormat": "glue",
                "registryName": "payments",
                "schemaName": "sample",
            },
        )
    )
    data = stored(bootstrap, response).value
    assert data[:2] == b"\x03\x00"
    assert str(__import__("uuid").UUID(bytes=data[2:18])) == version
    definition = boto3.client("glue").get_schema_version(SchemaVersionId=version)["SchemaDefinition"]
    reader = fastavro.parse_schema(json.loads(definition))
    assert fastavro.schemaless_reader(io.BytesIO(data[18:]), reader, None) == SAMPLE_VALUE


def test_debug_reports_sizes_and_masked_properties(bootstrap, topic):
    response = invoke(
        event_for(
            bootstrap,
            topic,
            debug=True,
            additionalProperties={"client.id": "MyDemoClientId", "partitioner.class": "com.example.Custom"},
        )
    )
    record = stored(bootstrap, response)
    assert response["serializedKeySize"] == len(record.key) == 9
    assert response["serializedValueSize"] == len(record.value)
    assert response["properties"]["client.id"] == "MyDemoClientId"
    assert response["properties"]["bootstrap.servers"] == bootstrap
    assert "partitioner.class" in response["ignoredProperties"]
    assert "key.serializer" in response["ignoredProperties"]

    keyless = invoke(event_for(bootstrap, topic, debug=True, message={"value": "x"}))
    assert keyless["serializedKeySize"] == -1


@mock_aws
def test_secrets_are_resolved_and_never_echoed(bootstrap, topic, capsys):
    parameters.clear_caches()
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="KAFKA_PASSWORD", SecretString="pa55-w0rd-value")
    sm.create_secret(Name="KAFKA_CREDS", SecretString=json.dumps({"user": "alice", "region": "eu-west-1"}))
    event = event_for(
        bootstrap,
        topic,
        debug=True,
        # Behaviour change: a placeholder in a header is data, sent as written (it used to be
        # expanded to eu-west-1); placeholders work in the configuration fields only.
        headers={"region": "{{secrets.KAFKA_CREDS.region}}"},
        authentication={"username": "{{secrets.KAFKA_CREDS.user}}", "password": "{{secrets.KAFKA_PASSWORD}}"},
        # The embedded broker has no SASL: the credentials are resolved and configured, then the
        # protocol is overridden so the record can still be published and read back.
        additionalProperties={
            "security.protocol": "PLAINTEXT",
            "client.id": "{{secrets.KAFKA_CREDS.region}}",
        },
    )
    with logger_writing_to(app.logger, sys.stdout):
        response = invoke(event)
    record = stored(bootstrap, response)
    assert record.headers == [("region", b"{{secrets.KAFKA_CREDS.region}}")]
    assert response["properties"]["sasl.jaas.config"] == "******"
    assert response["properties"]["sasl.mechanism"] == "PLAIN"
    assert response["properties"]["client.id"] == "******"  # resolved (and registered), not shown
    logs = capsys.readouterr()
    assert "RecordsPublished" in logs.out  # the function's own output really is captured
    everything = json.dumps(response) + logs.out + logs.err
    assert "pa55-w0rd-value" not in everything


@mock_aws
def test_secret_prefix(bootstrap, topic, monkeypatch):
    parameters.clear_caches()
    monkeypatch.setenv("SECRETS_PREFIX", "prod/kafka/")
    boto3.client("secretsmanager").create_secret(Name="prod/kafka/SOURCE", SecretString="from-prefix")
    event = event_for(bootstrap, topic, debug=True, additionalProperties={"client.id": "{{secrets.SOURCE}}"})
    response = invoke(event)  # SOURCE alone does not exist: an input error, had the prefix been ignored
    assert response["properties"]["client.id"] == "******"
    assert stored(bootstrap, response).key == b"employee1"
    monkeypatch.delenv("SECRETS_PREFIX")
    with pytest.raises(ConnectorInputError, match="looked up as 'SOURCE'"):
        invoke(event)


@mock_aws
def test_missing_secret_is_an_input_error_naming_it(bootstrap, topic):
    parameters.clear_caches()
    with pytest.raises(ConnectorInputError) as caught:
        invoke(event_for(bootstrap, topic, additionalProperties={"client.id": "{{secrets.NOPE_MISSING}}"}))
    assert "NOPE_MISSING" in caught.value.message
    assert "secret 'NOPE_MISSING' does not exist (looked up as 'NOPE_MISSING')" in caught.value.message


@mock_aws
def test_placeholders_in_workflow_data_are_sent_as_written(bootstrap, topic):
    """An order that names a secret must not copy it into Kafka (the order workflow's own payload).

    ``statemachines/order-payment.asl.json`` publishes the whole order as the value
    (``value.$: $``) with its ``orderId`` as the key; whoever writes the order chooses both.
    """
    parameters.clear_caches()
    boto3.client("secretsmanager").create_secret(Name="KAFKA_PASSWORD", SecretString="pa55-w0rd-value")
    order = {"orderId": "{{secrets.KAFKA_PASSWORD}}", "note": "{{ secrets.KAFKA_PASSWORD }}", "amount": 1}
    event = {
        "topic": {"bootstrapServers": bootstrap, "topicName": f"{topic}/{order['orderId']}"},
        "message": {"value": order},
        "headers": {"source": "order-workflow", "ref": "{{secrets.KAFKA_PASSWORD}}"},
    }
    record = stored(bootstrap, invoke(event))
    assert record.key == b"{{secrets.KAFKA_PASSWORD}}"
    assert json.loads(record.value) == order
    assert record.headers == [("source", b"order-workflow"), ("ref", b"{{secrets.KAFKA_PASSWORD}}")]

    by_address = {**event, "topic": {"bootstrapServers": bootstrap}, "address": f"{topic}/{{{{secrets.X}}}}"}
    assert stored(bootstrap, invoke(by_address)).key == b"{{secrets.X}}"  # not even looked up
    with pytest.raises(ConnectorInputError) as caught:  # a topic name is never a placeholder
        invoke({**event, "topic": {"bootstrapServers": bootstrap, "topicName": "{{secrets.KAFKA_PASSWORD}}"}})
    assert "'topic.topicName' is not a valid topic name" in caught.value.message


def test_warm_invocations_reuse_the_client(bootstrap, topic):
    before = app.publisher.clients_created
    invoke(event_for(bootstrap, topic, additionalProperties={"client.id": "reuse-a"}))
    invoke(event_for(bootstrap, topic, additionalProperties={"client.id": "reuse-a"}))
    invoke(
        event_for(
            bootstrap,
            topic,
            message={"key": "other", "value": 1},
            additionalProperties={"client.id": "reuse-a"},
        )
    )
    assert app.publisher.clients_created == before + 1
    invoke(event_for(bootstrap, topic, additionalProperties={"client.id": "reuse-b"}))
    assert app.publisher.clients_created == before + 2


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda e: e.pop("topic"), "topic.topicName"),
        (lambda e: e["topic"].pop("bootstrapServers"), "topic.bootstrapServers"),
        (lambda e: e.pop("message"), "message"),
        (lambda e: e["message"].pop("value"), "message.value"),
        (lambda e: e.update(address="x"), "either 'address' or 'topic.topicName'"),
        (lambda e: e["topic"].update(topicName="bad topic"), "topic.topicName"),
        (lambda e: e["topic"].update(topicName="orders/"), "topic.topicName"),
        (lambda e: e["topic"].update(topicName="orders#-1"), "topic.topicName"),
        (lambda e: e.update(headers={"n": 1}), "headers.n"),
        (lambda e: e.update(serializationType="xml"), "serializationType"),
        (lambda e: e.update(serializationType="avro"), "avro"),
        (lambda e: e.update(debug="yes"), "debug"),
        (lambda e: e.update(authentication={"username": "only-user"}), "authentication.password"),
    ],
)
def test_input_errors_name_the_field(bootstrap, topic, mutate, named):
    event = event_for(bootstrap, topic)
    mutate(event)
    with pytest.raises(ConnectorInputError) as caught:
        invoke(event)
    assert named in caught.value.message
    assert json.loads(str(caught.value))["status"] == 400


def test_partition_not_in_topic_is_an_input_error(bootstrap, topic):
    with pytest.raises(ConnectorInputError, match="partition 7 is not in topic"):
        invoke(event_for(bootstrap, f"{topic}#7"))


def test_avro_value_not_fitting_is_an_input_error(bootstrap, topic):
    with pytest.raises(ConnectorInputError) as caught:
        invoke(
            event_for(
                bootstrap,
                topic,
                message={"value": {"name": "x", "age": "twenty"}},
                serializationType="avro",
                avro={"schema": SAMPLE_SCHEMA},
            )
        )
    assert "age" in caught.value.description


def test_record_too_large_is_non_retryable(bootstrap, topic):
    event = event_for(
        bootstrap, topic, message={"value": "x" * 5000}, additionalProperties={"max.request.size": 1024}
    )
    with pytest.raises(KafkaNonRetryableError, match=r"MessageSizeTooLarge|too large|larger"):
        invoke(event)


@pytest.mark.timeout(60)  # the call is bounded by its own max.block.ms; this only stops a hang
def test_unreachable_broker_is_retryable_within_its_own_timeouts():
    with pytest.raises(KafkaRetryableError, match="could not reach the Kafka cluster"):
        invoke(event_for("127.0.0.1:1", "orders", additionalProperties={"max.block.ms": 2000}))


def test_event_that_is_not_an_object():
    with pytest.raises(ConnectorInputError, match="JSON object"):
        invoke(["not", "an", "object"])


def test_each_topic_gets_its_own_records(bootstrap):
    # Guards the helpers themselves: two fresh topics never share records.
    first, second = create_topic(bootstrap), create_topic(bootstrap)
    response = invoke(event_for(bootstrap, first))
    assert response["topic"] == first != second


def test_bootstrap_servers_default_to_the_function_environment(bootstrap, topic, monkeypatch):
    import importlib

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    cold = importlib.reload(app)  # the variable is read at cold start
    event = event_for(bootstrap, topic)
    del event["topic"]["bootstrapServers"]
    assert stored(bootstrap, cold.lambda_handler(event, LocalLambdaContext("producer"))).key == b"employee1"
    # A payload that names its servers wins over the default.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    cold = importlib.reload(app)
    response = cold.lambda_handler(event_for(bootstrap, topic), LocalLambdaContext("producer"))
    assert stored(bootstrap, response).key == b"employee1"
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS")
    importlib.reload(app)
