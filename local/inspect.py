"""``python -m local dlq`` and ``python -m local table``: what the running stack's queue and table hold.

One line per message or item on standard output, readable at a glance; ``--json`` prints
the same as one JSON document for scripts (``| jq``). Reading never changes anything: the
queue's messages are made visible again at once, the table is scanned with a consistent
read. Task tokens are never printed (they are the right to resume a workflow): a
subscription shows as the hash its attribute name already is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from local.stack import attached

#: How long a look at the queue hides each message from everyone else (released right after).
_PEEK_SECONDS = 10


def peek_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message of the queue, ``{"messageId", "body"}`` in arrival order, left in the queue."""
    seen: list[dict[str, Any]] = []
    handles: list[str] = []
    try:
        while True:
            answer = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=_PEEK_SECONDS,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["SentTimestamp"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                handles.append(message["ReceiptHandle"])
                seen.append(
                    {
                        "messageId": message["MessageId"],
                        "sentAt": int(message.get("Attributes", {}).get("SentTimestamp", 0)),
                        "body": _body(message["Body"]),
                    }
                )
    finally:
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return sorted(seen, key=lambda m: m["sentAt"])


def _body(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def dlq_line(message: Mapping[str, Any]) -> str:
    """``payments-0@5  StateMachineDoesNotExist  Step Functions StartExecution: …``."""
    body = message["body"]
    if not isinstance(body, Mapping):
        return f"{message['messageId']}  (not a dead-letter message) {str(body)[:120]}"
    if "KafkaBatchInfo" in body:
        info = (
            body["KafkaBatchInfo"].get("recordsInfo", {})
            if isinstance(body["KafkaBatchInfo"], Mapping)
            else {}
        )
        places = ", ".join(
            f"{tp}@{v.get('firstRecordOffset')}…" for tp, v in info.items() if isinstance(v, Mapping)
        )
        condition = body.get("requestContext", {}).get("condition", "mapping failure")
        return f"{places or '?'}  {condition}  (the mapping's failure record: offsets only)"
    place = f"{body.get('topic')}-{body.get('partition')}@{body.get('offset')}"
    return f"{place}  {body.get('error')}  {body.get('reason')}"


def scan_table(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of the table as plain values, sorted by key."""
    from kafka_connector.inbound.items import from_item  # noqa: PLC0415 - the layer, once on the path

    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        page = dynamodb.scan(
            TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {})
        )
        items.extend(_plain(from_item(item)) for item in page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(items, key=lambda i: (str(i.get("head", i["pk"])), "head" in i, str(i["pk"])))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def _when(epoch: Any) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch))) if epoch is not None else "-"


def table_line(item: Mapping[str, Any]) -> str:
    """One line per item: a head with its waiting subscriptions and buffered markers, a body, a mark."""
    from kafka_connector.inbound.keys import BODY_PREFIX, MESSAGE_PREFIX, SUBSCRIPTION_PREFIX  # noqa: PLC0415

    key = str(item["pk"])
    if key.startswith(BODY_PREFIX):
        what = f"{item.get('head')}  message {item.get('messageId')}"
        if "handledAt" in item:
            return f"handled   {what}  at {_when(item['handledAt'])}"
        return f"buffered  {what}  kept until {_when(item.get('expiresAt'))}"
    subscriptions = [
        v for k, v in item.items() if k.startswith(SUBSCRIPTION_PREFIX) and isinstance(v, Mapping)
    ]
    markers = [v for k, v in item.items() if k.startswith(MESSAGE_PREFIX) and isinstance(v, Mapping)]
    claimed = sum(1 for s in [*subscriptions, *markers] if s.get("claim"))
    parts = [f"{len(subscriptions)} waiting", f"{len(markers)} buffered"]
    if claimed:
        parts.append(f"{claimed} claimed")
    return f"head      {key}  version {item.get('version', 0)}  " + ", ".join(parts)


# -- the commands ------------------------------------------------------------------------------------


def dlq(*, as_json: bool) -> int:
    import boto3  # noqa: PLC0415

    with attached() as state:
        messages = peek_queue(boto3.client("sqs"), state.dead_letter_queue_url)
    empty = f"the dead-letter queue is empty ({state.dead_letter_queue_url})"
    return _show(messages, dlq_line, empty, as_json)


def table(*, as_json: bool) -> int:
    import boto3  # noqa: PLC0415

    with attached() as state:
        items = scan_table(boto3.client("dynamodb"), state.table)
    return _show(items, table_line, f"the correlation table is empty ({state.table})", as_json)


def _show(entries: list[Any], line: Callable[[Any], str], empty: str, as_json: bool) -> int:
    """``entries`` as one JSON document, or one line each (``empty`` when there are none)."""
    if as_json:
        print(json.dumps(entries, indent=2))
    else:
        for entry in entries:
            print(line(entry))
        if not entries:
            print(empty)
    return 0
