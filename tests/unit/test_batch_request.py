"""``messages`` validated like ``message``, per element with its index; the batch error's shape and size.

No broker: everything here is refused (or encoded) before a connection would be made.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kafka_connector.errors import (
    ConnectorError,
    ConnectorInputError,
    KafkaNonRetryableError,
    KafkaRetryableError,
)
from kafka_connector.limits import MAX_TASK_FAILURE_CAUSE_CHARS
from kafka_connector.outbound.batch import batch_failure
from kafka_connector.outbound.publisher import Acknowledgement
from kafka_connector.outbound.request import MAX_BATCH_MESSAGES, ProducerRequest

LONE = "\ud83d"


def payload(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"topic": {"bootstrapServers": "127.0.0.1:9092", "topicName": "orders"}}
    return base | fields


def refused(event: dict[str, Any]) -> str:
    with pytest.raises(ConnectorInputError) as caught:
        ProducerRequest.from_event(event)
    return caught.value.message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"message": {"value": 1}, "messages": [{"value": 1}]},
            "give either 'message' or 'messages', not both",
        ),
        ({"messages": []}, "'messages' must hold at least one message"),
        ({"messages": {"value": 1}}, "'messages' must be a list of message objects"),
        ({"messages": [{"value": 1}, "text"]}, "'messages[1]' must be an object with 'value'"),
        (
            {"messages": [{"value": 1}, {"value": 2}, {"value": 3}, {"key": "k"}]},
            "'messages[3].value' is required",
        ),
        ({"messages": [{"value": 1}, {"value": 2, "address": "orders#x"}]}, "'messages[1].address' needs"),
        (
            {"messages": [{"value": 1}, {"value": 2, "address": "bad topic"}]},
            "'messages[1].address' is not a valid",
        ),
        (
            {"messages": [{"value": 1}, {"value": 2, "headers": {"h": 1}}]},
            "'messages[1].headers.h' must be a string",
        ),
        (
            {"messages": [{"value": 1}, {"value": 2, "headers": "h"}]},
            "'messages[1].headers' must be an object",
        ),
        (
            {"messages": [{"value": 1}, {"value": 2}, {"value": 3, "key": float("nan")}]},
            "'messages[2].key' holds NaN",
        ),
        ({"messages": [{"value": {"n": float("inf")}}]}, "'messages[0].value' holds NaN or Infinity"),
        (
            {"messages": [{"value": 1}, {"value": {"note": LONE}}]},
            "'messages[1].value.note' is not valid Unicode",
        ),
        ({"messages": [{"value": 1}] * (MAX_BATCH_MESSAGES + 1)}, "at most 1000 per invocation"),
        ({"message": {"value": 1}, "idempotencyKey": " "}, "'idempotencyKey' must be a non-empty string"),
        ({"message": {"value": 1}, "idempotencyKey": 7}, "'idempotencyKey' must be a non-empty string"),
    ],
)
def test_bad_batches_are_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    assert message in refused(payload(**fields))


def test_every_message_needs_a_destination() -> None:
    event = {
        "topic": {"bootstrapServers": "127.0.0.1:9092"},
        "messages": [{"value": 1, "address": "a"}, {"value": 2}],
    }
    assert "'messages[1].address') is required" in refused(event)
    accepted = ProducerRequest.from_event(
        {**event, "messages": [{"value": 1, "address": "a#2"}, {"value": 2, "address": "b/k"}]}
    )
    assert [(r.topic, r.partition, r.key) for r in accepted.records] == [("a", 2, None), ("b", None, b"k")]


def test_avro_messages_name_their_index() -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "id", "type": "string"}]}
    event = payload(
        serializationType="avro",
        avro={"schema": schema},
        messages=[{"value": {"id": "1"}}, {"value": {"id": 2}}],
    )
    assert "'messages[1].value' does not fit the Avro schema" in refused(event)
    good = ProducerRequest.from_event({**event, "messages": [{"value": {"id": "1"}}, {"value": {"id": "2"}}]})
    assert [r.value for r in good.records] == [b"\x021", b"\x022"]


def test_single_and_batch_take_the_same_per_message_path() -> None:
    message = {"key": {"id": 7}, "value": {"a": 1}, "headers": {"h": "own", "x": "y"}}
    single = ProducerRequest.from_event(payload(message=message, headers={"h": "shared", "s": "t"}))
    batch = ProducerRequest.from_event(payload(messages=[message], headers={"h": "shared", "s": "t"}))
    assert single.records == batch.records
    assert (single.batch, batch.batch) == (False, True)
    assert single.headers == [("s", b"t"), ("h", b"own"), ("x", b"y")]
    assert single.key == b'{"id":7}'


def test_the_idempotency_payload_is_what_is_published_and_never_the_configuration() -> None:
    event = payload(
        messages=[{"value": 1}],
        headers={"a": "b"},
        authentication={"username": "u", "password": "typed-in-password"},
        additionalProperties={"sasl.jaas.config": "x password='p'", "acks": "all"},
        debug=True,
        idempotencyKey="exec-1-Publish",
        ignoredField="whatever",
    )
    request = ProducerRequest.from_event(event)
    assert request.idempotency_key == "exec-1-Publish"
    assert request.idempotency_payload == {
        "messages": [{"value": 1}],
        "headers": {"a": "b"},
        "topic": {"topicName": "orders", "bootstrapServers": "127.0.0.1:9092"},
    }
    assert ProducerRequest.from_event(payload(messages=[{"value": 1}])).idempotency_payload is None


def acknowledgement(index: int) -> Acknowledgement:
    return Acknowledgement("orders", index % 3, index, 1732190000000, 3, 10)


def lambda_cause(error: ConnectorError) -> str:
    """The Cause Step Functions gets for a Lambda error: Lambda's error object, as JSON text."""
    frames = ['  File "/var/task/app.py", line 40, in lambda_handler\n'] * 12
    return json.dumps(
        {"errorMessage": str(error), "errorType": error.error, "requestId": "x" * 36, "stackTrace": frames}
    )


def test_the_batch_error_names_every_index_and_its_kind() -> None:
    outcomes: list[Acknowledgement | ConnectorError] = [acknowledgement(i) for i in range(6)]
    outcomes[1] = KafkaRetryableError("RequestTimedOutError")
    outcomes[4] = KafkaNonRetryableError("MessageSizeTooLargeError: too big")
    outcomes[5] = KafkaRetryableError("RequestTimedOutError")
    error = batch_failure(outcomes)
    assert isinstance(error, KafkaNonRetryableError)  # one failure no retry can fix decides the name
    body = json.loads(str(error))
    assert (body["acknowledged"], body["failed"], body["retryable"]) == ([0, 2, 3], [1, 4, 5], [1, 5])
    assert [(e["error"], e["count"], e["first"]) for e in body["errors"]] == [
        ("KafkaRetryableError", 2, 1),
        ("KafkaNonRetryableError", 1, 4),
    ]
    assert body["message"].startswith(
        "3 of 6 messages were not acknowledged; messages[4]: MessageSizeTooLargeError"
    )
    only_retryable = batch_failure([acknowledgement(0), KafkaRetryableError("timeout")])
    assert isinstance(only_retryable, KafkaRetryableError)
    assert json.loads(str(only_retryable))["retryable"] == [1]


@pytest.mark.parametrize("acknowledged_share", [0, 1, MAX_BATCH_MESSAGES - 1])
def test_the_largest_batch_error_fits_a_step_functions_cause(acknowledged_share: int) -> None:
    """1,000 messages, each failure with its own long message: the cause stays under 32,768 characters."""
    outcomes: list[Acknowledgement | ConnectorError] = [
        acknowledgement(i)
        if i < acknowledged_share
        else KafkaRetryableError(f"partition {i} said 'no' " + "x" * 400)
        for i in range(MAX_BATCH_MESSAGES)
    ]
    error = batch_failure(outcomes)
    assert len(lambda_cause(error)) <= MAX_TASK_FAILURE_CAUSE_CHARS
    body = json.loads(json.loads(lambda_cause(error))["errorMessage"])
    assert len(body["acknowledged"]) + len(body["failed"]) == MAX_BATCH_MESSAGES


def test_a_batch_error_survives_pickling_with_its_indexes() -> None:
    import pickle

    error = batch_failure([acknowledgement(0), KafkaRetryableError("timeout")])
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy)) == (type(error), str(error))
