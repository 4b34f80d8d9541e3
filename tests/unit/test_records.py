"""Decoding the Lambda Kafka event into the message shape of docs/payloads.md#the-message."""

import base64
import io
import json
import struct
import uuid

import fastavro
import pytest
from moto import mock_aws

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.records import AvroSettings, UndecodableRecord, decode_record, iter_records
from kafka_connector.serialization import glue_registry
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.aws import register_glue_schema
from tests.support.samples import SAMPLE_SCHEMA, SAMPLE_VALUE


def one(value, key=None, headers=(), **avro_env):
    event = lambda_kafka_event(
        [KafkaRecord("orders-eu", 3, 42, value, key, list(headers), timestamp=1732190000000)]
    )
    [record] = iter_records(event)
    return decode_record(record, AvroSettings.from_environment(avro_env))


def avro_body(value=SAMPLE_VALUE):
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(SAMPLE_SCHEMA), value)
    return buffer.getvalue()


def test_message_shape_for_json():
    message = one(b'{"orderId":"o-1","amount":5}', key=b"employee1", headers=[("source", b"checkout")])
    assert message == {
        "key": "employee1",
        "value": {"orderId": "o-1", "amount": 5},
        "rawValue": '{"orderId":"o-1","amount":5}',
        "headers": {"source": "checkout"},
        "topic": "orders-eu",
        "partition": 3,
        "offset": 42,
        "timestamp": 1732190000000,
    }


def test_key_is_json_when_it_parses():
    assert one(b"v", key=b'{"id":1}')["key"] == {"id": 1}
    assert one(b"v", key=b"42")["key"] == 42
    assert one(b"v", key=b"not json")["key"] == "not json"
    assert one(b"v")["key"] is None


def test_invalid_json_value_is_the_string_itself():
    message = one(b"{not json")
    assert message["value"] == message["rawValue"] == "{not json"


def test_raw_control_characters_inside_strings_are_tolerated():
    assert one(b'{"note":"line1\nline2\ttab"}')["value"] == {"note": "line1\nline2\ttab"}


def test_tombstone_has_null_value_and_raw_value():
    message = one(None, key=b"k")
    assert (message["value"], message["rawValue"], message["key"]) == (None, None, "k")


def test_signed_header_bytes_and_duplicate_keys_keep_the_last():
    event = lambda_kafka_event([KafkaRecord("t", 0, 0, b"x", None, [("h", "é€".encode()), ("h", b"last")])])
    [record] = iter_records(event)
    assert any(b < 0 for b in record["headers"][0]["h"])  # the event really carries signed bytes
    assert decode_record(record)["headers"] == {"h": "last"}
    assert decode_record({**record, "headers": record["headers"][:1]})["headers"] == {"h": "é€"}


def test_self_managed_and_msk_events_decode_the_same():
    records = [KafkaRecord("my-topic-1", 0, 7, b'{"a":1}'), KafkaRecord("my-topic-1", 1, 8, b"2")]
    msk = [decode_record(r) for r in iter_records(lambda_kafka_event(records, source="aws:kafka"))]
    smk = [decode_record(r) for r in iter_records(lambda_kafka_event(records, source="SelfManagedKafka"))]
    assert msk == smk
    # The topic-partition key is never parsed: a topic ending in "-1" keeps its name.
    assert [(m["topic"], m["partition"], m["value"]) for m in msk] == [
        ("my-topic-1", 0, {"a": 1}),
        ("my-topic-1", 1, 2),
    ]


def test_null_key_and_value_fields_are_absent_or_null():
    record = {
        "topic": "t",
        "partition": 0,
        "offset": 1,
        "timestamp": 0,
        "key": None,
        "value": None,
        "headers": [],
    }
    assert decode_record(record)["value"] is None


def test_binary_value_that_is_not_utf8_is_kept_as_text():
    message = one(b"\xff\xfe\x00abc")
    assert message["value"] == message["rawValue"]


def test_bad_base64_is_undecodable():
    with pytest.raises(UndecodableRecord):
        decode_record({"topic": "t", "partition": 0, "offset": 0, "value": "***"})


def test_avro_plain_with_configured_schema():
    message = one(avro_body(), SERIALIZATION_TYPE="avro", AVRO_SCHEMA=json.dumps(SAMPLE_SCHEMA))
    assert (message["value"], message["rawValue"]) == (SAMPLE_VALUE, None)


def test_avro_confluent_framing_with_configured_schema():
    framed = struct.pack(">bI", 0, 5) + avro_body()
    for env in ({"SERIALIZATION_TYPE": "avro", "AVRO_WIRE_FORMAT": "confluent"}, {}):
        message = one(framed, AVRO_SCHEMA=json.dumps(SAMPLE_SCHEMA), **env)
        assert (message["value"], message["rawValue"]) == (SAMPLE_VALUE, None)


def test_confluent_framing_without_schema_is_undecodable():
    with pytest.raises(UndecodableRecord, match="AVRO_SCHEMA"):
        one(struct.pack(">bI", 0, 5) + avro_body())


def test_avro_that_does_not_match_is_undecodable():
    with pytest.raises(UndecodableRecord):
        one(b"\x02", SERIALIZATION_TYPE="avro", AVRO_SCHEMA=json.dumps(SAMPLE_SCHEMA))


@mock_aws
def test_glue_framing_fetches_the_schema_by_version_and_caches_it():
    glue_registry.schema_definition.cache_clear()
    version = register_glue_schema("r", "s", SAMPLE_SCHEMA)
    framed = bytes((3, 0)) + uuid.UUID(version).bytes + avro_body()
    assert one(framed)["value"] == SAMPLE_VALUE  # a JSON consumer recognises Glue framing
    assert one(framed, SERIALIZATION_TYPE="avro", AVRO_WIRE_FORMAT="glue")["value"] == SAMPLE_VALUE
    assert glue_registry.schema_definition.cache_info().misses == 1


@mock_aws
def test_schema_metadata_from_the_mapping_names_a_glue_version():
    glue_registry.schema_definition.cache_clear()
    version = register_glue_schema("r", "s", SAMPLE_SCHEMA)
    record = {
        "topic": "t",
        "partition": 0,
        "offset": 0,
        "value": base64.b64encode(avro_body()).decode(),
        "valueSchemaMetadata": {"dataFormat": "AVRO", "schemaId": version},
    }
    assert decode_record(record)["value"] == SAMPLE_VALUE
    # With the JSON record format the mapping has already turned the value into JSON.
    as_json = {**record, "value": base64.b64encode(json.dumps(SAMPLE_VALUE).encode()).decode()}
    assert decode_record(as_json)["value"] == SAMPLE_VALUE


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SERIALIZATION_TYPE": "xml"}, "SERIALIZATION_TYPE"),
        ({"SERIALIZATION_TYPE": "avro"}, "AVRO_SCHEMA"),
        ({"SERIALIZATION_TYPE": "avro", "AVRO_WIRE_FORMAT": "zip"}, "AVRO_WIRE_FORMAT"),
        ({"AVRO_SCHEMA": "{nope"}, "AVRO_SCHEMA"),
    ],
)
def test_bad_avro_configuration_names_the_variable(env, named):
    with pytest.raises(ConnectorInputError, match=named):
        AvroSettings.from_environment(env)


def test_not_a_kafka_event():
    with pytest.raises(ConnectorInputError, match="records"):
        list(iter_records({"Records": []}))


# -- hostile input: every way a value can fail is this record's UndecodableRecord --------------------


def test_empty_value_is_empty_text_not_a_tombstone():
    empty = one(b"", key=b"k")
    assert (empty["value"], empty["rawValue"]) == ("", "")
    tombstone = one(None, key=b"k")
    assert (tombstone["value"], tombstone["rawValue"]) == (None, None)
    assert one(b"", SERIALIZATION_TYPE="avro", AVRO_SCHEMA='"null"')["rawValue"] is None  # Avro null: a value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b'{"amount": NaN}', {"amount": "NaN"}),
        (b'{"a": Infinity, "b": [-Infinity]}', {"a": "Infinity", "b": ["-Infinity"]}),
        (b"NaN", "NaN"),
        (b"-Infinity", "-Infinity"),
    ],
)
def test_nan_and_infinity_are_read_as_text(text, value):
    message = one(text)
    assert message["value"] == value
    json.dumps(message["value"], allow_nan=False)  # strict JSON from here on


def test_json_nested_too_deep_to_decode_is_undecodable_for_value_and_key():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(UndecodableRecord, match="value is JSON nested too deep"):
        one(deep)
    with pytest.raises(UndecodableRecord, match="key is JSON nested too deep"):
        one(b"{}", key=deep)
    assert one(b"[" * 500 + b"]" * 500)["value"] is not None  # deep but readable: still a value


def glue_frame(version, body, compression=0):
    return bytes((3, compression)) + uuid.UUID(version).bytes + body


@mock_aws
def test_glue_zlib_compressed_body_is_inflated():
    """The AWS Glue serde with compression ZLIB writes byte 5 and a zlib (Deflater) stream."""
    import zlib

    version = register_glue_schema("r", "zlib", SAMPLE_SCHEMA)
    assert one(glue_frame(version, zlib.compress(avro_body()), 5))["value"] == SAMPLE_VALUE
    configured = {"SERIALIZATION_TYPE": "avro", "AVRO_WIRE_FORMAT": "glue"}
    assert one(glue_frame(version, zlib.compress(avro_body(), 9), 5), **configured)["value"] == SAMPLE_VALUE


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not zlib at all", "not zlib data"),
        (b"", "cut short"),
        (b"x\x9c\xcb\x48", "cut short"),  # a zlib stream cut after its first bytes
    ],
)
@mock_aws  # never a real Glue, whatever happens
def test_glue_zlib_body_that_is_not_zlib_is_undecodable(body, reason):
    with pytest.raises(UndecodableRecord, match=reason):
        one(glue_frame(str(uuid.uuid4()), body, 5))


@mock_aws
def test_glue_zlib_bomb_is_undecodable():
    import zlib

    from kafka_connector.serialization.framing import MAX_INFLATED_BYTES

    bomb = zlib.compress(b"\0" * (MAX_INFLATED_BYTES + 1), 9)
    assert len(bomb) < 100_000
    with pytest.raises(UndecodableRecord, match="inflates beyond"):
        one(glue_frame(str(uuid.uuid4()), bomb, 5))


@mock_aws
def test_glue_version_that_does_not_exist_is_undecodable_and_asked_once():
    from kafka_connector.inbound import records

    register_glue_schema("r", "s", SAMPLE_SCHEMA)
    missing = str(uuid.uuid4())
    for _ in range(3):
        with pytest.raises(UndecodableRecord, match=f"version {missing}.*EntityNotFoundException"):
            one(glue_frame(missing, avro_body()))
    assert records._glue_schema_or_reason.cache_info().currsize >= 1
    with pytest.raises(UndecodableRecord, match="EntityNotFoundException"):  # the mapping's metadata too
        decode_record(
            {
                "topic": "t",
                "partition": 0,
                "offset": 0,
                "value": base64.b64encode(avro_body()).decode(),
                "valueSchemaMetadata": {"dataFormat": "AVRO", "schemaId": missing},
            }
        )


@mock_aws
def test_glue_version_that_is_not_avro_is_undecodable():
    import boto3

    glue = boto3.client("glue")
    glue.create_registry(RegistryName="r")
    version = glue.create_schema(
        RegistryId={"RegistryName": "r"},
        SchemaName="json-schema",
        DataFormat="JSON",
        Compatibility="NONE",
        SchemaDefinition=json.dumps({"type": "object"}),
    )["SchemaVersionId"]
    with pytest.raises(UndecodableRecord, match="not an Avro schema"):
        one(glue_frame(version, avro_body()))


def test_glue_unreachable_is_transient(monkeypatch):
    """A network failure on the lookup is no fault of the record's: held back, asked again next time."""
    from kafka_connector.aws import clients as aws_clients
    from kafka_connector.inbound.exceptions import TransientAwsError

    monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws_clients.client.cache_clear()
    try:
        version = str(uuid.uuid4())
        for _ in range(2):
            with pytest.raises(TransientAwsError, match="Glue GetSchemaVersion"):
                one(glue_frame(version, avro_body()))
    finally:
        aws_clients.client.cache_clear()


LOGICAL_SCHEMA = {
    "type": "record",
    "name": "Logical",
    "fields": [
        {"name": "blob", "type": "bytes"},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "ratio", "type": "double"},
        {"name": "tags", "type": {"type": "map", "values": "float"}},
    ],
}


def test_avro_bytes_fixed_and_logical_types_become_json():
    import datetime
    import decimal

    value = {
        "blob": b"\x00\xffhi",
        "digest": b"\x01\x02\x03\x04",
        "price": decimal.Decimal("1234567.89"),
        "day": datetime.date(2024, 11, 21),
        "at": datetime.datetime(2024, 11, 21, 12, 30, 15, 123000, tzinfo=datetime.UTC),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "ratio": float("nan"),
        "tags": {"up": float("inf"), "down": float("-inf"), "flat": 0.5},
    }
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(LOGICAL_SCHEMA), value)
    message = one(buffer.getvalue(), SERIALIZATION_TYPE="avro", AVRO_SCHEMA=json.dumps(LOGICAL_SCHEMA))
    assert message["value"] == {
        "blob": base64.b64encode(b"\x00\xffhi").decode(),
        "digest": "AQIDBA==",
        "price": "1234567.89",
        "day": "2024-11-21",
        "at": "2024-11-21T12:30:15.123000+00:00",
        "id": "12345678-1234-5678-1234-567812345678",
        "ratio": "NaN",
        "tags": {"up": "Infinity", "down": "-Infinity", "flat": 0.5},
    }
    json.dumps(message, allow_nan=False)


RECURSIVE_SCHEMA = {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}


def test_recursive_avro_value_too_deep_is_undecodable_not_a_crash():
    """fastavro's compiled reader overflows the C stack on a value a few thousand levels deep.

    Run in a child process: if the guard were gone, the crash (SIGSEGV) must fail this test,
    not take the test run with it.
    """
    import subprocess
    import sys

    script = """
import base64, json, sys
from kafka_connector.inbound.records import AvroSettings, UndecodableRecord, decode_record
settings = AvroSettings.from_environment({"SERIALIZATION_TYPE": "avro", "AVRO_SCHEMA": sys.argv[1]})
shallow = {"topic": "t", "partition": 0, "offset": 0, "value": "AgA="}  # two levels
assert decode_record(shallow, settings)["value"] == {"next": {"next": None}}
deep_body = b"\\x02" * 200_000 + b"\\x00"
deep = {"topic": "t", "partition": 0, "offset": 1, "value": base64.b64encode(deep_body).decode()}
try:
    decode_record(deep, settings)
except UndecodableRecord as error:
    print("undecodable:", error)
"""
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(RECURSIVE_SCHEMA)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": "layers/kafka_connector", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "undecodable: value is not Avro of the expected schema: RecursionError" in done.stdout


@pytest.mark.parametrize(
    ("schema", "recursive"),
    [
        (RECURSIVE_SCHEMA, True),
        ({"type": "record", "name": "N", "fields": [{"name": "n", "type": "N"}]}, True),  # requires itself
        (
            {
                "type": "record",
                "name": "A",
                "namespace": "x",
                "fields": [
                    {
                        "name": "a",
                        "type": {
                            "type": "record",
                            "name": "B",
                            "fields": [{"name": "c", "type": {"type": "array", "items": "A"}}],
                        },
                    }
                ],
            },
            True,  # through another type and an array
        ),
        (
            {
                "type": "record",
                "name": "A",
                "fields": [{"name": "m", "type": {"type": "map", "values": "A"}}],
            },
            True,
        ),
        ({"type": "array", "items": RECURSIVE_SCHEMA}, True),
        (
            {"type": "record", "name": "N", "fields": [{"name": "N", "type": "int"}]},
            False,
        ),  # a field, not a type
        (
            {
                "type": "record",
                "name": "A",
                "fields": [
                    {
                        "name": "b",
                        "type": {"type": "record", "name": "B", "fields": [{"name": "x", "type": "int"}]},
                    },
                    {"name": "again", "type": "B"},
                ],
            },
            False,  # a type used twice is not a cycle
        ),
        (SAMPLE_SCHEMA, False),
        ("string", False),
    ],
)
def test_recursive_schemas_are_recognised(schema, recursive):
    from kafka_connector.inbound.records import _is_recursive

    assert _is_recursive(fastavro.parse_schema(schema)) is recursive
