"""AWS side of the consumer tests: real moto resources and executions that really wait.

Executions wait on task tokens with ``sqs:sendMessage.waitForTaskToken``, so a test gets
each token exactly as Step Functions hands it out, and passes it on to the subscribe
function as a ``lambda:invoke.waitForTaskToken`` task would.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import boto3

ROLE_ARN = "arn:aws:iam::123456789012:role/stepfunctions"
TABLE = "kafka-correlation"


def register_glue_schema(registry: str, schema_name: str, schema: dict[str, Any]) -> str:
    """A Glue Schema Registry schema with ``schema`` as its first version; returns the version id."""
    glue = boto3.client("glue")
    glue.create_registry(RegistryName=registry)
    return glue.create_schema(
        RegistryId={"RegistryName": registry},
        SchemaName=schema_name,
        DataFormat="AVRO",
        Compatibility="NONE",
        SchemaDefinition=json.dumps(schema),
    )["SchemaVersionId"]


def create_correlation_table(dynamodb: Any, name: str = TABLE) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def waiting_definition(token_queue_url: str, timeout_seconds: int | None = None) -> dict[str, Any]:
    wait: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {
            "QueueUrl": token_queue_url,
            "MessageBody": {"token.$": "$$.Task.Token", "execution.$": "$$.Execution.Name"},
        },
        "ResultPath": "$.message",
        "End": True,
    }
    if timeout_seconds:
        wait["TimeoutSeconds"] = timeout_seconds
    return {"StartAt": "Wait", "States": {"Wait": wait}}


@dataclass
class Aws:
    """One test's AWS world: correlation table, dead-letter queue, executions that wait."""

    table: str = TABLE
    dynamodb: Any = field(default_factory=lambda: boto3.client("dynamodb"))
    sfn: Any = field(default_factory=lambda: boto3.client("stepfunctions"))
    sqs: Any = field(default_factory=lambda: boto3.client("sqs"))
    dlq_url: str = ""
    token_queue_url: str = ""
    _machines: dict[int | None, str] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)

    def setup(self) -> Aws:
        create_correlation_table(self.dynamodb, self.table)
        self.dlq_url = self.sqs.create_queue(QueueName="kafka-dlq")["QueueUrl"]
        self.token_queue_url = self.sqs.create_queue(QueueName="task-tokens")["QueueUrl"]
        return self

    def machine(self, timeout_seconds: int | None = None) -> str:
        if timeout_seconds not in self._machines:
            self._machines[timeout_seconds] = self.sfn.create_state_machine(
                name=f"wait-{timeout_seconds or 'forever'}",
                definition=json.dumps(waiting_definition(self.token_queue_url, timeout_seconds)),
                roleArn=ROLE_ARN,
            )["stateMachineArn"]
        return self._machines[timeout_seconds]

    def pass_machine(self, name: str) -> str:
        """A state machine that just succeeds: the target of start mode in tests."""
        return self.sfn.create_state_machine(
            name=name,
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
            roleArn=ROLE_ARN,
        )["stateMachineArn"]

    def start_waiting(
        self, name: str, payload: Any = None, timeout_seconds: int | None = None
    ) -> tuple[str, str]:
        """Start an execution that waits for a token; returns (execution ARN, its task token)."""
        arn = self.sfn.start_execution(
            stateMachineArn=self.machine(timeout_seconds), name=name, input=json.dumps(payload or {})
        )["executionArn"]
        return arn, self.token_of(name)

    def token_of(self, execution_name: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while execution_name not in self._tokens:
            if time.monotonic() > deadline:
                raise AssertionError(f"execution {execution_name} never asked for a token")
            for message in self.sqs.receive_message(
                QueueUrl=self.token_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", []):
                body = json.loads(message["Body"])
                self._tokens[body["execution"]] = body["token"]
            time.sleep(0.02)
        return self._tokens[execution_name]

    def wait_finished(self, execution_arn: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.05)

    def status(self, execution_arn: str) -> str:
        return self.sfn.describe_execution(executionArn=execution_arn)["status"]

    def output(self, execution_arn: str) -> Any:
        described = self.wait_finished(execution_arn)
        assert described["status"] == "SUCCEEDED", described
        return json.loads(described["output"])

    def resumptions(self, execution_arn: str) -> int:
        """How many times the waiting task was completed (the history never lies)."""
        events = self.sfn.get_execution_history(executionArn=execution_arn)["events"]
        return sum(e["type"] in ("TaskSucceeded", "TaskFailed") for e in events)

    def dead_letters(self) -> list[dict[str, Any]]:
        bodies = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])

    def items(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=self.table, ConsistentRead=True)["Items"]

    def head(self, key: str) -> dict[str, Any] | None:
        return self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get(
            "Item"
        )
