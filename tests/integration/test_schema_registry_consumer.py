"""The consumer reads what a Confluent-compatible Schema Registry's users write (README.md#schema-registries).

The registry is Confluent's own in-memory one (``mock://``, from ``confluent_kafka``): the
consumer's client and the test's serializer are the same client object, as in the local
runtime where the functions run in this process. Records are written by Confluent's
``AvroSerializer``. Registry failures are real HTTP: a closed port, and a local HTTP server
that answers every request with the status under test (tests/support/registry.py).
AWS is moto; the schema-evolution case runs through the local event source mapping on the
real broker.
"""

import base64
import io
import json
import logging
import uuid

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from kafka import KafkaProducer

from kafka_connector.inbound import registry_values
from kafka_connector.serialization import schema_registry
from kafka_connector.serialization.framing import confluent_header
from local.event_source_mapping import LocalEventSourceMapping
from local.functions import LocalFunction
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.aws import register_glue_schema
from tests.support.kafka import create_topic
from tests.support.leaks import leaks
from tests.support.registry import V1, V2, answering

TOPIC = "payments"
#: What a v2 reader may also read: ``amount`` written as an int, read as a long (a promotion).
V2_LONG = {
    **V1,
    "fields": [
        {"name": "orderId", "type": "string"},
        {"name": "amount", "type": "long"},
        {"name": "currency", "type": "string", "default": "EUR"},
    ],
}


@pytest.fixture
def registry():
    """A fresh in-memory registry, reached through the very client the consumer will use."""
    url = f"mock://registry-{uuid.uuid4().hex}"
    yield url, schema_registry.client(schema_registry.RegistryAccess(url))
    schema_registry.client.cache_clear()
    schema_registry.schema_by_id.cache_clear()
    registry_values.forget()


def confluent_avro(client, schema, value, field=MessageField.VALUE):
    return AvroSerializer(client, json.dumps(schema))(value, SerializationContext(TOPIC, field))


def record(offset, value, key=b"k"):
    return KafkaRecord(TOPIC, 0, offset, value, key, [], 1732190000000)


def start_consumer(aws, make_consumer, name, **env):
    machine = aws.pass_machine(name)
    return machine, make_consumer(CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine, **env)


def inputs(aws, machine):
    """The message each started execution was given, by offset."""
    found = {}
    for execution in aws.sfn.list_executions(stateMachineArn=machine)["executions"]:
        message = json.loads(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        found[message["offset"]] = message
    return found


def held_back(caplog):
    return {
        r.offset: r
        for r in caplog.records
        if r.levelno == logging.WARNING and getattr(r, "outcome", None) == "held back"
    }


def failed(*offsets):
    return {
        "batchItemFailures": [{"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": o}} for o in offsets]
    }


# -- writer schema by id, resolved to AVRO_SCHEMA ----------------------------------------------------------


def test_every_compatible_version_reaches_the_workflow_in_the_readers_shape(aws, make_consumer, registry):
    url, client = registry
    batch = lambda_kafka_event(
        [
            record(0, confluent_avro(client, V1, {"orderId": "o-1", "amount": 5})),
            record(1, confluent_avro(client, V2, {"orderId": "o-2", "amount": 7, "currency": "USD"})),
        ]
    )
    reader_machine, reader = start_consumer(
        aws, make_consumer, "reader", SCHEMA_REGISTRY_URL=url, AVRO_SCHEMA=json.dumps(V2_LONG)
    )
    writer_machine, as_written = start_consumer(aws, make_consumer, "writer", SCHEMA_REGISTRY_URL=url)
    assert reader.handle(batch) == failed()
    assert as_written.handle(batch) == failed()
    # The reader reads v1 with the default filled in (and int promoted to long).
    assert {o: m["value"] for o, m in inputs(aws, reader_machine).items()} == {
        0: {"orderId": "o-1", "amount": 5, "currency": "EUR"},
        1: {"orderId": "o-2", "amount": 7, "currency": "USD"},
    }
    assert {o: m["value"] for o, m in inputs(aws, writer_machine).items()} == {
        0: {"orderId": "o-1", "amount": 5},
        1: {"orderId": "o-2", "amount": 7, "currency": "USD"},
    }
    assert aws.dead_letters() == []


def test_a_version_the_reader_cannot_resolve_is_dead_lettered_with_the_reason(aws, make_consumer, registry):
    url, client = registry
    incompatible = {
        **V1,
        "fields": [{"name": "orderId", "type": "string"}, {"name": "paid", "type": "boolean"}],
    }
    machine, consumer = start_consumer(
        aws, make_consumer, "strict", SCHEMA_REGISTRY_URL=url, AVRO_SCHEMA=json.dumps(V1)
    )
    batch = lambda_kafka_event(
        [
            record(0, confluent_avro(client, incompatible, {"orderId": "o-1", "paid": True})),
            record(1, confluent_avro(client, V1, {"orderId": "o-2", "amount": 1})),
        ]
    )
    assert consumer.handle(batch) == failed()
    assert set(inputs(aws, machine)) == {1}
    [letter] = aws.dead_letters()
    assert (letter["offset"], letter["error"]) == (0, "UndecodableRecord")
    assert "cannot be resolved to AVRO_SCHEMA" in letter["reason"]


def test_framed_keys_are_read_with_their_writer_schema(aws, make_consumer, registry):
    url, client = registry
    key_schema = {"type": "record", "name": "PaymentKey", "fields": [{"name": "id", "type": "string"}]}
    key = confluent_avro(client, key_schema, {"id": "o-9"}, MessageField.KEY)
    machine, consumer = start_consumer(
        aws, make_consumer, "keys", SCHEMA_REGISTRY_URL=url, AVRO_SCHEMA=json.dumps(V1)
    )
    value = confluent_avro(client, V1, {"orderId": "o-9", "amount": 9})
    assert consumer.handle(lambda_kafka_event([record(0, value, key=key)])) == failed()
    assert inputs(aws, machine)[0]["key"] == {"id": "o-9"}


def test_an_unknown_schema_id_is_dead_lettered_with_the_id(aws, make_consumer, registry):
    url, client = registry
    machine, consumer = start_consumer(aws, make_consumer, "unknown", SCHEMA_REGISTRY_URL=url)
    batch = lambda_kafka_event(
        [
            record(0, confluent_header(4242) + b"\x02xx"),
            record(1, confluent_avro(client, V1, {"orderId": "o-2", "amount": 1})),
        ]
    )
    assert consumer.handle(batch) == failed()
    assert set(inputs(aws, machine)) == {1}
    [letter] = aws.dead_letters()
    assert (letter["offset"], letter["error"]) == (0, "UndecodableRecord")
    assert "schema id 4242" in letter["reason"]


def test_json_schema_values_are_json_and_protobuf_is_sent_to_the_mappings_integration(
    aws, make_consumer, registry
):
    url, client = registry
    json_id = client.register_schema(f"{TOPIC}-value", Schema('{"type": "object"}', "JSON"))
    proto_id = client.register_schema(
        "proto-value", Schema('syntax = "proto3"; message M { string a = 1; }', "PROTOBUF")
    )
    machine, consumer = start_consumer(aws, make_consumer, "types", SCHEMA_REGISTRY_URL=url)
    batch = lambda_kafka_event(
        [
            record(0, confluent_header(json_id) + b'{"orderId": "o-1", "n": [1, 2]}'),
            record(1, confluent_header(proto_id) + b"\x00\x0a\x01a"),
        ]
    )
    assert consumer.handle(batch) == failed()
    assert inputs(aws, machine)[0]["value"] == {"orderId": "o-1", "n": [1, 2]}
    [letter] = aws.dead_letters()
    assert (letter["offset"], letter["error"]) == (1, "UndecodableRecord")
    assert f"Protobuf (schema id {proto_id})" in letter["reason"]
    assert "SchemaRegistryConfig with EventRecordFormat JSON" in letter["reason"]


# -- events from a mapping with a SchemaRegistryConfig ------------------------------------------------------


def test_mapping_decoded_json_and_source_records_are_read(aws, make_consumer, registry):
    url, client = registry
    v1_id = client.register_schema(f"{TOPIC}-value", Schema(json.dumps(V1), "AVRO"))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(V1), {"orderId": "o-2", "amount": 2})
    machine, consumer = start_consumer(
        aws,
        make_consumer,
        "mapping",
        SCHEMA_REGISTRY_URL=url,
        SERIALIZATION_TYPE="avro",
        AVRO_WIRE_FORMAT="confluent",
        AVRO_SCHEMA=json.dumps(V2),
    )
    event = lambda_kafka_event(
        [
            record(0, b'{"orderId": "o-1", "amount": 1}'),  # EventRecordFormat JSON: decoded by the mapping
            record(1, buffer.getvalue()),  # SOURCE: the frame removed, the id in the metadata
        ]
    )
    records = event["records"][f"{TOPIC}-0"]
    records[0]["valueSchemaMetadata"] = {"dataFormat": "AVRO", "schemaId": str(v1_id)}
    records[1]["valueSchemaMetadata"] = {"dataFormat": "AVRO", "schemaId": str(v1_id)}
    # SOURCE with key validation: the key's frame removed too, its id in keySchemaMetadata.
    key_schema = {"type": "record", "name": "PaymentKey", "fields": [{"name": "id", "type": "string"}]}
    key_id = client.register_schema(f"{TOPIC}-key", Schema(json.dumps(key_schema), "AVRO"))
    key = io.BytesIO()
    fastavro.schemaless_writer(key, fastavro.parse_schema(key_schema), {"id": "o-2"})
    records[1]["key"] = base64.b64encode(key.getvalue()).decode()
    records[1]["keySchemaMetadata"] = {"dataFormat": "AVRO", "schemaId": str(key_id)}
    assert consumer.handle(event) == failed()
    found = inputs(aws, machine)
    assert found[0]["value"] == {"orderId": "o-1", "amount": 1}
    assert found[1]["value"] == {"orderId": "o-2", "amount": 2, "currency": "EUR"}
    assert found[1]["key"] == {"id": "o-2"}


# -- registry failures: held back, logged at WARNING with the registry and the status -----------------------


def test_an_unreachable_registry_holds_the_partition_back(aws, make_consumer, caplog):
    machine, consumer = start_consumer(aws, make_consumer, "down", SCHEMA_REGISTRY_URL="http://127.0.0.1:1")
    batch = lambda_kafka_event(
        [record(0, b'{"n": 0}'), record(1, confluent_header(1) + b"\x02"), record(2, b"{}")]
    )
    try:
        assert consumer.handle(batch) == failed(1, 2)
    finally:
        schema_registry.client.cache_clear()
    assert set(inputs(aws, machine)) == {0}
    assert aws.dead_letters() == []
    line = held_back(caplog)[1]
    assert line.error == "SchemaRegistryUnavailable"
    assert "schema registry http://127.0.0.1:1" in line.reason
    assert "no answer" in line.reason


@pytest.mark.parametrize("status", [503, 500, 401, 403])
def test_registry_errors_and_refusals_hold_records_back(aws, make_consumer, caplog, status):
    secret = aws_secret(aws, "registry-key", "0123456789abcdef-api-secret")
    with answering(status) as server:
        _, consumer = start_consumer(
            aws,
            make_consumer,
            f"status-{status}",
            SCHEMA_REGISTRY_URL=server.url,
            SCHEMA_REGISTRY_AUTH_SECRET=secret,
        )
        try:
            assert consumer.handle(lambda_kafka_event([record(0, confluent_header(7) + b"\x02")])) == failed(
                0
            )
        finally:
            schema_registry.client.cache_clear()
            registry_values.forget()
    assert aws.dead_letters() == []
    line = held_back(caplog)[0]
    assert line.error == "SchemaRegistryUnavailable"
    assert f"schema registry {server.url}: schema id 7: HTTP {status}" in line.reason
    # The credentials went to the registry, read from the secret, and nowhere else.
    expected = "Basic " + base64.b64encode(b"registry-key:0123456789abcdef-api-secret").decode()
    assert server.authorizations
    assert set(server.authorizations) == {expected}
    assert leaks({"password": "0123456789abcdef-api-secret"}, {"log": caplog.text}) == []


def test_a_failing_registry_is_asked_once_per_quiet_time_not_once_per_record(aws, make_consumer, caplog):
    with answering(503) as server:
        _, consumer = start_consumer(aws, make_consumer, "quiet", SCHEMA_REGISTRY_URL=server.url)
        batch = lambda_kafka_event(
            [
                KafkaRecord(TOPIC, 0, 0, confluent_header(7) + b"\x02", b"k", [], 1),
                KafkaRecord(TOPIC, 1, 0, confluent_header(8) + b"\x02", b"k", [], 1),
            ]
        )
        try:
            response = consumer.handle(batch)
        finally:
            schema_registry.client.cache_clear()
            registry_values.forget()
    assert sorted(f["itemIdentifier"]["partition"] for f in response["batchItemFailures"]) == [
        f"{TOPIC}-0",
        f"{TOPIC}-1",
    ]
    assert len(server.authorizations) == 3  # one lookup and the client's two retries, for both records
    reasons = sorted(r.reason for r in caplog.records if getattr(r, "outcome", None) == "held back")
    assert "HTTP 503" in reasons[0]
    assert "not asked again" in reasons[1]


def test_an_unreadable_auth_secret_holds_records_back(aws, make_consumer, caplog, registry):
    url, _ = registry
    _, consumer = start_consumer(
        aws, make_consumer, "no-secret", SCHEMA_REGISTRY_URL=url, SCHEMA_REGISTRY_AUTH_SECRET="missing"
    )
    assert consumer.handle(lambda_kafka_event([record(0, confluent_header(1) + b"\x02")])) == failed(0)
    line = held_back(caplog)[0]
    assert "SCHEMA_REGISTRY_AUTH_SECRET 'missing' could not be read: ResourceNotFoundException" in line.reason


def aws_secret(aws, username, password):
    import boto3

    client = boto3.client("secretsmanager")
    name = f"registry-{uuid.uuid4().hex[:6]}"
    client.create_secret(Name=name, SecretString=json.dumps({"username": username, "password": password}))
    return name


# -- schema evolution end to end: broker, local event source mapping, consumer functions ---------------------


def test_schema_evolution_through_the_event_source_mapping(bootstrap, aws, registry):
    url, client = registry
    topic = create_topic(bootstrap, partitions=1, prefix="evolving")
    context = SerializationContext(topic, MessageField.VALUE)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, AvroSerializer(client, json.dumps(V1))({"orderId": "o-1", "amount": 1}, context))
    producer.send(
        topic,
        AvroSerializer(client, json.dumps(V2))({"orderId": "o-2", "amount": 2, "currency": "USD"}, context),
    )
    producer.flush()
    producer.close()
    results = {}
    for name, reader in (("v1-reader", V1), ("writer-schema", None)):
        machine = aws.pass_machine(name)
        env = {
            "CONNECTOR_MODE": "start",
            "STATE_MACHINE_ARN": machine,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
            "SCHEMA_REGISTRY_URL": url,
        }
        if reader is not None:
            env["AVRO_SCHEMA"] = json.dumps(reader)
        function = LocalFunction(f"consumer-{name}", "consumer", env)
        with LocalEventSourceMapping(
            bootstrap_servers=bootstrap,
            topic=topic,
            group_id=f"g-{name}",
            invoke=function.invoke,
            backoff_seconds=0,
        ) as mapping:
            for _ in range(60):
                mapping.poll_once(timeout_ms=300)
                if mapping.stats.committed.get((topic, 0)) == 2:
                    break
        results[name] = [m["value"] for _, m in sorted(inputs(aws, machine).items())]
    assert results == {
        "v1-reader": [{"orderId": "o-1", "amount": 1}, {"orderId": "o-2", "amount": 2}],
        "writer-schema": [
            {"orderId": "o-1", "amount": 1},
            {"orderId": "o-2", "amount": 2, "currency": "USD"},
        ],
    }
    assert aws.dead_letters() == []


# -- Glue: the writer schema by version id, resolved to AVRO_SCHEMA likewise ---------------------------------


def test_glue_versions_are_resolved_to_the_readers_schema(aws, make_consumer):
    import boto3

    from kafka_connector.serialization import glue_registry

    glue = boto3.client("glue")
    v1 = register_glue_schema("evolving", "payment", V1)
    v2 = glue.register_schema_version(
        SchemaId={"RegistryName": "evolving", "SchemaName": "payment"}, SchemaDefinition=json.dumps(V2)
    )["SchemaVersionId"]

    def framed(version, schema, value):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), value)
        return bytes((3, 0)) + uuid.UUID(version).bytes + buffer.getvalue()

    batch = lambda_kafka_event(
        [
            record(0, framed(v1, V1, {"orderId": "o-1", "amount": 1})),
            record(1, framed(v2, V2, {"orderId": "o-2", "amount": 2, "currency": "USD"})),
        ]
    )
    glue_registry.schema_definition.cache_clear()
    reader_machine, reader = start_consumer(aws, make_consumer, "glue-v1", AVRO_SCHEMA=json.dumps(V1))
    writer_machine, as_written = start_consumer(aws, make_consumer, "glue-writer")
    assert reader.handle(batch) == failed()
    assert as_written.handle(batch) == failed()
    assert [m["value"] for _, m in sorted(inputs(aws, reader_machine).items())] == [
        {"orderId": "o-1", "amount": 1},
        {"orderId": "o-2", "amount": 2},
    ]
    assert [m["value"] for _, m in sorted(inputs(aws, writer_machine).items())] == [
        {"orderId": "o-1", "amount": 1},
        {"orderId": "o-2", "amount": 2, "currency": "USD"},
    ]


# -- misconfigurations: never drained into the dead-letter queue, never quoted --------------------------

PASTED_PASSWORD = "S3cr3tPassw0rd-registry"


LOGIN_PAGE = b"<html>please log in</html>"


@pytest.mark.parametrize(
    ("status", "page"),
    [(301, None), (301, LOGIN_PAGE), (200, LOGIN_PAGE), (400, None), (400, LOGIN_PAGE)],
    ids=["redirect", "redirect-to-login", "login-page", "bad-request", "bad-request-page"],
)
def test_an_answer_that_is_not_the_registrys_holds_records_back(aws, make_consumer, caplog, status, page):
    with answering(status, page) as server:
        _, consumer = start_consumer(aws, make_consumer, f"wrong-{status}", SCHEMA_REGISTRY_URL=server.url)
        try:
            assert consumer.handle(lambda_kafka_event([record(0, confluent_header(7) + b"\x02")])) == failed(
                0
            )
        finally:
            schema_registry.client.cache_clear()
            registry_values.forget()
    assert aws.dead_letters() == []  # a misconfiguration must not drain the topic into the queue
    line = held_back(caplog)[0]
    assert line.error == "SchemaRegistryUnavailable"
    assert len(line.reason) < 600


def test_a_pasted_auth_secret_value_is_never_quoted(aws, make_consumer, caplog):
    pasted = json.dumps({"username": "key", "password": PASTED_PASSWORD})
    _, consumer = start_consumer(
        aws, make_consumer, "pasted", SCHEMA_REGISTRY_URL="mock://pasted", SCHEMA_REGISTRY_AUTH_SECRET=pasted
    )
    try:
        assert consumer.handle(lambda_kafka_event([record(0, confluent_header(7) + b"\x02")])) == failed(0)
    finally:
        schema_registry.client.cache_clear()
        registry_values.forget()
    assert "not a secret name or ARN" in held_back(caplog)[0].reason
    assert leaks({"password": PASTED_PASSWORD}, {"log": caplog.text}) == []
