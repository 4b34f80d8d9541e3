"""G3 and G4: each guard of the hand-over, exercised on its own, without threads.

Every guard is a condition a write carries against a party that moved between our read
and our write. Here that party moves at exactly that point: a botocore ``after-call``
hook on the layer's client runs it right after the read, or the table is pre-written with
an entry in the state the guard is about (a claim held by another message, a lapsed one).
moto evaluates the conditions and transactions as DynamoDB does.
"""

import time

import pytest

from kafka_connector.aws import clients as aws_clients
from kafka_connector.inbound.items import CLAIM_LEASE_SECONDS
from kafka_connector.inbound.keys import head_key, message_attribute, subscription_attribute
from tests.support.aws import CallbackLog, on_call
from tests.support.handover import OK, Harness, event, payment


@pytest.fixture
def h(aws, make_consumer, subscribe_handler):
    return Harness(aws, CallbackLog().install(), make_consumer, subscribe_handler)


def dynamodb():
    return aws_clients.client("dynamodb")


def now():
    return int(time.time())


# -- the version: nothing is buffered or deleted past a write we did not see -------------------------


def test_buffering_is_refused_when_a_subscription_came_in_after_the_read(aws, h):
    key = head_key("payment", "o-1")
    _, picky_token = aws.start_waiting("picky")
    h.subscribe_handler(
        {
            "taskToken": picky_token,
            "messageName": "payment",
            "correlationKey": "o-1",
            "activationCondition": "=value.amount > 1000",
        }
    )  # the head exists, and this message is not for it
    arn, token = aws.start_waiting("late")
    on_call(dynamodb(), "after-call.dynamodb.BatchGetItem", lambda **_: h.subscribe(token, "o-1"))
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(payment(0, "o-1", amount=5))) == OK
    h.assert_resumed_once(arn, token, 0)
    assert aws.markers() == []  # not also buffered
    assert h.callbacks.accepted(picky_token) == []
    assert set(aws.entries(key)) == {subscription_attribute(picky_token)}


def test_a_release_keeps_a_subscription_that_came_in_during_the_hand_over(aws, h):
    key = head_key("payment", "o-2")
    first, first_token = aws.start_waiting("first")
    h.subscribe(first_token, "o-2")
    second, second_token = aws.start_waiting("second")
    on_call(
        aws_clients.client("stepfunctions"),
        "after-call.sfn.SendTaskSuccess",
        lambda **_: aws.write_subscription(key, second_token),  # path (b), between callback and release
    )
    assert h.make_consumer().handle(event(payment(0, "o-2"))) == OK
    h.assert_resumed_once(first, first_token, 0)
    assert set(aws.entries(key)) == {subscription_attribute(second_token)}
    h.assert_still_waiting(second, second_token, "o-2")


# -- claims: a subscription or a buffered message being handed over by someone else ------------------


def test_a_subscription_claimed_after_the_read_is_left_to_its_claimant(aws, h):
    key = head_key("payment", "o-3")
    _, token = aws.start_waiting("claimed")
    h.subscribe(token, "o-3")
    attribute = subscription_attribute(token)
    on_call(
        dynamodb(),
        "after-call.dynamodb.BatchGetItem",
        lambda **_: aws.set_claim(key, attribute, "another-message", now()),
    )
    assert h.make_consumer().handle(event(payment(0, "o-3"))) == OK
    assert h.callbacks.accepted(token) == []
    assert aws.entries(key)[attribute]["claim"] == "another-message"


def test_a_fresh_claim_of_another_message_is_not_taken_over(aws, h):
    key = head_key("payment", "o-4")
    _, token = aws.start_waiting("claimed")
    h.subscribe(token, "o-4")
    attribute = subscription_attribute(token)
    aws.set_claim(key, attribute, "another-message", now() - CLAIM_LEASE_SECONDS + 60)
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(payment(0, "o-4"))) == OK
    assert h.callbacks.accepted(token) == []
    assert aws.entries(key)[attribute]["claim"] == "another-message"
    assert aws.markers() == [(key, "payments-0-0")]  # nobody took it: buffered


def test_a_lapsed_claim_is_taken_over(aws, h):
    """Left by a crash: a subscription is resumed once whoever holds its claim, so it is safe to take."""
    key = head_key("payment", "o-5")
    arn, token = aws.start_waiting("lapsed")
    h.subscribe(token, "o-5")
    aws.set_claim(key, subscription_attribute(token), "another-message", now() - CLAIM_LEASE_SECONDS - 60)
    assert h.make_consumer().handle(event(payment(0, "o-5"))) == OK
    h.assert_resumed_once(arn, token, 0)
    assert aws.head(key) is None


def test_a_buffered_message_claimed_after_the_subscribers_read_is_not_taken(aws, h):
    key = head_key("payment", "o-6")
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(payment(0, "o-6"))) == OK
    _, other_token = aws.start_waiting("other")
    other = aws.write_subscription(key, other_token)
    marker = message_attribute("payments-0-0")

    def other_takes_it(**_):  # another subscriber claims it between our read and our claim
        aws.set_claim(key, other, "payments-0-0", now())
        aws.set_claim(key, marker, other, now())

    _, token = aws.start_waiting("second")
    on_call(dynamodb(), "after-call.dynamodb.BatchGetItem", other_takes_it)
    assert h.subscribe(token, "o-6") == "waiting"
    assert h.callbacks.accepted(token) == []
    assert aws.entries(key)[marker]["claim"] == other


@pytest.mark.parametrize("resumed_before_the_crash", [False, True])
def test_a_lapsed_buffered_hand_over_is_finished_for_its_own_task(aws, h, resumed_before_the_crash):
    """A taker crashed after claiming: the message goes to the task it was meant for, never to another."""
    key = head_key("payment", "o-7")
    assert h.make_consumer(MESSAGE_TTL_SECONDS=600).handle(event(payment(0, "o-7"))) == OK
    crashed, crashed_token = aws.start_waiting("crashed")
    crashed_attribute = aws.write_subscription(key, crashed_token)
    lapsed = now() - CLAIM_LEASE_SECONDS - 60
    aws.set_claim(key, crashed_attribute, "payments-0-0", lapsed)
    aws.set_claim(key, message_attribute("payments-0-0"), crashed_attribute, lapsed)
    if resumed_before_the_crash:
        aws.sfn.send_task_success(taskToken=crashed_token, output='{"offset": 0}')
        assert aws.wait_finished(crashed)["status"] == "SUCCEEDED"
    arn, token = aws.start_waiting("next")
    assert h.subscribe(token, "o-7") == "waiting"
    assert h.callbacks.accepted(token) == []
    assert aws.output(crashed)["message"]["offset"] == 0  # waits for the execution to take it
    assert aws.resumptions(crashed) == 1
    assert aws.markers() == []
    assert aws.claims_left() == []
    h.assert_still_waiting(arn, token, "o-7")


# -- conditions and order ------------------------------------------------------------------------------


def test_a_subscription_condition_failing_on_the_message_is_not_met(aws, h):
    key = head_key("payment", "o-8")
    _, picky_token = aws.start_waiting("picky")
    h.subscribe_handler(
        {
            "taskToken": picky_token,
            "messageName": "payment",
            "correlationKey": "o-8",
            "activationCondition": "=$number(value.orderId) > 0",  # D3030 on "o-8"
        }
    )
    plain, plain_token = aws.start_waiting("plain")
    h.subscribe(plain_token, "o-8")
    assert h.make_consumer().handle(event(payment(0, "o-8"))) == OK
    h.assert_resumed_once(plain, plain_token, 0)
    assert h.callbacks.accepted(picky_token) == []
    [(attribute, entry)] = aws.entries(key).items()  # still waiting, unclaimed
    assert attribute == subscription_attribute(picky_token)
    assert "claim" not in entry
    assert aws.dead_letters() == []


def test_buffered_messages_are_handed_out_oldest_first(aws, h):
    """Arrival order, not message id order: ids here sort the other way round."""
    key = head_key("payment", "o-9")
    consumer = h.make_consumer(MESSAGE_TTL_SECONDS=600, MESSAGE_ID_EXPRESSION="=value.id")
    ids = ["m-c", "m-b", "m-a"]
    for offset, message_id in enumerate(ids):
        assert consumer.handle(event(payment(offset, "o-9", id=message_id))) == OK
        # Pin the arrival times apart: three records may arrive within one millisecond.
        aws.dynamodb.update_item(
            TableName=aws.table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET #m.#at = :at",
            ExpressionAttributeNames={"#m": message_attribute(message_id), "#at": "at"},
            ExpressionAttributeValues={":at": {"N": str(1_000 * (offset + 1))}},
        )
    for offset, name in enumerate(("first", "second", "third")):
        arn, token = aws.start_waiting(name)
        assert h.subscribe(token, "o-9") == "delivered"
        h.assert_resumed_once(arn, token, offset)
    assert aws.markers() == []
