"""The Lambda Kafka event, decoded into the message that expressions and workflows see.

Input: the event a Kafka event source mapping sends, for Amazon MSK (``aws:kafka``) and
self-managed Kafka (``SelfManagedKafka``) alike: ``records`` maps ``topic-partition`` to
lists of records with base64 ``key``/``value`` (absent or null for none/tombstones) and
headers as arrays of *signed* bytes. The ``topic-partition`` key is never parsed (topics
may contain ``-``); each record carries its own ``topic`` and ``partition``.

Output, per record (docs/payloads.md#the-message)::

    {"key", "value", "rawValue", "headers", "topic", "partition", "offset", "timestamp"}

This runs for every record of every batch, so it is written for speed: plain dicts, no
per-record objects beyond the message itself, JSON parsed once by the C decoder.
"""

from __future__ import annotations

import array
import binascii
import functools
import io
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafka_connector import environment as env_names
from kafka_connector.aws.errors import error_code, is_aws_error, is_permanent
from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.exceptions import TransientAwsError, UndecodableRecord
from kafka_connector.inbound.registry_values import RegistrySource, protobuf_reason, writer_schema
from kafka_connector.serialization import glue_registry
from kafka_connector.serialization.avro_codec import decode_avro_body, parse_avro_schema
from kafka_connector.serialization.formats import SerializationType, WireFormat
from kafka_connector.serialization.framing import FramingError, confluent_header, detect_framing
from kafka_connector.serialization.json_codec import json_compatible

if TYPE_CHECKING:
    from fastavro.types import Schema

#: strict=False: raw control characters inside strings are tolerated. ``NaN``, ``Infinity`` and
#: ``-Infinity`` (what Python's ``json.dumps`` writes by default) are not JSON: they are read as
#: the strings ``"NaN"``… so that what leaves the connector is strict JSON (docs/payloads.md).
#: The hook costs nothing for values without them; a custom ``parse_float`` would cost 40 %.
_json_decoder = json.JSONDecoder(strict=False, parse_constant=str)


@dataclass(frozen=True, slots=True)
class AvroSettings:
    """How the consumer recognises and reads Avro values.

    ``wire_format`` is ``None`` for JSON consumers (the default): a value is then read as
    Avro only when its framing says so unambiguously — a Glue header (first byte 3) or a
    Confluent header (first byte 0, which no JSON or text starts with). With
    ``SERIALIZATION_TYPE=avro`` the framing is configured (``AVRO_WIRE_FORMAT``: ``plain``,
    the reference connector's bare Avro, ``confluent`` or ``glue``), never guessed: a
    bare Avro body may start with any byte.

    ``registry`` (``SCHEMA_REGISTRY_URL``): a Confluent frame's writer schema is fetched by
    its id and resolved to ``schema`` when that is set (README.md#schema-registries); keys
    framed the same way are read with their writer schema.
    """

    schema: Schema | None = None
    wire_format: WireFormat | None = None
    registry: RegistrySource | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> AvroSettings:
        env = os.environ if env is None else env
        serialization = SerializationType.parse(
            env.get(env_names.SERIALIZATION_TYPE, "").strip() or SerializationType.JSON,
            env_names.SERIALIZATION_TYPE,
        )
        schema_text = env.get(env_names.AVRO_SCHEMA, "").strip()
        schema = parse_avro_schema(schema_text, env_names.AVRO_SCHEMA)[0] if schema_text else None
        registry = RegistrySource.from_environment(env)
        if serialization is SerializationType.JSON:
            return cls(schema, None, registry)
        wire_format = WireFormat.parse(
            env.get(env_names.AVRO_WIRE_FORMAT, "").strip() or WireFormat.PLAIN, env_names.AVRO_WIRE_FORMAT
        )
        writer_known = wire_format is WireFormat.GLUE or (
            wire_format is WireFormat.CONFLUENT and registry is not None
        )
        if schema is None and not writer_known:
            raise ConnectorInputError(
                f"{env_names.AVRO_SCHEMA} is required with {env_names.SERIALIZATION_TYPE}=avro"
                f" and {wire_format.value}"
                + (f" (or {env_names.SCHEMA_REGISTRY_URL})" if wire_format is WireFormat.CONFLUENT else "")
            )
        return cls(schema, wire_format, registry)


def iter_records(event: object) -> Iterator[Mapping[str, Any]]:
    """The event's records in delivery order (partition by partition, offsets ascending).

    The shape is checked before anything is handled: a record without its topic,
    partition and offset could be neither committed nor reported as failed, so such an
    event is refused whole (``ConnectorInputError``) rather than half processed.
    """
    records = event.get("records") if isinstance(event, Mapping) else None
    if not isinstance(records, Mapping):
        raise ConnectorInputError("not a Kafka event: 'records' must be an object keyed by topic-partition")
    for key, batch in records.items():
        if not isinstance(batch, list):
            raise ConnectorInputError(f"not a Kafka event: records[{key!r}] must be a list of records")
        for record in batch:
            if not (
                isinstance(record, Mapping)
                and isinstance(record.get("topic"), str)
                and _is_int(record.get("partition"))
                and _is_int(record.get("offset"))
            ):
                raise ConnectorInputError(
                    f"not a Kafka event: every record of records[{key!r}] needs a topic, partition and offset"
                )
        yield from batch


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _b64(data: str | None) -> bytes | None:
    if data is None:
        return None
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError, TypeError):
        raise UndecodableRecord("key or value is not valid base64") from None


def _header_bytes(data: list[int]) -> bytes:
    """Java's signed bytes to bytes: ``array('b')`` does it in C; anything odd goes the slow way."""
    try:
        return array.array("b", data).tobytes()
    except (OverflowError, TypeError):
        return bytes(b & 0xFF for b in data)  # TypeError here too for what is not bytes at all


def decode_headers(headers: list[Mapping[str, list[int]]] | None) -> dict[str, str]:
    """``[{"name": [signed bytes]}, ...]`` → ``{"name": "utf-8 text"}``; a repeated name keeps the last."""
    decoded: dict[str, str] = {}
    try:
        for header in headers or ():
            for name, data in header.items():
                decoded[str(name)] = _header_bytes(data).decode("utf-8", "replace")
    except (AttributeError, TypeError, ValueError):
        raise UndecodableRecord("headers are not a list of {name: [bytes]} objects") from None
    return decoded


#: The characters a JSON text can start with (after optional whitespace).
_JSON_START = frozenset('{["-0123456789tfn \t\r\n')


def parse_text(text: str, field: str = "value") -> Any:
    """JSON when the text is JSON (control characters inside strings tolerated), else the text.

    Text that cannot start a JSON document (a key like ``order-17``) is returned without
    trying: raising and catching the decoder's error costs more than the decode itself.
    JSON nested deeper than the decoder's recursion (about 1,000 levels) is JSON, but no
    workflow could be given it: :class:`UndecodableRecord` naming ``field``.
    """
    if not text or text[0] not in _JSON_START:
        return text
    try:
        return _json_decoder.decode(text)
    except ValueError:
        return text
    except RecursionError:
        raise UndecodableRecord(
            f"the {field} is JSON nested too deep to decode (about 1,000 levels)"
        ) from None


def _avro_value(data: bytes, settings: AvroSettings, metadata: Mapping[str, Any] | None) -> tuple[bool, Any]:
    """(True, decoded) when ``data`` is Avro (or JSON Schema) by configuration or framing, else (False, _)."""
    if metadata is not None and data[:1] in (b"{", b"[") and metadata.get("dataFormat") is not None:
        # The mapping's schema registry integration already decoded it (EventRecordFormat JSON).
        return False, None
    if settings.wire_format is WireFormat.PLAIN:
        assert settings.schema is not None  # from_environment requires it with this framing
        return True, _decode(data, settings.schema)
    if settings.wire_format is None and metadata is None and data[:1] not in (b"\x00", b"\x03"):
        return False, None  # a JSON consumer's common case: no framing byte, nothing to look up
    schema_id = (metadata or {}).get("schemaId")
    if (metadata or {}).get("dataFormat") == "AVRO" and _is_uuid(schema_id) and data[:1] not in (b"{", b"["):
        # The mapping's schema registry integration named a Glue version (SOURCE record format).
        return True, _decode(data, _glue_schema(uuid.UUID(str(schema_id))), settings.schema)
    if settings.registry is not None and _is_int_text(schema_id):
        # SOURCE record format from a Confluent registry: the mapping removes the frame and gives
        # the id here (a body that still has its frame, with the same id, is read from the frame).
        body, number = data, int(str(schema_id))
        if data[:5] == confluent_header(number):
            body = data[5:]
        return True, _registry_value(body, number, settings, "value")
    try:
        framing = detect_framing(data)
    except FramingError as error:
        raise UndecodableRecord(f"value: {error}") from None
    if framing.wire_format is WireFormat.GLUE and settings.wire_format in (None, WireFormat.GLUE):
        return True, _decode(framing.body, _glue_schema(framing.glue_version), settings.schema)
    if framing.wire_format is WireFormat.CONFLUENT and settings.wire_format in (None, WireFormat.CONFLUENT):
        assert framing.schema_id is not None  # a Confluent frame carries its id
        if settings.registry is not None:
            return True, _registry_value(framing.body, framing.schema_id, settings, "value")
        if settings.schema is None:
            raise UndecodableRecord(
                "Confluent-framed Avro value, but neither AVRO_SCHEMA nor SCHEMA_REGISTRY_URL is configured"
            )
        return True, _decode(framing.body, settings.schema)
    if settings.wire_format is not None:
        raise UndecodableRecord(f"value does not have the {settings.wire_format.value} Avro framing")
    return False, None


def _registry_value(body: bytes, schema_id: int, settings: AvroSettings, field: str) -> Any:
    """A Confluent body read with its writer schema from the registry (resolved for values)."""
    assert settings.registry is not None  # the caller checked
    schema_type, writer = writer_schema(settings.registry, schema_id, field)
    if writer is not None:
        return _decode(body, writer, settings.schema if field == "value" else None, field)
    if schema_type == "JSON":
        try:
            return _json_decoder.decode(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise UndecodableRecord(f"the {field} names JSON Schema id {schema_id} but is not JSON") from None
    if schema_type == "PROTOBUF":
        raise UndecodableRecord(protobuf_reason(schema_id, field))
    raise UndecodableRecord(f"the {field} names schema id {schema_id} of unknown type {schema_type}")


def _key(data: bytes, settings: AvroSettings, metadata: object) -> Any:
    """The key: registry-framed (Confluent with a registry, Glue with AVRO_WIRE_FORMAT=glue), else text.

    ``metadata`` is the record's ``keySchemaMetadata`` (the mapping's SOURCE record format: the
    frame removed, the schema named there), read like ``valueSchemaMetadata``.
    """
    avro_metadata = isinstance(metadata, Mapping) and metadata.get("dataFormat") == "AVRO"
    if avro_metadata and isinstance(metadata, Mapping) and data[:1] not in (b"{", b"["):
        schema_id = metadata.get("schemaId")
        if settings.registry is not None and _is_int_text(schema_id):
            number = int(str(schema_id))
            body = data[5:] if data[:5] == confluent_header(number) else data
            return _json_key(_registry_value(body, number, settings, "key"))
        if _is_uuid(schema_id):
            return _json_key(_decode(data, _glue_schema(uuid.UUID(str(schema_id))), field="key"))
    if data[:1] == b"\x00" and settings.registry is not None and len(data) >= 5:
        framing = detect_framing(data)
        if framing.wire_format is WireFormat.CONFLUENT:
            assert framing.schema_id is not None
            return _json_key(_registry_value(framing.body, framing.schema_id, settings, "key"))
    if data[:1] == b"\x03" and settings.wire_format is WireFormat.GLUE:
        try:
            framing = detect_framing(data)
        except FramingError as error:
            raise UndecodableRecord(f"key: {error}") from None
        if framing.wire_format is WireFormat.GLUE:
            return _json_key(_decode(framing.body, _glue_schema(framing.glue_version), field="key"))
    return parse_text(data.decode("utf-8", "replace"), "key")


def _json_key(value: Any) -> Any:
    try:
        return json_compatible(value)
    except RecursionError:
        raise UndecodableRecord("the Avro key nests too deep to be given as JSON") from None


def _is_int_text(value: object) -> bool:
    text = str(value)
    return isinstance(value, int | str) and text.isascii() and text.isdigit() and int(text) < 2**31


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _glue_schema(version: uuid.UUID | None) -> Schema:
    """The parsed schema of a Glue version a record names; a version that cannot be read is the record's.

    A version id that Glue does not know (``EntityNotFoundException``), or whose schema is not
    Avro, will never be read: :class:`UndecodableRecord`, remembered like a found schema (ids
    are assigned by Glue, a missing one never appears later). Throttling, a missing
    permission, a network failure: :class:`TransientAwsError`, asked again next time.
    """
    schema, reason = _glue_schema_or_reason(version)
    if schema is None:
        raise UndecodableRecord(reason)
    return schema


@functools.lru_cache(maxsize=256)
def _glue_schema_or_reason(version: uuid.UUID | None) -> tuple[Schema | None, str]:
    try:
        definition = glue_registry.schema_definition(version)
    except Exception as error:
        if not is_aws_error(error):
            raise
        if is_permanent(error):
            return None, f"the value names Glue schema version {version}; Glue answers {error_code(error)}"
        raise TransientAwsError(
            f"Glue GetSchemaVersion {version}: {error_code(error) or type(error).__name__}"
        ) from error
    try:
        schema = parse_avro_schema(definition, "Glue schema version")[0]
    except (ConnectorInputError, RecursionError):
        return None, f"Glue schema version {version} is not an Avro schema this consumer can read"
    return schema, ""


#: Parsed schemas by id, with whether a value of theirs can nest without bound. The schema is
#: kept in the entry so its id cannot be reused while the entry exists.
_RECURSIVE: dict[int, tuple[Any, bool]] = {}
_TYPE_KEYS = frozenset({"type", "fields", "items", "values"})


def _is_recursive(schema: Any) -> bool:
    """Whether a record type of ``schema`` contains itself (a tree, a linked list).

    fastavro's compiled reader recurses in C once per level: a value of such a schema a few
    thousand levels deep (a few kilobytes, or none at all for a record that requires
    itself) overflows the C stack and kills the process, failing every partition of the
    batch. Values of recursive schemas are read by fastavro's pure-Python reader instead,
    which stops with ``RecursionError``: that record's :class:`UndecodableRecord`.

    Avro names a type before it is used, so any cycle of references closes inside the
    definition of its outermost type: the schema is recursive exactly when a type is
    referred to (by its full name, as ``parse_schema`` writes it) inside its own definition.
    """
    stack: list[tuple[Any, frozenset[str]]] = [(schema, frozenset())]
    while stack:
        node, enclosing = stack.pop()
        if isinstance(node, str):
            if node in enclosing:
                return True
        elif isinstance(node, list):
            stack.extend((item, enclosing) for item in node)
        elif isinstance(node, Mapping):
            kind, name = node.get("type"), node.get("name")
            if kind in ("record", "error") and isinstance(name, str):
                enclosing = enclosing | {name}
            stack.extend((v, enclosing) for k, v in node.items() if k in _TYPE_KEYS)
    return False


def _recursive(schema: Schema) -> bool:
    entry = _RECURSIVE.get(id(schema))
    if entry is None:
        if len(_RECURSIVE) >= 1024:
            _RECURSIVE.clear()
        entry = _RECURSIVE[id(schema)] = (schema, _is_recursive(schema))
    return entry[1]


def _decode(body: bytes, schema: Schema, reader: Schema | None = None, field: str = "value") -> Any:
    """Read ``body`` written with ``schema``; with ``reader``, resolved to it (Avro schema resolution)."""
    if reader is schema:
        reader = None
    try:
        if _recursive(schema) or (reader is not None and _recursive(reader)):
            from fastavro._read_py import schemaless_reader  # noqa: PLC0415 - rare: recursive schemas only

            return schemaless_reader(io.BytesIO(body), schema, reader)
        return decode_avro_body(body, schema, reader)
    except Exception as error:  # fastavro raises many types on malformed input
        if reader is not None and type(error).__name__ == "SchemaResolutionError":
            raise UndecodableRecord(
                f"the writer's schema cannot be resolved to AVRO_SCHEMA: {error}"[:1000]
            ) from None
        reason = f"{field} is not Avro of the expected schema: {type(error).__name__}"
        raise UndecodableRecord(reason) from None


def decode_record(
    record: Mapping[str, Any], avro: AvroSettings = AvroSettings(), *, with_headers: bool = True
) -> dict[str, Any]:
    """The message for one Lambda Kafka record. Raises :class:`UndecodableRecord`.

    ``with_headers=False`` leaves ``headers`` as ``None`` for the caller to fill in with
    :func:`decode_headers` once the message is going somewhere: most records of a busy
    topic are matched by nobody, and decoding signed byte arrays is a tenth of the work.
    """
    key_bytes = _b64(record.get("key"))
    value_bytes = _b64(record.get("value"))
    key = None if key_bytes is None else _key(key_bytes, avro, record.get("keySchemaMetadata"))
    if value_bytes is None:  # a tombstone; an empty value (b"") is the empty text
        value = raw_value = None
    else:
        metadata = record.get("valueSchemaMetadata")
        is_avro, value = _avro_value(value_bytes, avro, metadata if isinstance(metadata, Mapping) else None)
        if is_avro:
            raw_value = None
            try:
                value = json_compatible(value)  # bytes, decimals, dates, NaN: JSON types (json_codec)
            except RecursionError:
                raise UndecodableRecord("the Avro value nests too deep to be given as JSON") from None
        else:
            raw_value = value_bytes.decode("utf-8", "replace")
            value = parse_text(raw_value)
    return {
        "key": key,
        "value": value,
        "rawValue": raw_value,
        "headers": decode_headers(record.get("headers")) if with_headers else None,
        "topic": record.get("topic"),
        "partition": record.get("partition"),
        "offset": record.get("offset"),
        "timestamp": record.get("timestamp"),
    }
