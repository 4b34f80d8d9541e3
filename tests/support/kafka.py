"""Reading and writing the real broker from tests: the observable outcome of a publish."""

from __future__ import annotations

import time
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord


def create_topic(bootstrap: str, partitions: int = 3, prefix: str = "t") -> str:
    """A new topic with a unique name, so tests never see each other's records."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()
    return name


def read_records(bootstrap: str, topic: str, count: int, timeout: float = 10.0) -> list[ConsumerRecord]:
    """Read ``count`` records from the start of every partition of ``topic`` (no group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assignment)
        consumer.seek_to_beginning(*assignment)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def read_one(bootstrap: str, topic: str, partition: int, offset: int, **config: object) -> ConsumerRecord:
    """The record at ``topic``/``partition``/``offset``: what the broker really stored."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **config)
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=200).get(tp, []):
                if record.offset == offset:
                    return record
        raise AssertionError(f"no record at {topic}-{partition}@{offset}")
    finally:
        consumer.close()
