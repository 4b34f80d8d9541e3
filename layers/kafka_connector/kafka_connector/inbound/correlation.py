"""Correlate mode: messages meet waiting workflows, exactly once each (docs/guarantees.md).

The protocol is drawn in docs/correlation-table.md#claim-protocol. This module is the
consumer's side; the subscriber's side is :mod:`kafka_connector.inbound.subscriber`
(re-exported here as :func:`subscribe`).

Two parties write to the correlation table concurrently: the consumer, with a message
for (name, key), and the subscribe function, with a workflow that starts waiting for
(name, key). Each one writes what it brings and reads what the other brought *in the
same item*, and every hand-over is a conditional claim, so:

* a message resumes every subscription waiting for its key whose condition holds (G1),
  and is buffered only when none took it (G2);
* the consumer buffers a message only if nothing was added or claimed since it looked
  (the head's version), and a subscriber sees every message buffered before it in the
  same write that adds it: whichever comes second finds the first (G3);
* a hand-over ends with the message's *handled mark*, written with the release; a claim
  is refused once the mark exists and buffering is refused while it does, so a record
  delivered again — after a lost commit, a timeout, a fault at any point — never reaches
  anyone new; a claim an earlier attempt of the same record left is finished, and a
  "gone" answer on it means that attempt's callback got through (G4);
* a subscription whose task is gone is dropped and the message moves on (G5);
* a result too large for Step Functions fails the waiting task instead (G6).

With someone waiting for every key, a *run* of consecutive records of one partition is
handed over ahead of the records' turns, in the same steps but two requests for the whole
run (:mod:`kafka_connector.inbound.runs`); each record then takes its outcome in its
turn. Anything out of the ordinary goes the single hand-over's way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from kafka_connector.inbound.exceptions import MessageTooLarge, Rejected, TransientAwsError
from kafka_connector.inbound.expressions import ExpressionError, compile_expression
from kafka_connector.inbound.items import (
    HANDLED_MARK_SECONDS,
    BufferOutcome,
    ClaimStatus,
    HandledMark,
    Head,
    Released,
    Subscription,
    new_attempt,
)
from kafka_connector.inbound.message import Inbound, expression_context
from kafka_connector.inbound.runs import (
    HandOver,
    claim_all,
    release_actions,
    return_action,
    return_claims,
    select_run,
    write_all,
)
from kafka_connector.inbound.step_functions import CallbackOutcome, TaskCallbacks
from kafka_connector.inbound.subscriber import SubscribeOutcome, subscribe
from kafka_connector.inbound.table import ConditionFailed, CorrelationTable
from kafka_connector.limits import MAX_STEP_FUNCTIONS_PAYLOAD_BYTES

__all__ = ["Correlator", "Delivery", "SubscribeOutcome", "subscribe"]

logger = logging.getLogger(__name__)

_MAX_ROUNDS = 8  # reads of a key whose head keeps changing under us, per record
INVALID_CONDITION_ERROR = "ConnectorInputError"


class Delivery(Enum):
    DELIVERED = "delivered"
    BUFFERED = "buffered"
    DROPPED = "dropped"  # nobody waits and MESSAGE_TTL_SECONDS is 0
    DUPLICATE = "duplicate"  # a redelivered record: its message was handled (delivered or buffered) before
    TOO_LARGE = "too-large"  # G6: waiting tasks failed; the record goes to the dead-letter queue


@dataclass(frozen=True, slots=True)
class _Offer:
    """What offering a message to a head's subscriptions came to."""

    matched: bool = False  # some subscription's condition accepted it
    delivered: bool = False  # some subscription took it (or an earlier attempt's callback did)
    handled: bool = False  # its handled mark exists: a redelivered record
    changed: bool = False  # the head was not as read; ``head`` is as it is now
    head: Head | None = None


def _condition_holds(
    subscription: Subscription,
    context: dict[str, Any],
    callbacks: TaskCallbacks,
) -> bool | None:
    """Whether a subscription's own activation condition accepts the message.

    ``None`` means the condition itself is broken (possible for subscriptions written
    straight into the table): the waiting task is failed, since no message can ever
    satisfy it, rather than left waiting forever. A condition that fails on this message
    (an error while evaluating) does not accept it; the subscription waits on.
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
    """Consumer side: deliver or buffer each message; heads are read for a whole batch at once.

    What it knows of the table is kept per key: the head as last read (or as our own
    writes left it), and which messages were seen to have no handled mark *after* that
    head was read. A subscription in a head read before a message's hand-over completed
    was waiting during that hand-over, never after it; so a claim on such a head, checked
    against a later read of the mark, can never reach a subscriber that came after the
    message was handed over (G4). Whenever a head is read again, the marks are too.
    """

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
        self._unhandled: dict[str, set[str]] = {}  # key → message ids without a mark since its head was read
        self._batch: list[Inbound] = []  # the batch's records in order, for runs
        self._position: dict[int, int] = {}  # id(inbound) → its place in ``_batch``
        self._outcomes: dict[int, _Offer | Exception] = {}  # id(inbound) → its run's outcome for it
        #: Attempts whose claims no callback followed (taken back, or maybe left by a request
        #: whose answer was lost): such a claim is not "an earlier attempt's", its "gone" is gone.
        self._silent: set[str] = set()

    def prefetch(self, inbound: Iterable[Inbound]) -> None:
        """Read the heads of all keys of a batch, then the marks of the messages someone waits for.

        One request per 100 distinct keys, and — only for keys that have subscriptions —
        one per 100 of their messages: a redelivered record is then a duplicate at no cost.
        """
        records = list(inbound)
        self._batch = records
        self._position = {id(record): n for n, record in enumerate(records)}
        missing = {i.head for i in records} - self._heads.keys()
        if not missing:
            return
        for key, head in self.table.get_heads(sorted(missing)).items():
            self._read(key, head)
        waited_for = {
            (i.head, i.message_id) for i in records if i.head in missing and self._waited_for(i.head)
        }
        if waited_for:
            handled = self.table.handled(sorted(waited_for))
            for key, message_id in waited_for - handled:
                self._unhandled[key].add(message_id)

    def _waited_for(self, key: str) -> bool:
        head = self._heads.get(key)
        return bool(head and head.subscriptions)

    def _read(self, key: str, head: Head | None) -> None:
        """A head as just read from the table: what was known of its marks is out of date."""
        self._heads[key] = head
        self._unhandled[key] = set()

    def _head(self, key: str) -> Head | None:
        if key not in self._heads:
            self._read(key, self.table.get_head(key))
        return self._heads[key]

    def _handled(self, inbound: Inbound) -> bool:
        """Whether the message was handed over before, judged after its head was last read."""
        known = self._unhandled.setdefault(inbound.head, set())
        if inbound.message_id in known:
            return False
        if self.table.handled([(inbound.head, inbound.message_id)]):
            return True
        known.add(inbound.message_id)
        return False

    def _mark(self, inbound: Inbound, now: float) -> HandledMark:
        return HandledMark(inbound.head, inbound.message_id, int(now) + self._mark_seconds)

    @property
    def _mark_seconds(self) -> int:
        return max(self.ttl_seconds, HANDLED_MARK_SECONDS)

    def correlate(self, inbound: Inbound) -> Delivery:
        inbound.complete()  # a record that cannot be sent fails here, before anything is claimed
        planned = self._outcomes.pop(id(inbound), None)
        if planned is None:
            self._hand_over_run(inbound)
            planned = self._outcomes.pop(id(inbound), None)
        if isinstance(planned, Exception):
            raise planned
        attempt = new_attempt()
        key = inbound.head
        for _ in range(_MAX_ROUNDS):
            head = self._head(key)
            if planned is not None:
                offer, planned = planned, None
            elif head and head.subscriptions:
                offer = self._offer(head, inbound, attempt)
            else:
                offer = _Offer()
            if offer.handled:
                return Delivery.DUPLICATE
            if offer.changed:
                self._read(key, offer.head)
                continue
            if offer.matched and inbound.too_large:
                return Delivery.TOO_LARGE  # the waiting tasks were failed instead
            if offer.delivered:
                return Delivery.DELIVERED
            if self.ttl_seconds <= 0:
                return Delivery.DROPPED
            if inbound.too_large:
                return Delivery.TOO_LARGE  # cannot be buffered for a later subscription either
            now = self.clock()
            outcome = self.table.buffer(
                self._heads.get(key),
                key,
                inbound.message_id,
                inbound.complete(),
                inbound.buffered_result_json,
                expires_at=int(now) + self.ttl_seconds,
                keep_until=int(now) + self._mark_seconds,
                now=now,
            )
            if outcome is BufferOutcome.DUPLICATE:
                return Delivery.DUPLICATE
            if outcome is BufferOutcome.BUFFERED:
                # Our own write bumped the version; the next message for this key re-reads.
                self._heads.pop(key, None)
                return Delivery.BUFFERED
            self._read(key, self.table.get_head(key))  # a subscriber came in: look again
        raise TransientAwsError(f"correlation key {key!r} kept changing; retry later")

    def _offer(self, head: Head, inbound: Inbound, attempt: str) -> _Offer:
        """Offer the message to every waiting subscription of ``head`` at once.

        The subscriptions an earlier attempt of this record claimed are finished first,
        whatever their expiry (their condition held when they were claimed); then every
        unexpired, available one whose condition holds. All are claimed in one write,
        resumed one by one, and released in one write that leaves the handled mark.
        """
        message_id = inbound.message_id
        now = self.clock()
        context = expression_context(inbound.complete())
        mine: list[Subscription] = []
        fresh: list[Subscription] = []
        dead: list[str] = []
        for subscription in sorted(head.subscriptions.values(), key=lambda s: s.attribute):
            if subscription.claim == message_id and subscription.attempt not in self._silent:
                mine.append(subscription)
            elif not subscription.available_to(message_id, now):
                continue  # another message is being handed to it
            elif subscription.expired(now):
                dead.append(subscription.attribute)
            else:
                holds = _condition_holds(subscription, context, self.callbacks)
                if holds is None:
                    dead.append(subscription.attribute)
                elif holds:
                    fresh.append(subscription)
        wanted = mine + fresh
        if not wanted:
            if dead:
                self.table.remove_subscriptions(head.key, dead)
                self._heads[head.key] = head.without(set(dead))
            return _Offer()
        if self._handled(inbound):
            return _Offer(handled=True)
        status, claimed = self.table.claim_subscriptions(head, wanted, message_id, attempt, now)
        if status is ClaimStatus.CHANGED or claimed is None:
            return _Offer(changed=True, head=claimed)
        delivered = False
        for subscription in wanted:
            outcome = self._call_back(subscription, inbound)
            # "Gone" on a claim an earlier attempt left means its callback got through.
            delivered = delivered or outcome is CallbackOutcome.DELIVERED or subscription in mine
        released = self.table.release(
            claimed,
            {s.attribute: message_id for s in wanted},
            attempt,
            dead=dead,
            mark=self._mark(inbound, now) if delivered else None,
        )
        return self._released(inbound, released, delivered)

    def _released(self, inbound: Inbound, released: Released, delivered: bool) -> _Offer:
        """What a hand-over came to, once released; the head as the release left it is kept."""
        key = inbound.head
        if released.reread:
            self._read(key, released.head)
        else:
            self._heads[key] = released.head
        if delivered:  # handled now: a later record with the same id must read the mark
            self._unhandled.setdefault(key, set()).discard(inbound.message_id)
        delivered = delivered or bool(released.taken_over)
        if released.reread and not delivered:
            # The head changed during the hand-over (someone subscribed): offer the message to
            # it as it is now, rather than buffer it beside a subscription that waits for it.
            return _Offer(matched=True, changed=True, head=released.head)
        return _Offer(matched=True, delivered=delivered)

    # -- runs: many hand-overs in two requests ------------------------------------------------

    def _hand_over_run(self, first: Inbound) -> None:
        """Hand over ``first`` and the records after it in its partition, ahead of their turns.

        A run (:func:`~kafka_connector.inbound.runs.select_run`) takes two records or more.
        Claimed in one transaction, resumed in order, released in one transaction; each
        record's outcome is kept for its turn. The run stops calling back at a record whose
        callback failed (held back in its turn, its claims left for its retry, as a single
        hand-over's) or that needs buffering (done in its turn): the records after it get
        their claims back and are handed over alone, in order, in their turns.
        """
        position = self._position.get(id(first))
        if position is None:
            return
        now = self.clock()
        run = select_run(self._batch, position, self._heads, self._unhandled, now)
        for _ in range(2):  # a refused claim cuts the run before that record, once
            if len(run) < 2:
                return
            try:
                claim_all(self.table, run, now)
            except ConditionFailed as failed:  # some heads changed: each is as the table shows it now
                for hand_over, item, refused in zip(run, failed.items, failed.failed, strict=False):
                    if refused:
                        self._read(hand_over.inbound.head, Head.from_item(item) if item else None)
                # Not followed by a callback, whatever the table shows (our own claim, if the
                # transaction was made twice): the records try again as new attempts.
                self._silent.update(hand_over.attempt for hand_over in run)
                run = [replace(h, attempt=new_attempt()) for h in run[: failed.failed.index(True)]]
                continue
            except Rejected:  # one of the records' requests can never succeed: each finds out alone
                self._forget(run)
                return
            except TransientAwsError:
                self._give_back(run)  # it may have taken effect
                return
            self._call_back_run(run, now)
            return

    def _call_back_run(self, run: list[HandOver], now: float) -> None:
        called: list[tuple[HandOver, bool]] = []
        rest: list[HandOver] = []
        for n, hand_over in enumerate(run):
            inbound = hand_over.inbound
            self._heads[inbound.head] = hand_over.claimed(now)
            try:
                outcomes = [self._call_back(s, inbound) for s in hand_over.wanted]
            except Exception as error:  # its claims stay for its retry to finish; held back in its turn
                self._outcomes[id(inbound)] = error
                rest = run[n + 1 :]
                break
            delivered = CallbackOutcome.DELIVERED in outcomes
            called.append((hand_over, delivered))
            if not delivered and self.ttl_seconds > 0:
                rest = run[n + 1 :]  # buffered in its turn: the records after it wait for that
                break
        self._release_run(called, rest, now)

    def _release_run(self, called: list[tuple[HandOver, bool]], rest: list[HandOver], now: float) -> None:
        """Release what was called back, with the marks, and give back the rest: one request."""
        actions = [return_action(self.table, hand_over) for hand_over in rest]
        for hand_over, delivered in called:
            mark = self._mark(hand_over.inbound, now) if delivered else None
            actions += release_actions(self.table, hand_over, now, mark)
        try:
            write_all(self.table, actions)
        except Exception:
            # Nothing done, or done with its answer lost: each release alone finds out which.
            for hand_over, delivered in called:
                self._outcomes[id(hand_over.inbound)] = self._release_alone(hand_over, delivered, now)
            self._give_back(rest)
            return
        for hand_over, delivered in called:
            released = Released(hand_over.released(now))
            self._outcomes[id(hand_over.inbound)] = self._released(hand_over.inbound, released, delivered)
        self._forget(rest)

    def _release_alone(self, hand_over: HandOver, delivered: bool, now: float) -> _Offer | Exception:
        try:
            released = self.table.release(
                hand_over.claimed(now),
                hand_over.owned,
                hand_over.attempt,
                mark=self._mark(hand_over.inbound, now) if delivered else None,
            )
        except Exception as error:  # held back in its turn; its retry finishes the hand-over
            return error
        return self._released(hand_over.inbound, released, delivered)

    def _give_back(self, run: list[HandOver]) -> None:
        """Take back claims no callback followed (best effort), then :meth:`_forget` them."""
        if run:
            return_claims(self.table, run)
        self._forget(run)

    def _forget(self, run: list[HandOver]) -> None:
        """Records whose claims no callback followed: handed over alone in their turns, heads read again.

        A claim of theirs still in the table (not taken back) is not "an earlier attempt's":
        its "gone" means gone.
        """
        for hand_over in run:
            self._silent.add(hand_over.attempt)
            self._heads.pop(hand_over.inbound.head, None)

    def _call_back(self, subscription: Subscription, inbound: Inbound) -> CallbackOutcome:
        if inbound.too_large:
            return self.callbacks.fail(
                subscription.token,
                MessageTooLarge.error,
                f"message {inbound.message_id} is {inbound.result_size} bytes,"
                f" over the {MAX_STEP_FUNCTIONS_PAYLOAD_BYTES}-byte limit of Step Functions",
            )
        return self.callbacks.succeed(subscription.token, inbound.result_json)
