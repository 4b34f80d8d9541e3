"""The producer function's input, validated into one record to publish (docs/payloads.md#producer-input).

Field names follow the reference connector so that a task input written for it reads the
same here. Every problem is a ``ConnectorInputError`` naming the field, raised before
any connection is made: a workflow should learn about a typo in milliseconds, not after
a broker timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError
from kafka_connector.input_checks import check_input
from kafka_connector.kafka.resolve import resolve_client_properties
from kafka_connector.outbound.address import TargetAddress, parse_address
from kafka_connector.secrets import CONFIGURATION_FIELDS, resolve_configuration
from kafka_connector.serialization.avro_codec import AvroWriter
from kafka_connector.serialization.formats import SerializationType
from kafka_connector.serialization.json_codec import encode_headers, encode_json_value, encode_key


@dataclass(frozen=True, slots=True)
class ProducerRequest:
    """Everything needed to publish one record, already in bytes."""

    properties: dict[str, str]
    topic: str
    partition: int | None
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    debug: bool = False

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
        # {{secrets.…}} is expanded in the configuration only; message, headers and the
        # address are the workflow's data and are sent as written (docs/payloads.md#secret-placeholders).
        payload = resolve_configuration(_with_default_bootstrap(event, default_bootstrap_servers))
        address = _target_address(payload)
        message = _section(payload, "message", required=True)
        if message.get("value") is None:
            raise ConnectorInputError("'message.value' is required")
        serialization = SerializationType.parse(
            payload.get("serializationType") or SerializationType.JSON, "serializationType"
        )
        debug = payload.get("debug", False)
        if not isinstance(debug, bool):
            raise ConnectorInputError("'debug' must be true or false")
        if serialization is SerializationType.AVRO:
            value = AvroWriter.from_request(payload.get("avro"), address.topic).encode(message["value"])
        else:
            value = encode_json_value(message["value"])
        key = encode_key(address.key if address.key is not None else message.get("key"))
        return cls(
            properties=resolve_client_properties(payload, role="producer"),
            topic=address.topic,
            partition=address.partition,
            key=key,
            value=value,
            headers=encode_headers(payload.get("headers")),
            debug=debug,
        )


def _with_default_bootstrap(event: Mapping[str, Any], default: str | None) -> Mapping[str, Any]:
    topic = event.get("topic")
    if not default or event.get("bootstrapServers") is not None:
        return event
    if topic is None:
        return {**event, "topic": {"bootstrapServers": default}}
    if isinstance(topic, Mapping) and topic.get("bootstrapServers") is None:
        return {**event, "topic": {**topic, "bootstrapServers": default}}
    return event


def _section(event: Mapping[str, Any], name: str, *, required: bool = False) -> Mapping[str, Any]:
    section = event.get(name)
    if section is None and not required:
        return {}
    if not isinstance(section, Mapping):
        raise ConnectorInputError(f"'{name}' must be an object" + (" and is required" if required else ""))
    return section


def _target_address(event: Mapping[str, Any]) -> TargetAddress:
    """``address`` or ``topic.topicName``: either may hold ``topic``, ``topic/key`` or ``topic#n``."""
    topic_name = _section(event, "topic").get("topicName")
    address = event.get("address")
    if address is not None and topic_name is not None:
        raise ConnectorInputError("give either 'address' or 'topic.topicName', not both")
    if address is not None:
        return parse_address(address, "address")
    if topic_name is None:
        raise ConnectorInputError("'topic.topicName' (or 'address') is required")
    return parse_address(topic_name, "topic.topicName")
