"""Avro bodies: fastavro does the Avro work, this module turns its failures into input errors.

A value that does not fit its schema becomes a :class:`ConnectorInputError` naming the
offending field; the framing around the body is :mod:`kafka_connector.serialization.framing`.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kafka_connector.errors import ConnectorInputError
from kafka_connector.serialization import glue_registry
from kafka_connector.serialization.formats import WireFormat
from kafka_connector.serialization.framing import confluent_header, glue_header

if TYPE_CHECKING:
    from fastavro.types import Schema


@functools.cache
def _fastavro() -> ModuleType:
    """fastavro, imported on first use: ~40 ms of cold start that JSON-only functions skip."""
    import fastavro  # noqa: PLC0415
    import fastavro.validation  # noqa: PLC0415

    return fastavro


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
        wire_format = WireFormat.parse(avro.get("wireFormat", WireFormat.PLAIN.value), "avro.wireFormat")
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
            assert self.schema_id is not None  # from_request requires it with this framing
            return confluent_header(self.schema_id) + body
        if self.wire_format is WireFormat.GLUE:
            assert self.registry_name is not None  # likewise
            assert self.schema_name is not None
            version = glue_registry.schema_version_id(self.registry_name, self.schema_name, self.definition)
            return glue_header(version) + body
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
