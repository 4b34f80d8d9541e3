"""Faults: a broker restart, AWS throttling and outages mid-batch, poison records, racing pairs.

Real broker and moto throughout; each test is bounded in count and time.
"""

import json

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.producer import app as producer_app
from kafka_connector.aws import clients as aws_clients
from kafka_connector.errors import KafkaRetryableError
from local.context import LocalLambdaContext
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.concurrency import race
from tests.support.kafka import read_one
from tests.support.producer import durable_broker_starter

TOPIC = "payments"


# -- the broker goes away and comes back -----------------------------------------------------------


@pytest.fixture
def durable_broker(emulator):
    """Tansu on s3:// storage in the emulator's S3, so a restart keeps what was acknowledged."""
    start = durable_broker_starter(emulator, "tansu-fault")
    brokers = [start()]
    yield brokers, start
    brokers[-1].stop()


def test_broker_restart_loses_nothing_acknowledged(durable_broker):
    brokers, start = durable_broker
    bootstrap = brokers[0].bootstrap_servers
    timeouts = {"max.block.ms": 2000, "request.timeout.ms": 1500, "delivery.timeout.ms": 3000}

    def publish(value):
        return producer_app.lambda_handler(
            {
                "topic": {"bootstrapServers": bootstrap, "topicName": "durable#0"},
                "message": {"key": "k", "value": value},
                "additionalProperties": timeouts,
            },
            LocalLambdaContext("producer"),
        )

    acknowledged = {publish({"n": n})["offset"]: {"n": n} for n in range(5)}
    brokers[0].stop()
    for n in range(2):
        with pytest.raises(KafkaRetryableError):
            publish({"during-outage": n})
    brokers.append(start())
    response = publish({"n": "after"})
    acknowledged[response["offset"]] = {"n": "after"}
    for offset, value in acknowledged.items():
        assert json.loads(read_one(bootstrap, "durable", 0, offset).value) == value


# -- AWS fails in the middle of a consumer batch -----------------------------------------------------


def fail_on(client, event_name, predicate, error):
    def hook(params, **_):
        if predicate(params):
            raise error

    client.meta.events.register(event_name, hook)
    return lambda: client.meta.events.unregister(event_name, hook)


def throttled(operation):
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation)


def waiting(aws, subscribe_handler, keys):
    executions = {}
    for key in keys:
        executions[key], token = aws.start_waiting(key)
        subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": key})
    return executions


def payments(keys, start=0):
    return [
        KafkaRecord(TOPIC, 0, start + i, json.dumps({"orderId": key}).encode(), None)
        for i, key in enumerate(keys)
    ]


def failed_offsets(response):
    return [f["itemIdentifier"]["offset"] for f in response["batchItemFailures"]]


def test_dynamodb_outage_mid_batch(aws, make_consumer, subscribe_handler):
    keys = [f"d-{i}" for i in range(5)]
    executions = waiting(aws, subscribe_handler, keys)
    consumer = make_consumer()
    dynamodb = aws_clients.client("dynamodb")

    def touches_d2(request):
        return request.get("Key", {}).get("pk", {}).get("S") == "payment#d-2"

    # Every write touching d-2 fails: alone, or as an action of a run's transaction.
    restores = [
        fail_on(dynamodb, "provide-client-params.dynamodb.UpdateItem", touches_d2, throttled("UpdateItem")),
        fail_on(
            dynamodb,
            "provide-client-params.dynamodb.TransactWriteItems",
            lambda params: any(touches_d2(next(iter(a.values()))) for a in params["TransactItems"]),
            throttled("TransactWriteItems"),
        ),
    ]
    records = payments(keys, start=100)
    assert failed_offsets(consumer.handle(lambda_kafka_event(records))) == [102, 103, 104]
    for key in keys[:2]:
        assert aws.wait_finished(executions[key])["status"] == "SUCCEEDED"
    for key in keys[2:]:
        assert aws.status(executions[key]) == "RUNNING"
    for restore in restores:
        restore()
    assert consumer.handle(lambda_kafka_event(records[2:])) == {"batchItemFailures": []}
    for key in keys:
        assert aws.output(executions[key])["message"]["value"] == {"orderId": key}
        assert aws.resumptions(executions[key]) == 1


def test_step_functions_unreachable_then_back(aws, make_consumer, subscribe_handler, monkeypatch):
    keys = [f"s-{i}" for i in range(3)]
    executions = waiting(aws, subscribe_handler, keys)
    consumer = make_consumer()
    records = payments(keys)
    restore = fail_on(
        consumer.callbacks.stepfunctions,
        "before-send.sfn.SendTaskSuccess",
        lambda params: True,
        EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com"),
    )
    assert failed_offsets(consumer.handle(lambda_kafka_event(records))) == [0, 1, 2]
    restore()
    # The claims taken before the outage belong to these records: the retry finishes them.
    assert consumer.handle(lambda_kafka_event(records)) == {"batchItemFailures": []}
    for key in keys:
        assert aws.output(executions[key])["message"]["value"] == {"orderId": key}
        assert aws.resumptions(executions[key]) == 1


def test_start_execution_throttled_mid_batch(aws, make_consumer):
    machine = aws.pass_machine("started")
    consumer = make_consumer(CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine)
    records = payments([f"x-{i}" for i in range(5)])
    restore = fail_on(
        consumer.starter.stepfunctions,
        "provide-client-params.sfn.StartExecution",
        lambda params: params["name"] == f"{TOPIC}-0-3",
        throttled("StartExecution"),
    )
    assert failed_offsets(consumer.handle(lambda_kafka_event(records))) == [3, 4]
    assert len(aws.sfn.list_executions(stateMachineArn=machine)["executions"]) == 3
    restore()
    assert consumer.handle(lambda_kafka_event(records[3:])) == {"batchItemFailures": []}
    assert consumer.handle(lambda_kafka_event(records)) == {"batchItemFailures": []}  # and once more, whole
    names = sorted(e["name"] for e in aws.sfn.list_executions(stateMachineArn=machine)["executions"])
    assert names == [f"{TOPIC}-0-{i}" for i in range(5)]


@pytest.mark.parametrize("position", range(5))
def test_poison_record_in_every_position(aws, make_consumer, position):
    machine = aws.pass_machine("started")
    consumer = make_consumer(
        CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine, MESSAGE_ID_EXPRESSION="=value.id"
    )
    records = [
        KafkaRecord(
            TOPIC, 0, i, json.dumps({"id": f"good-{i}"} if i != position else {"no": "id"}).encode(), None
        )
        for i in range(5)
    ]
    assert consumer.handle(lambda_kafka_event(records)) == {"batchItemFailures": []}
    names = sorted(e["name"] for e in aws.sfn.list_executions(stateMachineArn=machine)["executions"])
    assert names == [f"good-{i}" for i in range(5) if i != position]
    [dead] = aws.dead_letters()
    assert (dead["offset"], dead["error"]) == (position, "ExpressionError")


# -- many racing pairs ---------------------------------------------------------------------------------


def test_500_concurrent_subscribe_consume_races(emulator):
    race(emulator, 500, workers=24, seed=500)
