"""Large messages: INCLUDE_RAW_VALUE and the claim check (docs/payloads.md#large-messages).

Records are published to the real broker and read back, so the values are what Kafka really
stores; the consumer runs against moto (Step Functions executing state machines, DynamoDB, SQS,
S3). What is asserted is what AWS shows afterwards: an execution's input or a waiting task's
output, the objects in the bucket, the dead-letter queue, the partial batch response.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
import pytest
from kafka import KafkaProducer

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.inbound.keys import head_key
from kafka_connector.limits import MAX_DYNAMODB_ITEM_BYTES, MAX_STEP_FUNCTIONS_PAYLOAD_BYTES
from local.kafka_event import lambda_kafka_event
from tests.support.kafka import read_one

BUCKET = "kafka-claim-checks"
OK = {"batchItemFailures": []}


def publish(bootstrap: str, topic: str, value: bytes, key: bytes = b"o-1") -> Any:
    """Publish to the real broker and read the record back as the mapping would see it."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * 1024 * 1024)
    try:
        metadata = producer.send(topic, value, key=key, headers=[("source", b"psp")]).get(10)
    finally:
        producer.close(timeout=5)
    return read_one(bootstrap, topic, metadata.partition, metadata.offset)


def json_value(size: int, order_id: str = "o-1") -> bytes:
    """A JSON object of exactly ``size`` bytes (compact, ASCII)."""
    frame = len(json.dumps({"orderId": order_id, "note": ""}, separators=(",", ":")))
    return json.dumps({"orderId": order_id, "note": "x" * (size - frame)}, separators=(",", ":")).encode()


def objects(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


@pytest.fixture
def s3(aws: Any) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def start_consumer(aws: Any, make_consumer: Any, name: str = "on-payment", **env: str) -> tuple[str, Any]:
    machine = aws.pass_machine(name)
    return machine, make_consumer(CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine, **env)


def execution_input(aws: Any, machine: str) -> dict[str, Any]:
    [execution] = aws.sfn.list_executions(stateMachineArn=machine)["executions"]
    return json.loads(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"])


# -- INCLUDE_RAW_VALUE ----------------------------------------------------------------------------


def test_a_250_kb_json_message_reaches_a_waiting_workflow(
    aws, make_consumer, subscribe_handler, bootstrap, topic
):
    value = json_value(250_000)
    record = publish(bootstrap, topic, value)
    arn, token = aws.start_waiting("big")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-1"})
    assert make_consumer().handle(lambda_kafka_event([record])) == OK
    message = aws.output(arn)["message"]
    assert message["value"] == json.loads(value)
    assert message["rawValue"] is None
    assert aws.dead_letters() == []


def test_include_raw_value_true_sends_both_and_the_same_message_is_too_large(
    aws, make_consumer, bootstrap, topic
):
    record = publish(bootstrap, topic, json_value(140_000))
    machine, consumer = start_consumer(aws, make_consumer, INCLUDE_RAW_VALUE="true")
    assert consumer.handle(lambda_kafka_event([record])) == OK
    assert aws.sfn.list_executions(stateMachineArn=machine)["executions"] == []
    [dead] = aws.dead_letters()
    assert dead["error"] == "KafkaMessageTooLarge"


@pytest.mark.parametrize(
    ("setting", "value", "raw"),
    [
        ("", b'{"orderId":"o-1"}', None),
        ("auto", b'{"orderId":"o-1"}', None),
        ("", b"plain text, not JSON", "plain text, not JSON"),
        ("TRUE", b'{"orderId":"o-1"}', '{"orderId":"o-1"}'),
        ("false", b"plain text, not JSON", None),
        ("false", b"", None),
    ],
)
def test_raw_value_by_setting(aws, make_consumer, setting, value, raw):
    from local.kafka_event import KafkaRecord

    machine, consumer = start_consumer(aws, make_consumer, INCLUDE_RAW_VALUE=setting)
    record = KafkaRecord("payments", 0, 7, value, b"o-1", [], 1732190000000)
    assert consumer.handle(lambda_kafka_event([record])) == OK
    received = execution_input(aws, machine)
    assert received["rawValue"] == raw
    assert received["value"] == (json.loads(value) if value.startswith(b"{") else value.decode())


def test_expressions_still_see_the_raw_value(aws, make_consumer):
    from local.kafka_event import KafkaRecord

    machine, consumer = start_consumer(
        aws, make_consumer, RESULT_EXPRESSION='={"raw": rawValue}', ACTIVATION_CONDITION="=rawValue != ''"
    )
    record = KafkaRecord("payments", 0, 1, b'{"a":1}', b"k", [], 0)
    assert consumer.handle(lambda_kafka_event([record])) == OK
    assert execution_input(aws, machine) == {"raw": '{"a":1}'}


def test_a_bad_include_raw_value_fails_the_cold_start():
    with pytest.raises(ConnectorInputError, match="INCLUDE_RAW_VALUE must be 'true', 'false' or 'auto'"):
        ConsumerConfig.from_environment(
            {"CONNECTOR_MODE": "start", "STATE_MACHINE_ARN": "arn", "INCLUDE_RAW_VALUE": "yes"}
        )


# -- claim check ------------------------------------------------------------------------------------


def assert_reference(reference: dict[str, Any], record: Any, stored: dict[str, bytes]) -> bytes:
    """The reference names one object holding the result; returns the object."""
    check = reference["claimCheck"]
    assert check["bucket"] == BUCKET
    body = stored[check["key"]]
    assert check["size"] == len(body)
    assert check["sha256"] == hashlib.sha256(body).hexdigest()
    assert check["key"] == f"{record.topic}/{record.partition}/{record.offset}/{check['sha256']}.json"
    assert (reference["topic"], reference["partition"], reference["offset"]) == (
        record.topic,
        record.partition,
        record.offset,
    )
    assert (reference["key"], reference["timestamp"]) == (record.key.decode(), record.timestamp)
    assert len(json.dumps(reference)) < 2048
    return body


def test_start_mode_claim_checks_an_input_over_the_limit_once_under_redelivery(
    aws, make_consumer, s3, bootstrap, topic
):
    value = json_value(MAX_STEP_FUNCTIONS_PAYLOAD_BYTES + 40_000)
    record = publish(bootstrap, topic, value)
    machine, consumer = start_consumer(aws, make_consumer, CLAIM_CHECK_BUCKET=BUCKET)
    batch = lambda_kafka_event([record])
    assert consumer.handle(batch) == OK
    assert consumer.handle(batch) == OK  # redelivered: the same object, no second execution
    stored = objects(s3)
    assert len(stored) == 1
    body = assert_reference(execution_input(aws, machine), record, stored)
    assert json.loads(body)["value"] == json.loads(value)  # the message the workflow would have had
    assert aws.dead_letters() == []


def test_a_waiting_task_receives_the_reference(  # noqa: PLR0917 - fixtures
    aws, make_consumer, subscribe_handler, s3, bootstrap, topic
):
    record = publish(bootstrap, topic, json_value(300_000))
    arn, token = aws.start_waiting("claim")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-1"})
    consumer = make_consumer(CLAIM_CHECK_BUCKET=BUCKET, RESULT_VARIABLE="payment")
    assert consumer.handle(lambda_kafka_event([record])) == OK
    reference = aws.output(arn)["message"]
    body = assert_reference(reference, record, objects(s3))
    assert json.loads(body)["payment"]["value"]["orderId"] == "o-1"


def test_results_under_the_limit_are_sent_as_they_are(aws, make_consumer, s3):
    from local.kafka_event import KafkaRecord

    machine, consumer = start_consumer(aws, make_consumer, CLAIM_CHECK_BUCKET=BUCKET)
    record = KafkaRecord("payments", 0, 3, json_value(200_000), b"o-1", [], 0)
    assert consumer.handle(lambda_kafka_event([record])) == OK
    assert "claimCheck" not in execution_input(aws, machine)
    assert objects(s3) == {}


def test_a_message_too_large_to_buffer_is_buffered_as_a_claim_check(  # noqa: PLR0917 - fixtures
    aws, make_consumer, subscribe_handler, s3, bootstrap, topic
):
    # Fits Step Functions, but message + result (about twice its size) is over one DynamoDB item.
    value = json_value(230_000)
    record = publish(bootstrap, topic, value)
    consumer = make_consumer(MESSAGE_TTL_SECONDS="3600", CLAIM_CHECK_BUCKET=BUCKET)
    assert 2 * len(value) > MAX_DYNAMODB_ITEM_BYTES
    assert consumer.handle(lambda_kafka_event([record])) == OK
    assert aws.dead_letters() == []
    assert aws.head(head_key("payment", "o-1")) is not None  # buffered
    arn, token = aws.start_waiting("later")
    response = subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-1"})
    assert response["status"] == "delivered"
    body = assert_reference(aws.output(arn)["message"], record, objects(s3))
    assert json.loads(body)["value"] == json.loads(value)


def test_without_a_bucket_such_messages_are_still_too_large(aws, make_consumer, bootstrap, topic):
    record = publish(bootstrap, topic, json_value(230_000))
    consumer = make_consumer(MESSAGE_TTL_SECONDS="3600")
    assert consumer.handle(lambda_kafka_event([record])) == OK
    [dead] = aws.dead_letters()
    assert dead["error"] == "KafkaMessageTooLarge"
    assert "cannot be buffered" in dead["reason"]


def test_a_bucket_that_cannot_be_written_holds_the_record_back(aws, make_consumer):
    from local.kafka_event import KafkaRecord

    machine, consumer = start_consumer(aws, make_consumer, CLAIM_CHECK_BUCKET="no-such-bucket")
    record = KafkaRecord("payments", 2, 9, json_value(MAX_STEP_FUNCTIONS_PAYLOAD_BYTES + 1), b"o-1", [], 0)
    response = consumer.handle(lambda_kafka_event([record]))
    assert response == {"batchItemFailures": [{"itemIdentifier": {"partition": "payments-2", "offset": 9}}]}
    assert aws.dead_letters() == []
    assert aws.sfn.list_executions(stateMachineArn=machine)["executions"] == []


def test_a_refused_claim_check_leaves_the_waiting_task_unclaimed(aws, make_consumer, subscribe_handler):
    from local.kafka_event import KafkaRecord

    arn, token = aws.start_waiting("unclaimed")
    subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "o-1"})
    consumer = make_consumer(CLAIM_CHECK_BUCKET="no-such-bucket")
    record = KafkaRecord("payments", 0, 4, json_value(MAX_STEP_FUNCTIONS_PAYLOAD_BYTES + 1), b"o-1", [], 0)
    response = consumer.handle(lambda_kafka_event([record]))
    assert response == {"batchItemFailures": [{"itemIdentifier": {"partition": "payments-0", "offset": 4}}]}
    assert aws.claims_left() == []
    assert aws.status(arn) == "RUNNING"
    assert aws.dead_letters() == []
