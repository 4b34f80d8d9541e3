"""Redrive under faults: a lost delete, a lost re-send or a lost callback never resumes or starts twice.

Faults are botocore event hooks on the layer's own clients (``provide-client-params`` fails a
call before it is made, ``after-call`` after it took effect with its answer lost).
"""

import pytest
from botocore.exceptions import ClientError

from kafka_connector.aws import clients as aws_clients
from kafka_connector.inbound.redrive import Redriver
from tests.support.aws import CallbackLog, on_call
from tests.support.handover import OK, Harness, event, payment, throttled

BROKEN_KEY = "=value.order"


@pytest.fixture
def h(aws, make_consumer, subscribe_handler):
    return Harness(aws, CallbackLog().install(), make_consumer, subscribe_handler)


def unavailable(**_):
    raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, "injected")


def redrive(h, **env):
    return Redriver(h.make_consumer(**env), wait_seconds=0).run()


@pytest.mark.parametrize("when", ["provide-client-params", "after-call"])
@pytest.mark.parametrize("ttl", [0, 600])
def test_a_failed_delete_after_a_resume_does_not_resume_twice(aws, h, when, ttl):
    arn, token = aws.start_waiting("order-1")
    h.subscribe(token, "o-1")
    assert h.make_consumer(CORRELATION_KEY_EXPRESSION=BROKEN_KEY).handle(event(payment(4, "o-1"))) == OK
    undo = on_call(aws_clients.client("sqs"), f"{when}.sqs.DeleteMessage", unavailable)
    try:
        first = redrive(h, MESSAGE_TTL_SECONDS=ttl)
    finally:
        undo()
    assert (first["replayed"], first["messages"][0]["deleted"]) == (1, False)
    h.assert_resumed_once(arn, token, 4)
    second = redrive(h, MESSAGE_TTL_SECONDS=ttl)
    # Before the call: the message is still there and its record a duplicate now; after it: gone.
    assert second["received"] == (1 if when == "provide-client-params" else 0)
    assert second["replayed"] == second["received"]
    h.assert_resumed_once(arn, token, 4)
    assert aws.dead_letters() == []
    assert aws.claims_left() == []


def test_a_failed_delete_after_a_start_does_not_start_twice(aws, h):
    machine = aws.pass_machine("on-payment")
    broken = h.make_consumer(
        CONNECTOR_MODE="start", STATE_MACHINE_ARN=machine, MESSAGE_ID_EXPRESSION="=value.ref"
    )
    assert broken.handle(event(payment(2, "o-2"))) == OK
    fixed = {
        "CONNECTOR_MODE": "start",
        "STATE_MACHINE_ARN": machine,
        "MESSAGE_ID_EXPRESSION": "=value.orderId",
    }
    undo = on_call(aws_clients.client("sqs"), "provide-client-params.sqs.DeleteMessage", unavailable)
    try:
        assert redrive(h, **fixed)["messages"][0]["deleted"] is False
    finally:
        undo()
    assert redrive(h, **fixed)["replayed"] == 1
    assert [e["name"] for e in aws.sfn.list_executions(stateMachineArn=machine)["executions"]] == ["o-2"]
    assert aws.dead_letters() == []


def test_a_lost_callback_during_a_redrive_is_finished_by_the_next_one_without_a_second_resume(aws, h):
    arn, token = aws.start_waiting("order-3")
    h.subscribe(token, "o-3")
    assert h.make_consumer(CORRELATION_KEY_EXPRESSION=BROKEN_KEY).handle(event(payment(6, "o-3"))) == OK
    # SendTaskSuccess took effect, its answer lost: the record is held back with that reason.
    undo = on_call(aws_clients.client("stepfunctions"), "after-call.sfn.SendTaskSuccess", throttled)
    try:
        first = redrive(h)
    finally:
        undo()
    assert (first["heldBack"], first["messages"][0]["error"]) == (1, "ThrottlingException")
    second = redrive(h)  # the message sent back with that reason
    assert second["replayed"] == 1
    h.assert_resumed_once(arn, token, 6)
    assert aws.claims_left() == []
    assert aws.dead_letters() == []


def test_a_failed_re_send_keeps_the_old_message(aws, h):
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:on-payment"
    start = {"CONNECTOR_MODE": "start", "STATE_MACHINE_ARN": missing}
    assert h.make_consumer(CORRELATION_KEY_EXPRESSION=BROKEN_KEY).handle(event(payment(8, "o-4"))) == OK
    undo = on_call(aws_clients.client("sqs"), "provide-client-params.sqs.SendMessage", unavailable)
    try:
        report = redrive(h, **start)
    finally:
        undo()
    (entry,) = report["messages"]
    assert (entry["outcome"], entry["error"], entry["deleted"]) == ("kept", "StateMachineDoesNotExist", False)
    (body,) = aws.dead_letters()
    assert (body["offset"], body["error"]) == (8, "ExpressionError")  # the old message, unchanged


def test_a_secret_the_record_carries_never_leaves_a_redrive(aws, h, caplog):
    import json

    from kafka_connector import redaction
    from tests.support.leaks import leaks

    secret = "redrive-s3cr3t-Zq9!"
    redaction.register([secret])  # a process that has resolved it (a producer's placeholder, say)
    failing = "=$error(value.note)"  # the reason quotes the record
    record = payment(11, "o-9", note=f"token {secret}")
    assert h.make_consumer(CORRELATION_KEY_EXPRESSION=failing).handle(event(record)) == OK
    report = redrive(h)
    # The dead-letter body masked the secret in the record's value too: what is left is no
    # longer the record, so it is kept (the topic still has it), not replayed as garbage.
    (entry,) = report["messages"]
    assert (entry["outcome"], entry["deleted"]) == ("kept", False)
    assert "masked" in entry["reason"]
    (body,) = aws.dead_letters()
    assert "******" in body["reason"]
    outputs = {"report": json.dumps(report), "log": caplog.text, "queue": json.dumps(body)}
    assert leaks({"secret": secret}, outputs) == []
