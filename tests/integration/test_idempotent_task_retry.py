"""A Step Functions task whose first attempt published but whose response was lost publishes once.

In the local emulator: moto's interpreter runs a task with ``idempotencyKey.$`` built from
``$$.Execution.Id`` and ``$$.State.Name`` (as the README shows) and a ``Retry``; the producer
is the real function with an idempotency table in the emulator's DynamoDB. The one thing
arranged is the lost response: the first invocation really publishes, then its answer is
replaced by an error (what a Lambda service failure after the function ran looks like to
the workflow). The retried attempt must answer with the first acknowledgement, and the
topic must hold one record.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.functions import LocalFunction
from local.resources import function_arn
from tests.support.aws import ROLE_ARN, Aws
from tests.support.kafka import create_topic, read_records

pytestmark = pytest.mark.timeout(120)
TABLE = "kafka-connector-idempotency"


class ResponseLost(Exception):  # the error name the workflow sees, as Lambda reports it
    """The function ran, but its response never reached the workflow."""


class LosingFirstResponse:
    def __init__(self, function: LocalFunction) -> None:
        self.function, self.name = function, function.name
        self.responses: list[Any] = []

    def invoke(self, event: Any) -> Any:
        response = self.function.invoke(event)
        self.responses.append(response)
        if len(self.responses) == 1:
            raise ResponseLost("the response was lost after the record was published")
        return response


def machine(bootstrap: str, topic: str) -> dict[str, Any]:
    return {
        "StartAt": "PublishOrder",
        "States": {
            "PublishOrder": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": function_arn("producer"),
                    "Payload": {
                        "topic": {"bootstrapServers": bootstrap, "topicName": topic},
                        "message": {"key.$": "$.orderId", "value.$": "$"},
                        "idempotencyKey.$": "States.Format('{}-{}', $$.Execution.Id, $$.State.Name)",
                    },
                },
                "ResultSelector": {"offset.$": "$.Payload.offset", "partition.$": "$.Payload.partition"},
                "Retry": [
                    {
                        "ErrorEquals": ["ResponseLost"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 2,
                        "BackoffRate": 2,
                    }
                ],
                "End": True,
            }
        },
    }


@pytest.fixture
def producer(emulator: Any) -> Iterator[LosingFirstResponse]:
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    function = LocalFunction(
        "producer",
        "producer",
        {"KAFKA_BOOTSTRAP_SERVERS": "", "SECRETS_PREFIX": "", "IDEMPOTENCY_TABLE": TABLE},
    )
    losing = LosingFirstResponse(function)
    emulator.add_function(losing)
    yield losing
    function.shutdown()


def test_the_retried_task_gets_the_first_acknowledgement_and_nothing_is_published_twice(producer, bootstrap):
    topic = create_topic(bootstrap, partitions=3, prefix="idem")
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"idem-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(machine(bootstrap, topic)),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"orderId": "o-77", "amount": 5}))[
        "executionArn"
    ]
    described = Aws().wait_finished(execution, timeout=60)
    assert described["status"] == "SUCCEEDED", described
    first, retried = producer.responses
    assert retried == first  # the stored acknowledgement, not a new publish
    assert json.loads(described["output"]) == {"offset": first["offset"], "partition": first["partition"]}
    records = read_records(bootstrap, topic, count=10**9, timeout=3.0)
    assert [(r.partition, r.offset, r.key) for r in records] == [
        (first["partition"], first["offset"], b"o-77")
    ]
    (item,) = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert item["status"]["S"] == "COMPLETED"
