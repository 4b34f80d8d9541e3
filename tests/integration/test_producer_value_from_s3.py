"""``message.valueFromS3``: values larger than a workflow can carry, from moto S3 to the real broker."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import fastavro
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from functions.producer import app
from kafka_connector.aws import clients as aws_clients
from kafka_connector.errors import ConnectorInputError, KafkaRetryableError
from kafka_connector.limits import MAX_STEP_FUNCTIONS_PAYLOAD_BYTES
from local.context import LocalLambdaContext
from tests.support.aws import on_call
from tests.support.kafka import read_one

BUCKET = "kafka-values"
SCHEMA = {
    "type": "record",
    "name": "Export",
    "fields": [
        {"name": "orderId", "type": "string"},
        {"name": "lines", "type": {"type": "array", "items": "string"}},
    ],
}


@pytest.fixture
def s3() -> Iterator[Any]:
    aws_clients.client.cache_clear()
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
    aws_clients.client.cache_clear()


def publish(bootstrap: str, topic: str, source: Any, **extra: Any) -> dict[str, Any]:
    event = {
        "topic": {"bootstrapServers": bootstrap, "topicName": topic},
        "message": {"key": "export-1", "valueFromS3": source},
        **extra,
    }
    return app.lambda_handler(event, LocalLambdaContext("producer"))


def landed(bootstrap: str, response: dict[str, Any]) -> bytes:
    record = read_one(bootstrap, response["topic"], response["partition"], response["offset"])
    assert record.key == b"export-1"
    return bytes(record.value)


def big_document(lines: int = 6000) -> dict[str, Any]:
    """About 100 bytes of JSON a line."""
    return {"orderId": "o-17", "lines": [f"line {i:06d} " + "x" * 90 for i in range(lines)]}


def test_a_value_larger_than_a_workflow_can_carry_is_published(s3, bootstrap, topic):
    document = big_document()
    s3.put_object(Bucket=BUCKET, Key="exports/o-17.json", Body=json.dumps(document, indent=2).encode())
    response = publish(
        bootstrap,
        topic,
        {"bucket": BUCKET, "key": "exports/o-17.json"},
        additionalProperties={"max.request.size": 2 * 1024 * 1024},
    )
    value = landed(bootstrap, response)
    assert len(value) > 2 * MAX_STEP_FUNCTIONS_PAYLOAD_BYTES
    assert value == json.dumps(document, separators=(",", ":")).encode()  # compact, as message.value


def test_a_json_string_object_is_published_as_its_text(s3, bootstrap, topic):
    s3.put_object(Bucket=BUCKET, Key="note.json", Body=b'"plain text"')
    assert (
        landed(bootstrap, publish(bootstrap, topic, {"bucket": BUCKET, "key": "note.json"})) == b"plain text"
    )


def test_avro_encodes_the_objects_json(s3, bootstrap, topic):
    document = {"orderId": "o-17", "lines": ["a", "b"]}
    s3.put_object(Bucket=BUCKET, Key="o.json", Body=json.dumps(document).encode())
    response = publish(
        bootstrap,
        topic,
        {"bucket": BUCKET, "key": "o.json"},
        serializationType="avro",
        avro={"schema": SCHEMA},
    )
    decoded = fastavro.schemaless_reader(
        io.BytesIO(landed(bootstrap, response)), fastavro.parse_schema(SCHEMA)
    )
    assert decoded == document


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({"value": 1, "valueFromS3": {"bucket": BUCKET, "key": "k"}}, "either 'message.value' or"),
        ({"valueFromS3": "s3://b/k"}, "'message.valueFromS3' must be an object"),
        ({"valueFromS3": {"key": "k"}}, "'message.valueFromS3.bucket' is required"),
        ({"valueFromS3": {"bucket": BUCKET, "key": ""}}, "'message.valueFromS3.key' is required"),
        ({}, "'message.value' is required"),
    ],
)
def test_the_reference_is_checked(s3, bootstrap, message, problem):
    event = {"topic": {"bootstrapServers": bootstrap, "topicName": "t"}, "message": message}
    with pytest.raises(ConnectorInputError) as caught:
        app.lambda_handler(event, LocalLambdaContext("producer"))
    assert problem in caught.value.message


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "is not JSON text"),
        (b'{"amount": NaN}', "is not JSON text"),
        (b"null", "holds null"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b"[" * 150 + b"]" * 150, "nests deeper than 100 levels"),
        (b'{"note": "\\ud83d"}', "is not valid Unicode text"),
    ],
)
def test_an_object_that_is_not_a_json_value_is_refused(s3, bootstrap, body, problem):
    s3.put_object(Bucket=BUCKET, Key="bad.json", Body=body)
    with pytest.raises(ConnectorInputError) as caught:
        publish(bootstrap, "t", {"bucket": BUCKET, "key": "bad.json"})
    assert "message.valueFromS3" in caught.value.message
    assert problem in caught.value.message


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ({"bucket": BUCKET, "key": "absent.json"}, "does not exist (NoSuchKey)"),
        ({"bucket": "no-such-bucket", "key": "a.json"}, "does not exist (NoSuchBucket)"),
    ],
)
def test_a_missing_object_is_an_input_error(s3, bootstrap, source, problem):
    with pytest.raises(ConnectorInputError) as caught:
        publish(bootstrap, "t", source)
    assert caught.value.message.startswith("'message.valueFromS3': s3://")
    assert problem in caught.value.message


def refuse(code: str, status: int) -> Any:
    def raise_error(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "GetObject",
        )

    return raise_error


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [("AccessDenied", 403, ConnectorInputError), ("SlowDown", 503, KafkaRetryableError)],
)
def test_s3_refusals_are_sorted(s3, bootstrap, code, status, error):
    s3.put_object(Bucket=BUCKET, Key="o.json", Body=b"{}")
    unregister = on_call(aws_clients.client("s3"), "before-call.s3.GetObject", refuse(code, status))
    try:
        with pytest.raises(error) as caught:
            publish(bootstrap, "t", {"bucket": BUCKET, "key": "o.json"})
    finally:
        unregister()
    assert caught.value.message == f"'message.valueFromS3': s3://{BUCKET}/o.json could not be read" + (
        f": {code}" if error is ConnectorInputError else f" now: {code}"
    )


def test_a_value_over_max_request_size_is_refused_before_connecting(s3):
    s3.put_object(Bucket=BUCKET, Key="big.json", Body=json.dumps(big_document(12_000)).encode())
    event = {
        # Nothing listens here: the refusal comes before any connection is tried.
        "topic": {"bootstrapServers": "127.0.0.1:1", "topicName": "t"},
        "message": {"valueFromS3": {"bucket": BUCKET, "key": "big.json"}},
    }
    with pytest.raises(ConnectorInputError) as caught:
        app.lambda_handler(event, LocalLambdaContext("producer"))
    assert "over the producer's max.request.size (1048576)" in caught.value.message
    assert caught.value.message.startswith("'message.valueFromS3': the value is ")
