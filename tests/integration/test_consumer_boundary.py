"""The consumer's boundary, one rule at a time (docs/outcomes.md, G7), against moto.

Each test plants one kind of record and reads what AWS shows afterwards: the partial batch
response, the dead-letter queue's messages, executions' status, input and output, and the
WARNING line each dead-lettered or held-back record must leave. They are also the tests that
catch the planted bugs listed in the report of this change: an expression error taken for
"condition not met", an empty key, execution names that change across cold starts, sizes
counted in characters, Glue's zlib body not inflated, an empty value taken for a tombstone,
NaN passed on to Step Functions.
"""

import io
import json
import logging
import os
import subprocess
import sys
import uuid
import zlib

import fastavro
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.exceptions import (
    PermanentRecordError,
    Rejected,
    TransientAwsError,
    TransientRecordError,
    UnexpectedError,
    sort_failure,
)
from kafka_connector.inbound.step_functions import execution_name
from kafka_connector.limits import MAX_STEP_FUNCTIONS_PAYLOAD_BYTES
from local.context import LocalLambdaContext
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.aws import register_glue_schema
from tests.support.cold_start import reloaded

TOPIC = "payments"


def record(offset, value, partition=0, key=b"k", headers=(("source", b"psp"),)):
    return KafkaRecord(TOPIC, partition, offset, value, key, list(headers), 1732190000000)


def event(*records):
    return lambda_kafka_event(records)


def strict(text):
    def refuse(constant):
        raise AssertionError(f"{constant} reached Step Functions: not JSON to any other parser")

    return json.loads(text, parse_constant=refuse)


def failed(*offsets, partition=0):
    return {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": f"{TOPIC}-{partition}", "offset": offset}} for offset in offsets
        ]
    }


def outcome_lines(caplog, outcome):
    return {
        (r.partition, r.offset): r
        for r in caplog.records
        if r.levelno == logging.WARNING and getattr(r, "outcome", None) == outcome
    }


def start_consumer(aws, make_consumer, **env):
    machine = aws.pass_machine(env.pop("machine_name", "boundary"))
    return machine, make_consumer(CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine, **env)


def executions(aws, machine):
    return {
        e["name"]: e["executionArn"] for e in aws.sfn.list_executions(stateMachineArn=machine)["executions"]
    }


# -- expressions that fail on a record are that record's ExpressionError, never "not met" -------------


@pytest.mark.parametrize(
    ("variable", "expression"),
    [
        ("ACTIVATION_CONDITION", "=$number(value.amount) > 0"),
        ("ACTIVATION_CONDITION", "=value.amount > 0"),  # a string against a number: T2009
        ("MESSAGE_ID_EXPRESSION", '=$number(value.amount) & ""'),
        ("RESULT_EXPRESSION", '={"n": $number(value.amount)}'),
    ],
)
def test_an_expression_that_raises_on_a_record_dead_letters_it(aws, make_consumer, variable, expression):
    machine, consumer = start_consumer(aws, make_consumer, **{variable: expression})
    batch = event(
        record(0, b'{"orderId": "o-1", "amount": 5}'),
        record(1, b'{"orderId": "o-2", "amount": "five"}'),
        record(2, b'{"orderId": "o-3", "amount": 7}'),
    )
    assert consumer.handle(batch) == failed()
    [dead] = aws.dead_letters()
    assert (dead["offset"], dead["error"]) == (1, "ExpressionError")
    assert variable in dead["reason"]
    assert len(executions(aws, machine)) == 2


@pytest.mark.parametrize(
    ("key_expression", "value", "key"),
    [
        ("=value.orderId", b'{"orderId": ""}', b"k"),
        ("=value.orderId", b'{"orderId": null}', b"k"),
        ("=value.orderId", b'{"amount": 1}', b"k"),
        ("=key", b"{}", b'""'),  # the key bytes are the JSON text of an empty string
        ("=key", b"{}", None),
    ],
)
def test_an_empty_or_missing_correlation_key_is_dead_lettered(aws, make_consumer, key_expression, value, key):
    arn, _ = aws.start_waiting("empty-key")
    consumer = make_consumer(CORRELATION_KEY_EXPRESSION=key_expression, MESSAGE_TTL_SECONDS=60)
    assert consumer.handle(event(record(4, value, key=key))) == failed()
    [dead] = aws.dead_letters()
    assert (dead["offset"], dead["error"]) == (4, "ExpressionError")
    assert "CORRELATION_KEY_EXPRESSION gave no value" in dead["reason"]
    assert [i for i in aws.items() if i["pk"]["S"].startswith("msg#")] == []  # nothing buffered
    assert aws.status(arn) == "RUNNING"


# -- numeric correlation keys: one canonical text on both sides ----------------------------------------


@pytest.mark.parametrize(
    ("subscribed", "in_record"),
    [
        (1.0, b"1"),
        (1, b"1.0"),
        (1, b"1e0"),
        (1234567890123456789, b"1234567890123456789"),
        ("1234567890123456789", b"1234567890123456789"),
        (2.5, b"25e-1"),
    ],
)
def test_numeric_keys_meet_whatever_their_spelling(
    aws, make_consumer, subscribe_handler, subscribed, in_record
):
    arn, token = aws.start_waiting("numeric")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": subscribed})
    value = b'{"orderId": ' + in_record + b', "amount": 3}'
    assert make_consumer().handle(event(record(0, value))) == failed()
    assert aws.output(arn)["message"]["offset"] == 0


def test_neighbouring_64_bit_ids_do_not_meet(aws, make_consumer, subscribe_handler):
    arn, token = aws.start_waiting("big-id")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": 1234567890123456789})
    consumer = make_consumer()
    assert consumer.handle(event(record(0, b'{"orderId": 1234567890123456790}'))) == failed()
    assert aws.status(arn) == "RUNNING"  # 1234567890123456790 is another id, not the same double
    assert consumer.handle(event(record(1, b'{"orderId": 1234567890123456789}'))) == failed()
    assert aws.output(arn)["message"]["offset"] == 1


# -- start mode: execution names are the same in every process -------------------------------------------

FIXED_NAMES = {
    "payments-0-7": "payments-0-7",
    "order/o-50": "order_o-50-865899256ae61d3121668b9a7ad9e8a4",
    "café#1": "caf__1-5b4f01a787b600b1ad8e9e186a463478",
    "x" * 81: "x" * 47 + "-4d1f7bb876c6aae013f06a7430b8c654",
}


def test_execution_names_are_fixed_functions_of_the_message_id():
    for message_id, name in FIXED_NAMES.items():
        assert execution_name(message_id) == name


def test_execution_names_are_the_same_across_cold_starts():
    """Two fresh interpreters with different hash seeds: a per-process hash would differ."""
    script = (
        "import json,sys; from kafka_connector.inbound.step_functions import execution_name;"
        "print(json.dumps([execution_name(m) for m in json.loads(sys.argv[1])]))"
    )
    names = []
    for seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": "layers/kafka_connector"}
        done = subprocess.run(
            [sys.executable, "-c", script, json.dumps(list(FIXED_NAMES))],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        )
        names.append(json.loads(done.stdout))
    assert names[0] == names[1] == list(FIXED_NAMES.values())


def test_started_executions_carry_the_fixed_names(aws, make_consumer):
    machine, consumer = start_consumer(aws, make_consumer, MESSAGE_ID_EXPRESSION="=value.id")
    batch = event(record(0, b'{"id": "order/o-50"}'), record(1, '{"id": "café#1"}'.encode()))
    assert consumer.handle(batch) == failed()
    assert consumer.handle(batch) == failed()  # redelivered: the same names, nothing new
    assert set(executions(aws, machine)) == {FIXED_NAMES["order/o-50"], FIXED_NAMES["café#1"]}


# -- sizes: 256 KiB of UTF-8 bytes, not characters ---------------------------------------------------------


def exactly(size_in_bytes):
    """A record whose result (RESULT_EXPRESSION=value) is ``size_in_bytes`` of UTF-8, mostly 2-byte é."""
    frame = len(json.dumps({"note": ""}, separators=(",", ":")))
    room = size_in_bytes - frame
    text = "é" * (room // 2) + "x" * (room % 2)
    value = json.dumps({"note": text}, ensure_ascii=False)
    assert (
        len(json.dumps({"note": text}, separators=(",", ":"), ensure_ascii=False).encode()) == size_in_bytes
    )
    assert len(value) < MAX_STEP_FUNCTIONS_PAYLOAD_BYTES * 0.6  # far under the limit in characters
    return value.encode()


def test_start_mode_counts_the_payload_in_bytes(aws, make_consumer):
    machine, consumer = start_consumer(aws, make_consumer, RESULT_EXPRESSION="=value")
    at_limit = record(0, exactly(MAX_STEP_FUNCTIONS_PAYLOAD_BYTES))
    one_over = record(1, exactly(MAX_STEP_FUNCTIONS_PAYLOAD_BYTES + 1))
    assert consumer.handle(event(at_limit, one_over)) == failed()
    assert set(executions(aws, machine)) == {f"{TOPIC}-0-0"}
    [dead] = aws.dead_letters()
    assert (dead["offset"], dead["error"]) == (1, "KafkaMessageTooLarge")
    assert str(MAX_STEP_FUNCTIONS_PAYLOAD_BYTES + 1) in dead["reason"]


def test_correlate_mode_counts_the_payload_in_bytes(aws, make_consumer, subscribe_handler):
    over, over_token = aws.start_waiting("over")
    at, at_token = aws.start_waiting("at")
    subscribe_handler({"taskToken": over_token, "messageName": "payment", "correlationKey": "k-over"})
    subscribe_handler({"taskToken": at_token, "messageName": "payment", "correlationKey": "k-at"})
    consumer = make_consumer(CORRELATION_KEY_EXPRESSION="=key", RESULT_EXPRESSION="=value")
    batch = event(
        record(0, exactly(MAX_STEP_FUNCTIONS_PAYLOAD_BYTES + 1), key=b"k-over"),
        record(1, json.dumps({"note": "a" * 200_000}).encode(), key=b"k-at"),
    )
    assert consumer.handle(batch) == failed()
    described = aws.wait_finished(over)
    assert (described["status"], described.get("error")) == ("FAILED", "KafkaMessageTooLarge")
    # Under the limit: sent. (ASCII: moto measures a state's data with é escaped as \u00e9.)
    assert aws.output(at)["message"] == {"note": "a" * 200_000}
    [dead] = aws.dead_letters()
    assert (dead["offset"], dead["error"]) == (0, "KafkaMessageTooLarge")


# -- what reaches Step Functions is strict JSON; what cannot be sent is dead-lettered before any hand-over --


def test_nan_and_infinity_reach_the_workflow_as_text(aws, make_consumer, subscribe_handler):
    arn, token = aws.start_waiting("nan")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-nan"})
    value = b'{"orderId": "o-nan", "amount": NaN, "limits": [Infinity, -Infinity], "big": 1e400}'
    assert make_consumer(INCLUDE_RAW_VALUE="true").handle(event(record(0, value))) == failed()
    described = aws.wait_finished(arn)
    assert described["status"] == "SUCCEEDED", described
    message = strict(described["output"])["message"]
    assert message["value"] == {
        "orderId": "o-nan",
        "amount": "NaN",
        "limits": ["Infinity", "-Infinity"],
        "big": "Infinity",
    }
    assert message["rawValue"] == value.decode()


def test_nan_in_start_mode_is_strict_json_input(aws, make_consumer):
    machine, consumer = start_consumer(aws, make_consumer)
    assert consumer.handle(event(record(0, b'{"amount": NaN}'))) == failed()
    [arn] = executions(aws, machine).values()
    assert strict(aws.sfn.describe_execution(executionArn=arn)["input"])["value"] == {"amount": "NaN"}


def test_empty_value_and_tombstone_reach_the_workflow_apart(aws, make_consumer):
    machine, consumer = start_consumer(aws, make_consumer)
    assert consumer.handle(event(record(0, b""), record(1, None))) == failed()
    by_name = executions(aws, machine)
    inputs = {n: strict(aws.sfn.describe_execution(executionArn=a)["input"]) for n, a in by_name.items()}
    assert (inputs[f"{TOPIC}-0-0"]["value"], inputs[f"{TOPIC}-0-0"]["rawValue"]) == ("", "")
    assert (inputs[f"{TOPIC}-0-1"]["value"], inputs[f"{TOPIC}-0-1"]["rawValue"]) == (None, None)


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (
            b'{"orderId": "o-s", "note": "cut \\ud83d"}',
            None,
        ),  # JSON.stringify of a string cut inside an emoji
        (b'{"orderId": "o-s"}', [{"\ud83d": [104]}]),  # a header name that is not valid text
        (b'{"orderId": "o-s"}', [{"h": "not bytes"}]),
        (b'{"orderId": "o-s"}', {"h": [104]}),
    ],
)
def test_what_cannot_be_delivered_is_dead_lettered_before_any_hand_over(
    aws, make_consumer, subscribe_handler, value, headers
):
    arn, token = aws.start_waiting("surrogate")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-s"})
    poison = lambda_kafka_event([record(0, value)])
    if headers is not None:
        poison["records"][f"{TOPIC}-0"][0]["headers"] = headers
    consumer = make_consumer(MESSAGE_TTL_SECONDS=60)
    assert consumer.handle(poison) == failed()  # not held back, retried for ever
    [dead] = aws.dead_letters()
    assert (dead["offset"], dead["error"]) == (0, "UndecodableRecord")
    # Nothing was claimed: the next record for the key reaches the waiting execution at once.
    assert consumer.handle(event(record(1, b'{"orderId": "o-s"}'))) == failed()
    assert aws.output(arn)["message"]["offset"] == 1


# -- Glue framing ------------------------------------------------------------------------------------------

GLUE_SCHEMA = {
    "type": "record",
    "name": "Payment",
    "fields": [
        {"name": "orderId", "type": "string"},
        {"name": "blob", "type": "bytes"},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    ],
}


def glue_value(version, order_id, *, compress):
    import datetime

    buffer = io.BytesIO()
    fastavro.schemaless_writer(
        buffer,
        fastavro.parse_schema(GLUE_SCHEMA),
        {"orderId": order_id, "blob": b"\x00\x01", "day": datetime.date(2024, 11, 21)},
    )
    body = zlib.compress(buffer.getvalue()) if compress else buffer.getvalue()
    return bytes((3, 5 if compress else 0)) + uuid.UUID(version).bytes + body


def test_glue_frames_zlib_or_not_are_delivered_and_a_missing_version_is_dead_lettered(
    aws, make_consumer, subscribe_handler
):
    version = register_glue_schema("payments", "payment", GLUE_SCHEMA)
    waiting = {}
    for key in ("o-zlib", "o-plain"):
        arn, token = aws.start_waiting(key)
        subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": key})
        waiting[key] = arn
    batch = event(
        record(0, glue_value(version, "o-zlib", compress=True)),
        record(1, glue_value(str(uuid.uuid4()), "o-plain", compress=False)),  # no such version
        record(2, bytes((3, 5)) + uuid.uuid4().bytes + b"not zlib"),
        record(3, glue_value(version, "o-plain", compress=False)),
    )
    assert make_consumer().handle(batch) == failed()
    assert aws.output(waiting["o-zlib"])["message"]["value"] == {
        "orderId": "o-zlib",
        "blob": "AAE=",
        "day": "2024-11-21",
    }
    assert aws.output(waiting["o-plain"])["message"]["offset"] == 3
    assert sorted((d["offset"], d["error"]) for d in aws.dead_letters()) == [
        (1, "UndecodableRecord"),
        (2, "UndecodableRecord"),
    ]


def test_glue_unreachable_holds_the_partition_back_at_that_record(aws, make_consumer, monkeypatch, caplog):
    """A network failure is transient: that record and the rest of its partition wait; others go on."""
    from kafka_connector.aws import clients as aws_clients

    monkeypatch.setenv("AWS_ENDPOINT_URL_GLUE", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    aws_clients.client.cache_clear()
    machine, consumer = start_consumer(aws, make_consumer)
    batch = event(
        record(0, b'{"n": 0}'),
        record(1, glue_value(str(uuid.uuid4()), "o-1", compress=False)),
        record(2, b"\xff not even text"),  # would be started, but waits behind offset 1
        record(5, b'{"n": 5}', partition=1),
    )
    assert consumer.handle(batch) == failed(1, 2)
    assert set(executions(aws, machine)) == {f"{TOPIC}-0-0", f"{TOPIC}-1-5"}
    assert aws.dead_letters() == []
    held = outcome_lines(caplog, "held back")
    assert set(held) == {(0, 1), (0, 2)}
    assert held[(0, 1)].error == "EndpointConnectionError"
    assert "Glue GetSchemaVersion" in held[(0, 1)].reason
    assert held[(0, 2)].error == "PartitionHeldBack"
    assert "offset 1" in held[(0, 2)].reason


# -- held back: every one is logged at WARNING with its code and reason --------------------------------------


def test_a_missing_state_machine_holds_records_back_with_a_logged_reason(aws, make_consumer, caplog):
    consumer = make_consumer(
        CONNECTOR_MODE="start", STATE_MACHINE_ARN=aws.pass_machine("gone").replace("gone", "never-made")
    )
    batch = event(record(0, b"{}"), record(1, b"{}"), record(2, b"{}", partition=1))
    assert consumer.handle(batch) == {
        "batchItemFailures": [
            {"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": 0}},
            {"itemIdentifier": {"partition": f"{TOPIC}-0", "offset": 1}},
            {"itemIdentifier": {"partition": f"{TOPIC}-1", "offset": 2}},
        ]
    }
    held = outcome_lines(caplog, "held back")
    assert set(held) == {(0, 0), (0, 1), (1, 2)}
    first = held[(0, 0)]
    assert first.error == "StateMachineDoesNotExist"
    assert "StartExecution" in first.reason
    assert first.getMessage() == f"record {TOPIC}-0@0 held back: StateMachineDoesNotExist: {first.reason}"
    assert (first.topic, first.partition, first.offset) == (TOPIC, 0, 0)
    assert held[(0, 1)].error == "PartitionHeldBack"
    assert held[(1, 2)].error == "StateMachineDoesNotExist"


def test_a_dead_letter_queue_that_refuses_holds_the_record_back_with_a_logged_reason(
    aws, make_consumer, caplog
):
    consumer = make_consumer(DEAD_LETTER_QUEUE_URL=aws.dlq_url + "-missing")
    assert consumer.handle(event(record(3, b"{}"))) == failed(3)
    [line] = outcome_lines(caplog, "held back").values()
    assert line.error  # SQS's own code for a missing queue
    assert "dead-letter queue" in line.reason


def test_dead_lettered_records_are_logged_at_warning(aws, make_consumer, caplog):
    assert make_consumer().handle(event(record(8, b"{}"))) == failed()
    [line] = outcome_lines(caplog, "dead-lettered").values()
    assert (line.offset, line.error) == (8, "ExpressionError")
    assert aws.dead_letters()[0]["reason"] == line.reason


# -- the function's boundary ----------------------------------------------------------------------


@pytest.fixture
def consumer_function(aws, monkeypatch):
    """functions/consumer/app.py after a cold start against this test's table and queue."""
    env = {
        "CONNECTOR_MODE": "correlate",
        "MESSAGE_NAME": "payment",
        "CORRELATION_KEY_EXPRESSION": "=value.orderId",
        "CORRELATION_TABLE": aws.table,
        "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        "MESSAGE_TTL_SECONDS": "60",
    }
    app = reloaded(monkeypatch, "functions.consumer.app", env)
    return lambda event: app.lambda_handler(event, LocalLambdaContext("consumer"))


def test_the_function_answers_every_batch_of_records_with_a_partial_response(aws, consumer_function):
    poison = [
        record(0, b'{"orderId": "o-1", "note": "\\ud83d"}'),
        record(1, b"[" * 100_000 + b"]" * 100_000),
        record(2, bytes((3, 5)) + uuid.uuid4().bytes + b"garbage"),
        record(3, b'{"orderId": "o-4", "amount": NaN}'),
    ]
    assert consumer_function(event(*poison)) == failed()
    assert sorted(d["offset"] for d in aws.dead_letters()) == [0, 1, 2]


@pytest.mark.parametrize("not_an_event", [{}, {"Records": []}, {"records": {"t-0": [{"topic": "t"}]}}, []])
def test_the_function_refuses_only_what_is_not_a_kafka_event(consumer_function, not_an_event):
    with pytest.raises(ConnectorInputError, match="not a Kafka event"):
        consumer_function(not_an_event)


# -- how an exception raised while handling a record is sorted ------------------------------------


def client_error(code):
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "Operation")


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (ValueError("a defect or unforeseen input"), UnexpectedError, "UnexpectedError"),
        (RecursionError("deep"), UnexpectedError, "UnexpectedError"),
        (KeyError("field"), UnexpectedError, "UnexpectedError"),
        (client_error("ValidationException"), Rejected, "Rejected"),
        (client_error("ThrottlingException"), TransientAwsError, "ThrottlingException"),
        (client_error("AccessDeniedException"), TransientAwsError, "AccessDeniedException"),
        (EndpointConnectionError(endpoint_url="http://x"), TransientAwsError, "EndpointConnectionError"),
        (ConnectionResetError("reset"), TransientRecordError, "ConnectionResetError"),
        (MemoryError(), TransientRecordError, "MemoryError"),
    ],
)
def test_unexpected_exceptions_are_sorted_by_what_caused_them(error, kind, code):
    sorted_error = sort_failure(error)
    assert type(sorted_error) is kind
    assert sorted_error.error == code
    if isinstance(sorted_error, PermanentRecordError):
        assert type(error).__name__ in str(sorted_error) or "ValidationException" in str(sorted_error)
