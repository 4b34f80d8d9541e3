"""Redrive end to end: records the mapping gave up on, a configuration fixed, each record replayed once.

Real broker, the local event source mapping (retry limit, on-failure destination = the
dead-letter queue), the consumer's ``BatchConsumer`` and moto with executing state machines.
"""

import json

import boto3
from kafka import KafkaProducer

from kafka_connector.inbound.redrive import Redriver
from local.dead_letters import RETRY_ATTEMPTS_EXHAUSTED, on_failure_to_queue
from local.event_source_mapping import LocalEventSourceMapping
from tests.support.kafka import create_topic

ON_PAYMENT = "arn:aws:states:us-east-1:123456789012:stateMachine:on-payment"


def publish(bootstrap, topic, values):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for value in values:
        producer.send(topic, value=json.dumps(value).encode(), partition=0)
    producer.flush()
    producer.close()


def drain_and_restore(aws):
    bodies, handles = [], []
    while True:
        answer = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30)
        if not answer.get("Messages"):
            break
        for message in answer["Messages"]:
            bodies.append(json.loads(message["Body"]))
            handles.append(message["ReceiptHandle"])
    for handle in handles:
        aws.sqs.change_message_visibility(QueueUrl=aws.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return sorted(bodies, key=lambda b: b["offset"])


def executions(machine_arn):
    return boto3.client("stepfunctions").list_executions(stateMachineArn=machine_arn)["executions"]


def start_consumer(make_consumer):
    return make_consumer(
        CONNECTOR_MODE="start", STATE_MACHINE_ARN=ON_PAYMENT, MESSAGE_ID_EXPRESSION="=value.id"
    )


def test_records_given_up_for_a_missing_state_machine_start_once_after_the_fix(bootstrap, aws, make_consumer):
    topic = create_topic(bootstrap, partitions=1)
    consumer = start_consumer(make_consumer)
    publish(bootstrap, topic, [{"id": "order-1"}, {"id": "order-2"}])
    esm = LocalEventSourceMapping(
        bootstrap_servers=bootstrap,
        topic=topic,
        group_id=f"g-{topic}",
        invoke=consumer.handle,
        backoff_seconds=0,
        retry_limit=1,
        on_failure=on_failure_to_queue(aws.dlq_url),
    )
    try:
        for _ in range(60):
            esm.poll_once(timeout_ms=300)
            if esm.stats.sent_to_on_failure == 2:
                break
    finally:
        esm.stop()
    bodies = drain_and_restore(aws)
    assert [(b["offset"], b["error"]) for b in bodies] == [
        (0, RETRY_ATTEMPTS_EXHAUSTED),
        (1, RETRY_ATTEMPTS_EXHAUSTED),
    ]

    # Still broken: each record is held back again and sent back with its new reason.
    report = Redriver(start_consumer(make_consumer), wait_seconds=0).run()
    assert (report["received"], report["heldBack"], report["replayed"]) == (2, 2, 0)
    bodies = drain_and_restore(aws)
    assert [(b["offset"], b["error"]) for b in bodies] == [
        (0, "StateMachineDoesNotExist"),
        (1, "StateMachineDoesNotExist"),
    ]
    assert all("StartExecution" in b["reason"] for b in bodies)

    # Fixed: the state machine exists now. Each record starts its execution, once.
    machine = aws.pass_machine("on-payment")
    assert machine == ON_PAYMENT
    report = Redriver(start_consumer(make_consumer), wait_seconds=0).run()
    assert (report["received"], report["replayed"], report["heldBack"]) == (2, 2, 0)
    assert all(m["deleted"] for m in report["messages"])
    assert sorted(e["name"] for e in executions(machine)) == ["order-1", "order-2"]
    assert drain_and_restore(aws) == []

    # Twice: nothing more to do, nothing started again.
    report = Redriver(start_consumer(make_consumer), wait_seconds=0).run()
    assert report["received"] == 0
    assert len(executions(machine)) == 2


def test_a_still_failing_record_stays_with_its_reason_and_the_rest_is_replayed(bootstrap, aws, make_consumer):
    topic = create_topic(bootstrap, partitions=1)
    machine = aws.pass_machine("on-payment")
    # The first configuration's message id expression reads a field the records do not have.
    broken = make_consumer(
        CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine, MESSAGE_ID_EXPRESSION="=value.ref"
    )
    publish(bootstrap, topic, [{"id": "a-1"}, {"id": "a-2", "ref": "x"}, {"note": "no id"}])
    esm = LocalEventSourceMapping(
        bootstrap_servers=bootstrap,
        topic=topic,
        group_id=f"g-{topic}",
        invoke=broken.handle,
        backoff_seconds=0,
    )
    try:
        for _ in range(60):
            esm.poll_once(timeout_ms=300)
            if esm.stats.records_committed == 3:
                break
    finally:
        esm.stop()
    assert [b["error"] for b in drain_and_restore(aws)] == ["ExpressionError", "ExpressionError"]
    assert [e["name"] for e in executions(machine)] == ["x"]

    report = Redriver(start_consumer(make_consumer), wait_seconds=0).run()
    assert (report["replayed"], report["deadLettered"]) == (1, 1)
    assert sorted(e["name"] for e in executions(machine)) == ["a-1", "x"]
    (left,) = drain_and_restore(aws)
    assert (left["offset"], left["error"]) == (2, "ExpressionError")
    assert "MESSAGE_ID_EXPRESSION" in left["reason"]

    again = Redriver(start_consumer(make_consumer), wait_seconds=0).run()
    assert (again["received"], again["deadLettered"], again["replayed"]) == (1, 1, 0)
    assert len(executions(machine)) == 2
    assert len(drain_and_restore(aws)) == 1
