"""The local event source mapping's on-failure destination: the dead-letter queue, one message a record.

When the mapping gives up on records (its retry limit reached), AWS's mapping sends an
invocation record to its SQS destination that names the batch's offsets but not the
records (docs/outcomes.md#redrive); redrive keeps such messages and says which offsets
to read again. Locally the mapping has the records in hand, so it writes each as the
consumer's own dead-letter message (``dead_letter_body``, error ``RetryAttemptsExhausted``):
the local queue then shows, and ``python -m local redrive`` replays, what was given up on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"


def on_failure_to_queue(queue_url: str) -> Callable[[dict[str, Any], str], None]:
    """An ``on_failure`` for :class:`local.event_source_mapping.LocalEventSourceMapping`."""
    from kafka_connector.inbound.dead_letter import dead_letter_body  # noqa: PLC0415 - the layer, once on the path

    def send(event: dict[str, Any], reason: str) -> None:
        sqs = boto3.client("sqs")
        for records in event.get("records", {}).values():
            for record in records:
                why = f"the event source mapping gave up on the record: {reason}"
                body = dead_letter_body(record, why, RETRY_ATTEMPTS_EXHAUSTED)
                sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    return send
