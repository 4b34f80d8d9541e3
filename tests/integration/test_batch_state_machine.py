"""``statemachines/publish-batches.asl.json`` in the local emulator, publishing to the real broker.

The emulator's Step Functions interpreter (moto 5.2.5) knows neither ``ItemBatcher`` (its
ASL parser refuses the field) nor the ``JSONL`` reader, so the Distributed Map itself cannot
run here. What runs is the shipped ``ItemProcessor`` — every state of it, as written — in
an inline Map over the batches ``ItemBatcher`` would make: the test splits the JSON-lines
text into lines, the machine partitions them with ``States.ArrayPartition`` and hands each
iteration ``{"Items": [...], "BatchInput": ...}``, the shape ``ItemBatcher`` gives a child
execution. The producer is the real function behind the emulator's Lambda endpoint, and
the records are counted on the topic.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kafka_connector.errors import ConnectorError, KafkaRetryableError
from local.functions import LocalFunction
from local.resources import definition, function_arn
from tests.support.aws import ROLE_ARN, Aws
from tests.support.kafka import create_topic, read_records

pytestmark = pytest.mark.timeout(180)
SHIPPED = "publish-batches.asl.json"
BATCH_SIZE = 100


def shipped(bootstrap: str, topic: str) -> dict[str, Any]:
    substitutions = {
        "ProducerFunctionArn": function_arn("producer"),
        "KafkaBootstrapServers": bootstrap,
        "OrdersTopic": topic,
    }
    machine: dict[str, Any] = json.loads(definition(SHIPPED, substitutions))
    return machine


def emulated(machine: dict[str, Any]) -> dict[str, Any]:
    """The shipped Distributed Map as an inline Map over ``States.ArrayPartition`` batches."""
    distributed = machine["States"]["PublishBatches"]
    processor = copy.deepcopy(distributed["ItemProcessor"])
    processor["ProcessorConfig"] = {"Mode": "INLINE"}
    batcher = distributed["ItemBatcher"]
    return {
        "StartAt": "Batch",
        "States": {
            "Batch": {
                "Type": "Pass",
                "Parameters": {
                    "batches.$": f"States.ArrayPartition($.messages, {batcher['MaxItemsPerBatch']})"
                },
                "Next": "PublishBatches",
            },
            "PublishBatches": {
                "Type": "Map",
                "ItemsPath": "$.batches",
                "ItemSelector": {"Items.$": "$$.Map.Item.Value", "BatchInput": batcher["BatchInput"]},
                "ItemProcessor": processor,
                "End": True,
            },
        },
    }


def lines(messages: list[dict[str, Any]]) -> str:
    """The JSON-lines object the Distributed Map would read from S3."""
    return "".join(json.dumps(message) + "\n" for message in messages)


class ProducerFailingFirst:
    """The real producer; its first call runs with ``max.request.size`` 1000: the big messages fail for real.

    The batch error it gets is passed on as ``KafkaRetryableError`` (with the same
    indexes) — the one thing arranged, as a broker that is slow for some partitions would
    report it — so that the example's retry path is taken.
    """

    def __init__(self, function: LocalFunction) -> None:
        self.function, self.name = function, function.name
        self.calls: list[dict[str, Any]] = []

    def invoke(self, event: Any) -> Any:
        self.calls.append(event)
        if len(self.calls) > 1:
            return self.function.invoke(event)
        try:
            return self.function.invoke({**event, "additionalProperties": {"max.request.size": 1000}})
        except ConnectorError as error:
            raise KafkaRetryableError(error.message, error.description, details=error.details) from None


@pytest.fixture
def world(emulator: Any, bootstrap: str) -> Iterator[dict[str, Any]]:
    producer = LocalFunction("producer", "producer", {"KAFKA_BOOTSTRAP_SERVERS": "", "SECRETS_PREFIX": ""})
    emulator.add_function(producer)
    topic = create_topic(bootstrap, partitions=3, prefix="batches")
    yield {"aws": Aws(), "emulator": emulator, "producer": producer, "topic": topic, "bootstrap": bootstrap}
    producer.shutdown()


def run(world: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    aws: Aws = world["aws"]
    machine = emulated(shipped(world["bootstrap"], world["topic"]))
    arn = aws.sfn.create_state_machine(
        name=f"publish-batches-{uuid.uuid4().hex[:8]}", definition=json.dumps(machine), roleArn=ROLE_ARN
    )["stateMachineArn"]
    parsed = [json.loads(line) for line in lines(messages).splitlines()]
    execution = aws.sfn.start_execution(stateMachineArn=arn, input=json.dumps({"messages": parsed}))[
        "executionArn"
    ]
    described: dict[str, Any] = aws.wait_finished(execution, timeout=120)
    return described


def on_topic(world: dict[str, Any]) -> list[Any]:
    return read_records(world["bootstrap"], world["topic"], count=10**9, timeout=3.0)


def test_the_shipped_processor_is_what_runs() -> None:
    machine = shipped("127.0.0.1:9092", "orders")
    distributed = machine["States"]["PublishBatches"]
    assert distributed["ItemReader"]["ReaderConfig"] == {"InputType": "JSONL"}
    assert distributed["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    inline = emulated(machine)["States"]["PublishBatches"]["ItemProcessor"]
    assert inline["States"] == distributed["ItemProcessor"]["States"]
    assert distributed["ItemBatcher"]["MaxItemsPerBatch"] == BATCH_SIZE


def test_every_line_is_published_once_in_batches(world: dict[str, Any]) -> None:
    messages = [{"key": f"order-{i}", "value": {"orderId": f"order-{i}", "n": i}} for i in range(250)]
    described = run(world, messages)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"published": 100}, {"published": 100}, {"published": 50}]
    records = on_topic(world)
    assert sorted(r.key for r in records) == sorted(f"order-{i}".encode() for i in range(250))
    assert {r.headers[0] for r in records} == {("source", b"batch-workflow")}


def test_only_the_unacknowledged_messages_are_published_again(world: dict[str, Any]) -> None:
    messages = [{"key": f"k{i}", "value": f"v{i}"} for i in range(30)]
    for big in (4, 17, 29):
        messages[big] = {"key": f"k{big}", "value": f"v{big}" + "x" * 2000}
    producer = ProducerFailingFirst(world["producer"])
    world["emulator"].add_function(producer)
    described = run(world, messages)
    assert described["status"] == "SUCCEEDED", described
    assert [len(call["messages"]) for call in producer.calls] == [30, 3]
    assert [m["key"] for m in producer.calls[1]["messages"]] == ["k4", "k17", "k29"]
    assert json.loads(described["output"]) == [{"published": 3}]  # the last attempt's count
    # Every message exactly once: nothing acknowledged the first time was published again.
    assert sorted(r.key for r in on_topic(world)) == sorted(f"k{i}".encode() for i in range(30))


def test_a_message_that_can_never_be_published_fails_its_batch_and_says_which(world: dict[str, Any]) -> None:
    messages = [{"value": f"v{i}"} for i in range(150)]
    messages[120] = {"value": "nowhere", "address": f"{world['topic']}#9"}
    described = run(world, messages)
    assert described["status"] == "FAILED", described
    assert described["error"] == "BatchFailed"
    caught = json.loads(described["cause"])
    assert caught["Error"] == "ConnectorInputError"
    body = json.loads(json.loads(caught["Cause"])["errorMessage"])
    assert body["failed"] == [20]  # index 120 of the object is index 20 of the second batch
    assert len(body["acknowledged"]) == 49
    # The first batch and the acknowledged 49 of the second are on the topic; nothing else.
    assert len(on_topic(world)) == 100 + 49
