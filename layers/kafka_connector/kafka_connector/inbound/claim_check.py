"""Claim check: a result too large to hand over is stored in S3, the workflow gets a reference.

Step Functions takes at most 256 KiB as execution input or task output, and a buffered
message must fit one DynamoDB item with its result (docs/payloads.md#large-messages). With
``CLAIM_CHECK_BUCKET`` set, such a result is written to that bucket and the workflow
receives instead::

    {"claimCheck": {"bucket": "…", "key": "payments/0/15/<sha256>.json", "size": 300000, "sha256": "…"},
     "topic": "payments", "partition": 0, "offset": 15, "timestamp": 1732190000000, "key": 1001}

which a state reads with ``arn:aws:states:::aws-sdk:s3:getObject`` (``Bucket``/``Key``),
then ``States.StringToJson`` on the ``Body``. Without the bucket nothing changes: such a
result is ``KafkaMessageTooLarge`` (G6).

The object key is the record's place plus the hash of what is stored, so a redelivered
record writes the same object again (an idempotent overwrite, no second copy), and two
inbound connectors reading one topic with different results never overwrite each other.
The object is encrypted by the bucket's default encryption (the template's bucket: SSE-S3)
and removed by its lifecycle rule. A failed write is an AWS error like any other: sorted by
:func:`~kafka_connector.inbound.exceptions.sort_failure`, so throttling or a missing
permission holds the record back instead of losing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from kafka_connector.aws.clients import AwsClient

#: The record key is copied into the reference only when its JSON text is at most this long,
#: so the reference stays small whatever the key (a longer key is ``null`` there; it is in the object).
MAX_REFERENCE_KEY_BYTES: Final = 1024


def object_key(message: Mapping[str, Any], digest: str) -> str:
    """``<topic>/<partition>/<offset>/<sha256>.json``: the same record and result, the same key.

    Topic names are ``[A-Za-z0-9._-]`` (Kafka's rule), safe in an S3 key as they are.
    """
    return f"{message['topic']}/{message['partition']}/{message['offset']}/{digest}.json"


class ClaimCheck:
    """Stores results in one bucket and gives the reference the workflow receives instead."""

    s3 = AwsClient("s3")

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def store(self, message: Mapping[str, Any], result_json: str) -> str:
        """Write ``result_json`` (the result as it would have been sent) and return the reference's JSON."""
        data = result_json.encode()
        digest = hashlib.sha256(data).hexdigest()
        key = object_key(message, digest)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        return json.dumps(
            reference(message, bucket=self.bucket, key=key, size=len(data), digest=digest),
            separators=(",", ":"),
            ensure_ascii=False,
        )


def reference(message: Mapping[str, Any], *, bucket: str, key: str, size: int, digest: str) -> dict[str, Any]:
    """The small object a workflow receives in place of a claim-checked result."""
    record_key = message.get("key")
    if len(json.dumps(record_key, ensure_ascii=False).encode()) > MAX_REFERENCE_KEY_BYTES:
        record_key = None
    return {
        "claimCheck": {"bucket": bucket, "key": key, "size": size, "sha256": digest},
        "topic": message.get("topic"),
        "partition": message.get("partition"),
        "offset": message.get("offset"),
        "timestamp": message.get("timestamp"),
        "key": record_key,
    }
