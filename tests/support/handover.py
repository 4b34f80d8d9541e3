"""The hand-over tests' shared parts: records, responses, and a harness over the real functions.

Used by the redelivery, table-guard and fault tests (no test module imports another).
"""

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from kafka_connector.errors import KafkaRetryableError
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.aws import CallbackLog

TOPIC = "payments"
OK = {"batchItemFailures": []}


def payment(offset, order_id, partition=0, **extra):
    value = json.dumps({"orderId": order_id, **extra}).encode()
    return KafkaRecord(TOPIC, partition, offset, value, order_id.encode(), [], 1732190000000)


def event(*records):
    return lambda_kafka_event(records)


def held_back(*offsets, partition=0):
    return {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": f"{TOPIC}-{partition}", "offset": o}} for o in offsets
        ]
    }


def throttled(**_):
    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "injected")


@dataclass
class Harness:
    """The parts every test here uses: AWS, the callbacks made, the consumer and the subscribe function."""

    aws: Any
    callbacks: CallbackLog
    make_consumer: Any
    subscribe_handler: Any

    def subscribe(self, token, key, attempts=5):
        """Call the subscribe function as a ``Retry`` on ``KafkaRetryableError`` would, until it answers."""
        for _ in range(attempts):
            try:
                return self.subscribe_handler(
                    {"taskToken": token, "messageName": "payment", "correlationKey": key}
                )["status"]
            except KafkaRetryableError:
                continue
        raise AssertionError("the subscribe function kept failing")

    def assert_resumed_once(self, arn, token, offset):
        """Every callback AWS accepted for ``token`` carried the record at ``offset``; resumed once."""
        assert {json.loads(sent)["offset"] for sent in self.callbacks.accepted(token)} == {offset}
        assert self.aws.output(arn)["message"]["offset"] == offset
        assert self.aws.resumptions(arn) == 1

    def assert_still_waiting(self, arn, token, key, offset=900):
        """Nothing was sent to ``token``, and it still waits: the next message for ``key`` resumes it."""
        assert self.callbacks.accepted(token) == []
        assert self.make_consumer().handle(event(payment(offset, key, probe=True))) == OK
        self.assert_resumed_once(arn, token, offset)
