"""Redrive: replay what the dead-letter queue holds, through the consumer, with today's configuration.

After an operator fixes what made records fail (a state machine created, a permission
granted, an expression corrected), each dead-letter message's record is handed to the
consumer's own :class:`~kafka_connector.inbound.batch.BatchConsumer` — the same per-record
path as a batch from the event source mapping, so the record ends in one documented outcome
(docs/outcomes.md) — and the message is settled by that outcome:

* **replayed** (delivered, started, skipped, buffered, dropped, duplicate): the message is
  deleted;
* **dead-lettered** again (a permanent problem): the consumer has already sent the record
  back to the queue with its new reason; the old message is deleted;
* **held back** (still transient: the state machine is still missing): the record is sent
  back with its new reason (a fresh dead-letter message) and the old one deleted — the queue
  always says why each record is there *now*;
* **kept**: a message that does not carry a whole record (the event source mapping's own
  failure record, which holds offsets only; a body whose value was omitted for size; not a
  dead-letter message at all) is left as it is, made visible again, with the reason in the
  report.

Idempotent (G4, docs/guarantees.md): a record redriven twice, or redriven while the mapping
delivers it again, is resumed or started once, because it goes through the same hand-over —
the handled mark and attempt-scoped claims of the correlation table in correlate mode, the
deterministic execution name in start mode. A message whose delete fails after its record
succeeded is a duplicate on the next redrive, and deleted then.

All messages of a run are received first (kept invisible for ``visibility_timeout``), then
handled one record at a time in (topic, partition, offset) order, so the messages a run
writes back are never read again by the same run, and one record's failure never holds
back another's (each is its own one-record batch).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

from kafka_connector import redaction
from kafka_connector.aws.clients import AwsClient
from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound import batch as batch_module
from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.dead_letter import DeadLetterQueue
from kafka_connector.limits import MAX_SQS_RECEIVE_MESSAGES

logger = logging.getLogger(__name__)

#: Long enough for a Lambda invocation to handle everything it received (15 minutes).
DEFAULT_VISIBILITY_TIMEOUT = 900
DEFAULT_MAX_MESSAGES = 100


class Disposition(StrEnum):
    REPLAYED = "replayed"
    DEAD_LETTERED = "dead-lettered"
    HELD_BACK = "held back"
    KEPT = "kept"
    WOULD_REPLAY = "would replay"  # dry run


class MessageReport(TypedDict):
    messageId: str
    topic: str | None
    partition: int | None
    offset: int | None
    outcome: str
    error: str | None
    reason: str | None
    deleted: bool


class RedriveReport(TypedDict):
    """What a run did; the function's response and ``python -m local redrive --json``."""

    dryRun: bool
    received: int
    replayed: int
    deadLettered: int
    heldBack: int
    kept: int
    messages: list[MessageReport]


@dataclass(slots=True)
class _Message:
    message_id: str
    receipt: str
    body: Any
    record: Mapping[str, Any] | None = None
    unreplayable: str | None = None  # why the message cannot be replayed from its body

    @property
    def place(self) -> tuple[str | None, int | None, int | None]:
        source = (
            self.record if self.record is not None else self.body if isinstance(self.body, Mapping) else {}
        )
        return source.get("topic"), source.get("partition"), source.get("offset")


@dataclass(slots=True)
class _Outcome:
    disposition: Disposition
    error: str | None = None
    reason: str | None = None
    deleted: bool = False


def read_message(message_id: str, receipt: str, text: str) -> _Message:
    """A received message, and whether its body carries a whole record to replay.

    The body is the one ``dead_letter.dead_letter_body`` writes: the Lambda record as
    received under ``record`` (topic, partition, offset, timestamp, key, value, headers —
    everything the consumer reads). A body that says ``valueOmitted``/``recordOmitted``
    does not; neither does the event source mapping's own failure record.
    """
    try:
        body = json.loads(text)
    except ValueError:
        return _Message(message_id, receipt, text, unreplayable="not a dead-letter message (not JSON)")
    message = _Message(message_id, receipt, body)
    if not isinstance(body, Mapping):
        message.unreplayable = "not a dead-letter message (not a JSON object)"
    elif "KafkaBatchInfo" in body or "requestContext" in body:
        message.unreplayable = _mapping_record_reason(body)
    elif "valueOmitted" in body or "recordOmitted" in body:
        message.unreplayable = (
            "the message does not carry the whole record (too large or not writable as JSON):"
            " replay it from the topic at this offset"
        )
    elif not _is_record(body.get("record")):
        message.unreplayable = "not a dead-letter message (no record with a topic, partition and offset)"
    elif _masked(body["record"]):
        message.unreplayable = (
            "the record held a secret, masked when it was dead-lettered:"
            " replay it from the topic at this offset"
        )
    else:
        message.record = body["record"]
    return message


def _is_record(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("topic"), str)
        and isinstance(value.get("partition"), int)
        and isinstance(value.get("offset"), int)
    )


def _masked(record: Mapping[str, Any]) -> bool:
    """Whether redaction masked part of the key or value: ``*`` is no base64 character."""
    return any(
        isinstance(record.get(name), str) and redaction.MASK in record[name] for name in ("key", "value")
    )


def _mapping_record_reason(body: Mapping[str, Any]) -> str:
    """The event source mapping's on-failure record names offsets, not records: say which."""
    info = body.get("KafkaBatchInfo")
    records = info.get("recordsInfo") if isinstance(info, Mapping) else None
    places = (
        ", ".join(
            f"{tp} from offset {v.get('firstRecordOffset')}"
            for tp, v in records.items()
            if isinstance(v, Mapping)
        )
        if isinstance(records, Mapping)
        else ""
    )
    return (
        "the event source mapping's failure record holds offsets, not records"
        + (f" ({places})" if places else "")
        + ": replay them from the topic"
    )


class _OutcomeCapture(logging.Handler):
    """Collects this thread's per-record outcome lines of the consumer (docs/outcomes.md).

    ``BatchConsumer`` reports held-back records by offset only; their reason is in the
    WARNING line it logs for each, with the fields ``topic``, ``partition``, ``offset``,
    ``outcome``, ``error`` and ``reason``. That documented line is what this reads.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and getattr(record, "outcome", None):
            self.lines.append(record)


@contextmanager
def _captured_outcomes() -> Iterator[_OutcomeCapture]:
    target = logging.getLogger(batch_module.__name__)
    capture = _OutcomeCapture()
    enabled = target.isEnabledFor(logging.WARNING)
    level, propagate = target.level, target.propagate
    if not enabled:  # read the lines without writing any the configured level would not
        target.setLevel(logging.WARNING)
        target.propagate = False
    target.addHandler(capture)
    try:
        yield capture
    finally:
        target.removeHandler(capture)
        if not enabled:
            target.setLevel(level)
            target.propagate = propagate


class Redriver:
    """Replays the consumer's dead-letter queue through ``consumer`` (its configuration is today's).

    ``wait_seconds`` is SQS long polling for each receive: a short poll samples only some
    of the queue's servers and may answer "empty" while messages wait.
    """

    sqs = AwsClient("sqs")

    def __init__(
        self,
        consumer: BatchConsumer,
        *,
        visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
        wait_seconds: int = 1,
    ) -> None:
        if not consumer.config.dead_letter_queue_url:
            raise ConnectorInputError(
                "DEAD_LETTER_QUEUE_URL is required: the queue to redrive (the consumer's dead-letter queue)"
            )
        self.consumer = consumer
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self.queue_url = consumer.config.dead_letter_queue_url
        self.dead_letters = DeadLetterQueue(self.queue_url)

    def run(self, *, max_messages: int = DEFAULT_MAX_MESSAGES, dry_run: bool = False) -> RedriveReport:
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
            raise ConnectorInputError(f"maxMessages must be a positive integer, got {max_messages!r}")
        messages = self._receive(max_messages)
        outcomes: list[tuple[_Message, _Outcome]] = []
        replayable = sorted(
            (m for m in messages if m.record is not None),
            key=lambda m: (m.record["topic"], m.record["partition"], m.record["offset"]),  # type: ignore[index]
        )
        for message in (m for m in messages if m.record is None):
            outcomes.append((message, _Outcome(Disposition.KEPT, "NotReplayable", message.unreplayable)))
        for message in replayable:
            if dry_run:
                body = message.body
                outcomes.append(
                    (message, _Outcome(Disposition.WOULD_REPLAY, body.get("error"), body.get("reason")))
                )
            else:
                outcomes.append((message, self._redrive(message)))
        for message, outcome in outcomes:
            if outcome.disposition in (Disposition.KEPT, Disposition.WOULD_REPLAY):
                self._release(message)
            else:
                outcome.deleted = self._delete(message)
        return _report(outcomes, dry_run)

    # -- the queue -------------------------------------------------------------------------------

    def _receive(self, max_messages: int) -> list[_Message]:
        messages: list[_Message] = []
        while len(messages) < max_messages:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(MAX_SQS_RECEIVE_MESSAGES, max_messages - len(messages)),
                VisibilityTimeout=self.visibility_timeout,
                WaitTimeSeconds=self.wait_seconds,
            )
            received = answer.get("Messages", [])
            if not received:
                break
            messages.extend(read_message(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in received)
        return messages

    def _delete(self, message: _Message) -> bool:
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt)
        except Exception as error:
            # The record's outcome stands; the message comes back and is a duplicate next time.
            logger.warning(
                "could not delete dead-letter message %s: %s: %s",
                message.message_id,
                type(error).__name__,
                error,
            )
            self._release(message)
            return False
        return True

    def _release(self, message: _Message) -> None:
        """Visible again at once, for the next look at the queue (best effort)."""
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message.receipt, VisibilityTimeout=0
            )
        except Exception as error:  # it becomes visible when its visibility timeout ends
            logger.warning(
                "could not release dead-letter message %s: %s", message.message_id, type(error).__name__
            )

    # -- one record ------------------------------------------------------------------------------

    def _redrive(self, message: _Message) -> _Outcome:
        record = message.record
        assert record is not None
        event = {"eventSource": "redrive", "records": {f"{record['topic']}-{record['partition']}": [record]}}
        with _captured_outcomes() as capture:
            try:
                response = self.consumer.handle(event)
            except Exception as failure:  # a defect outside the per-record path: keep the message
                return _Outcome(Disposition.KEPT, type(failure).__name__, redaction.redact(str(failure)))
        line = capture.lines[-1] if capture.lines else None
        code = str(getattr(line, "error", "HeldBack"))
        reason = str(getattr(line, "reason", "held back again"))
        if getattr(line, "outcome", None) == "dead-lettered":
            # The consumer has sent it back with its new reason: the old message can go.
            return _Outcome(Disposition.DEAD_LETTERED, code, redaction.redact(reason))
        if not response["batchItemFailures"]:
            return _Outcome(Disposition.REPLAYED)
        try:
            self.dead_letters.send(record, reason, code)
        except Exception as failure:  # the old message stays, with its old reason
            logger.warning("could not send %s back to the dead-letter queue: %s", message.message_id, failure)
            return _Outcome(Disposition.KEPT, code, redaction.redact(reason))
        return _Outcome(Disposition.HELD_BACK, code, redaction.redact(reason))


def _report(outcomes: list[tuple[_Message, _Outcome]], dry_run: bool) -> RedriveReport:
    entries: list[MessageReport] = []
    for message, outcome in outcomes:
        topic, partition, offset = message.place
        entries.append(
            {
                "messageId": message.message_id,
                "topic": topic if isinstance(topic, str) else None,
                "partition": partition if isinstance(partition, int) else None,
                "offset": offset if isinstance(offset, int) else None,
                "outcome": outcome.disposition.value,
                "error": outcome.error,
                "reason": outcome.reason,
                "deleted": outcome.deleted,
            }
        )

    def total(disposition: Disposition) -> int:
        return sum(1 for _, o in outcomes if o.disposition is disposition)

    return {
        "dryRun": dry_run,
        "received": len(outcomes),
        "replayed": total(Disposition.REPLAYED),
        "deadLettered": total(Disposition.DEAD_LETTERED),
        "heldBack": total(Disposition.HELD_BACK),
        "kept": total(Disposition.KEPT),
        "messages": entries,
    }
