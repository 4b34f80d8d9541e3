"""AWS side of the consumer tests: real moto resources and executions that really wait.

Executions wait on task tokens with ``sqs:sendMessage.waitForTaskToken``, so a test gets
each token exactly as Step Functions hands it out, and passes it on to the subscribe
function as a ``lambda:invoke.waitForTaskToken`` task would.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

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


def on_call(client: Any, event: str, action: Callable[..., Any], *, times: int = 1) -> Callable[[], None]:
    """Run ``action(**event_kwargs)`` on the next ``times`` botocore ``event``s of ``client``.

    ``event`` is e.g. ``after-call.dynamodb.BatchGetItem`` (the call took effect) or
    ``provide-client-params.sfn.SendTaskSuccess`` (before it is made). The count is taken
    before ``action`` runs, so an action may itself use ``client``. Returns the unregister.
    """
    left = [times]

    def hook(**kwargs: Any) -> None:
        if left[0] > 0:
            left[0] -= 1
            action(**kwargs)

    client.meta.events.register(event, hook)
    return lambda: client.meta.events.unregister(event, hook)


_deserializer = TypeDeserializer()


class CallbackLog:
    """Every task-token callback the layer's Step Functions client made, with the answer it got.

    Why not only ``Aws.resumptions``: moto (in process and behind the emulator) accepts a
    second ``SendTaskSuccess`` for a token while its execution has not yet consumed the
    first, and the later output wins — so a second message sent to an already resumed
    task can hide from the history. Real Step Functions refuses it. Recording what the
    connector sent, and whether AWS accepted it, sees every such attempt. Installed first
    on the hooks, so an injected fault after a call still finds the call recorded.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, bool]] = []  # (operation, token, output or error, accepted)

    def install(self) -> CallbackLog:
        from kafka_connector.aws import clients as aws_clients

        events = aws_clients.client("stepfunctions").meta.events
        for operation in ("SendTaskSuccess", "SendTaskFailure"):
            events.register_first(f"provide-client-params.sfn.{operation}", self._request)
            events.register_first(f"after-call.sfn.{operation}", self._answer)
        return self

    @staticmethod
    def _request(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["recorded_callback"] = dict(params)

    def _answer(self, http_response: Any, context: dict[str, Any], model: Any, **_: Any) -> None:
        params = context.get("recorded_callback", {})
        sent = params.get("output", params.get("error", ""))
        self.calls.append((model.name, params.get("taskToken", ""), sent, http_response.status_code < 300))

    def accepted(self, token: str) -> list[str]:
        """What AWS accepted for ``token``: outputs (``SendTaskSuccess``) and errors (``SendTaskFailure``)."""
        return [sent for _, called, sent, accepted in self.calls if called == token and accepted]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain Python values."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


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
        """How many times the waiting task was completed (the history never lies).

        Read once the execution has finished: the emulator records ``TaskSucceeded`` in the
        execution's own thread, a moment after ``SendTaskSuccess`` returns.
        """
        self.wait_finished(execution_arn)
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

    # -- the correlation table as the tests read it ------------------------------------------------

    def entries(self, key: str) -> dict[str, dict[str, Any]]:
        """The ``sub_``/``msg_`` entries of head ``key``, as plain values (none if it is gone)."""
        head = self.head(key)
        return {k: v for k, v in plain(head).items() if k.startswith(("sub_", "msg_"))} if head else {}

    def claims_left(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every entry of every head that still carries a claim: (head, entry, value)."""
        left = []
        for item in map(plain, self.items()):
            for name, value in item.items():
                if name.startswith(("sub_", "msg_")) and isinstance(value, dict) and "claim" in value:
                    left.append((item["pk"], name, value))
        return left

    def markers(self) -> list[tuple[str, str]]:
        """Every buffered-message marker still in a head: (head, message id)."""
        return [
            (item["pk"], value["id"])
            for item in map(plain, self.items())
            for name, value in item.items()
            if name.startswith("msg_") and isinstance(value, dict)
        ]

    def write_subscription(self, key: str, token: str, **fields: Any) -> str:
        """Write a subscription straight into the table, as path (b) does; returns its attribute.

        ``fields`` are extra map keys (``claim``, ``claimedAt``, ``condition`` ...), for tests
        that need a subscription in a given state.
        """
        attribute = "sub_" + hashlib.sha256(token.encode()).hexdigest()
        value = {"token": {"S": token}}
        for name, field_value in fields.items():
            value[name] = {"N": str(field_value)} if isinstance(field_value, int) else {"S": str(field_value)}
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET #sub = :sub ADD version :one",
            ExpressionAttributeNames={"#sub": attribute},
            ExpressionAttributeValues={":sub": {"M": value}, ":one": {"N": "1"}},
        )
        return attribute

    def set_claim(self, key: str, entry: str, claim: str, claimed_at: int, attempt: str = "other") -> None:
        """Put a claim on an entry, as another party in the middle of a hand-over would."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET #e.claim = :c, #e.claimedAt = :t, #e.attempt = :a ADD version :one",
            ExpressionAttributeNames={"#e": entry},
            ExpressionAttributeValues={
                ":c": {"S": claim},
                ":t": {"N": str(claimed_at)},
                ":a": {"S": attempt},
                ":one": {"N": "1"},
            },
        )
