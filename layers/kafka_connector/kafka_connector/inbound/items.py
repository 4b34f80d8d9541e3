"""What the correlation table holds, as Python values: heads, subscriptions, buffered messages.

The item codec (DynamoDB's typed JSON to plain values and back) and the claim rule that
every hand-over obeys live here, apart from the operations in
:mod:`kafka_connector.inbound.table`, so that the protocol's data can be read (and
tested) without a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from kafka_connector.inbound.keys import MESSAGE_PREFIX, SUBSCRIPTION_PREFIX

#: Longer than a Lambda invocation can run: a claim older than this was left by a crash.
CLAIM_LEASE_SECONDS = 900

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _claimable(claim: str | None, claimed_at: int | None, claimant: str, now: float) -> bool:
    """Free, already claimed by ``claimant`` (its own retry), or a claim left behind by a crash."""
    return (
        claim is None
        or claim == claimant
        or (claimed_at is not None and claimed_at < now - CLAIM_LEASE_SECONDS)
    )


@dataclass(frozen=True, slots=True)
class Subscription:
    attribute: str
    token: str
    condition: str | None = None
    expires_at: int | None = None
    claim: str | None = None
    claimed_at: int | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def available_to(self, claimant: str, now: float) -> bool:
        return _claimable(self.claim, self.claimed_at, claimant, now)


@dataclass(frozen=True, slots=True)
class BufferedMessage:
    attribute: str
    message_id: str
    arrived_at: int
    expires_at: int
    claim: str | None = None
    claimed_at: int | None = None

    def available_to(self, claimant: str, now: float) -> bool:
        return self.expires_at > now and _claimable(self.claim, self.claimed_at, claimant, now)


@dataclass(frozen=True, slots=True)
class Head:
    key: str
    version: int = 0
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    buffered: dict[str, BufferedMessage] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Head:
        values = from_item(item)
        subscriptions: dict[str, Subscription] = {}
        buffered: dict[str, BufferedMessage] = {}
        for name, value in values.items():
            if name.startswith(SUBSCRIPTION_PREFIX) and isinstance(value, Mapping) and "token" in value:
                subscriptions[name] = Subscription(
                    attribute=name,
                    token=str(value["token"]),
                    condition=value.get("condition") or None,
                    expires_at=_int(value.get("expiresAt")),
                    claim=value.get("claim"),
                    claimed_at=_int(value.get("claimedAt")),
                )
            elif name.startswith(MESSAGE_PREFIX) and isinstance(value, Mapping):
                buffered[name] = BufferedMessage(
                    attribute=name,
                    message_id=str(value["id"]),
                    arrived_at=int(value["at"]),
                    expires_at=int(value["expiresAt"]),
                    claim=value.get("claim"),
                    claimed_at=_int(value.get("claimedAt")),
                )
        return cls(str(values["pk"]), int(values.get("version", 0)), subscriptions, buffered)


class BufferOutcome(Enum):
    BUFFERED = "buffered"
    DUPLICATE = "duplicate"  # this message id was buffered before: a redelivered record
    CONFLICT = "conflict"  # the head changed since it was read: read it again and decide again


@dataclass(frozen=True, slots=True)
class BufferedBody:
    message: Any
    result: Any
