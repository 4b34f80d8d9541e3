"""Bytes on the wire: keys, values and headers as text or JSON, and Avro in three framings.

Avro framings:

* ``plain`` – the bare Avro binary body, as the reference connector writes it;
* ``confluent`` – magic byte 0, the 4-byte big-endian schema id, then the body;
* ``glue`` – AWS Glue Schema Registry: header version byte 3, compression byte
  (0 none, 5 zlib), the 16-byte schema version UUID, then the body.

fastavro does the Avro work; this module only adds the framing and turns a value that
does not fit its schema into an input error that names the offending field.
"""

from __future__ import annotations

import functools
import io
import json
import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kafka_connector import glue_registry
from kafka_connector.errors import ConnectorInputError

if TYPE_CHECKING:
    from fastavro.types import Schema


@functools.cache
def _fastavro() -> ModuleType:
    """fastavro, imported on first use: ~40 ms of cold start that JSON-only functions skip."""
    import fastavro  # noqa: PLC0415
    import fastavro.validation  # noqa: PLC0415

    return fastavro


class WireFormat(StrEnum):
    PLAIN = "plain"
    CONFLUENT = "confluent"
    GLUE = "glue"


CONFLUENT_MAGIC = 0
GLUE_HEADER_VERSION = 3
GLUE_COMPRESSION_NONE = 0
GLUE_COMPRESSION_ZLIB = 5
_CONFLUENT_HEADER = struct.Struct(">bI")
_GLUE_HEADER_SIZE = 18


def to_json_text(value: Any) -> str:
    """Compact JSON, non-ASCII kept as UTF-8: the text form of any non-string value."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_key(key: Any) -> bytes | None:
    """A string key as is, any other JSON value as its JSON text, no key as ``None``.

    ``None`` never becomes the text ``null``: a record without a key is partitioned
    round-robin, one with the key ``"null"`` always lands on the same partition.
    """
    if key is None:
        return None
    return (key if isinstance(key, str) else to_json_text(key)).encode()


def encode_json_value(value: Any) -> bytes:
    """A string value as UTF-8, anything else as compact JSON text."""
    return (value if isinstance(value, str) else to_json_text(value)).encode()


def encode_headers(headers: object, field: str = "headers") -> list[tuple[str, bytes]]:
    """Headers as UTF-8 strings only, as the reference connector documents."""
    if headers is None:
        return []
    if not isinstance(headers, Mapping):
        raise ConnectorInputError(f"'{field}' must be an object of string values")
    encoded = []
    for name, value in headers.items():
        if not isinstance(value, str):
            raise ConnectorInputError(
                f"'{field}.{name}' must be a string: only UTF-8 string header values are supported"
            )
        encoded.append((str(name), value.encode()))
    return encoded


@functools.lru_cache(maxsize=64)
def _parse_schema_text(text: str) -> tuple[Schema, str]:
    try:
        parsed = _fastavro().parse_schema(json.loads(text))
    except (ValueError, TypeError, KeyError, _fastavro().schema.SchemaParseException) as error:
        raise ConnectorInputError("'avro.schema' is not a valid Avro schema", str(error)) from None
    return parsed, text


def parse_avro_schema(schema: object, field: str = "avro.schema") -> tuple[Schema, str]:
    """Parse a schema given as an object or as its JSON text; returns (parsed, JSON text)."""
    if isinstance(schema, Mapping | list):
        text = json.dumps(schema, separators=(",", ":"))
    elif isinstance(schema, str) and schema.strip():
        text = schema
    else:
        raise ConnectorInputError(f"'{field}' is required with serializationType 'avro'")
    try:
        return _parse_schema_text(text)
    except ConnectorInputError as error:
        raise ConnectorInputError(f"'{field}' is not a valid Avro schema", error.description) from None


@dataclass(frozen=True, slots=True)
class AvroWriter:
    """How one producer request writes Avro: the schema and the framing around the body."""

    schema: Schema
    definition: str
    wire_format: WireFormat = WireFormat.PLAIN
    schema_id: int | None = None
    registry_name: str | None = None
    schema_name: str | None = None

    @classmethod
    def from_request(cls, avro: object) -> AvroWriter:
        """Validate the ``avro`` section of a producer request."""
        if not isinstance(avro, Mapping):
            raise ConnectorInputError(
                "'avro' must be an object with 'schema' when serializationType is 'avro'"
            )
        schema, definition = parse_avro_schema(avro.get("schema"))
        raw_format = avro.get("wireFormat", WireFormat.PLAIN.value)
        try:
            wire_format = WireFormat(raw_format)
        except ValueError:
            raise ConnectorInputError(
                f"'avro.wireFormat' must be one of {', '.join(f.value for f in WireFormat)}: {raw_format!r}"
            ) from None
        schema_id = avro.get("schemaId")
        if wire_format is WireFormat.CONFLUENT and not (
            isinstance(schema_id, int) and not isinstance(schema_id, bool) and 0 <= schema_id < 2**31
        ):
            raise ConnectorInputError(
                "'avro.schemaId' must be a non-negative integer with wireFormat 'confluent'"
            )
        registry_name, schema_name = avro.get("registryName"), avro.get("schemaName")
        if wire_format is WireFormat.GLUE:
            for name, value in (("avro.registryName", registry_name), ("avro.schemaName", schema_name)):
                if not isinstance(value, str) or not value:
                    raise ConnectorInputError(f"'{name}' is required with wireFormat 'glue'")
        return cls(schema, definition, wire_format, schema_id, registry_name, schema_name)

    def encode(self, value: Any, field: str = "message.value") -> bytes:
        """The framed Avro bytes of ``value`` (an object, or a string holding JSON)."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ConnectorInputError(
                    f"'{field}' is a string that does not hold JSON, as Avro needs"
                ) from None
        body = encode_avro_body(value, self.schema, field)
        if self.wire_format is WireFormat.CONFLUENT:
            return _CONFLUENT_HEADER.pack(CONFLUENT_MAGIC, self.schema_id) + body
        if self.wire_format is WireFormat.GLUE:
            version = glue_registry.schema_version_id(self.registry_name, self.schema_name, self.definition)
            return bytes((GLUE_HEADER_VERSION, GLUE_COMPRESSION_NONE)) + version.bytes + body
        return body


def encode_avro_body(value: Any, schema: Schema, field: str = "message.value") -> bytes:
    """Bare Avro binary; a value that does not fit names the field and why."""
    try:
        _fastavro().validation.validate(value, schema, raise_errors=True)
    except _fastavro().validation.ValidationError as error:
        problems = "; ".join(str(e) for e in error.errors) or str(error)
        raise ConnectorInputError(f"'{field}' does not fit the Avro schema", problems) from None
    buffer = io.BytesIO()
    _fastavro().schemaless_writer(buffer, schema, value)
    return buffer.getvalue()


def decode_avro_body(body: bytes, schema: Schema) -> Any:
    """Read one bare Avro datum written with ``schema``."""
    return _fastavro().schemaless_reader(io.BytesIO(body), schema, None)


@dataclass(frozen=True, slots=True)
class Framing:
    """What the first bytes of a record value say about how it was written."""

    wire_format: WireFormat
    body: bytes
    schema_id: int | None = None
    glue_version: uuid.UUID | None = None


def detect_framing(data: bytes) -> Framing:
    """Recognise a Confluent or Glue header; anything else is a plain body.

    Glue's header is unambiguous (version byte 3, a known compression byte, 18 bytes).
    A Confluent header (byte 0 + 4-byte id) is only trusted when the caller expects Avro:
    JSON and text never start with a NUL byte, bare Avro may.
    """
    if (
        len(data) >= _GLUE_HEADER_SIZE
        and data[0] == GLUE_HEADER_VERSION
        and data[1] in (GLUE_COMPRESSION_NONE, GLUE_COMPRESSION_ZLIB)
    ):
        body = data[_GLUE_HEADER_SIZE:]
        if data[1] == GLUE_COMPRESSION_ZLIB:
            body = zlib.decompress(body)
        return Framing(WireFormat.GLUE, body, glue_version=uuid.UUID(bytes=data[2:_GLUE_HEADER_SIZE]))
    if len(data) >= _CONFLUENT_HEADER.size and data[0] == CONFLUENT_MAGIC:
        _, schema_id = _CONFLUENT_HEADER.unpack_from(data)
        return Framing(WireFormat.CONFLUENT, data[_CONFLUENT_HEADER.size :], schema_id=schema_id)
    return Framing(WireFormat.PLAIN, data)
