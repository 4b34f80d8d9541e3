"""Build the exact event a Lambda Kafka event source mapping sends, from records read off a broker.

Used by the local event source mapping and by tests, so the consumer function only ever
sees the shape AWS sends: records grouped under ``topic-partition`` keys, base64 keys and
values (absent for none), header values as arrays of *signed* bytes (Java's ``byte``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MSK_CLUSTER_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/local/00000000-0000-0000-0000-000000000000-1"


@dataclass(frozen=True)
class KafkaRecord:
    """What the mapping needs of a record (kafka-python's ``ConsumerRecord`` has these fields)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=list)
    timestamp: int = 0
    timestamp_type: int = 0


def signed_bytes(data: bytes) -> list[int]:
    return [b - 256 if b > 127 else b for b in data]


def lambda_record(record: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestampType": "LOG_APPEND_TIME" if record.timestamp_type == 1 else "CREATE_TIME",
        "headers": [{name: signed_bytes(value or b"")} for name, value in (record.headers or [])],
    }
    if record.key is not None:
        entry["key"] = base64.b64encode(record.key).decode()
    if record.value is not None:
        entry["value"] = base64.b64encode(record.value).decode()
    return entry


def lambda_kafka_event(
    records: Iterable[Any],
    *,
    bootstrap_servers: str = "127.0.0.1:9092",
    source: str = "aws:kafka",
) -> dict[str, Any]:
    """The Lambda event for ``records`` (kept in the given order within each partition).

    ``source`` is ``aws:kafka`` (Amazon MSK, with an ``eventSourceArn``) or
    ``SelfManagedKafka``.
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(f"{record.topic}-{record.partition}", []).append(lambda_record(record))
    event: dict[str, Any] = {"eventSource": source, "bootstrapServers": bootstrap_servers, "records": grouped}
    if source == "aws:kafka":
        event["eventSourceArn"] = MSK_CLUSTER_ARN
    return event
