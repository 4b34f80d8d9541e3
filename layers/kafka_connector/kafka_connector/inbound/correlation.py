"""Correlate mode: messages meet waiting workflows, exactly once each (docs/guarantees.md).

The protocol is drawn in docs/correlation-table.md#claim-protocol.

Two parties write to the correlation table concurrently: the consumer, with a message
for (name, key), and the subscribe function, with a workflow that starts waiting for
(name, key). Each one writes what it brings and reads what the other brought *in the
same item*, and every hand-over is a conditional claim, so:

* a message resumes every subscription waiting for its key whose condition holds (G1),
  and is buffered only when none took it (G2);
* the consumer buffers a message only if no subscription was added since it looked (the
  head's version), and a subscriber sees every message buffered before it in the same
  write that adds it: whichever comes second finds the first (G3);
* a claim names its claimant, so a retried record or subscription finishes its own
  hand-over and never starts a second one (G4);
* a subscription whose task is gone is dropped and the message moves on (G5);
* a result too large for Step Functions fails the waiting task instead (G6).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from kafka_connector.inbound.exceptions import MessageTooLarge, TransientAwsError
from kafka_connector.inbound.expressions import Expression, ExpressionError, compile_expression
from kafka_connector.inbound.items import BufferOutcome, Head, Subscription
from kafka_connector.inbound.keys import head_key, subscription_attribute
from kafka_connector.inbound.message import Inbound, expression_context
from kafka_connector.inbound.step_functions import CallbackOutcome, TaskCallbacks
from kafka_connector.inbound.table import CorrelationTable
from kafka_connector.limits import MAX_STEP_FUNCTIONS_PAYLOAD_BYTES

logger = logging.getLogger(__name__)

_MAX_CONFLICTS = 8
_MAX_CANDIDATES = 25  # buffered messages looked at per subscription attempt
INVALID_CONDITION_ERROR = "ConnectorInputError"


class Delivery(Enum):
    DELIVERED = "delivered"
    BUFFERED = "buffered"
    DROPPED = "dropped"  # nobody waits and MESSAGE_TTL_SECONDS is 0
    DUPLICATE = "duplicate"  # a redelivered record whose message was buffered before
    TOO_LARGE = "too-large"  # G6: waiting tasks failed; the record goes to the dead-letter queue


def _condition_holds(
    subscription: Subscription,
    context: dict[str, Any],
    callbacks: TaskCallbacks,
) -> bool | None:
    """Whether a subscription's own activation condition accepts the message.

    ``None`` means the condition itself is broken (possible for subscriptions written
    straight into the table): the waiting task is failed, since no message can ever
    satisfy it, rather than left waiting forever.
    """
    if not subscription.condition:
        return True
    try:
        expression = compile_expression(subscription.condition, name="activationCondition")
    except Exception as error:  # a syntax error in a subscription we did not validate
        callbacks.fail(
            subscription.token, INVALID_CONDITION_ERROR, f"activationCondition does not parse: {error}"
        )
        return None
    try:
        return expression is None or expression.is_true(context)
    except ExpressionError as error:
        logger.warning("activation condition failed on a message; treated as not met: %s", error)
        return False


class Correlator:
    """Consumer side: deliver or buffer each message; heads are read for a whole batch at once."""

    def __init__(
        self,
        table: CorrelationTable,
        callbacks: TaskCallbacks,
        *,
        ttl_seconds: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.callbacks = callbacks
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._heads: dict[str, Head | None] = {}

    def prefetch(self, inbound: Iterable[Inbound]) -> None:
        """Read the heads of all keys of a batch: one request per 100 distinct keys."""
        missing = {i.head for i in inbound} - self._heads.keys()
        if missing:
            self._heads.update(self.table.get_heads(sorted(missing)))

    def _head(self, key: str) -> Head | None:
        if key not in self._heads:
            self._heads[key] = self.table.get_head(key)
        return self._heads[key]

    def correlate(self, inbound: Inbound) -> Delivery:
        for _ in range(_MAX_CONFLICTS):
            head = self._head(inbound.head)
            matched, delivered = (
                self._deliver(head, inbound) if head and head.subscriptions else (False, False)
            )
            if matched and inbound.too_large:
                return Delivery.TOO_LARGE  # the waiting tasks were failed instead
            if delivered:
                return Delivery.DELIVERED
            if self.ttl_seconds <= 0:
                return Delivery.DROPPED
            if inbound.too_large:
                return Delivery.TOO_LARGE  # cannot be buffered for a later subscription either
            now = self.clock()
            head = self._heads[inbound.head]
            outcome = self.table.buffer(
                head,
                inbound.head,
                inbound.message_id,
                inbound.complete(),
                inbound.result,
                expires_at=int(now) + self.ttl_seconds,
                now=now,
            )
            if outcome is BufferOutcome.DUPLICATE:
                return Delivery.DUPLICATE
            if outcome is BufferOutcome.BUFFERED:
                # Our own write bumped the version; the next message for this key re-reads.
                self._heads.pop(inbound.head, None)
                return Delivery.BUFFERED
            self._heads[inbound.head] = self.table.get_head(inbound.head)  # a subscriber came in: look again
        raise TransientAwsError(f"correlation key {inbound.head!r} kept changing; retry later")

    def _deliver(self, head: Head, inbound: Inbound) -> tuple[bool, bool]:
        """Offer the message to every waiting subscription of ``head``: (any matched, any took it)."""
        context = expression_context(inbound.complete())
        now = self.clock()
        matched = delivered = False
        dead = [s.attribute for s in head.subscriptions.values() if s.expired(now)]
        for subscription in sorted(head.subscriptions.values(), key=lambda s: s.attribute):
            if subscription.expired(now) or not subscription.available_to(inbound.message_id, now):
                continue
            holds = _condition_holds(subscription, context, self.callbacks)
            if holds is None:
                dead.append(subscription.attribute)
            if not holds:
                continue
            matched = True
            claimed = self.table.claim_subscription(head.key, subscription.attribute, inbound.message_id, now)
            if claimed is None:
                continue  # another message took it, or it is gone
            if inbound.too_large:
                self.callbacks.fail(
                    subscription.token,
                    MessageTooLarge.error,
                    f"message {inbound.message_id} is {inbound.result_size} bytes,"
                    f" over the {MAX_STEP_FUNCTIONS_PAYLOAD_BYTES}-byte limit of Step Functions",
                )
                outcome = CallbackOutcome.GONE
            else:
                outcome = self.callbacks.succeed(subscription.token, inbound.result_json)
            self.table.release(claimed, {subscription.attribute: inbound.message_id})
            delivered = delivered or outcome is CallbackOutcome.DELIVERED
            head = _without(claimed, [subscription.attribute])
        if dead:
            self.table.remove_subscriptions(head.key, dead)
            head = _without(head, dead)
        self._heads[head.key] = head
        return matched, delivered


def _without(head: Head, attributes: list[str]) -> Head:
    remaining = {k: v for k, v in head.subscriptions.items() if k not in attributes}
    return Head(head.key, head.version, remaining, head.buffered)


class SubscribeOutcome(Enum):
    WAITING = "waiting"
    DELIVERED = "delivered"  # a buffered message was handed over at once (G2)


def subscribe(
    table: CorrelationTable,
    callbacks: TaskCallbacks,
    *,
    message_name: str,
    correlation_key: str,
    task_token: str,
    condition: str | None,
    ttl_seconds: int | None,
    clock: Callable[[], float] = time.time,
) -> SubscribeOutcome:
    """Subscriber side: register, then take the oldest buffered message that matches, if any.

    The registering write returns the head as it is right after it, so every message
    buffered before this subscription existed is in view (G3). A retried call with the
    same token re-registers nothing and first finishes any hand-over it had begun (G4).
    """
    now = clock()
    key = head_key(message_name, correlation_key)
    head = table.subscribe(
        key,
        task_token,
        condition=condition,
        expires_at=int(now) + ttl_seconds if ttl_seconds else None,
        now=now,
    )
    attribute = subscription_attribute(task_token)
    expression = compile_expression(condition, name="activationCondition") if condition else None
    for _ in range(_MAX_CONFLICTS):
        me = head.subscriptions.get(attribute)
        if me is None:
            return SubscribeOutcome.DELIVERED  # served and released meanwhile
        buffered = {m.message_id: m for m in head.buffered.values() if m.available_to(attribute, now)}
        if me.claim not in buffered and not me.available_to(attribute, now):
            # Claimed, freshly, for a message that is not buffered: a consumer is delivering
            # it to us right now. (A claim for a buffered one is our own earlier attempt.)
            return SubscribeOutcome.WAITING
        # A retry first finishes the hand-over it had begun, then oldest first.
        candidates = sorted(buffered.values(), key=lambda m: (m.message_id != me.claim, m.arrived_at))
        if not candidates:
            return SubscribeOutcome.WAITING
        bodies = table.get_bodies(key, [m.message_id for m in candidates[:_MAX_CANDIDATES]])
        for candidate in candidates[:_MAX_CANDIDATES]:
            body = bodies.get(candidate.message_id)
            if body is None or not _accepts(expression, body.message):
                continue
            claimed = table.claim_buffered(key, attribute, candidate, now)
            if claimed is None:
                break  # someone else moved: look at the head again
            outcome = callbacks.succeed(task_token, json.dumps(body.result, separators=(",", ":")))
            if outcome is CallbackOutcome.DELIVERED:
                table.release(claimed, {attribute: candidate.message_id, candidate.attribute: attribute})
                return SubscribeOutcome.DELIVERED
            table.return_message(key, attribute, candidate)  # our own task is gone: leave the message
            return SubscribeOutcome.WAITING
        else:
            return SubscribeOutcome.WAITING  # nothing buffered matches this subscription
        head = table.get_head(key) or Head(key)
    raise TransientAwsError(f"correlation key {key!r} kept changing; retry later")


def _accepts(expression: Expression | None, message: dict[str, Any]) -> bool:
    if expression is None:
        return True
    try:
        return expression.is_true(expression_context(message))
    except ExpressionError:
        return False
