"""Batch publishing against the real broker: ``messages`` in one invocation (docs/payloads.md).

Every test counts what the topic really holds and reads the records back,
so "acknowledged" in a response or an error is checked against the broker, never against
the connector's own view. Failures mid-batch are made by real means: a message larger
than ``max.request.size`` (kafka-python refuses it in ``send``, before anything is sent)
and an address naming a partition the topic does not have.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.producer import app
from kafka_connector.errors import ConnectorError, ConnectorInputError, KafkaNonRetryableError
from local.context import LocalLambdaContext
from tests.support.kafka import read_records

pytestmark = pytest.mark.timeout(120)


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return app.lambda_handler(event, LocalLambdaContext("producer"))


def batch_event(bootstrap: str, topic: str, messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"topic": {"bootstrapServers": bootstrap, "topicName": topic}, "messages": messages, **fields}


def on_topic(bootstrap: str, topic: str) -> int:
    """How many records the broker holds for ``topic``: all of them read from the start.

    Not end offsets: the embedded broker (Tansu) answers ListOffsets with 1 for any
    non-empty partition. Everything asked about was acknowledged before, so it is readable.
    """
    return len(read_records(bootstrap, topic, count=10**9, timeout=3.0))


def stored(bootstrap: str, topic: str, count: int) -> dict[tuple[int, int], Any]:
    return {(r.partition, r.offset): r for r in read_records(bootstrap, topic, count)}


def body_of(error: ConnectorError) -> dict[str, Any]:
    """The error as Step Functions carries it in the task failure's ``Cause`` (Lambda's errorMessage)."""
    body: dict[str, Any] = json.loads(str(error))
    return body


def test_a_batch_lands_whole_in_the_order_given(bootstrap, topic):
    messages = [{"key": f"k{i}", "value": {"n": i}, "headers": {"seq": str(i)}} for i in range(20)]
    messages[5] = {"value": "to partition 2", "address": f"{topic}#2"}
    messages[6] = {"key": "ignored", "value": "keyed by address", "address": f"{topic}/from-address"}
    response = invoke(batch_event(bootstrap, topic, messages, headers={"source": "batch", "seq": "shared"}))

    records = response["records"]
    assert set(response) == {"records"}
    assert len(records) == 20
    assert on_topic(bootstrap, topic) == 20
    found = stored(bootstrap, topic, 20)
    assert {(r["partition"], r["offset"]) for r in records} == set(found)
    for index, entry in enumerate(records):
        assert set(entry) == {"topic", "partition", "offset", "timestamp"}
        record = found[entry["partition"], entry["offset"]]
        assert (record.topic, record.timestamp) == (entry["topic"], entry["timestamp"])
        if index == 5:
            assert (entry["partition"], record.key, record.value) == (2, None, b"to partition 2")
        elif index == 6:
            assert record.key == b"from-address"
        else:
            assert (record.key, record.value) == (f"k{index}".encode(), b'{"n":%d}' % index)
            # The message's own header replaces the shared one of the same name; the others stay.
            assert record.headers == [("source", b"batch"), ("seq", str(index).encode())]


def test_one_message_too_large_fails_alone_and_the_error_says_exactly_which(bootstrap, topic):
    messages = [{"key": f"k{i}", "value": f"v{i}"} for i in range(10)]
    messages[3] = {"key": "big", "value": "x" * 5000}
    with pytest.raises(KafkaNonRetryableError) as caught:
        invoke(batch_event(bootstrap, topic, messages, additionalProperties={"max.request.size": 2000}))

    body = body_of(caught.value)
    assert body["error"] == "KafkaNonRetryableError"
    assert body["failed"] == [3]
    assert body["retryable"] == []
    assert body["acknowledged"] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert "max.request.size" in body["errors"][0]["message"]  # Kafka's name, not kafka-python's
    assert body["errors"][0]["first"] == 3
    # What the error calls acknowledged is exactly what the topic holds.
    assert on_topic(bootstrap, topic) == len(body["acknowledged"])
    values = sorted(r.value for r in read_records(bootstrap, topic, 9))
    assert values == sorted(f"v{i}".encode() for i in body["acknowledged"])


def test_an_unknown_partition_mid_batch_is_an_input_error_for_that_message(bootstrap, topic):
    messages = [{"value": f"v{i}"} for i in range(6)]
    messages[4] = {"value": "nowhere", "address": f"{topic}#7"}
    with pytest.raises(ConnectorInputError) as caught:
        invoke(batch_event(bootstrap, topic, messages))
    body = body_of(caught.value)
    assert body["status"] == 400
    assert (body["acknowledged"], body["failed"]) == ([0, 1, 2, 3, 5], [4])
    assert body["errors"][0]["message"] == f"partition 7 is not in topic '{topic}'"
    assert on_topic(bootstrap, topic) == 5
    assert sorted(r.value for r in read_records(bootstrap, topic, 5)) == [b"v0", b"v1", b"v2", b"v3", b"v5"]


def test_retrying_only_the_failed_indexes_completes_the_batch_once(bootstrap, topic):
    """What the example state machine does after a partial failure: publish the failed ones again."""
    messages = [{"value": f"v{i}"} for i in range(8)]
    broken = [*messages]
    broken[2] = broken[6] = {"value": "x", "address": f"{topic}#9"}
    with pytest.raises(ConnectorInputError) as caught:
        invoke(batch_event(bootstrap, topic, broken))
    failed = body_of(caught.value)["failed"]
    assert failed == [2, 6]
    invoke(batch_event(bootstrap, topic, [messages[i] for i in failed]))
    assert on_topic(bootstrap, topic) == 8
    assert sorted(r.value for r in read_records(bootstrap, topic, 8)) == [f"v{i}".encode() for i in range(8)]


def test_debug_batch_lists_sizes_per_record_and_the_properties_once(bootstrap, topic):
    response = invoke(
        batch_event(bootstrap, topic, [{"key": "abc", "value": "12345"}, {"value": "1"}], debug=True)
    )
    assert [(r["serializedKeySize"], r["serializedValueSize"]) for r in response["records"]] == [
        (3, 5),
        (-1, 1),
    ]
    assert response["properties"]["bootstrap.servers"] == bootstrap
    assert "key.serializer" in response["ignoredProperties"]


def test_a_one_message_batch_still_answers_with_records(bootstrap, topic):
    response = invoke(batch_event(bootstrap, topic, [{"value": "only"}]))
    assert list(response) == ["records"]
    assert len(response["records"]) == 1
    assert on_topic(bootstrap, topic) == 1


def test_an_invalid_message_refuses_the_whole_batch_before_anything_is_sent(bootstrap, topic):
    messages = [{"value": f"v{i}"} for i in range(5)]
    messages[3] = {"key": "no value"}
    with pytest.raises(ConnectorInputError, match=r"'messages\[3\]\.value' is required"):
        invoke(batch_event(bootstrap, topic, messages))
    assert on_topic(bootstrap, topic) == 0


def test_a_batch_error_never_carries_a_credential(bootstrap, topic, capsys):
    from tests.support.leaks import leaks

    password, user = "batch-typed-pa55word-77", "batch-user-name-77"
    messages = [{"value": "small"}, {"value": "x" * 5000}]
    event = batch_event(
        bootstrap,
        topic,
        messages,
        authentication={"username": user, "password": password},
        # No SASL on the embedded broker: the credentials are configured, then the protocol overridden.
        additionalProperties={"security.protocol": "PLAINTEXT", "max.request.size": 2000},
    )
    with pytest.raises(KafkaNonRetryableError) as caught:
        invoke(event)
    assert body_of(caught.value)["failed"] == [1]
    captured = capsys.readouterr()
    outputs = {"error": str(caught.value), "stdout": captured.out, "stderr": captured.err}
    assert leaks({"password": password, "username": user}, outputs) == []


def test_avro_batch_every_record_decodes_with_the_schema(bootstrap, topic):
    import io

    import fastavro

    from tests.support.samples import SAMPLE_SCHEMA, SAMPLE_VALUE

    values = [{**SAMPLE_VALUE, "age": age} for age in range(5)]
    response = invoke(
        batch_event(
            bootstrap,
            topic,
            [{"key": f"k{i}", "value": value} for i, value in enumerate(values)],
            serializationType="avro",
            avro={"schema": SAMPLE_SCHEMA, "wireFormat": "confluent", "schemaId": 12},
        )
    )
    found = stored(bootstrap, topic, 5)
    parsed = fastavro.parse_schema(SAMPLE_SCHEMA)
    for index, entry in enumerate(response["records"]):
        body = found[entry["partition"], entry["offset"]].value
        assert body[:5] == b"\x00\x00\x00\x00\x0c"
        assert fastavro.schemaless_reader(io.BytesIO(body[5:]), parsed, None) == values[index]
