"""What became of each record of a consumer invocation, told from what can be observed.

``python -m local invoke consumer`` prints, after the response, one line per record with its
outcome (docs/outcomes.md) and reason, then what the correlation table and the dead-letter
queue hold. Nothing here changes how the consumer decides; every line comes from something
the invocation left behind:

* **held back** — the record is in the response's ``batchItemFailures``; the reason is the
  consumer's WARNING line for it (captured in-process, from its ``extra`` fields);
* **dead-lettered** — its message is on the dead-letter queue, with the error and reason;
* otherwise it was committed, and the layer's own decoding and evaluation
  (``BatchConsumer.prepare``, the first step of ``handle``, no AWS call but a Glue schema
  read) says which way: **skipped** when the activation condition is false; in start mode
  **started** when the execution named after the message id exists; in correlate mode
  **buffered** or **delivered** by the message's body item in the table (its payload, or its
  handled mark), **duplicate** when that item was already there before the invocation, and
  **dropped** when there is none (nobody waited, ``MESSAGE_TTL_SECONDS`` = 0).

The per-batch summary line the consumer logs is shown with the other logs; nothing here
depends on its wording.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

_LOGGED = re.compile(
    r"^record (?P<where>\S+@\d+) (?P<outcome>dead-lettered|held back): (?P<error>[^:]+): (?P<reason>.*)$"
)


@dataclass(frozen=True)
class Outcome:
    where: str  # topic-partition@offset
    outcome: str
    reason: str = ""

    def line(self) -> str:
        return f"record {self.where}: {self.outcome}" + (f" — {self.reason}" if self.reason else "")


class LogCapture(logging.Handler):
    """Keeps the consumer's per-record outcome lines (WARNING, with ``outcome`` in ``extra``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.outcomes: dict[str, tuple[str, str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        outcome = getattr(record, "outcome", None)
        if outcome and hasattr(record, "offset"):
            where = f"{record.topic}-{record.partition}@{record.offset}"  # type: ignore[attr-defined]
            self.outcomes[where] = (
                str(outcome),
                f"{getattr(record, 'error', '')}: {getattr(record, 'reason', '')}",
            )
            return
        match = _LOGGED.match(record.getMessage())  # the same line, should a formatter drop the extras
        if match:
            self.outcomes[match["where"]] = (match["outcome"], f"{match['error']}: {match['reason']}")

    def attach(self, loggers: Iterable[logging.Logger]) -> None:
        for logger in loggers:
            logger.addHandler(self)


def _where(record: Mapping[str, Any]) -> str:
    return f"{record['topic']}-{record['partition']}@{record['offset']}"


def dead_letters(queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue (left on it: a zero visibility timeout)."""
    sqs = boto3.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(100):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
            "Messages", []
        )
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            try:
                seen[message["MessageId"]] = json.loads(message["Body"])
            except ValueError:
                seen[message["MessageId"]] = {"reason": message["Body"]}
    return list(seen.values())


def table_items(table: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    plain = TypeDeserializer()
    items: list[dict[str, Any]] = []
    for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        items.extend({k: plain.deserialize(v) for k, v in item.items()} for item in page["Items"])
    return items


class ConsumerReport:
    """Prepared before the invocation (the table as it was), read after it."""

    def __init__(self, consumer: Any, event: Any, table: str | None, queue_url: str | None) -> None:
        from kafka_connector.inbound.records import iter_records  # noqa: PLC0415 - the layer, once on the path

        self.consumer = consumer
        self.table = table
        self.queue_url = queue_url
        self.capture = LogCapture()
        try:
            self.records = list(iter_records(event))
        except Exception:  # not a Kafka event: the invocation says so itself
            self.records = []
        self.prepared = [consumer.prepare(raw) for raw in self.records]
        self.bodies_before = self._bodies()

    def _body_key(self, prepared: Any) -> str | None:
        from kafka_connector.inbound.keys import body_key  # noqa: PLC0415

        inbound = prepared.inbound
        if inbound is None or prepared.failure is not None or not inbound.correlation_key:
            return None
        return body_key(inbound.head, inbound.message_id)

    def _bodies(self) -> dict[str, dict[str, Any]] | None:
        """The body items of the batch's messages; ``None`` when the table cannot be read."""
        keys = {k for k in (self._body_key(p) for p in self.prepared) if k}
        if not keys or not self.table:
            return {}
        try:
            return self._read_bodies(keys, self.table)
        except Exception:  # a table that does not exist: the consumer's own lines say so
            return None

    @staticmethod
    def _read_bodies(keys: set[str], table: str) -> dict[str, dict[str, Any]]:
        dynamodb = boto3.client("dynamodb")
        found = {}
        for key in keys:
            item = dynamodb.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
            if item:
                found[key] = item
        return found

    def outcomes(self, response: Any) -> list[Outcome]:
        held = {
            f"{f['itemIdentifier']['partition']}@{f['itemIdentifier']['offset']}"
            for f in (response or {}).get("batchItemFailures", [])
            if isinstance(f, Mapping) and isinstance(f.get("itemIdentifier"), Mapping)
        }
        queued = {
            _where(body): f"{body.get('error')}: {body.get('reason')}"
            for body in (dead_letters(self.queue_url) if self.queue_url else [])
            if {"topic", "partition", "offset"} <= set(body)
        }
        bodies = self._bodies()
        lines = []
        for raw, prepared in zip(self.records, self.prepared, strict=True):
            where = _where(raw)
            logged = self.capture.outcomes.get(where)
            if where in held:
                lines.append(
                    Outcome(where, "held back", logged[1] if logged else "reported in batchItemFailures")
                )
            elif where in queued:
                lines.append(Outcome(where, "dead-lettered", queued[where]))
            elif logged and logged[0] == "dead-lettered":  # no queue configured: the log is all there is
                lines.append(
                    Outcome(where, "dead-lettered", logged[1] + " (no DEAD_LETTER_QUEUE_URL: logged only)")
                )
            else:
                lines.append(self._committed(where, prepared, bodies))
        return lines

    def _committed(self, where: str, prepared: Any, bodies: Mapping[str, Any] | None) -> Outcome:
        config = self.consumer.config
        inbound = prepared.inbound
        if inbound is None:
            return Outcome(where, "skipped", "the activation condition is false for it")
        if config.state_machine_arn and config.mode.value == "start":
            return self._started(where, inbound.message_id, config.state_machine_arn)
        if bodies is None or self.bodies_before is None:
            return Outcome(where, "committed", f"the table {self.table} could not be read to tell how")
        key = self._body_key(prepared)
        body = bodies.get(key or "")
        if key in self.bodies_before:
            return Outcome(where, "duplicate", f"message {inbound.message_id} was handled before")
        if body and "message" in body:
            return Outcome(
                where,
                "buffered",
                f"no workflow waits for {inbound.head} yet; kept {config.ttl_seconds}s for one to subscribe",
            )
        if body:
            return Outcome(where, "delivered", f"resumed the workflow(s) waiting for {inbound.head}")
        return Outcome(
            where,
            "dropped",
            f"no workflow waits for {inbound.head} and MESSAGE_TTL_SECONDS is {config.ttl_seconds}",
        )

    @staticmethod
    def _started(where: str, message_id: str, machine: str) -> Outcome:
        from kafka_connector.inbound.step_functions import execution_name  # noqa: PLC0415

        name = execution_name(message_id)
        arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
        sfn = boto3.client("stepfunctions")
        status = "not found"
        for _ in range(50):  # the emulator runs it in the background; a moment is enough for the examples
            try:
                described = sfn.describe_execution(executionArn=arn)
            except sfn.exceptions.ExecutionDoesNotExist:
                break
            status = described["status"]
            if status == "FAILED":
                status += f" ({described.get('error') or 'no error'})"
            if status != "RUNNING":
                break
            time.sleep(0.1)
        return Outcome(where, "started", f"execution {name} of {machine.rsplit(':', 1)[-1]}: {status}")


def describe_table(table: str) -> list[str]:
    items = table_items(table)
    lines = [f"correlation table {table}: {len(items)} item(s)"]
    for item in sorted(items, key=lambda i: str(i.get("pk"))):
        pk = str(item.get("pk"))
        if pk.startswith("msg#"):
            kind = "buffered message" if "message" in item else "handled mark"
            lines.append(f"  {kind} {item.get('messageId')} for {item.get('head')}")
        else:
            subscriptions = sum(1 for k in item if k.startswith("sub_"))
            messages = sum(1 for k in item if k.startswith("msg_"))
            lines.append(f"  {pk}: {subscriptions} waiting subscription(s), {messages} buffered message(s)")
    return lines


def describe_queue(queue_url: str) -> list[str]:
    bodies = dead_letters(queue_url)
    lines = [f"dead-letter queue {queue_url.rsplit('/', 1)[-1]}: {len(bodies)} message(s)"]
    for body in bodies:
        where = _where(body) if {"topic", "partition", "offset"} <= set(body) else "?"
        lines.append(f"  {where} {body.get('error')}: {body.get('reason')}")
    return lines
