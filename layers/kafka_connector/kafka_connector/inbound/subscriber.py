"""Correlate mode, the subscriber's side: a workflow starts waiting, and may be served at once.

The subscribe function (``functions/subscribe/app.py``) registers a task token for
(name, key) in the correlation table; when a matching message is already buffered
(``MESSAGE_TTL_SECONDS`` > 0), it hands the oldest one over at once. The protocol is in
docs/correlation-table.md#claim-protocol; the consumer's side is
:mod:`kafka_connector.inbound.correlation`.

Step Functions may run the subscribe task more than once for one token — a ``Retry`` after
a timeout or an error, possibly while the first run still works — so every run is a
possible twin of another, and the hand-over is written for that (G4):

* registering is idempotent per token (``if_not_exists``);
* a run finishes a hand-over an earlier run of its token claimed before starting another;
  a "gone" answer on such a claim means that run's callback got through, so the message
  is released as delivered, never returned to the buffer;
* a message is returned to the buffer only by the run whose claim it still carries, so
  a run whose claim a twin re-claimed leaves the message to the twin;
* a buffered message's claim never lapses for another subscriber: a claim left by a run
  that crashed is finished *for its own token* by whoever finds it, so a message reaches
  at most one taker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

from kafka_connector.inbound.exceptions import TransientAwsError
from kafka_connector.inbound.expressions import Expression, ExpressionError, compile_expression
from kafka_connector.inbound.items import (
    HANDLED_MARK_SECONDS,
    BufferedMessage,
    ClaimStatus,
    HandledMark,
    Head,
    Subscription,
    new_attempt,
)
from kafka_connector.inbound.keys import head_key, subscription_attribute
from kafka_connector.inbound.message import expression_context
from kafka_connector.inbound.step_functions import CallbackOutcome, TaskCallbacks
from kafka_connector.inbound.table import CorrelationTable

logger = logging.getLogger(__name__)

_MAX_ROUNDS = 8
_MAX_CANDIDATES = 25  # buffered messages looked at per round


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
    """Register, then take the oldest buffered message that matches, if any.

    The registering write returns the head as it is right after it, so every message
    buffered before this subscription existed is in view (G3). A hand-over an earlier run
    with the same token claimed is finished first (G4).
    """
    now = clock()
    key = head_key(message_name, correlation_key)
    head: Head | None = table.subscribe(
        key,
        task_token,
        condition=condition,
        expires_at=int(now) + ttl_seconds if ttl_seconds else None,
        now=now,
    )
    attribute = subscription_attribute(task_token)
    expression = compile_expression(condition, name="activationCondition") if condition else None
    attempt = new_attempt()
    for _ in range(_MAX_ROUNDS):
        now = clock()
        me = head.subscriptions.get(attribute) if head else None
        if head is None or me is None:
            return SubscribeOutcome.DELIVERED  # served and released meanwhile
        lapsed = _lapsed_handover(head, attribute, now)
        if lapsed is not None:
            head = _finish_for_its_claimant(table, callbacks, head, lapsed, attempt=attempt, now=now)
            continue
        mine = [m for m in head.buffered.values() if m.claim == attribute]
        if not mine and not me.available_to(attribute, now):
            # Claimed, freshly, for a message that is not buffered: a consumer is handing it
            # to us right now.
            return SubscribeOutcome.WAITING
        waiting = [m for m in head.buffered.values() if m.claim is None and m.available_to(attribute, now)]
        candidates = (mine + sorted(waiting, key=lambda m: (m.arrived_at, m.message_id)))[:_MAX_CANDIDATES]
        if not candidates:
            return SubscribeOutcome.WAITING
        bodies = table.get_bodies(key, [m.message_id for m in candidates])
        for candidate in candidates:
            body = bodies.get(candidate.message_id)
            ours = candidate.claim == attribute  # an earlier run with our token claimed it
            if body is None or not (ours or _accepts(expression, body.message)):
                continue
            status, claimed = table.claim_buffered(head, me, candidate, attempt, now)
            if status is not ClaimStatus.CLAIMED or claimed is None:
                head = claimed
                break  # someone else moved: look at the head again
            outcome = callbacks.succeed(task_token, body.result_json)
            if outcome is CallbackOutcome.DELIVERED or ours:
                table.release(
                    claimed,
                    {attribute: candidate.message_id, candidate.attribute: attribute},
                    attempt,
                    mark=_mark(key, candidate, now),
                )
                return SubscribeOutcome.DELIVERED
            # Our own task is gone. Unless a twin run re-claimed the message (it then counts
            # it as delivered), the message goes back to the buffer for the next subscriber.
            table.return_message(claimed, attribute, candidate, attempt)
            return SubscribeOutcome.WAITING
        else:
            return SubscribeOutcome.WAITING  # nothing buffered matches this subscription
    raise TransientAwsError(f"correlation key {key!r} kept changing; retry later")


def _mark(key: str, message: BufferedMessage, now: float) -> HandledMark:
    """The handled mark of a buffered message: a week, or as long as its body was to be kept."""
    return HandledMark(key, message.message_id, max(int(now) + HANDLED_MARK_SECONDS, message.expires_at))


def _lapsed_handover(head: Head, attribute: str, now: float) -> tuple[BufferedMessage, Subscription] | None:
    """A buffered message whose hand-over to another subscription was left by a crash, if any."""
    for message in head.buffered.values():
        if message.claim == attribute or message.claim is None or not message.lapsed(now):
            continue
        claimant = head.subscriptions.get(message.claim)
        if claimant is not None and claimant.claim == message.message_id:
            return message, claimant
    return None


def _finish_for_its_claimant(
    table: CorrelationTable,
    callbacks: TaskCallbacks,
    head: Head,
    lapsed: tuple[BufferedMessage, Subscription],
    *,
    attempt: str,
    now: float,
) -> Head | None:
    """Finish a crashed run's hand-over for the token it was meant for, never for anyone else.

    The crashed run may have resumed its task just before it crashed; only that task's
    token can tell, and Step Functions accepts one callback per token. So the message is
    sent to it again: accepted, the hand-over completes late; "gone", it had completed (or
    that task ended). Either way the message leaves the buffer as delivered.
    """
    message, claimant = lapsed
    logger.warning("finishing a buffered message's hand-over left by a crash: %s", message.message_id)
    body = table.get_bodies(head.key, [message.message_id]).get(message.message_id)
    status, claimed = table.claim_buffered(head, claimant, message, attempt, now)
    if status is not ClaimStatus.CLAIMED or claimed is None:
        return claimed
    if body is not None:
        callbacks.succeed(claimant.token, body.result_json)
    released = table.release(
        claimed,
        {claimant.attribute: message.message_id, message.attribute: claimant.attribute},
        attempt,
        mark=_mark(head.key, message, now),
    )
    return released.head


def _accepts(expression: Expression | None, message: dict[str, Any]) -> bool:
    if expression is None:
        return True
    try:
        return expression.is_true(expression_context(message))
    except ExpressionError:
        return False
