"""G4: a record delivered again, or a hand-over retried after a fault, has the effect of one delivery.

moto, with executions that really wait on task tokens. Faults are botocore event hooks on
the layer's own clients: ``after-call`` fails a call *after* it took effect (its answer is
lost), ``provide-client-params`` fails it before. A subscriber that must not have received
a message is proven untouched by the callbacks the connector made (``CallbackLog``: none
was accepted for its token) and still waiting by a probe: the next message for its key is
what it receives.
"""

import pytest

from kafka_connector.aws import clients as aws_clients
from tests.support.aws import CallbackLog, on_call
from tests.support.handover import OK, Harness, event, held_back, payment, throttled


@pytest.fixture
def h(aws, make_consumer, subscribe_handler):
    return Harness(aws, CallbackLog().install(), make_consumer, subscribe_handler)


def assert_clean(aws):
    assert aws.claims_left() == []
    assert aws.markers() == []
    assert aws.dead_letters() == []


# -- the record comes again after its message was handed over ---------------------------------------


@pytest.mark.parametrize("ttl", [0, 600])
def test_redelivered_after_a_delivery_resumes_no_new_subscriber(aws, h, ttl):
    first, first_token = aws.start_waiting("first")
    h.subscribe(first_token, "o-1")
    batch = event(payment(0, "o-1"))
    assert h.make_consumer(MESSAGE_TTL_SECONDS=ttl).handle(batch) == OK
    h.assert_resumed_once(first, first_token, 0)
    late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "o-1") == "waiting"
    assert (
        h.make_consumer(MESSAGE_TTL_SECONDS=ttl).handle(batch) == OK
    )  # a lost commit: the same record again
    assert_clean(aws)
    h.assert_still_waiting(late, late_token, "o-1")
    h.assert_resumed_once(first, first_token, 0)


def test_redelivered_after_a_delivery_is_not_buffered(aws, h):
    first, first_token = aws.start_waiting("first")
    h.subscribe(first_token, "o-2")
    batch = event(payment(0, "o-2"))
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(batch) == OK
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(batch) == OK  # nobody waits now
    assert_clean(aws)
    late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "o-2") == "waiting"
    h.assert_still_waiting(late, late_token, "o-2")
    h.assert_resumed_once(first, first_token, 0)


def test_buffered_then_taken_then_redelivered_while_another_waits(aws, h):
    batch = event(payment(0, "o-3"))
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(batch) == OK
    first, first_token = aws.start_waiting("first")
    assert h.subscribe(first_token, "o-3") == "delivered"
    second, second_token = aws.start_waiting("second")
    assert h.subscribe(second_token, "o-3") == "waiting"
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(batch) == OK
    assert_clean(aws)
    h.assert_still_waiting(second, second_token, "o-3")
    h.assert_resumed_once(first, first_token, 0)


# -- a fault between a call and its bookkeeping ---------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, 600])
@pytest.mark.parametrize(
    "lost",
    [
        "after-call.dynamodb.UpdateItem",  # the claim was written
        "after-call.sfn.SendTaskSuccess",  # the task was resumed
        "after-call.dynamodb.TransactWriteItems",  # the release and the mark were written
    ],
)
def test_an_answer_lost_after_the_call_took_effect(aws, h, ttl, lost):
    first, first_token = aws.start_waiting("first")
    h.subscribe(first_token, "o-4")
    service = "stepfunctions" if ".sfn." in lost else "dynamodb"
    consumer = h.make_consumer(MESSAGE_TTL_SECONDS=ttl)
    restore = on_call(aws_clients.client(service), lost, throttled)
    batch = event(payment(0, "o-4"))
    assert consumer.handle(batch) == held_back(0)
    restore()
    assert consumer.handle(batch) == OK  # the mapping retries from the reported offset
    h.assert_resumed_once(first, first_token, 0)
    assert_clean(aws)
    late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "o-4") == "waiting"
    h.assert_still_waiting(late, late_token, "o-4")


def test_a_retry_after_some_subscriptions_were_resumed_resumes_each_once(aws, h):
    executions, tokens = {}, {}
    for name in ("one", "two"):
        executions[name], tokens[name] = aws.start_waiting(name)
        h.subscribe(tokens[name], "o-5")
    sfn = aws_clients.client("stepfunctions")
    restore = on_call(
        sfn,
        "provide-client-params.sfn.SendTaskSuccess",
        lambda params, **_: params["taskToken"] == tokens["two"] and throttled(),
        times=10,
    )
    consumer = h.make_consumer(MESSAGE_TTL_SECONDS=600)
    batch = event(payment(0, "o-5"))
    assert consumer.handle(batch) == held_back(0)
    restore()
    assert consumer.handle(batch) == OK
    for name in ("one", "two"):
        h.assert_resumed_once(executions[name], tokens[name], 0)
    assert_clean(aws)
    late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "o-5") == "waiting"
    h.assert_still_waiting(late, late_token, "o-5")


# -- the subscriber's side -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lost",
    [
        "after-call.dynamodb.UpdateItem",  # the subscription, or the claim, was written
        "after-call.sfn.SendTaskSuccess",  # the task was resumed with the buffered message
        "after-call.dynamodb.TransactWriteItems",  # the release and the mark were written
    ],
)
@pytest.mark.parametrize("times", [1, 2])
def test_a_subscribe_retried_after_a_lost_answer_takes_the_message_once(aws, h, lost, times):
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(payment(0, "o-6"))) == OK
    first, first_token = aws.start_waiting("first")
    service = "stepfunctions" if ".sfn." in lost else "dynamodb"
    restore = on_call(aws_clients.client(service), lost, throttled, times=times)
    h.subscribe(first_token, "o-6")  # Step Functions retries the failed task
    restore()
    h.assert_resumed_once(first, first_token, 0)
    assert aws.markers() == []
    second, second_token = aws.start_waiting("second")
    assert h.subscribe(second_token, "o-6") == "waiting"
    h.assert_still_waiting(second, second_token, "o-6")
    assert aws.claims_left() == []


@pytest.mark.parametrize(
    "inside",
    [
        "after-call.sfn.SendTaskSuccess",  # the second run starts once the first resumed the task
        "provide-client-params.sfn.SendTaskSuccess",  # ... after the first claimed, before it calls back
        "after-call.dynamodb.BatchGetItem",  # ... after the first read the bodies, before it claims
    ],
)
def test_overlapping_subscribe_runs_with_one_token_hand_the_message_over_once(aws, h, inside):
    """Step Functions retries a Lambda task whose first run is still working: two runs, one token."""
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(payment(0, "o-7"))) == OK
    first, token = aws.start_waiting("first")
    service = "stepfunctions" if ".sfn." in inside else "dynamodb"
    second_run = []
    restore = on_call(
        aws_clients.client(service),
        inside,
        lambda **_: second_run.append(h.subscribe(token, "o-7")),
    )
    first_run = h.subscribe(token, "o-7")
    restore()
    assert len(second_run) == 1
    assert "delivered" in (first_run, *second_run)
    h.assert_resumed_once(first, token, 0)
    assert_clean(aws)
    late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "o-7") == "waiting"
    h.assert_still_waiting(late, late_token, "o-7")


# -- what DynamoDB cannot store ----------------------------------------------------------------------------


def test_a_message_too_large_to_buffer_is_dead_lettered_not_retried(aws, h):
    """~210 KB of JSON: under Step Functions' 256 KiB, but stored with its result over DynamoDB's 400 KB."""
    record = payment(0, "o-8", blob="x" * 210_000)
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(record)) == OK
    [dead] = aws.dead_letters()
    assert (dead["offset"], dead["error"]) == (0, "KafkaMessageTooLarge")
    assert "DynamoDB" in dead["reason"]
    assert aws.items() == []


def test_a_message_too_large_to_buffer_still_reaches_whoever_waits(aws, h):
    arn, token = aws.start_waiting("big")
    h.subscribe(token, "o-9")
    record = payment(0, "o-9", blob="x" * 110_000)
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(record)) == OK
    assert len(aws.output(arn)["message"]["value"]["blob"]) == 110_000
    assert aws.dead_letters() == []


def test_a_result_too_large_redelivered_fails_no_new_subscriber(aws, h):
    """G6 then G4: the waiting task was failed, the record dead-lettered; its replay does neither again."""
    first, first_token = aws.start_waiting("first")
    h.subscribe(first_token, "o-10")
    batch = event(payment(0, "o-10", blob="y" * 300_000))
    assert h.make_consumer().handle(batch) == OK
    assert aws.wait_finished(first)["status"] == "FAILED"
    assert h.callbacks.accepted(first_token) == ["KafkaMessageTooLarge"]
    late, late_token = aws.start_waiting("late")
    assert h.subscribe(late_token, "o-10") == "waiting"
    assert h.make_consumer().handle(batch) == OK
    assert h.callbacks.accepted(late_token) == []
    assert [dead["error"] for dead in aws.dead_letters()] == ["KafkaMessageTooLarge"]
    h.assert_still_waiting(late, late_token, "o-10")
