"""Avro bodies: fastavro does the Avro work, this module turns its failures into input errors.

A value that does not fit its schema becomes a :class:`ConnectorInputError` naming the
offending field; the framing around the body is :mod:`kafka_connector.serialization.framing`.
"""

from __future__ import annotations

import functools
import io
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kafka_connector.errors import ConnectorInputError
from kafka_connector.redaction import shown
from kafka_connector.serialization import glue_registry, glue_versions, registry_writer
from kafka_connector.serialization.formats import WireFormat
from kafka_connector.serialization.framing import confluent_header, glue_header
from kafka_connector.serialization.schema_registry import record_full_name

if TYPE_CHECKING:
    from fastavro.types import Schema


@functools.cache
def _fastavro() -> ModuleType:
    """fastavro, imported on first use: ~40 ms of cold start that JSON-only functions skip."""
    import fastavro  # noqa: PLC0415
    import fastavro.validation  # noqa: PLC0415

    return fastavro


def _records_without_fields(schema: Any) -> list[str]:
    """Names of record schemas that lack a ``fields`` list (fastavro quietly accepts them as empty).

    The Avro specification requires ``fields``; a record without it would publish an empty
    value whatever the message holds. Iterative: a schema's depth is the user's to choose.
    """
    missing: list[str] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, Mapping):
            if node.get("type") in ("record", "error") and not isinstance(node.get("fields"), list):
                missing.append(str(node.get("name", "?")))
            stack.extend(v for k, v in node.items() if k in ("type", "fields", "items", "values"))
    return missing


@functools.lru_cache(maxsize=64)
def _parse_schema_text(text: str) -> tuple[Schema, str]:
    try:
        document = json.loads(text)
        missing = _records_without_fields(document)
        if missing:
            raise ValueError(f"record {missing[0]!r} has no 'fields' list")
        parsed = _fastavro().parse_schema(document)
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
    #: ``avro.ignoreUnknownFields``: drop fields the schema does not have instead of refusing them.
    ignore_unknown_fields: bool = False
    #: ``avro.autoRegister`` with Glue: register a definition Glue does not have yet.
    auto_register: bool = False
    #: The Glue version, when it was fetched by number (``avro.version``) rather than by definition.
    glue_version: uuid.UUID | None = None

    @classmethod
    def from_request(cls, avro: object, topic: str | None = None) -> AvroWriter:
        """Validate the ``avro`` section of a producer request (``topic``: the record's, for subjects)."""
        if not isinstance(avro, Mapping):
            raise ConnectorInputError(
                "'avro' must be an object with 'schema' when serializationType is 'avro'"
            )
        if avro.get("schemaRegistry") is not None:
            return cls._through_registry(avro, topic)
        wire_format = WireFormat.parse(avro.get("wireFormat", WireFormat.PLAIN.value), "avro.wireFormat")
        if wire_format is WireFormat.GLUE and avro.get("schema") is None and avro.get("version") is not None:
            return cls._glue_version(avro)
        schema, definition = parse_avro_schema(avro.get("schema"))
        schema_id = avro.get("schemaId")
        if wire_format is WireFormat.CONFLUENT and not (
            isinstance(schema_id, int) and not isinstance(schema_id, bool) and 0 <= schema_id < 2**31
        ):
            raise ConnectorInputError(
                "'avro.schemaId' must be a non-negative integer with wireFormat 'confluent'"
            )
        registry_name, schema_name = avro.get("registryName"), avro.get("schemaName")
        if wire_format is WireFormat.GLUE:
            registry_name, schema_name = _glue_names(avro)
        ignore_unknown = _flag(avro, "ignoreUnknownFields")
        return cls(
            schema,
            definition,
            wire_format,
            schema_id,
            registry_name,
            schema_name,
            ignore_unknown,
            auto_register=_flag(avro, "autoRegister"),
        )

    @classmethod
    def _glue_version(cls, avro: Mapping[str, Any]) -> AvroWriter:
        """Glue without ``avro.schema``: version ``avro.version`` (a number, or ``latest``) of the schema."""
        registry_name, schema_name = _glue_names(avro)
        version = avro["version"]
        if version == "latest":
            number = None
        elif isinstance(version, int) and not isinstance(version, bool) and version >= 1:
            number = version
        else:
            raise ConnectorInputError("'avro.version' must be a version number (1, 2, …) or 'latest'")
        version_id, text = glue_versions.schema_version(registry_name, schema_name, number)
        schema, definition = parse_avro_schema(text, f"Glue schema {registry_name}/{schema_name}")
        return cls(
            schema,
            definition,
            WireFormat.GLUE,
            None,
            registry_name,
            schema_name,
            _flag(avro, "ignoreUnknownFields"),
            glue_version=version_id,
        )

    @classmethod
    def _through_registry(cls, avro: Mapping[str, Any], topic: str | None) -> AvroWriter:
        """``avro.schemaRegistry``: the schema and its id come from a Confluent-compatible registry."""
        access = registry_writer.registry_access(avro["schemaRegistry"])
        wire_format = WireFormat.parse(avro.get("wireFormat", WireFormat.CONFLUENT.value), "avro.wireFormat")
        if wire_format is not WireFormat.CONFLUENT:
            raise ConnectorInputError("'avro.schemaRegistry' is for wireFormat 'confluent'")
        auto_register = _flag(avro, "autoRegister")
        if avro.get("schema") is not None:
            schema, definition = parse_avro_schema(avro.get("schema"))
            subject = registry_writer.subject_for(avro, topic, record_full_name(definition))
            schema_id = registry_writer.schema_id_for(
                access, subject, definition, auto_register=auto_register
            )
        else:
            subject = registry_writer.subject_for(avro, topic, None)
            found = registry_writer.version_of(access, subject, avro.get("version"))
            schema, definition = parse_avro_schema(found.text, f"the schema of subject {subject!r}")
            schema_id = found.schema_id
        given = avro.get("schemaId")
        if given is not None and given != schema_id:
            raise ConnectorInputError(
                f"'avro.schemaId' {shown(str(given), 20)} does not agree with the schema registry:"
                f" the schema's id under subject {subject!r} is {schema_id}"
            )
        return cls(
            schema,
            definition,
            WireFormat.CONFLUENT,
            schema_id,
            ignore_unknown_fields=_flag(avro, "ignoreUnknownFields"),
        )

    def encode(self, value: Any, field: str = "message.value") -> bytes:
        """The framed Avro bytes of ``value`` (an object, or a string holding JSON)."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ConnectorInputError(
                    f"'{field}' is a string that does not hold JSON, as Avro needs"
                ) from None
        body = encode_avro_body(value, self.schema, field, ignore_unknown_fields=self.ignore_unknown_fields)
        if self.wire_format is WireFormat.CONFLUENT:
            assert self.schema_id is not None  # from_request requires it with this framing
            return confluent_header(self.schema_id) + body
        if self.wire_format is WireFormat.GLUE:
            assert self.registry_name is not None  # likewise
            assert self.schema_name is not None
            version = self.glue_version or glue_registry.schema_version_id(
                self.registry_name, self.schema_name, self.definition, self.auto_register
            )
            return glue_header(version) + body
        return body


def _glue_names(avro: Mapping[str, Any]) -> tuple[str, str]:
    names = []
    for name in ("registryName", "schemaName"):
        value = avro.get(name)
        if not isinstance(value, str) or not value:
            raise ConnectorInputError(f"'avro.{name}' is required with wireFormat 'glue'")
        names.append(value)
    return names[0], names[1]


def _flag(avro: Mapping[str, Any], name: str) -> bool:
    value = avro.get(name, False)
    if not isinstance(value, bool):
        raise ConnectorInputError(f"'avro.{name}' must be true or false")
    return value


def encode_avro_body(
    value: Any, schema: Schema, field: str = "message.value", *, ignore_unknown_fields: bool = False
) -> bytes:
    """Bare Avro binary; a value that does not fit names the field and why.

    Avro writes only the fields its schema has, so a field the schema lacks (a typo, a
    newer producer's field) would vanish without a word. Unless ``ignore_unknown_fields``,
    such fields are an input error naming them: the body is read back and every object of
    the value compared with what came back.
    """
    try:
        _fastavro().validation.validate(value, schema, raise_errors=True)
    except _fastavro().validation.ValidationError as error:
        problems = "; ".join(str(e) for e in error.errors) or str(error)
        raise ConnectorInputError(f"'{field}' does not fit the Avro schema", problems) from None
    buffer = io.BytesIO()
    _fastavro().schemaless_writer(buffer, schema, value)
    body = buffer.getvalue()
    if not ignore_unknown_fields:
        unknown = _unknown_fields(value, decode_avro_body(body, schema), field)
        if unknown:
            raise ConnectorInputError(
                f"'{field}' has fields the Avro schema does not have: {', '.join(unknown)}",
                "Remove them, or set avro.ignoreUnknownFields to true to drop them.",
            )
    return body


def _unknown_fields(sent: Any, read_back: Any, field: str) -> list[str]:
    """Paths of the object keys in ``sent`` that reading its Avro body back did not return."""
    unknown: list[str] = []
    stack = [(sent, read_back, field)]
    while stack:
        given, returned, path = stack.pop()
        if isinstance(given, Mapping) and isinstance(returned, Mapping):
            for key, item in given.items():
                if key in returned:
                    stack.append((item, returned[key], f"{path}.{key}"))
                else:
                    unknown.append(f"{path}.{key}")
        elif isinstance(given, list | tuple) and isinstance(returned, list):
            stack.extend(
                (g, r, f"{path}[{i}]") for i, (g, r) in enumerate(zip(given, returned, strict=False))
            )
    return sorted(unknown)


def decode_avro_body(body: bytes, schema: Schema, reader: Schema | None = None) -> Any:
    """Read one bare Avro datum written with ``schema``, resolved to ``reader`` when given."""
    return _fastavro().schemaless_reader(io.BytesIO(body), schema, reader)
