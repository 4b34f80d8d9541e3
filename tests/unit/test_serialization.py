import json
import struct
import uuid

import pytest
from moto import mock_aws

from kafka_connector.errors import ConnectorInputError
from kafka_connector.serialization import (
    AvroWriter,
    WireFormat,
    decode_avro_body,
    detect_framing,
    encode_headers,
    encode_json_value,
    encode_key,
    glue_registry,
    parse_avro_schema,
)
from tests.support.aws import register_glue_schema
from tests.support.samples import SAMPLE_SCHEMA, SAMPLE_VALUE


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("employee1", b"employee1"),
        ("", b""),
        (42, b"42"),
        (True, b"true"),
        ({"a": 1}, b'{"a":1}'),
        (["x", 2], b'["x",2]'),
        (None, None),
        ("ünï", "ünï".encode()),
    ],
)
def test_keys(key, expected):
    assert encode_key(key) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain text", b"plain text"),
        ({"name": "John Doe", "age": 29}, b'{"name":"John Doe","age":29}'),
        ([1, 2], b"[1,2]"),
        (3.5, b"3.5"),
        (False, b"false"),
        ({"city": "Zürich"}, '{"city":"Zürich"}'.encode()),
    ],
)
def test_json_values(value, expected):
    assert encode_json_value(value) == expected


def test_headers_are_utf8_strings_only():
    assert encode_headers({"source": "checkout", "ü": "ß"}) == [("source", b"checkout"), ("ü", "ß".encode())]
    assert encode_headers(None) == []
    with pytest.raises(ConnectorInputError, match=r"'headers\.n' must be a string"):
        encode_headers({"n": 1})
    with pytest.raises(ConnectorInputError, match="'headers' must be an object"):
        encode_headers(["a"])


def test_plain_avro_round_trip_from_object_or_string_schema():
    for schema in (SAMPLE_SCHEMA, json.dumps(SAMPLE_SCHEMA)):
        writer = AvroWriter.from_request({"schema": schema})
        data = writer.encode(SAMPLE_VALUE)
        assert detect_framing(data).wire_format is WireFormat.PLAIN
        assert decode_avro_body(data, writer.schema) == SAMPLE_VALUE
        # A value given as a string holding JSON is written the same way.
        assert writer.encode(json.dumps(SAMPLE_VALUE)) == data


def test_confluent_framing():
    writer = AvroWriter.from_request({"schema": SAMPLE_SCHEMA, "wireFormat": "confluent", "schemaId": 7})
    data = writer.encode(SAMPLE_VALUE)
    assert data[:5] == struct.pack(">bI", 0, 7)
    framing = detect_framing(data)
    assert (framing.wire_format, framing.schema_id) == (WireFormat.CONFLUENT, 7)
    assert decode_avro_body(framing.body, writer.schema) == SAMPLE_VALUE


@mock_aws
def test_glue_framing_uses_the_registered_version():
    glue_registry.schema_version_id.cache_clear()
    version = register_glue_schema("reg", "sample", SAMPLE_SCHEMA)
    writer = AvroWriter.from_request(
        {
            "schema": json.dumps(SAMPLE_SCHEMA),
            "wireFormat": "glue",
            "registryName": "reg",
            "schemaName": "sample",
        }
    )
    data = writer.encode(SAMPLE_VALUE)
    assert data[:2] == bytes((3, 0))
    assert uuid.UUID(bytes=data[2:18]) == uuid.UUID(version)
    framing = detect_framing(data)
    assert framing.wire_format is WireFormat.GLUE
    assert decode_avro_body(framing.body, writer.schema) == SAMPLE_VALUE


@mock_aws
def test_glue_unregistered_definition_is_an_input_error():
    glue_registry.schema_version_id.cache_clear()
    register_glue_schema("reg", "sample", SAMPLE_SCHEMA)
    other = dict(SAMPLE_SCHEMA, name="otherRecord")
    writer = AvroWriter.from_request(
        {"schema": other, "wireFormat": "glue", "registryName": "reg", "schemaName": "sample"}
    )
    with pytest.raises(ConnectorInputError, match="not registered"):
        writer.encode(SAMPLE_VALUE)


@pytest.mark.parametrize(
    ("value", "field_named"),
    [
        ({"name": "John", "age": "old", "emails": []}, "age"),
        ({"name": "John", "emails": []}, "age"),
        ({"name": 5, "age": 1, "emails": []}, "name"),
        ({"name": "John", "age": 1, "emails": [1]}, "emails"),
    ],
)
def test_value_not_fitting_the_schema_names_the_field(value, field_named):
    writer = AvroWriter.from_request({"schema": SAMPLE_SCHEMA})
    with pytest.raises(ConnectorInputError) as caught:
        writer.encode(value)
    assert "message.value" in caught.value.message
    assert field_named in caught.value.description


@pytest.mark.parametrize(
    ("avro", "named"),
    [
        (None, "'avro'"),
        ({}, "avro.schema"),
        ({"schema": "{not json"}, "avro.schema"),
        (
            {"schema": {"type": "record", "name": "r", "fields": [{"name": "a", "type": "nope"}]}},
            "avro.schema",
        ),
        ({"schema": SAMPLE_SCHEMA, "wireFormat": "xml"}, "avro.wireFormat"),
        ({"schema": SAMPLE_SCHEMA, "wireFormat": "confluent"}, "avro.schemaId"),
        ({"schema": SAMPLE_SCHEMA, "wireFormat": "confluent", "schemaId": -1}, "avro.schemaId"),
        ({"schema": SAMPLE_SCHEMA, "wireFormat": "glue", "schemaName": "s"}, "avro.registryName"),
        ({"schema": SAMPLE_SCHEMA, "wireFormat": "glue", "registryName": "r"}, "avro.schemaName"),
    ],
)
def test_bad_avro_settings_name_the_field(avro, named):
    with pytest.raises(ConnectorInputError) as caught:
        AvroWriter.from_request(avro)
    assert named in caught.value.message


def test_string_value_that_is_not_json_is_an_input_error():
    writer = AvroWriter.from_request({"schema": SAMPLE_SCHEMA})
    with pytest.raises(ConnectorInputError, match="does not hold JSON"):
        writer.encode("John")


def test_schema_parsing_is_cached():
    first = parse_avro_schema(json.dumps(SAMPLE_SCHEMA))
    assert parse_avro_schema(json.dumps(SAMPLE_SCHEMA)) is first
