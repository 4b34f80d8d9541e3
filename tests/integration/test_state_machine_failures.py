"""The shipped example state machines through their failure paths, in the local emulator.

Each test deploys a file of ``statemachines/`` as SAM would (its ``${...}`` substitutions
applied) into the emulator, where moto's Step Functions interpreter really runs it: Retry
with its backoff (the interpreter sleeps the intervals), Catch, ResultSelector, Fail with
ErrorPath/CausePath. The Lambda tasks invoke the real producer and subscribe handlers
through the emulator's Lambda endpoint; the consumer is the real handler too, invoked with
the event a Kafka event source mapping sends. Only two things are arranged: a producer that
reports ``KafkaRetryableError`` on its first call (what a broker without a leader makes it
report), and, for the timeout and retry-exhaustion paths, shorter timings in a copy of the
definition (named in each test). What the interpreter cannot show, the static tests in
tests/unit/test_template.py check.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kafka_connector.errors import KafkaRetryableError
from local.functions import ROOT, LocalFunction
from local.kafka_event import KafkaRecord, lambda_kafka_event
from local.resources import definition, function_arn
from tests.support.aws import ROLE_ARN, Aws
from tests.support.kafka import create_topic

MESSAGE_NAME = "payment"
PAYMENTS = "payments"
ORDER_PAYMENT = "order-payment.asl.json"
DIRECT = "order-payment-direct.asl.json"
#: Lambda's task output limit is 256 KiB: a payment this large cannot be delivered (G6).
TOO_LARGE = 300 * 1024
#: DynamoDB's partition key limit is 2,048 bytes; the head key is "<messageName>#<key>".
KEY_TOO_LONG = "k" * 2100


class FailingFirst:
    """A function that reports ``error`` on its first ``failures`` invocations, then is ``function``."""

    def __init__(self, function: LocalFunction, error: Exception, failures: int = 1) -> None:
        self.function, self.error, self.failures = function, error, failures
        self.name = function.name
        self.calls = 0

    def invoke(self, event: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.function.invoke(event)


@dataclass
class World:
    """One test's AWS side in the emulator: table, queues, functions and deployed examples."""

    aws: Aws
    emulator: Any
    consumer: LocalFunction
    bootstrap: str = "127.0.0.1:9"  # nothing listens there: set when a test publishes for real
    orders_topic: str = "orders"
    _opened: list[LocalFunction] = field(default_factory=list)

    def add(self, function: Any) -> None:
        self.emulator.add_function(function)
        self._opened.append(getattr(function, "function", function))

    def close(self) -> None:
        for function in self._opened:
            function.shutdown()

    def deploy(self, file_name: str, patch: Callable[[dict[str, Any]], None] | None = None) -> str:
        substitutions = {
            "ProducerFunctionArn": function_arn("producer"),
            "SubscribeFunctionArn": function_arn("subscribe"),
            "KafkaBootstrapServers": self.bootstrap,
            "OrdersTopic": self.orders_topic,
            "MessageName": MESSAGE_NAME,
            "CorrelationTable": self.aws.table,
        }
        machine = json.loads(definition(file_name, substitutions))
        if patch is not None:
            patch(machine)
        return self.aws.sfn.create_state_machine(
            name=f"{file_name.split('.', maxsplit=1)[0]}-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(machine),
            roleArn=ROLE_ARN,
        )["stateMachineArn"]

    def start(self, machine: str, order: dict[str, Any]) -> str:
        return self.aws.sfn.start_execution(
            stateMachineArn=machine, name=f"order-{uuid.uuid4().hex[:12]}", input=json.dumps(order)
        )["executionArn"]

    def wait_subscribed(self, execution: str, order_id: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.aws.head(f"{MESSAGE_NAME}#{order_id}") is None:
            status = self.aws.status(execution)
            assert status == "RUNNING", self.aws.sfn.describe_execution(executionArn=execution)
            assert time.monotonic() < deadline, "the execution never subscribed"
            time.sleep(0.05)

    def deliver(self, value: dict[str, Any], offset: int = 7) -> dict[str, Any]:
        """The real consumer handles the payment record as the event source mapping delivers it."""
        record = KafkaRecord(PAYMENTS, 0, offset, json.dumps(value).encode(), b"key", timestamp=1732190000000)
        return self.consumer.invoke(lambda_kafka_event([record], source="SelfManagedKafka"))

    def finished(self, execution: str, timeout: float = 30.0) -> dict[str, Any]:
        described = self.aws.wait_finished(execution, timeout=timeout)
        assert described["status"] != "RUNNING", "the execution did not finish"
        return described

    def history(self, execution: str) -> list[dict[str, Any]]:
        return self.aws.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]

    def states_entered(self, execution: str) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(execution)
            if "stateEnteredEventDetails" in e
        ]

    def caught(self, execution: str, failure: str) -> dict[str, Any]:
        """The execution ended in the Fail state ``failure``: the error it caught, {"Error", "Cause"}."""
        described = self.finished(execution)
        assert (described["status"], described["error"]) == ("FAILED", failure), described
        assert self.states_entered(execution)[-1] == failure
        return json.loads(described["cause"])

    def task_errors(self, execution: str) -> list[str]:
        return [
            e["taskFailedEventDetails"]["error"] for e in self.history(execution) if e["type"] == "TaskFailed"
        ]


@pytest.fixture
def world(emulator: Any) -> Iterator[World]:
    aws = Aws().setup()
    consumer = LocalFunction(
        "consumer-failures",
        "consumer",
        {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": MESSAGE_NAME,
            "CORRELATION_KEY_EXPRESSION": "=value.orderId",
            "CORRELATION_TABLE": aws.table,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        },
    )
    world = World(aws, emulator, consumer)
    world.add(LocalFunction("subscribe", "subscribe", {"CORRELATION_TABLE": aws.table}))
    world.add(LocalFunction("producer", "producer", {"KAFKA_BOOTSTRAP_SERVERS": "", "SECRETS_PREFIX": ""}))
    world._opened.append(consumer)
    yield world
    world.close()


@pytest.fixture
def publishing(world: World, bootstrap: str) -> World:
    """The world with the session's real broker and a fresh orders topic to publish to."""
    world.bootstrap = bootstrap
    world.orders_topic = create_topic(bootstrap, partitions=1, prefix="orders")
    return world


def payment(order_id: str, **extra: Any) -> dict[str, Any]:
    return {"orderId": order_id, "amount": 249.0, "currency": "EUR", **extra}


# -- PublishOrder ------------------------------------------------------------------------------


def test_publish_retries_a_kafka_retryable_error_then_the_order_completes(publishing: World) -> None:
    world = publishing
    producer = FailingFirst(
        LocalFunction("producer", "producer", {"KAFKA_BOOTSTRAP_SERVERS": "", "SECRETS_PREFIX": ""}),
        KafkaRetryableError("LeaderNotAvailableError", "There is no leader for this topic-partition."),
    )
    world.add(producer)
    execution = world.start(world.deploy(ORDER_PAYMENT), {"orderId": "o-retry", "item": "espresso machine"})
    world.wait_subscribed(execution, "o-retry")
    assert world.deliver(payment("o-retry")) == {"batchItemFailures": []}

    described = world.finished(execution)
    assert described["status"] == "SUCCEEDED", described
    assert producer.calls == 2
    assert world.task_errors(execution) == ["KafkaRetryableError"]
    events = world.history(execution)
    failed = next(e for e in events if e["type"] == "TaskFailed")
    retried = next(e for e in events if e["type"] == "TaskScheduled" and e["id"] > failed["id"])
    assert (retried["timestamp"] - failed["timestamp"]).total_seconds() >= 1.5  # IntervalSeconds: 2
    output = json.loads(described["output"])
    assert output["orderId"] == "o-retry"
    assert output["published"] == {
        "topic": world.orders_topic,
        "partition": 0,
        "offset": 0,
        "timestamp": output["published"]["timestamp"],
    }
    # ResultSelector: the value and the record's coordinates, not the whole message twice over.
    assert output["payment"] == {
        "value": payment("o-retry"),
        "topic": PAYMENTS,
        "partition": 0,
        "offset": 7,
        "timestamp": 1732190000000,
    }


def test_publish_retries_exhausted_end_in_publish_failed(world: World) -> None:
    """Timing shortened in this copy only (IntervalSeconds 1, BackoffRate 1: 3 s instead of 14 s)."""
    producer = FailingFirst(
        LocalFunction("producer", "producer", {"KAFKA_BOOTSTRAP_SERVERS": "", "SECRETS_PREFIX": ""}),
        KafkaRetryableError("KafkaTimeoutError", "Failed to update metadata after 5.0 secs."),
        failures=10,
    )
    world.add(producer)

    def faster(machine: dict[str, Any]) -> None:
        (retrier,) = [
            r
            for r in machine["States"]["PublishOrder"]["Retry"]
            if r["ErrorEquals"] == ["KafkaRetryableError"]
        ]
        retrier.update(IntervalSeconds=1, BackoffRate=1)

    execution = world.start(world.deploy(ORDER_PAYMENT, faster), {"orderId": "o-down"})
    error = world.caught(execution, "PublishFailed")
    assert error["Error"] == "KafkaRetryableError"
    assert "KafkaTimeoutError" in error["Cause"]
    assert producer.calls == 4  # the first attempt and MaxAttempts: 3
    assert world.states_entered(execution) == ["PublishOrder", "PublishFailed"]


def test_publish_input_error_is_caught_without_a_retry(world: World) -> None:
    """A value the producer refuses to publish (nested deeper than 100 levels): ConnectorInputError."""
    nested: Any = "deep"
    for _ in range(120):
        nested = [nested]
    execution = world.start(world.deploy(ORDER_PAYMENT), {"orderId": "o-deep", "note": nested})
    error = world.caught(execution, "PublishFailed")
    assert error["Error"] == "ConnectorInputError"
    # Lambda's error payload; its errorMessage is the connector's JSON body.
    body = json.loads(json.loads(error["Cause"])["errorMessage"])
    assert (body["status"], body["error"]) == (400, "ConnectorInputError")
    assert "nests deeper than 100 levels" in body["message"]
    assert world.task_errors(execution) == ["ConnectorInputError"]  # never retried
    assert world.states_entered(execution) == ["PublishOrder", "PublishFailed"]


# -- WaitForPayment ----------------------------------------------------------------------------


def test_subscription_refused_by_the_subscribe_function_is_caught(publishing: World) -> None:
    """An orderId over DynamoDB's 2,048-byte key: the subscribe function refuses it (ConnectorInputError)."""
    world = publishing
    execution = world.start(world.deploy(ORDER_PAYMENT), {"orderId": KEY_TOO_LONG})
    error = world.caught(execution, "PaymentFailed")
    assert error["Error"] == "ConnectorInputError"
    assert "2,048" in error["Cause"] or "2048" in error["Cause"]
    assert world.task_errors(execution) == ["ConnectorInputError"]
    assert world.states_entered(execution) == ["PublishOrder", "WaitForPayment", "PaymentFailed"]


def test_direct_subscription_refused_by_dynamodb_is_caught(world: World) -> None:
    """The same key written by the state machine itself: DynamoDB's ValidationException, caught."""
    execution = world.start(world.deploy(DIRECT), {"orderId": KEY_TOO_LONG})
    error = world.caught(execution, "PaymentFailed")
    named = json.loads((ROOT / "statemachines" / DIRECT).read_text())["States"]["WaitForPayment"]["Catch"][0]
    assert error["Error"] in named["ErrorEquals"]  # by name, not only by States.ALL
    assert error["Error"].startswith("DynamoDb.")
    assert "2048" in error["Cause"]
    assert len(world.task_errors(execution)) == 1  # a validation error is not retried
    assert world.states_entered(execution) == ["WaitForPayment", "PaymentFailed"]


@pytest.mark.parametrize("file_name", [ORDER_PAYMENT, DIRECT])
def test_payment_too_large_fails_the_waiting_task_into_payment_failed(
    file_name: str, world: World, request: pytest.FixtureRequest
) -> None:
    """G6: the consumer fails the waiting task with SendTaskFailure(error="KafkaMessageTooLarge")."""
    if file_name == ORDER_PAYMENT:
        world = request.getfixturevalue("publishing")
    execution = world.start(world.deploy(file_name), {"orderId": "o-big"})
    world.wait_subscribed(execution, "o-big")
    assert world.deliver(payment("o-big", receipt="x" * TOO_LARGE)) == {"batchItemFailures": []}

    error = world.caught(execution, "PaymentFailed")
    assert error["Error"] == "KafkaMessageTooLarge"
    assert world.task_errors(execution)[-1] == "KafkaMessageTooLarge"
    assert world.states_entered(execution)[-2:] == ["WaitForPayment", "PaymentFailed"]
    [dead] = world.aws.dead_letters()
    assert (dead["error"], dead["offset"]) == ("KafkaMessageTooLarge", 7)


@pytest.mark.parametrize("file_name", [ORDER_PAYMENT, DIRECT])
def test_waiting_task_timeout_is_caught(file_name: str, world: World, request: pytest.FixtureRequest) -> None:
    """TimeoutSeconds shortened from 86,400 to 1 in this copy only."""
    if file_name == ORDER_PAYMENT:
        world = request.getfixturevalue("publishing")

    def one_second(machine: dict[str, Any]) -> None:
        machine["States"]["WaitForPayment"]["TimeoutSeconds"] = 1

    execution = world.start(world.deploy(file_name, one_second), {"orderId": "o-late"})
    assert world.caught(execution, "PaymentFailed")["Error"] == "States.Timeout"
    assert world.states_entered(execution)[-2:] == ["WaitForPayment", "PaymentFailed"]
