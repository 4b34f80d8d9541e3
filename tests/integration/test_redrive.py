"""Redrive in correlate mode: a dead-lettered record resumes its waiting workflow once, however often
it is redriven and whether or not the mapping delivers it again (G4); messages that carry no
whole record are kept. moto, with executions that really wait on task tokens."""

import json

import pytest

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.redrive import Redriver
from tests.support.aws import CallbackLog
from tests.support.handover import OK, Harness, event, payment

BROKEN_KEY = "=value.order"  # the records say orderId: every record is an ExpressionError


@pytest.fixture
def h(aws, make_consumer, subscribe_handler):
    return Harness(aws, CallbackLog().install(), make_consumer, subscribe_handler)


def redrive(h, **env):
    return Redriver(h.make_consumer(**env), wait_seconds=0).run()


def dead_lettered_with_a_broken_key(h, *records, **env):
    assert h.make_consumer(CORRELATION_KEY_EXPRESSION=BROKEN_KEY, **env).handle(event(*records)) == OK


@pytest.mark.parametrize("ttl", [0, 600])
def test_a_redriven_record_resumes_its_workflow_once_and_twice_does_nothing_more(aws, h, ttl):
    arn, token = aws.start_waiting("order-1")
    assert h.subscribe(token, "o-1") == "waiting"
    dead_lettered_with_a_broken_key(h, payment(5, "o-1"))

    report = redrive(h, MESSAGE_TTL_SECONDS=ttl)
    assert (report["received"], report["replayed"]) == (1, 1)
    assert report["messages"][0] | {"messageId": ""} == {
        "messageId": "",
        "topic": "payments",
        "partition": 0,
        "offset": 5,
        "outcome": "replayed",
        "error": None,
        "reason": None,
        "deleted": True,
    }
    h.assert_resumed_once(arn, token, 5)

    assert redrive(h, MESSAGE_TTL_SECONDS=ttl)["received"] == 0
    h.assert_resumed_once(arn, token, 5)
    assert aws.dead_letters() == []


@pytest.mark.parametrize("ttl", [0, 600])
def test_redriven_while_the_mapping_delivers_it_again_resumes_once(aws, h, ttl):
    arn, token = aws.start_waiting("order-2")
    h.subscribe(token, "o-2")
    dead_lettered_with_a_broken_key(h, payment(7, "o-2"))
    # The same message twice in the queue (dead-lettered twice), and the mapping redelivering it.
    dead_lettered_with_a_broken_key(h, payment(7, "o-2"))
    assert redrive(h, MESSAGE_TTL_SECONDS=ttl)["replayed"] == 2
    assert h.make_consumer(MESSAGE_TTL_SECONDS=ttl).handle(event(payment(7, "o-2"))) == OK
    h.assert_resumed_once(arn, token, 7)
    _, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "o-2") == "waiting"  # nothing was buffered for a newcomer
    assert aws.dead_letters() == []


def test_a_record_the_mapping_delivered_first_is_a_duplicate_when_redriven(aws, h):
    arn, token = aws.start_waiting("order-3")
    h.subscribe(token, "o-3")
    dead_lettered_with_a_broken_key(h, payment(9, "o-3"))
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(payment(9, "o-3"))) == OK
    assert redrive(h, MESSAGE_TTL_SECONDS=600)["replayed"] == 1
    h.assert_resumed_once(arn, token, 9)


def test_still_failing_records_stay_with_their_new_reason(aws, h):
    dead_lettered_with_a_broken_key(h, payment(1, "o-4"))
    report = redrive(h, CORRELATION_KEY_EXPRESSION="=value.missing")
    assert (report["received"], report["deadLettered"]) == (1, 1)
    (entry,) = report["messages"]
    assert (entry["outcome"], entry["error"], entry["deleted"]) == ("dead-lettered", "ExpressionError", True)
    (body,) = aws.dead_letters()
    assert (body["offset"], body["error"]) == (1, "ExpressionError")
    assert "CORRELATION_KEY_EXPRESSION gave no value" in body["reason"]


def test_dry_run_changes_nothing(aws, h):
    arn, token = aws.start_waiting("order-5")
    h.subscribe(token, "o-5")
    dead_lettered_with_a_broken_key(h, payment(3, "o-5"))
    report = Redriver(h.make_consumer(), wait_seconds=0).run(dry_run=True)
    assert (report["dryRun"], report["received"], report["replayed"]) == (True, 1, 0)
    assert (report["messages"][0]["outcome"], report["messages"][0]["error"]) == (
        "would replay",
        "ExpressionError",
    )
    assert aws.status(arn) == "RUNNING"
    assert redrive(h)["replayed"] == 1  # still there, visible at once
    h.assert_resumed_once(arn, token, 3)


def test_max_messages_bounds_a_run(aws, h):
    dead_lettered_with_a_broken_key(h, payment(1, "o-6"), payment(2, "o-7"), payment(3, "o-8"))
    assert Redriver(h.make_consumer(), wait_seconds=0).run(max_messages=2)["received"] == 2
    assert Redriver(h.make_consumer(), wait_seconds=0).run(max_messages=2)["received"] == 1
    with pytest.raises(ConnectorInputError, match="maxMessages"):
        Redriver(h.make_consumer(), wait_seconds=0).run(max_messages=0)


def test_messages_without_a_whole_record_are_kept(aws, h):
    mapping_record = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "version": "1.0",
        "KafkaBatchInfo": {
            "batchSize": 2,
            "recordsInfo": {
                "payments-0": {"firstRecordOffset": "41", "firstRecordTimestamp": "2026-12-01T00:00:00Z"}
            },
        },
    }
    omitted = {
        "topic": "payments",
        "partition": 0,
        "offset": 4,
        "error": "KafkaMessageTooLarge",
        "reason": "big",
        "record": {"topic": "payments", "partition": 0, "offset": 4},
        "valueOmitted": "too large",
    }
    for body in (json.dumps(mapping_record), json.dumps(omitted), "not json"):
        aws.sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=body)
    report = redrive(h)
    assert (report["received"], report["kept"]) == (3, 3)
    reasons = sorted(m["reason"] for m in report["messages"])
    assert any("payments-0 from offset 41" in r for r in reasons)
    assert any("does not carry the whole record" in r for r in reasons)
    assert any("not JSON" in r for r in reasons)
    assert not any(m["deleted"] for m in report["messages"])
    visible = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert len(visible) == 3  # visible again at once, unchanged


def test_a_consumer_without_a_dead_letter_queue_cannot_redrive(aws, h):
    with pytest.raises(ConnectorInputError, match="DEAD_LETTER_QUEUE_URL"):
        Redriver(h.make_consumer(DEAD_LETTER_QUEUE_URL=""))


def test_the_new_reason_is_read_even_where_warnings_are_not_logged(aws, h, caplog):
    import logging

    outcomes = logging.getLogger("kafka_connector.inbound.batch")
    dead_lettered_with_a_broken_key(h, payment(2, "o-10"))
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:nowhere"
    outcomes.setLevel(logging.ERROR)  # LogLevel=ERROR: the consumer's WARNING lines are not written
    try:
        caplog.clear()
        report = redrive(h, CONNECTOR_MODE="start", STATE_MACHINE_ARN=missing)
        assert [r for r in caplog.records if r.name == outcomes.name] == []
        assert (outcomes.level, outcomes.propagate) == (logging.ERROR, True)
    finally:
        outcomes.setLevel(logging.NOTSET)
    (entry,) = report["messages"]
    assert (entry["outcome"], entry["error"]) == ("held back", "StateMachineDoesNotExist")
    (body,) = aws.dead_letters()
    assert (body["offset"], body["error"]) == (2, "StateMachineDoesNotExist")
