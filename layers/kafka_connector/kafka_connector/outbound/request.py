"""The producer function's input, validated into records to publish (docs/payloads.md#producer-input).

Field names follow the reference connector so that a task input written for it reads the
same here. Every problem is a ``ConnectorInputError`` naming the field, raised before
any connection is made: a workflow should learn about a typo in milliseconds, not after
a broker timeout.

A payload carries one ``message`` or a batch of ``messages``; everything else (the
cluster, the topic, shared headers, serialization, client properties) is shared. Both go
through one per-message path, :func:`_record`, so a batch element is validated exactly as
a single message is, with its index in the field names (``messages[3].value``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError
from kafka_connector.input_checks import check_input
from kafka_connector.kafka.resolve import resolve_client_properties
from kafka_connector.outbound import s3_value
from kafka_connector.outbound.address import TargetAddress, parse_address
from kafka_connector.secrets import CONFIGURATION_FIELDS, resolve_configuration
from kafka_connector.serialization.avro_codec import AvroWriter
from kafka_connector.serialization.formats import SerializationType
from kafka_connector.serialization.json_codec import encode_headers, encode_json_value, encode_key

#: At most this many ``messages`` per invocation: the batch error lists every index, acknowledged
#: or not, and must fit in a Step Functions task failure's cause (docs/payloads.md#batch-errors).
MAX_BATCH_MESSAGES: Final = 1000

#: The payload fields that say *what* is published and *where*: what an ``idempotencyKey``
#: compares (docs/payloads.md#idempotent-publishing). Configuration — ``authentication``,
#: ``additionalProperties``, ``debug`` — is left out, so no credential or resolved secret is
#: ever hashed or stored, and a rotated password is not "a different payload".
PUBLISHED_FIELDS: Final = ("address", "message", "messages", "headers", "serializationType", "avro")


class OutboundRecord(NamedTuple):
    """One record to publish, already in bytes (a tuple: a batch makes a thousand of them)."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class ProducerRequest:
    """Everything needed to publish one record (``message``) or a batch (``messages``)."""

    properties: dict[str, str]
    records: tuple[OutboundRecord, ...]
    debug: bool = False
    #: ``messages`` was given: the response is ``{"records": [...]}``, even for one message.
    batch: bool = False
    #: ``idempotencyKey``, and the published fields (as written) that a repeat must match.
    idempotency_key: str | None = None
    idempotency_payload: Mapping[str, Any] | None = None

    # The single record's fields, as a one-message request has always exposed them.
    @property
    def topic(self) -> str:
        return self.records[0].topic

    @property
    def partition(self) -> int | None:
        return self.records[0].partition

    @property
    def key(self) -> bytes | None:
        return self.records[0].key

    @property
    def value(self) -> bytes:
        return self.records[0].value

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return self.records[0].headers

    @classmethod
    def from_event(cls, event: object, *, default_bootstrap_servers: str | None = None) -> ProducerRequest:
        """Validate ``event``; ``default_bootstrap_servers`` fills a missing ``topic.bootstrapServers``.

        A deployment usually talks to one cluster: the producer function passes its
        ``KAFKA_BOOTSTRAP_SERVERS`` here so that workflows need not repeat it in every
        task. A payload that names its servers always wins.
        """
        if not isinstance(event, Mapping):
            raise ConnectorInputError("the producer input must be a JSON object")
        # Credentials typed into the payload are registered before anything can quote them.
        redaction.register_credentials({section: event.get(section) for section, _ in CONFIGURATION_FIELDS})
        check_input(event)
        written = _with_default_bootstrap(event, default_bootstrap_servers)
        # {{secrets.…}} is expanded in the configuration only; message, headers and the
        # address are the workflow's data and are sent as written (docs/payloads.md#secret-placeholders).
        payload = resolve_configuration(written)
        shared = _Shared.from_payload(payload)
        messages, batch = _messages(payload)
        records = tuple(_record(message, field, shared) for message, field in messages)
        properties = resolve_client_properties(payload, role="producer")
        for (message, field), record in zip(messages, records, strict=True):
            s3_value.check_size(message, record.value, properties, field)
        debug = payload.get("debug", False)
        if not isinstance(debug, bool):
            raise ConnectorInputError("'debug' must be true or false")
        idempotency_key = _idempotency_key(payload.get("idempotencyKey"))
        return cls(
            properties=properties,
            records=records,
            debug=debug,
            batch=batch,
            idempotency_key=idempotency_key,
            idempotency_payload=None if idempotency_key is None else published_fields(written),
        )


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every message of a payload shares: its default destination, headers and value writer."""

    address: TargetAddress | None
    headers: list[tuple[str, bytes]]
    #: ``serializationType: avro``: the ``avro`` section the writers are made from; else JSON.
    avro: object
    is_avro: bool
    #: The Avro writers made so far, by topic when a schema registry is used (the subject, and so
    #: the schema id, may depend on the topic: TopicNameStrategy), else one for every topic.
    writers: dict[str | None, AvroWriter] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> _Shared:
        serialization = SerializationType.parse(
            payload.get("serializationType") or SerializationType.JSON, "serializationType"
        )
        address = _target_address(payload)
        shared = cls(
            address,
            encode_headers(payload.get("headers")),
            payload.get("avro"),
            is_avro=serialization is SerializationType.AVRO,
        )
        if shared.is_avro and (address is not None or not shared.through_registry):
            shared.writer(address.topic if address else None)  # the avro section checked before any message
        return shared

    @property
    def through_registry(self) -> bool:
        return isinstance(self.avro, Mapping) and self.avro.get("schemaRegistry") is not None

    def writer(self, topic: str | None) -> AvroWriter:
        """The Avro writer for a record to ``topic``, made once per topic (or once)."""
        key = topic if self.through_registry else None
        if key not in self.writers:
            self.writers[key] = AvroWriter.from_request(self.avro, topic)
        return self.writers[key]


def _messages(payload: Mapping[str, Any]) -> tuple[list[tuple[Mapping[str, Any], str]], bool]:
    """Each message with its field name (``message`` or ``messages[i]``), and whether it is a batch."""
    single, batch = payload.get("message"), payload.get("messages")
    if single is not None and batch is not None:
        raise ConnectorInputError("give either 'message' or 'messages', not both")
    if batch is None:
        if not isinstance(single, Mapping):
            raise ConnectorInputError("'message' must be an object and is required (or give 'messages')")
        return [(single, "message")], False
    if not isinstance(batch, list):
        raise ConnectorInputError("'messages' must be a list of message objects")
    if not batch:
        raise ConnectorInputError("'messages' must hold at least one message")
    if len(batch) > MAX_BATCH_MESSAGES:
        raise ConnectorInputError(
            f"'messages' holds {len(batch)} messages; at most {MAX_BATCH_MESSAGES} per invocation",
            "Split the batch (ItemBatcher MaxItemsPerBatch).",
        )
    messages = []
    for index, message in enumerate(batch):
        if not isinstance(message, Mapping):
            raise ConnectorInputError(f"'messages[{index}]' must be an object with 'value'")
        messages.append((message, f"messages[{index}]"))
    return messages, True


def _record(message: Mapping[str, Any], field: str, shared: _Shared) -> OutboundRecord:
    """One message (``field`` names it in errors) as the bytes of one record: the one per-message path."""
    value = s3_value.message_value(message, field)  # <field>.value, or read from <field>.valueFromS3
    address = message.get("address")
    if address is not None:
        target = parse_address(address, f"{field}.address")
    elif shared.address is not None:
        target = shared.address
    else:
        raise ConnectorInputError(f"'topic.topicName' (or 'address', or '{field}.address') is required")
    if shared.is_avro:
        encoded = shared.writer(target.topic).encode(value, f"{field}.value")
    else:
        encoded = encode_json_value(value, f"{field}.value")
    key = encode_key(target.key if target.key is not None else message.get("key"), f"{field}.key")
    headers = shared.headers
    if message.get("headers") is not None:
        headers = _merged(headers, encode_headers(message["headers"], f"{field}.headers"))
    return OutboundRecord(target.topic, target.partition, key, encoded, headers)


def _merged(shared: list[tuple[str, bytes]], own: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The shared headers with the message's own; a name the message gives replaces the shared one."""
    names = {name for name, _ in own}
    return [header for header in shared if header[0] not in names] + own


def _idempotency_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip():
        raise ConnectorInputError(
            "'idempotencyKey' must be a non-empty string",
            "For example States.Format('{}-{}', $$.Execution.Id, $$.State.Name).",
        )
    return key


def published_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an ``idempotencyKey`` compares, as written (placeholders unexpanded).

    The destination (servers and topic as written, or the function's default servers), the
    message(s), shared headers and the serialization: what is published and where.
    """
    fields = {name: event[name] for name in PUBLISHED_FIELDS if event.get(name) is not None}
    avro = fields.get("avro")
    if isinstance(avro, Mapping) and isinstance(avro.get("schemaRegistry"), Mapping):
        # The registry's credentials are configuration: only where it is counts (never hashed).
        fields["avro"] = {**avro, "schemaRegistry": {"url": avro["schemaRegistry"].get("url")}}
    topic = event.get("topic")
    if isinstance(topic, Mapping):
        fields["topic"] = {k: topic[k] for k in ("topicName", "bootstrapServers") if topic.get(k) is not None}
    if event.get("bootstrapServers") is not None:
        fields["bootstrapServers"] = event["bootstrapServers"]
    return fields


def _with_default_bootstrap(event: Mapping[str, Any], default: str | None) -> Mapping[str, Any]:
    topic = event.get("topic")
    if not default or event.get("bootstrapServers") is not None:
        return event
    if topic is None:
        return {**event, "topic": {"bootstrapServers": default}}
    if isinstance(topic, Mapping) and topic.get("bootstrapServers") is None:
        return {**event, "topic": {**topic, "bootstrapServers": default}}
    return event


def _section(event: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = event.get(name)
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConnectorInputError(f"'{name}' must be an object")
    return section


def _target_address(event: Mapping[str, Any]) -> TargetAddress | None:
    """``address`` or ``topic.topicName``: either may hold ``topic``, ``topic/key`` or ``topic#n``.

    ``None`` when neither is given: then every message must carry its own ``address``.
    """
    topic_name = _section(event, "topic").get("topicName")
    address = event.get("address")
    if address is not None and topic_name is not None:
        raise ConnectorInputError("give either 'address' or 'topic.topicName', not both")
    if address is not None:
        return parse_address(address, "address")
    if topic_name is None:
        return None
    return parse_address(topic_name, "topic.topicName")
