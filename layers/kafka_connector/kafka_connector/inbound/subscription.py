"""The subscribe function's input: a task token and what it waits for (docs/payloads.md#subscribe-input).

Every problem is a ``ConnectorInputError`` naming the field, raised before anything is
written: a task with a typo must fail at once, not wait for a message that cannot come.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.expressions import compile_expression
from kafka_connector.inbound.keys import correlation_key_text, head_key
from kafka_connector.input_checks import check_input
from kafka_connector.limits import MAX_DYNAMODB_KEY_BYTES, MAX_LIFETIME_SECONDS, MAX_TASK_TOKEN_CHARS


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    task_token: str
    message_name: str
    correlation_key: str
    activation_condition: str | None = None
    ttl_seconds: int | None = None

    @classmethod
    def from_event(cls, event: object) -> SubscriptionRequest:
        if not isinstance(event, Mapping):
            raise ConnectorInputError("the subscribe input must be a JSON object")
        check_input(event)
        missing = [f for f in ("taskToken", "messageName", "correlationKey") if event.get(f) in (None, "")]
        if missing:
            raise ConnectorInputError(
                f"missing {', '.join(repr(f) for f in missing)}",
                'Pass {"taskToken.$": "$$.Task.Token", "messageName": "...", "correlationKey.$": "$...."}.',
            )
        token, name = event["taskToken"], event["messageName"]
        if not isinstance(token, str):
            raise ConnectorInputError("'taskToken' must be a string ($$.Task.Token)")
        if len(token) > MAX_TASK_TOKEN_CHARS:
            raise ConnectorInputError(
                f"'taskToken' is {len(token)} characters: a Step Functions task token has at most"
                f" {MAX_TASK_TOKEN_CHARS} (pass $$.Task.Token)"
            )
        if not isinstance(name, str) or "#" in name:
            raise ConnectorInputError("'messageName' must be a string without '#'")
        condition = event.get("activationCondition") or None
        if condition is not None:
            if not isinstance(condition, str):
                raise ConnectorInputError("'activationCondition' must be a JSONata expression string")
            compile_expression(condition, name="activationCondition")  # fails now, not at delivery
        ttl = event.get("ttlSeconds")
        if ttl is not None and (
            not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 < ttl <= MAX_LIFETIME_SECONDS
        ):
            raise ConnectorInputError(f"'ttlSeconds' must be a whole number from 1 to {MAX_LIFETIME_SECONDS}")
        key = correlation_key_text(event["correlationKey"])
        size = len(head_key(name, key).encode())
        if size > MAX_DYNAMODB_KEY_BYTES:
            raise ConnectorInputError(
                f"'messageName' and 'correlationKey' together are {size} bytes in the correlation table,"
                f" over DynamoDB's key limit of {MAX_DYNAMODB_KEY_BYTES}",
                "Correlate on a shorter key (an id, or a hash of the long value on both sides).",
            )
        return cls(token, name, key, condition, ttl)
