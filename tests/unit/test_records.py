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
