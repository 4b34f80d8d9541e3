"""The dead-letter queue: where records that can never succeed go, with the reason.

A record that fails for good (undecodable, an expression error, too large for Step
Functions) must neither block its partition nor vanish. It is sent here whole — the
Lambda record as received, base64 key/value and headers included — so it can be
inspected and replayed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kafka_connector import redaction
from kafka_connector.aws.clients import AwsClient
from kafka_connector.inbound.exceptions import TransientAwsError
from kafka_connector.limits import MAX_SQS_MESSAGE_BYTES


def dead_letter_body(record: Mapping[str, Any], reason: str, error: str) -> str:
    """The queue message: where the record was, why it failed, and the record itself.

    Redacted like every text that leaves the function, field by field before it is
    serialised (and so before its size is measured): a reason may quote the record, and
    in a process that has resolved secrets the record may hold one, base64 included.
    """
    body: dict[str, Any] = {
        "topic": record.get("topic"),
        "partition": record.get("partition"),
        "offset": record.get("offset"),
        "timestamp": record.get("timestamp"),
        "error": error,
        "reason": reason,
        "record": dict(record),
    }
    try:
        text = json.dumps(redaction.redact_data(body), separators=(",", ":"))
    except (RecursionError, TypeError, ValueError):
        # The event's own fields cannot be written as JSON (nested past any encoder's depth):
        # the record must still leave the partition, so it goes without them, saying so.
        body["record"] = {k: record.get(k) for k in ("topic", "partition", "offset", "timestamp")}
        body["recordOmitted"] = "the record cannot be written as JSON; read it from the topic at this offset"
        return json.dumps(redaction.redact_data(body), separators=(",", ":"))
    if len(text.encode()) > MAX_SQS_MESSAGE_BYTES:  # sent without its value, saying so
        body["record"] = {k: v for k, v in record.items() if k != "value"}
        body["valueOmitted"] = "the value exceeds what SQS can carry; read it from the topic at this offset"
        text = json.dumps(redaction.redact_data(body), separators=(",", ":"))
    return text


class DeadLetterQueue:
    sqs = AwsClient("sqs")

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, record: Mapping[str, Any], reason: str, error: str) -> None:
        try:
            self.sqs.send_message(
                QueueUrl=self.queue_url, MessageBody=dead_letter_body(record, reason, error)
            )
        except Exception as failure:
            # The record must not be committed unless it is safe somewhere: retry the batch.
            raise TransientAwsError(
                f"SQS SendMessage to the dead-letter queue: {type(failure).__name__}"
            ) from failure
