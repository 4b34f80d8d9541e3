"""The subscribe function: registering a waiting task token (docs/payloads.md#subscribe-input)."""

import json
import time

import pytest

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.keys import head_key, subscription_attribute
from kafka_connector.limits import MAX_LIFETIME_SECONDS


def test_registers_the_subscription_with_its_expiry(aws, subscribe_handler):
    arn, token = aws.start_waiting("sub-1")
    before = int(time.time())
    subscribe_handler(
        {
            "taskToken": token,
            "messageName": "payment",
            "correlationKey": 12345,
            "activationCondition": "=value.amount > 0",
            "ttlSeconds": 3600,
        }
    )
    head = aws.head(head_key("payment", "12345"))  # a numeric key is stored as its JSON text
    entry = head[subscription_attribute(token)]["M"]
    assert entry["token"]["S"] == token
    assert entry["condition"]["S"] == "=value.amount > 0"
    assert before + 3600 <= int(entry["expiresAt"]["N"]) <= int(time.time()) + 3600
    assert before + MAX_LIFETIME_SECONDS <= int(head["expiresAt"]["N"])
    assert head["version"]["N"] == "1"
    assert aws.status(arn) == "RUNNING"


def test_subscribing_twice_with_the_same_token_is_one_subscription(aws, subscribe_handler):
    _, token = aws.start_waiting("sub-2")
    request = {"taskToken": token, "messageName": "payment", "correlationKey": "k"}
    subscribe_handler(request)
    subscribe_handler(request)
    head = aws.head(head_key("payment", "k"))
    assert sum(name.startswith("sub_") for name in head) == 1


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({}, "'taskToken', 'messageName', 'correlationKey'"),
        ({"taskToken": "t", "messageName": "payment"}, "'correlationKey'"),
        ({"taskToken": "t", "correlationKey": "k"}, "'messageName'"),
        ({"messageName": "m", "correlationKey": "k"}, "'taskToken'"),
        ({"taskToken": "t", "messageName": "a#b", "correlationKey": "k"}, "messageName"),
        ({"taskToken": "t", "messageName": "m", "correlationKey": "k", "ttlSeconds": 0}, "ttlSeconds"),
        ({"taskToken": "t", "messageName": "m", "correlationKey": "k", "ttlSeconds": "1"}, "ttlSeconds"),
        (
            {"taskToken": "t", "messageName": "m", "correlationKey": "k", "activationCondition": "=a.("},
            "activationCondition",
        ),
    ],
)
def test_bad_input_fails_fast_naming_the_field(aws, subscribe_handler, event, named):
    with pytest.raises(ConnectorInputError) as caught:
        subscribe_handler(event)
    assert named in caught.value.message
    assert json.loads(str(caught.value))["error"] == "ConnectorInputError"
    assert aws.items() == []


def test_past_what_one_item_holds_a_subscription_is_an_input_error_naming_the_limit(aws, subscribe_handler):
    """DynamoDB refuses an item over 400 KB: the workflow must learn it at once, not be retried in vain."""
    subscribed, refused = 0, None
    for i in range(400):
        token = f"{i:04d}" + "t" * 2040  # as long as a task token can be
        try:
            subscribe_handler({"taskToken": token, "messageName": "payment", "correlationKey": "hot"})
        except ConnectorInputError as error:
            refused = error
            break
        subscribed += 1
    assert refused is not None
    assert 100 < subscribed < 400
    assert "'payment#hot'" in refused.message
    assert "400" in refused.description
    head = aws.head(head_key("payment", "hot"))
    assert sum(name.startswith("sub_") for name in head) == subscribed  # the others still wait
