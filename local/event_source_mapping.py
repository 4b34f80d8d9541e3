"""A local Kafka event source mapping: the same contract as AWS's, against any broker.

It polls a topic with a consumer group, builds exactly the event Lambda would send
(:mod:`local.kafka_event`), invokes the consumer function, and commits only what the
function reports as done:

* a response without ``batchItemFailures`` commits the whole batch;
* with failures, each failed partition is committed up to its lowest failed offset and
  rewound to it, so that record and everything after it are delivered again;
* an invocation error (or a malformed response) retries the whole batch;
* retries back off exponentially; after ``retry_limit`` failed attempts at the same
  records they go to ``on_failure`` (the on-failure destination) and are committed.

Records of one partition are always delivered in order; one batch at a time, as the AWS
mapping does for a partition.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from local.kafka_event import lambda_kafka_event

logger = logging.getLogger(__name__)

Invoke = Callable[[dict[str, Any]], Any]
OnFailure = Callable[[dict[str, Any], str], None]

#: The embedded broker answers a group join only after half the session timeout, so a
#: short one keeps joins fast; the AWS mapping's own pollers need no such setting.
SESSION_TIMEOUT_MS = 6000


@dataclass
class MappingStats:
    batches: int = 0
    records_delivered: int = 0
    records_committed: int = 0
    retries: int = 0
    sent_to_on_failure: int = 0
    last_error: str | None = None
    committed: dict[tuple[str, int], int] = field(default_factory=dict)


class LocalEventSourceMapping:
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        invoke: Invoke,
        batch_size: int = 100,
        batching_window_seconds: float = 0.5,
        starting_position: str = "TRIM_HORIZON",
        source: str = "SelfManagedKafka",
        retry_limit: int = -1,
        on_failure: OnFailure | None = None,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        consumer_properties: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.invoke = invoke
        self.batch_size = batch_size
        self.window_ms = int(batching_window_seconds * 1000)
        self.source = source
        self.retry_limit = retry_limit
        self.on_failure = on_failure
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.stats = MappingStats()
        self._attempts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if starting_position == "TRIM_HORIZON" else "latest",
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 3,
            max_poll_records=batch_size,
            **dict(consumer_properties or {}),
        )

    # -- one batch --------------------------------------------------------------------------------

    def poll_once(self, timeout_ms: int | None = None) -> int:
        """Fetch, invoke and commit one batch; returns how many records were delivered."""
        polled = self._consumer.poll(timeout_ms=self.window_ms if timeout_ms is None else timeout_ms)
        records = [r for tp in sorted(polled, key=lambda t: (t.topic, t.partition)) for r in polled[tp]]
        if not records:
            return 0
        event = lambda_kafka_event(records, bootstrap_servers=self.bootstrap_servers, source=self.source)
        self.stats.batches += 1
        self.stats.records_delivered += len(records)
        first = {}
        last = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            first.setdefault(tp, record.offset)
            last[tp] = record.offset
        failed = self._failed_offsets(event, first)
        commits: dict[TopicPartition, int] = {}
        for tp in first:
            commits[tp] = failed.get(tp, last[tp] + 1)
        if failed and self.retry_limit >= 0 and self._attempts >= self.retry_limit:
            self._give_up(event, failed, last, commits)
            failed = {}
        self._commit(commits)
        if failed:
            self._attempts += 1
            self.stats.retries += 1
            for tp, offset in failed.items():
                self._consumer.seek(tp, offset)
            self._stop.wait(min(self.backoff_seconds * 2 ** (self._attempts - 1), self.max_backoff_seconds))
        else:
            self._attempts = 0
        return len(records)

    def _failed_offsets(
        self, event: dict[str, Any], first: Mapping[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        """Per partition, the lowest offset to deliver again (none for a fully handled batch)."""
        try:
            response = self.invoke(event)
        except Exception as error:  # the function failed: retry the whole batch
            self.stats.last_error = f"{type(error).__name__}: {error}"
            logger.warning("consumer invocation failed; the batch will be retried: %s", self.stats.last_error)
            return dict(first)
        failures = (response or {}).get("batchItemFailures") if isinstance(response, Mapping) else None
        if not failures:
            return {}
        failed: dict[TopicPartition, int] = {}
        try:
            for failure in failures:
                identifier = failure["itemIdentifier"]
                topic, _, partition = identifier["partition"].rpartition("-")
                tp = TopicPartition(topic, int(partition))
                offset = int(identifier["offset"])
                if tp not in first:
                    raise ValueError(f"{identifier} is not in this batch")
                failed[tp] = min(offset, failed.get(tp, offset))
        except (KeyError, TypeError, ValueError) as error:
            self.stats.last_error = f"malformed batch response: {error}"
            return dict(first)  # as in AWS, an unreadable response fails the whole batch
        return failed

    def _give_up(
        self,
        event: dict[str, Any],
        failed: Mapping[TopicPartition, int],
        last: Mapping[TopicPartition, int],
        commits: dict[TopicPartition, int],
    ) -> None:
        for tp, offset in failed.items():
            records = [
                r for r in event["records"].get(f"{tp.topic}-{tp.partition}", []) if r["offset"] >= offset
            ]
            if self.on_failure is not None:
                self.on_failure(
                    {**event, "records": {f"{tp.topic}-{tp.partition}": records}},
                    f"retry limit of {self.retry_limit} reached",
                )
            self.stats.sent_to_on_failure += len(records)
            commits[tp] = last[tp] + 1
        self._attempts = 0

    def _commit(self, commits: Mapping[TopicPartition, int]) -> None:
        self._consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in commits.items()})
        for tp, offset in commits.items():
            previous = self.stats.committed.get((tp.topic, tp.partition), 0)
            self.stats.records_committed += max(0, offset - previous)
            self.stats.committed[(tp.topic, tp.partition)] = offset

    # -- running in the background ----------------------------------------------------------------

    def start(self) -> LocalEventSourceMapping:
        self._thread = threading.Thread(target=self._run, name=f"esm-{self.topic}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as error:  # keep polling, as the managed mapping would
                self.stats.last_error = f"{type(error).__name__}: {error}"
                logger.exception("local event source mapping error")
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._consumer.close(autocommit=False, timeout_ms=2000)

    def __enter__(self) -> LocalEventSourceMapping:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
