"""Runs: many hand-overs for the price of two writes — which records form one, and its requests.

With someone waiting for every key, handing each message over alone costs three requests
(claim, callback, release). The consumer hands over a *run* instead — up to 50 consecutive
records of one partition with distinct keys, each with subscriptions to claim — with one
``TransactWriteItems`` claiming them all, the callbacks one by one, and one more
``TransactWriteItems`` releasing them all with their handled marks
(docs/correlation-table.md#runs). Each action is the single hand-over's own request
(:class:`~kafka_connector.inbound.table.CorrelationTable`), the claim with one condition
more: ``version`` as read, so the head each claim leaves is known without reading it back.

A transaction does everything or nothing. When it does nothing — a condition failed, or
the request failed, maybe after taking effect — the consumer goes back to the single
hand-over's requests, which sort out every case on their own
(:meth:`~kafka_connector.inbound.correlation.Correlator._hand_over_run`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka_connector.inbound.expressions import compile_expression
from kafka_connector.inbound.items import HandledMark, Head, Subscription, new_attempt
from kafka_connector.inbound.message import Inbound, expression_context
from kafka_connector.inbound.table import CorrelationTable
from kafka_connector.limits import MAX_TRANSACT_WRITE_ITEMS

#: Records in one run: its release transaction holds a release and a handled mark for each.
MAX_RUN = MAX_TRANSACT_WRITE_ITEMS // 2


@dataclass(frozen=True, slots=True)
class HandOver:
    """One record's part of a run: the subscriptions of ``head`` (as read) it claims for its message."""

    inbound: Inbound
    head: Head
    wanted: tuple[Subscription, ...]
    attempt: str

    @property
    def owned(self) -> dict[str, str]:
        """Each claimed entry and its claim value (what a release checks)."""
        return {s.attribute: self.inbound.message_id for s in self.wanted}

    def claimed(self, now: float) -> Head:
        """The head as this record's claim in the run's transaction left it."""
        return self.head.claimed(self.owned, self.inbound.message_id, self.attempt, now)

    def released(self, now: float) -> Head | None:
        """The head as this record's release left it (``None``: deleted, nothing else was in it)."""
        if self.head.entries <= set(self.owned):
            return None
        return self.claimed(now).without(set(self.owned))


# -- which records form a run -----------------------------------------------------------------


def select_run(
    batch: Sequence[Inbound],
    position: int,
    heads: Mapping[str, Head | None],
    unhandled: Mapping[str, set[str]],
    now: float,
) -> list[HandOver]:
    """The run starting at ``batch[position]``: as long as the records can be handed over together.

    The records of its partition from there on, at consecutive offsets (a record between
    them — skipped, or failed before its turn — must come first), with distinct keys, each
    :func:`plain`; at most ``MAX_RUN``. Records of a partition are together in a Lambda event.
    """
    records = batch[position : position + MAX_RUN]
    if len(records) < 2 or not _follows(records[0], records[1]):
        return []  # no run: before anything is evaluated
    run: list[HandOver] = []
    keys: set[str] = set()
    for n, inbound in enumerate(records):
        if n and not _follows(records[n - 1], inbound):
            break
        hand_over = None if inbound.head in keys else plain(inbound, heads, unhandled, now)
        if hand_over is None:
            break
        keys.add(inbound.head)
        run.append(hand_over)
    return run


def _follows(before: Inbound, record: Inbound) -> bool:
    """Whether ``record`` is the next record of ``before``'s partition (the offset after it)."""
    a, b = before.message, record.message
    return (a["topic"], a["partition"], a["offset"] + 1) == (b["topic"], b["partition"], b["offset"])


def plain(
    inbound: Inbound, heads: Mapping[str, Head | None], unhandled: Mapping[str, set[str]], now: float
) -> HandOver | None:
    """The record's hand-over if it can be part of a run, else ``None`` (it is handed over alone).

    Its head was read with subscriptions and its mark after it (so nothing more is read),
    some subscriptions accept it, and none is out of the ordinary: claimed by an earlier
    attempt of this record, expired, or with a condition that cannot be evaluated quietly.
    """
    key = inbound.head
    head = heads.get(key)
    if head is None or not head.subscriptions or inbound.message_id not in unhandled.get(key, ()):
        return None
    try:
        context = expression_context(inbound.complete())
        if inbound.too_large:
            return None
    except Exception:
        return None  # it fails in its turn, with nothing claimed
    wanted: list[Subscription] = []
    for subscription in sorted(head.subscriptions.values(), key=lambda s: s.attribute):
        if subscription.claim == inbound.message_id:
            return None
        if not subscription.available_to(inbound.message_id, now):
            continue  # another message is being handed to it
        accepts = None if subscription.expired(now) else _accepts(subscription, context)
        if accepts is None:
            return None
        if accepts:
            wanted.append(subscription)
    return HandOver(inbound, head, tuple(wanted), new_attempt()) if wanted else None


def _accepts(subscription: Subscription, context: dict[str, Any]) -> bool | None:
    """Whether a subscription's condition accepts the message; ``None`` if that is not plain to say."""
    if not subscription.condition:
        return True
    try:
        expression = compile_expression(subscription.condition, name="activationCondition")
        return expression is None or expression.is_true(context)
    except Exception:  # does not parse, or fails on this message: the single hand-over deals with it
        return None


# -- the run's requests ---------------------------------------------------------------------------


def claim_all(table: CorrelationTable, run: Iterable[HandOver], now: float) -> None:
    """Claim every record's subscriptions, in one transaction, if every head is exactly as read.

    Raises :class:`~kafka_connector.inbound.table.ConditionFailed` (which heads changed, as
    they are now), or the single requests' errors.
    """
    actions = []
    for hand_over in run:
        update = table._claim_update(hand_over.head, hand_over.owned, hand_over.attempt, now)
        values = update["ExpressionAttributeValues"]
        if hand_over.head.version:
            values[":v"] = {"N": str(hand_over.head.version)}
            version = "version = :v"
        else:  # a head nobody wrote a version to (the connector always does)
            version = "attribute_not_exists(version)"
        update["ConditionExpression"] += f" AND {version}"  # every part is in parentheses already
        actions.append({"Update": update})
    table._call("transact_write_items", TransactItems=actions)


def release_actions(
    table: CorrelationTable, hand_over: HandOver, now: float, mark: HandledMark | None
) -> list[dict[str, Any]]:
    """The release of one record's claims, on the head as its claim left it, and its handled mark."""
    owned = hand_over.owned
    release = table._release_operation(hand_over.claimed(now), set(owned), owned, hand_over.attempt)
    return [release, *([table._mark_put(mark)] if mark else [])]


def return_action(table: CorrelationTable, hand_over: HandOver) -> dict[str, Any]:
    """Take back claims no callback followed: each entry as before the claim, if still this attempt's."""
    names = {f"#e{i}": s.attribute for i, s in enumerate(hand_over.wanted)}
    removed = [f"{name}.{field}" for name in names for field in ("claim", "claimedAt", "attempt")]
    return {
        "Update": {
            "TableName": table.table_name,
            "Key": {"pk": {"S": hand_over.head.key}},
            "UpdateExpression": "REMOVE " + ", ".join(removed),
            "ConditionExpression": " AND ".join(f"{name}.attempt = :a" for name in names),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":a": {"S": hand_over.attempt}},
        }
    }


def write_all(table: CorrelationTable, actions: list[dict[str, Any]]) -> None:
    """One write for ``actions`` (a transaction when there are several)."""
    if actions:
        table._write(actions)


def return_claims(table: CorrelationTable, run: Sequence[HandOver]) -> None:
    """Take back the claims of ``run``: one transaction, else one request per record; best effort.

    Used for claims no callback followed, also after a request whose effect is unknown:
    claims that are not (or no longer) this attempt's are left alone, and what cannot be
    taken back stays a claim of this attempt, for the record's retry to finish.
    """
    try:
        write_all(table, [return_action(table, hand_over) for hand_over in run])
    except Exception:
        if len(run) > 1:
            for hand_over in run:
                with contextlib.suppress(Exception):
                    write_all(table, [return_action(table, hand_over)])
