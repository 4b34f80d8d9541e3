"""What the consumer function tells an operator: one summary line and one metric per outcome per batch.

The function is run as Lambda runs it (``functions/consumer/app.py`` after a cold start,
its decorators included) against moto with executions that really wait; what is asserted
is what reaches standard output — the Powertools JSON log lines and the EMF blob that
CloudWatch reads (docs/outcomes.md#summary).
"""

import importlib
import json
import sys

import pytest
from botocore.exceptions import ClientError

from kafka_connector.inbound.outcomes import METRIC_NAMES, Outcome, field_name
from kafka_connector.version import VERSION
from local.context import LocalLambdaContext
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.leaks import logger_writing_to

TOPIC = "payments"


def payment(partition, offset, value):
    return KafkaRecord(TOPIC, partition, offset, json.dumps(value).encode(), None)


def load_consumer(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from functions.consumer import app

    return importlib.reload(app)


def invoke(app, capsys, event):
    """The handler's response and what it wrote: its JSON log lines and its EMF metric blobs."""
    capsys.readouterr()
    with logger_writing_to(app.logger, sys.stdout):  # the handler keeps the stdout of its import
        response = app.lambda_handler(event, LocalLambdaContext("consumer"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    logs = [line for line in lines if "level" in line]
    blobs = [line for line in lines if "_aws" in line]
    return response, logs, blobs


def summary_of(logs):
    summaries = [line for line in logs if line["message"].startswith("batch of ")]
    assert len(summaries) == 1, logs  # one line per batch, not per record
    return summaries[0]


def metric_values(blobs):
    """Every metric's values across the invocation's EMF blobs, by name."""
    values = {}
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "KafkaConnectorTests"
            for metric in directive["Metrics"]:
                values.setdefault(metric["Name"], []).extend(blob[metric["Name"]])
    return values


@pytest.fixture
def correlate_function(aws, subscribe_handler, monkeypatch):
    # Loaded after the subscribe function: in one process the layer's lines go to the logger of
    # the function imported last (observability.route_layer_logs); in Lambda there is one.
    return load_consumer(
        monkeypatch,
        {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": "payment",
            "ACTIVATION_CONDITION": "=value.amount > 0",
            "CORRELATION_KEY_EXPRESSION": "=value.orderId",
            "CORRELATION_TABLE": aws.table,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
            "MESSAGE_TTL_SECONDS": "60",
        },
    )


def test_a_mixed_batch_is_summed_up_in_one_line_and_one_metric_value_per_outcome(
    aws, correlate_function, subscribe_handler, capsys
):
    app = correlate_function
    executions, tokens = {}, {}
    for key in ("o-1", "o-3"):
        executions[key], tokens[key] = aws.start_waiting(key)
        subscribe_handler({"taskToken": tokens[key], "messageName": "payment", "correlationKey": key})
    sfn = app.consumer.callbacks.stepfunctions

    def throttle(params, **_):
        if params.get("taskToken") == tokens["o-3"]:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess"
            )

    sfn.meta.events.register("provide-client-params.sfn.SendTaskSuccess", throttle)
    try:
        response, logs, blobs = invoke(
            app,
            capsys,
            lambda_kafka_event(
                [
                    payment(0, 10, {"orderId": "o-1", "amount": 5}),  # delivered
                    payment(0, 11, {"orderId": "o-9", "amount": 0}),  # skipped
                    payment(0, 12, {"orderId": "o-2", "amount": 5}),  # buffered: nobody waits, TTL 60
                    payment(0, 13, {"amount": 5}),  # dead-lettered: the key expression gives nothing
                    payment(1, 20, {"orderId": "o-3", "amount": 5}),  # held back: throttled
                    payment(1, 21, {"orderId": "o-4", "amount": 5}),  # held back behind it
                ]
            ),
        )
    finally:
        sfn.meta.events.unregister("provide-client-params.sfn.SendTaskSuccess", throttle)

    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": f"{TOPIC}-1", "offset": 20}},
            {"itemIdentifier": {"partition": f"{TOPIC}-1", "offset": 21}},
        ]
    }
    # What the counts say is what happened in AWS.
    assert aws.wait_finished(executions["o-1"])["status"] == "SUCCEEDED"
    assert aws.status(executions["o-3"]) == "RUNNING"
    assert [letter["offset"] for letter in aws.dead_letters()] == [13]

    expected = {
        Outcome.DELIVERED: 1,
        Outcome.STARTED: 0,
        Outcome.SKIPPED: 1,
        Outcome.BUFFERED: 1,
        Outcome.DROPPED: 0,
        Outcome.DUPLICATE: 0,
        Outcome.DEAD_LETTERED: 1,
        Outcome.HELD_BACK: 2,
    }
    summary = summary_of(logs)
    assert summary["level"] == "INFO"
    assert summary["records"] == 6
    assert summary["activated"] == 3  # o-1, o-2, o-3: the dead-lettered one failed while preparing
    assert {outcome: summary[field_name(outcome)] for outcome in Outcome} == expected
    assert summary["message"] == (
        "batch of 6 records: 1 delivered, 0 started, 1 skipped, 1 buffered, 0 dropped, 0 duplicate,"
        " 1 dead-lettered, 2 held back"
    )
    assert summary["service"] == "kafka-consumer"
    assert summary["service_version"] == VERSION
    assert summary["function_request_id"]  # the Lambda context's keys, as on the function's own lines

    values = metric_values(blobs)
    for outcome, count in expected.items():
        assert values[METRIC_NAMES[outcome]] == [count], outcome  # one value per batch, not per record
    assert values["RecordsSeen"] == [6]
    assert values["RecordsActivated"] == [3]
    assert values["RecordsRetried"] == [1]  # one partition stopped

    warnings = {(line["partition"], line["offset"]): line for line in logs if line["level"] == "WARNING"}
    assert set(warnings) == {(0, 13), (1, 20), (1, 21)}
    dead = warnings[(0, 13)]
    assert (dead["topic"], dead["outcome"], dead["error"]) == (TOPIC, "dead-lettered", "ExpressionError")
    assert "CORRELATION_KEY_EXPRESSION gave no value" in dead["reason"]
    throttled = warnings[(1, 20)]
    assert (throttled["outcome"], throttled["error"]) == ("held back", "ThrottlingException")
    behind = warnings[(1, 21)]
    assert (behind["outcome"], behind["error"]) == ("held back", "PartitionHeldBack")
    assert "offset 20" in behind["reason"]
    assert all(line["service_version"] == VERSION for line in logs)


def test_started_and_skipped_records_in_start_mode(aws, monkeypatch, capsys):
    machine = aws.pass_machine("on-payment")
    app = load_consumer(
        monkeypatch,
        {
            "CONNECTOR_MODE": "start",
            "STATE_MACHINE_ARN": machine,
            "ACTIVATION_CONDITION": "=value.amount > 0",
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        },
    )
    records = [payment(0, offset, {"orderId": f"o-{offset}", "amount": offset % 3}) for offset in range(7)]
    response, logs, blobs = invoke(app, capsys, lambda_kafka_event(records))
    assert response == {"batchItemFailures": []}
    started = aws.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(started) == 4  # offsets 1, 2, 4, 5
    summary = summary_of(logs)
    assert (summary["records"], summary["started"], summary["skipped"]) == (7, 4, 3)
    values = metric_values(blobs)
    assert values["ExecutionsStarted"] == [4]
    assert values["RecordsSkipped"] == [3]
    assert values["RecordsHeldBack"] == values["RecordsDeadLettered"] == [0]
    assert not [line for line in logs if line["level"] == "WARNING"]


@pytest.mark.parametrize(("ttl", "outcome"), [("0", Outcome.DROPPED), ("60", Outcome.DUPLICATE)])
def test_dropped_and_duplicate_records_are_counted(aws, monkeypatch, capsys, ttl, outcome):
    app = load_consumer(
        monkeypatch,
        {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": "payment",
            "CORRELATION_KEY_EXPRESSION": "=value.orderId",
            "CORRELATION_TABLE": aws.table,
            "MESSAGE_TTL_SECONDS": ttl,
        },
    )
    event = lambda_kafka_event([payment(0, 5, {"orderId": "nobody-waits"})])
    invoke(app, capsys, event)
    _, logs, blobs = invoke(app, capsys, event)  # the same record again, as a redelivery brings it
    summary = summary_of(logs)
    assert summary[field_name(outcome)] == 1
    assert metric_values(blobs)[METRIC_NAMES[outcome]] == [1]
