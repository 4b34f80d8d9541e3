"""What the correlation table holds, as Python values: heads, subscriptions, buffered messages, marks.

The item codec (DynamoDB's typed JSON to plain values and back), the claim rule that
every hand-over obeys and the item-size measure live here, apart from the operations in
:mod:`kafka_connector.inbound.table`, so that the protocol's data can be read (and
tested) without a table. docs/correlation-table.md defines every attribute.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from kafka_connector.inbound.keys import MESSAGE_PREFIX, SUBSCRIPTION_PREFIX, body_key

#: Longer than a Lambda invocation can run: a claim older than this was left by a crash.
CLAIM_LEASE_SECONDS = 900

#: How long a message's "handled" mark outlives its hand-over (or its buffering, if the
#: message TTL is longer): a record redelivered within this period is a duplicate (G4).
#: A week covers the event source mapping's retries and any replay an operator starts
#: after an incident; Kafka keeps records for a week by default.
HANDLED_MARK_SECONDS = 7 * 24 * 3600

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def new_attempt() -> str:
    """A fresh id for one hand-over attempt (one ``correlate`` or ``subscribe`` call).

    Written into every claim the attempt takes (``attempt``), so that a release can tell
    "still mine" from "re-claimed by a twin attempt of the same record or token" — the
    claim value alone (the message id) is the same for both.
    """
    return secrets.token_hex(8)


def item_size(values: Mapping[str, Any]) -> int:
    """An upper bound of an item's size as DynamoDB counts it against its 400 KB limit.

    Names and strings count their UTF-8 bytes; a number counts at most 21 bytes; a map or
    list 3 bytes plus one per element on top of its contents (DynamoDB's published rules).
    """
    return sum(len(name.encode()) + _value_size(value) for name, value in values.items() if value is not None)


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return 21
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, Mapping):
        return 3 + sum(1 + len(str(k).encode()) + _value_size(v) for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return 3 + sum(1 + _value_size(v) for v in value)
    return len(str(value).encode())


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
    """One waiting task (``sub_…``). ``claim`` is the message being handed to it, if any."""

    attribute: str
    token: str
    condition: str | None = None
    expires_at: int | None = None
    claim: str | None = None
    claimed_at: int | None = None
    attempt: str | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def available_to(self, claimant: str, now: float) -> bool:
        """Whether message ``claimant`` may claim this subscription.

        A lapsed claim may be taken over: Step Functions accepts one callback per task
        token, so a subscription can never be resumed twice, whoever holds its claim.
        """
        return _claimable(self.claim, self.claimed_at, claimant, now)


@dataclass(frozen=True, slots=True)
class BufferedMessage:
    """One buffered message's marker (``msg_…``). ``claim`` is the ``sub_…`` taking it, if any."""

    attribute: str
    message_id: str
    arrived_at: int
    expires_at: int
    claim: str | None = None
    claimed_at: int | None = None
    attempt: str | None = None

    def available_to(self, claimant: str, now: float) -> bool:
        """Whether subscription ``claimant`` may take this message: unclaimed, or its own.

        Unlike a subscription's, a buffered message's claim never lapses for another
        taker: its claimant may have resumed its task with it just before it crashed, and
        nothing but the claimant's own token can tell. A lapsed hand-over is *finished* for
        its claimant instead (``subscriber.py``), so a message reaches at most one taker.
        """
        if self.claim is not None:
            return self.claim == claimant
        return self.expires_at > now

    def lapsed(self, now: float) -> bool:
        """Claimed, and so long ago that its claimant must have crashed mid-hand-over."""
        return self.claim is not None and (self.claimed_at or 0) < now - CLAIM_LEASE_SECONDS


Entry = Subscription | BufferedMessage


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
                    attempt=value.get("attempt"),
                )
            elif name.startswith(MESSAGE_PREFIX) and isinstance(value, Mapping):
                buffered[name] = BufferedMessage(
                    attribute=name,
                    message_id=str(value["id"]),
                    arrived_at=int(value["at"]),
                    expires_at=int(value["expiresAt"]),
                    claim=value.get("claim"),
                    claimed_at=_int(value.get("claimedAt")),
                    attempt=value.get("attempt"),
                )
        return cls(str(values["pk"]), int(values.get("version", 0)), subscriptions, buffered)

    def entry(self, attribute: str) -> Entry | None:
        return self.subscriptions.get(attribute) or self.buffered.get(attribute)

    @property
    def entries(self) -> set[str]:
        return set(self.subscriptions) | set(self.buffered)

    def claimed(self, attributes: Iterable[str], claim: str, attempt: str, now: float) -> Head:
        """The head as a claim of ``attributes`` for ``claim`` left it, if the claim also required
        ``version`` to be as read (so the version after it is exactly one more)."""
        subscriptions = dict(self.subscriptions)
        for attribute in attributes:
            subscriptions[attribute] = replace(
                subscriptions[attribute], claim=claim, claimed_at=int(now), attempt=attempt
            )
        return Head(self.key, self.version + 1, subscriptions, self.buffered)

    def without(self, attributes: set[str]) -> Head:
        return Head(
            self.key,
            self.version,
            {k: v for k, v in self.subscriptions.items() if k not in attributes},
            {k: v for k, v in self.buffered.items() if k not in attributes},
        )


class BufferOutcome(Enum):
    BUFFERED = "buffered"
    DUPLICATE = "duplicate"  # this message id was handled before (delivered or buffered): a redelivery
    CONFLICT = "conflict"  # the head changed since it was read: read it again and decide again


class ClaimStatus(Enum):
    CLAIMED = "claimed"  # the claims are ours; the head returned is as the claim left it
    CHANGED = "changed"  # the head is not as it was read; the head returned is as it is now


@dataclass(frozen=True, slots=True)
class Released:
    """What a release found: the head as it left it, and the entries a twin attempt took over.

    ``reread``: the head is as the table showed it when a condition failed, not as our own
    write left it.
    """

    head: Head | None
    taken_over: frozenset[str] = frozenset()
    reread: bool = False


@dataclass(frozen=True, slots=True)
class HandledMark:
    """The durable trace of a hand-over: message ``message_id`` of ``head`` was handled.

    Stored as the message's body item (``keys.body_key``) without a payload, written in the
    same transaction as the release that ends the hand-over, kept until ``expires_at``.
    """

    head: str
    message_id: str
    expires_at: int

    def values(self, now: float) -> dict[str, Any]:
        return {
            "pk": body_key(self.head, self.message_id),
            "head": self.head,
            "messageId": self.message_id,
            "handledAt": int(now),
            "expiresAt": self.expires_at,
        }


def body_values(
    head: str, message_id: str, message: Any, result_json: str, keep_until: int
) -> dict[str, Any]:
    """A buffered message's body item: the message (for conditions) and the result (to send)."""
    return {
        "pk": body_key(head, message_id),
        "head": head,
        "messageId": message_id,
        "message": json.dumps(message, separators=(",", ":")),
        "result": result_json,
        "expiresAt": keep_until,
    }


@dataclass(frozen=True, slots=True)
class BufferedBody:
    message: Any
    result_json: str
