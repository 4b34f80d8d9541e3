"""The correlation table: where waiting workflows and unclaimed messages meet (docs/correlation-table.md).

One *head* item per (message name, correlation key) holds everything the consumer must
see to correlate a message, so a batch of records costs one strongly consistent
``BatchGetItem`` per 100 distinct keys, whoever is waiting::

    pk         "<messageName>#<correlationKey>"
    version    N   bumped by every write that adds a subscription or a message, or claims
    expiresAt  N   DynamoDB TTL; a year ahead, refreshed by each such writer
    sub_<sha256(task token)>  M  {token, condition?, expiresAt?, createdAt?, claim?, claimedAt?, attempt?}
    msg_<sha256(message id)>  M  {id, at, expiresAt, claim?, claimedAt?, attempt?}

Subscriptions are top-level attributes so that a waiting workflow can add itself with a
single ``UpdateItem`` (the subscribe function, or a state machine's own
``aws-sdk:dynamodb:updateItem.waitForTaskToken``) without rewriting anyone else's. A
message's *body* item (``msg#…``) holds a buffered message's payload; once the message is
handed over, the same item is its payload-free *handled mark*. Either way it says "this
message id was handled": a redelivered record is a duplicate (G4).

Every hand-over is a *claim*: a conditional write marking a subscription (and a buffered
message) as taken, conditioned on the entry being exactly as it was read, so concurrent
consumers and subscribers never hand over the same thing twice. A claim carries its
attempt's id, so a release tells its own claim from a twin attempt's (the same record
redelivered, the same task token subscribed again).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from kafka_connector.aws.clients import AwsClient
from kafka_connector.aws.errors import error_code, is_permanent
from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.exceptions import MessageTooLarge, Rejected, TransientAwsError
from kafka_connector.inbound.items import (
    BufferedBody,
    BufferedMessage,
    BufferOutcome,
    ClaimStatus,
    Entry,
    HandledMark,
    Head,
    Released,
    Subscription,
    body_values,
    from_item,
    item_size,
    to_item,
)
from kafka_connector.inbound.keys import body_key, message_attribute, subscription_attribute
from kafka_connector.limits import MAX_DYNAMODB_ITEM_BYTES, MAX_LIFETIME_SECONDS

_BATCH_GET_LIMIT = 100
_UNPROCESSED_RETRIES = 8
_RELEASE_ROUNDS = 8
_CONDITION_FAILED = "ConditionalCheckFailed"


class ConditionFailed(Exception):
    """A write's condition did not hold: part of the protocol, not an error.

    ``items`` are the items as they are now, one per operation of the request (``None``
    where the item does not exist or its condition held), from
    ``ReturnValuesOnConditionCheckFailure``; ``failed`` says which conditions failed.
    """

    def __init__(self, items: list[dict[str, Any] | None], failed: list[bool]) -> None:
        super().__init__("condition failed")
        self.items = items
        self.failed = failed


def _sorted(operation: str, error: Exception) -> NoReturn:
    """Raise ``error`` as the protocol sees it: a failed condition, permanent, or transient."""
    if isinstance(error, ClientError):
        code = error_code(error)
        if code == "ConditionalCheckFailedException":
            item: dict[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
            raise ConditionFailed([item], [True]) from error
        if code == "TransactionCanceledException":
            reasons = error.response.get("CancellationReasons", [])
            codes = [str(r.get("Code") or "None") for r in reasons]
            if _CONDITION_FAILED in codes and set(codes) <= {_CONDITION_FAILED, "None"}:
                items: list[dict[str, Any] | None] = [
                    dict(r["Item"]) if r.get("Item") else None for r in reasons
                ]
                raise ConditionFailed(items, [c == _CONDITION_FAILED for c in codes]) from error
            if "ValidationError" in codes:
                raise Rejected(f"DynamoDB {operation} cancelled: {codes}") from error
            raise TransientAwsError(f"DynamoDB {operation} cancelled: {codes}") from error
        if is_permanent(error):  # the request itself is wrong (an item over 400 KB, ...)
            message = error.response.get("Error", {}).get("Message", "")
            raise Rejected(f"DynamoDB {operation}: {code}: {message}") from error
        raise TransientAwsError(f"DynamoDB {operation}: {code}") from error
    raise TransientAwsError(f"DynamoDB {operation}: {type(error).__name__}") from error


class CorrelationTable:
    """The table's operations, each one request, each safe against every concurrent other."""

    dynamodb = AwsClient("dynamodb")

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One request; a failed condition is :class:`ConditionFailed`, other failures sorted."""
        try:
            response: dict[str, Any] = getattr(self.dynamodb, operation)(**kwargs)
            return response
        except (ClientError, BotoCoreError) as error:
            _sorted(operation, error)

    def _write(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        """One write: a single operation as itself, several as one transaction."""
        if len(operations) > 1:
            return self._call("transact_write_items", TransactItems=operations)
        [(kind, request)] = operations[0].items()
        call = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}[kind]
        return self._call(call, **request)

    # -- reads -------------------------------------------------------------------------

    def _batch_get(self, keys: Iterable[str], projection: str | None = None) -> Iterator[dict[str, Any]]:
        """Items for ``keys``, strongly consistent: one request per 100 keys, plus backed-off
        retries for what DynamoDB leaves unprocessed (bounded: then it is a transient error)."""
        wanted = list(dict.fromkeys(keys))
        read: dict[str, Any] = {"ConsistentRead": True}
        if projection:
            read["ProjectionExpression"] = projection
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            pending = [{"pk": {"S": k}} for k in wanted[start : start + _BATCH_GET_LIMIT]]
            for attempt in range(_UNPROCESSED_RETRIES):
                response = self._call(
                    "batch_get_item", RequestItems={self.table_name: {"Keys": pending, **read}}
                )
                yield from response.get("Responses", {}).get(self.table_name, [])
                pending = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise TransientAwsError("DynamoDB BatchGetItem left keys unprocessed")

    def get_heads(self, keys: Iterable[str]) -> dict[str, Head | None]:
        """Strongly consistent heads for ``keys`` (``None`` for a key nobody has written)."""
        wanted = list(keys)
        heads: dict[str, Head | None] = dict.fromkeys(wanted)
        for item in self._batch_get(wanted):
            head = Head.from_item(item)
            heads[head.key] = head
        return heads

    def get_head(self, key: str) -> Head | None:
        item = self._call(
            "get_item", TableName=self.table_name, Key={"pk": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return Head.from_item(item) if item else None

    def get_bodies(self, head: str, message_ids: Iterable[str]) -> dict[str, BufferedBody]:
        """Payloads of buffered messages, by message id (a handled mark has none)."""
        by_key = {body_key(head, i): i for i in message_ids}
        bodies: dict[str, BufferedBody] = {}
        for item in self._batch_get(by_key):
            values = from_item(item)
            if "message" in values and "result" in values:
                bodies[by_key[values["pk"]]] = BufferedBody(json.loads(values["message"]), values["result"])
        return bodies

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(
        self,
        key: str,
        task_token: str,
        *,
        condition: str | None,
        expires_at: int | None,
        now: float,
    ) -> Head:
        """Add a subscription (idempotent for the same token); returns the head after the write."""
        attribute = subscription_attribute(task_token)
        subscription = {
            "token": task_token,
            "condition": condition,
            "expiresAt": expires_at,
            "createdAt": int(now),
        }
        try:
            response = self._call(
                "update_item",
                TableName=self.table_name,
                Key={"pk": {"S": key}},
                UpdateExpression="SET #s = if_not_exists(#s, :s), expiresAt = :far ADD version :one",
                ExpressionAttributeNames={"#s": attribute},
                ExpressionAttributeValues={
                    ":s": {"M": to_item(subscription)},
                    ":far": {"N": str(int(now) + MAX_LIFETIME_SECONDS)},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )
        except Rejected as rejected:
            # The subscription's own input made DynamoDB refuse it: the workflow must know now.
            raise ConnectorInputError(
                f"the correlation table refused the subscription for {key!r}: {rejected}",
                f"One correlation key's item holds at most {MAX_DYNAMODB_ITEM_BYTES} bytes: about 400"
                " workflows can wait for the same key at once (fewer with long activation conditions).",
            ) from None
        return Head.from_item(response["Attributes"])

    def claim_subscriptions(
        self,
        head: Head,
        wanted: Iterable[Subscription],
        message_id: str,
        attempt: str,
        now: float,
    ) -> tuple[ClaimStatus, Head | None]:
        """Claim ``wanted`` for one message, in one write, if each is exactly as ``head`` shows it.

        A claim taken by anyone since the read — another message, a twin attempt of this
        record — makes this one fail, so the caller decides again on the head as it is now
        (returned with ``CHANGED``). Otherwise returns the head as the claim left it.
        """
        update = self._claim_update(head, {s.attribute: message_id for s in wanted}, attempt, now)
        return self._claim(update)

    def _claim(self, update: dict[str, Any]) -> tuple[ClaimStatus, Head | None]:
        """Run one claim update: the head as the claim left it, or (``CHANGED``) as it is now."""
        try:
            response = self._call("update_item", **update, ReturnValues="ALL_NEW")
        except ConditionFailed as failed:
            current = failed.items[0]
            return ClaimStatus.CHANGED, Head.from_item(current) if current else None
        return ClaimStatus.CLAIMED, Head.from_item(response["Attributes"])

    def handled(self, messages: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (head, message id) pairs have a handled mark (or a buffered body): strongly consistent.

        One ``BatchGetItem`` per 100 messages; for one message, one ``GetItem``.
        """
        by_key = {body_key(head, message_id): (head, message_id) for head, message_id in messages}
        if len(by_key) == 1:
            [(key, message)] = by_key.items()
            item = self._call(
                "get_item",
                TableName=self.table_name,
                Key={"pk": {"S": key}},
                ConsistentRead=True,
                ProjectionExpression="pk",
            ).get("Item")
            return {message} if item else set()
        return {by_key[item["pk"]["S"]] for item in self._batch_get(by_key, projection="pk")}

    def _claim_update(
        self, head: Head, claims: Mapping[str, str], attempt: str, now: float
    ) -> dict[str, Any]:
        """``Update`` writing ``claims`` (entry → claim value), if every entry is as ``head`` shows it."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {":a": {"S": attempt}, ":now": {"N": str(int(now))}, ":one": {"N": "1"}}
        sets: list[str] = []
        conditions: list[str] = []
        for i, (attribute, claim) in enumerate(claims.items()):
            entry = head.entry(attribute)
            assert entry is not None  # callers claim what they read
            names[f"#e{i}"] = attribute
            values[f":c{i}"] = {"S": claim}
            sets += [f"#e{i}.claim = :c{i}", f"#e{i}.claimedAt = :now", f"#e{i}.attempt = :a"]
            conditions.append(_as_read(f"#e{i}", entry, values, i))
        return {
            "TableName": self.table_name,
            "Key": {"pk": {"S": head.key}},
            "UpdateExpression": "SET " + ", ".join(sets) + " ADD version :one",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def release(
        self,
        head: Head,
        owned: Mapping[str, str],
        attempt: str,
        *,
        dead: Iterable[str] = (),
        mark: HandledMark | None = None,
    ) -> Released:
        """End a hand-over: remove the entries ``attempt`` claimed, and leave ``mark``, at once.

        ``owned`` maps each claimed entry to its claim value; each is removed only while it
        still carries this attempt's claim. ``dead`` entries (expired subscriptions, ones
        whose condition does not parse) go in the same write. ``head`` is the item as the
        claim left it: if it holds nothing else, the whole item is deleted, conditioned on
        its version (which any new subscription, message or claim bumps). The handled mark
        is written in the same transaction, so a message is never released without it.

        A condition that fails shows the item as it is now: entries a twin attempt
        re-claimed (same claim, other attempt) are its to finish and are reported as
        ``taken_over``; entries gone were finished by it already; the rest is tried again.
        """
        pending = dict(owned)
        taken_over: set[str] = set()
        current: Head | None = head
        reread = False
        for _ in range(_RELEASE_ROUNDS):
            if current is None or not pending:
                break
            remove = set(pending) | (set(dead) & current.entries)
            operation = self._release_operation(current, remove, pending, attempt)
            try:
                self._write([operation, *([self._mark_put(mark)] if mark else [])])
            except ConditionFailed as failed:
                item = failed.items[0]
                current, reread = (Head.from_item(item) if item else None), True
                for attribute, claim in list(pending.items()):
                    entry = current.entry(attribute) if current else None
                    if entry is None or entry.attempt != attempt:
                        del pending[attribute]
                        if entry is not None and entry.claim == claim:
                            taken_over.add(attribute)
                continue
            left = None if "Delete" in operation else current.without(remove)
            return Released(left, frozenset(taken_over), reread)
        else:
            raise TransientAwsError(f"correlation key {head.key!r} kept changing during a release")
        if mark is not None:
            # Nothing of ours is left to remove (a twin attempt finished it): the mark must still be left.
            self._put_mark_alone(mark)
        return Released(current, frozenset(taken_over), reread)

    def _release_operation(
        self, head: Head, remove: set[str], owned: Mapping[str, str], attempt: str
    ) -> dict[str, Any]:
        names = {f"#e{i}": attribute for i, attribute in enumerate(sorted(remove))}
        placeholder = {attribute: name for name, attribute in names.items()}
        condition = " AND ".join(f"{placeholder[a]}.attempt = :a" for a in owned)
        values: dict[str, Any] = {":a": {"S": attempt}}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": head.key}},
            "ExpressionAttributeNames": names,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if head.entries <= remove:
            values[":v"] = {"N": str(head.version)}
            request |= {
                "ConditionExpression": f"version = :v AND {condition}",
                "ExpressionAttributeNames": {placeholder[a]: a for a in owned},  # a delete names no others
                "ExpressionAttributeValues": values,
            }
            return {"Delete": request}
        request |= {
            "UpdateExpression": "REMOVE " + ", ".join(names),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        return {"Update": request}

    def _mark_put(self, mark: HandledMark) -> dict[str, Any]:
        return {"Put": {"TableName": self.table_name, "Item": to_item(mark.values(time.time()))}}

    def _put_mark_alone(self, mark: HandledMark) -> None:
        """The mark without a release; never over a buffered payload (a message on offer keeps it)."""
        put = self._mark_put(mark)["Put"]
        put["ConditionExpression"] = "attribute_not_exists(pk) OR attribute_not_exists(message)"
        with contextlib.suppress(ConditionFailed):
            self._call("put_item", **put)

    def remove_subscriptions(self, key: str, attributes: Iterable[str]) -> None:
        """Drop subscriptions known to be dead (expired, or their condition does not parse)."""
        names = {f"#a{i}": attribute for i, attribute in enumerate(attributes)}
        if not names:
            return
        with contextlib.suppress(ConditionFailed):  # the head is gone already
            self._call(
                "update_item",
                TableName=self.table_name,
                Key={"pk": {"S": key}},
                UpdateExpression="REMOVE " + ", ".join(names),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
            )

    # -- buffered messages ------------------------------------------------------------------

    def buffer(
        self,
        head: Head | None,
        key: str,
        message_id: str,
        message: Any,
        result_json: str,
        *,
        expires_at: int,
        keep_until: int,
        now: float,
    ) -> BufferOutcome:
        """Store a message no one waits for, unless the head changed since ``head`` was read.

        The body is written only if no item has its key — neither an earlier buffering nor
        the handled mark of an earlier hand-over: a redelivered record is a ``DUPLICATE``.
        It is kept until ``keep_until`` (its handled mark's lifetime), the marker in the head
        offered until ``expires_at``. A body DynamoDB could not store (over 400 KB) is the
        record's :class:`MessageTooLarge`, found before the request.
        """
        body = body_values(key, message_id, message, result_json, keep_until)
        size = item_size(body)
        if size > MAX_DYNAMODB_ITEM_BYTES:
            raise MessageTooLarge(
                f"message {message_id} cannot be buffered: stored with its result it is about {size} bytes,"
                f" over DynamoDB's item limit of {MAX_DYNAMODB_ITEM_BYTES}"
            )
        marker = {"id": message_id, "at": int(now * 1000), "expiresAt": expires_at}
        if head is None:
            head_condition = "attribute_not_exists(pk)"
            condition_values: dict[str, Any] = {}
        else:
            head_condition = "version = :v"
            condition_values = {":v": {"N": str(head.version)}}
        try:
            self._call(
                "transact_write_items",
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": to_item(body),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": {"pk": {"S": key}},
                            "UpdateExpression": "SET #m = :m, expiresAt = :far ADD version :one",
                            "ConditionExpression": head_condition,
                            "ExpressionAttributeNames": {"#m": message_attribute(message_id)},
                            "ExpressionAttributeValues": {
                                ":m": {"M": to_item(marker)},
                                ":far": {"N": str(int(now) + MAX_LIFETIME_SECONDS)},
                                ":one": {"N": "1"},
                                **condition_values,
                            },
                        }
                    },
                ],
            )
        except ConditionFailed as failed:
            return BufferOutcome.DUPLICATE if failed.failed[0] else BufferOutcome.CONFLICT
        return BufferOutcome.BUFFERED

    def claim_buffered(
        self, head: Head, subscription: Subscription, message: BufferedMessage, attempt: str, now: float
    ) -> tuple[ClaimStatus, Head | None]:
        """Hand one buffered message to one subscription, atomically, if both are as ``head`` shows.

        Returns the head as the claim left it, or (``CHANGED``) as it is now.
        """
        claims = {subscription.attribute: message.message_id, message.attribute: subscription.attribute}
        update = self._claim_update(head, claims, attempt, now)
        return self._claim(update)

    def return_message(self, head: Head, subscription: str, message: BufferedMessage, attempt: str) -> bool:
        """Undo a hand-over whose subscriber turned out to be gone: drop it, free the message.

        ``False`` when a twin attempt (the same token, subscribed again) re-claimed the
        message meanwhile: its claim was then already there when it called back, so it
        counts the message as delivered and releases it; it must stay out of the buffer.
        """
        try:
            self._call(
                "update_item",
                TableName=self.table_name,
                Key={"pk": {"S": head.key}},
                UpdateExpression="REMOVE #s, #m.claim, #m.claimedAt, #m.attempt",
                ConditionExpression="#m.claim = :sid AND #m.attempt = :a",
                ExpressionAttributeNames={"#s": subscription, "#m": message.attribute},
                ExpressionAttributeValues={":sid": {"S": subscription}, ":a": {"S": attempt}},
            )
        except ConditionFailed:
            return False
        return True


def _as_read(name: str, entry: Entry, values: dict[str, Any], index: int) -> str:
    """A condition: entry ``name`` exists and its claim is exactly as ``entry`` (the read) shows it."""
    if entry.claim is None:
        return f"(attribute_exists({name}) AND attribute_not_exists({name}.claim))"
    values[f":rc{index}"] = {"S": entry.claim}
    parts = [f"{name}.claim = :rc{index}"]
    if entry.claimed_at is not None:
        values[f":rt{index}"] = {"N": str(entry.claimed_at)}
        parts.append(f"{name}.claimedAt = :rt{index}")
    if entry.attempt is not None:
        values[f":ra{index}"] = {"S": entry.attempt}
        parts.append(f"{name}.attempt = :ra{index}")
    return "(" + " AND ".join(parts) + ")"
