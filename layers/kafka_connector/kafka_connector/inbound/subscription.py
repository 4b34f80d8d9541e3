"""The subscribe function's input: a waiting task's token and what it waits for (SPEC §4, path a).

Every problem is a ``ConnectorInputError`` naming the field, raised before anything is
written: a task with a typo must fail at once, not wait for a message that cannot come.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.expressions import compile_expression
from kafka_connector.inbound.keys import correlation_key_text
from kafka_connector.limits import MAX_LIFETIME_SECONDS


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
        missing = [f for f in ("taskToken", "messageName", "correlationKey") if event.get(f) in (None, "")]
        if missing:
            raise ConnectorInputError(
                f"missing {', '.join(repr(f) for f in missing)}",
                'Pass {"taskToken.$": "$$.Task.Token", "messageName": "...", "correlationKey.$": "$...."}.',
            )
        token, name = event["taskToken"], event["messageName"]
        if not isinstance(token, str):
            raise ConnectorInputError("'taskToken' must be a string ($$.Task.Token)")
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
        return cls(token, name, correlation_key_text(event["correlationKey"]), condition, ttl)
