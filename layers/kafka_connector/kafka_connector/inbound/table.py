"""The correlation table: where waiting workflows and unclaimed messages meet (docs/correlation-table.md).

One *head* item per (message name, correlation key) holds everything the consumer must
see to correlate a message, so a batch of records costs one strongly consistent
``BatchGetItem`` per 100 distinct keys, whoever is waiting::

    pk         "<messageName>#<correlationKey>"
    version    N   bumped by every writer that adds a subscription or a message
    expiresAt  N   DynamoDB TTL; a year ahead, refreshed by each such writer
    sub_<sha256(task token)>  M  {token, condition?, expiresAt?, createdAt?, claim?, claimedAt?}
    msg_<sha256(message id)>  M  {id, at, expiresAt, claim?, claimedAt?}

Subscriptions are top-level attributes so that a waiting workflow can add itself with a
single ``UpdateItem`` — from the subscribe function, or straight from the state machine
with ``aws-sdk:dynamodb:updateItem.waitForTaskToken`` (README) — without reading or
rewriting anyone else's. A buffered message's payload lives in its own *body* item
(``pk = "msg#" + sha256(name, key, id)``) because payloads may be large; the body's
existence doubles as the message's "already handled" mark for redelivered records.

Every hand-over is a *claim*: a conditional write that marks a subscription (and a
buffered message) as taken by one message (one subscription), so concurrent consumers
and subscribers never deliver twice. A claim is released after the callback; one left
behind by a crash is honoured for its owner's retry and expires after
:data:`CLAIM_LEASE_SECONDS`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from kafka_connector.aws.clients import AwsClient
from kafka_connector.aws.errors import error_code, is_permanent
from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.exceptions import Rejected, TransientAwsError
from kafka_connector.inbound.items import (
    CLAIM_LEASE_SECONDS,
    BufferedBody,
    BufferedMessage,
    BufferOutcome,
    Head,
    from_item,
    to_item,
)
from kafka_connector.inbound.keys import body_key, message_attribute, subscription_attribute
from kafka_connector.limits import MAX_DYNAMODB_ITEM_BYTES, MAX_LIFETIME_SECONDS

_BATCH_GET_LIMIT = 100
_UNPROCESSED_RETRIES = 8


class CorrelationTable:
    """The table's operations, each one request, each safe against every concurrent other."""

    dynamodb = AwsClient("dynamodb")

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self.dynamodb, operation)(TableName=self.table_name, **kwargs)
            return response
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise
            if is_permanent(error):  # the request itself is wrong (an item over 400 KB, ...)
                message = error.response.get("Error", {}).get("Message", "")
                raise Rejected(f"DynamoDB {operation}: {error_code(error)}: {message}") from error
            raise TransientAwsError(f"DynamoDB {operation}: {error_code(error)}") from error

    # -- reads -------------------------------------------------------------------------

    def _batch_get(self, keys: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Items for ``keys``, strongly consistent: one request per 100 keys, plus backed-off
        retries for what DynamoDB leaves unprocessed (bounded: then it is a transient error)."""
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            pending = [{"pk": {"S": k}} for k in wanted[start : start + _BATCH_GET_LIMIT]]
            for attempt in range(_UNPROCESSED_RETRIES):
                try:
                    response = self.dynamodb.batch_get_item(
                        RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}}
                    )
                except ClientError as error:
                    raise TransientAwsError(f"DynamoDB BatchGetItem: {error_code(error)}") from error
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
        item = self._call("get_item", Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return Head.from_item(item) if item else None

    def get_bodies(self, head: str, message_ids: Iterable[str]) -> dict[str, BufferedBody]:
        """Payloads of buffered messages, by message id."""
        by_key = {body_key(head, i): i for i in message_ids}
        bodies: dict[str, BufferedBody] = {}
        for item in self._batch_get(by_key):
            values = from_item(item)
            bodies[by_key[values["pk"]]] = BufferedBody(
                json.loads(values["message"]), json.loads(values["result"])
            )
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

    def claim_subscription(self, key: str, attribute: str, message_id: str, now: float) -> Head | None:
        """Reserve a subscription for one message; ``None`` when someone else has it or it is gone."""
        try:
            response = self._call(
                "update_item",
                Key={"pk": {"S": key}},
                UpdateExpression="SET #s.claim = :m, #s.claimedAt = :now",
                ConditionExpression=(
                    "attribute_exists(#s) AND (attribute_not_exists(#s.claim) OR #s.claim = :m"
                    " OR #s.claimedAt < :stale)"
                ),
                ExpressionAttributeNames={"#s": attribute},
                ExpressionAttributeValues={
                    ":m": {"S": message_id},
                    ":now": {"N": str(int(now))},
                    ":stale": {"N": str(int(now) - CLAIM_LEASE_SECONDS)},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError:
            return None
        return Head.from_item(response["Attributes"])

    def release(self, head: Head, claims: Mapping[str, str]) -> None:
        """Remove claimed entries after their callback; the whole head when nothing else is in it.

        ``claims`` maps each entry to the claim it must still carry. ``head`` is the item as
        the claim left it: if it held nothing but these entries, a delete conditioned on
        its version (which any new subscription or message bumps) removes it in one
        request; otherwise just the entries go.
        """
        names = {f"#a{i}": attribute for i, attribute in enumerate(claims)}
        values = {f":c{i}": {"S": claim} for i, claim in enumerate(claims.values())}
        condition = " AND ".join(f"#a{i}.claim = :c{i}" for i in range(len(claims)))
        if set(claims) == set(head.subscriptions) | set(head.buffered):
            try:
                self._call(
                    "delete_item",
                    Key={"pk": {"S": head.key}},
                    ConditionExpression=f"version = :v AND {condition}",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={**values, ":v": {"N": str(head.version)}},
                )
                return
            except ClientError:
                pass  # something arrived meanwhile: remove just our entries
        with contextlib.suppress(ClientError):  # taken over after a lapsed claim: the new owner cleans up
            self._call(
                "update_item",
                Key={"pk": {"S": head.key}},
                UpdateExpression="REMOVE " + ", ".join(names),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def remove_subscriptions(self, key: str, attributes: Iterable[str]) -> None:
        """Drop subscriptions known to be dead (expired, or their execution is gone)."""
        names = {f"#a{i}": attribute for i, attribute in enumerate(attributes)}
        if not names:
            return
        with contextlib.suppress(ClientError):  # the head is gone already
            self._call(
                "update_item",
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
        result: Any,
        *,
        expires_at: int,
        now: float,
    ) -> BufferOutcome:
        """Store a message no one waits for, unless the head changed since ``head`` was read."""
        marker = {"id": message_id, "at": int(now * 1000), "expiresAt": expires_at}
        if head is None:
            head_condition = "attribute_not_exists(pk)"
            condition_values: dict[str, Any] = {}
        else:
            head_condition = "version = :v"
            condition_values = {":v": {"N": str(head.version)}}
        try:
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": to_item(
                                {
                                    "pk": body_key(key, message_id),
                                    "head": key,
                                    "messageId": message_id,
                                    "message": json.dumps(message, separators=(",", ":")),
                                    "result": json.dumps(result, separators=(",", ":")),
                                    "expiresAt": expires_at,
                                }
                            ),
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
                ]
            )
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise TransientAwsError(f"DynamoDB TransactWriteItems: {error_code(error)}") from error
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return BufferOutcome.DUPLICATE
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return BufferOutcome.CONFLICT
            raise TransientAwsError(f"DynamoDB TransactWriteItems cancelled: {reasons}") from error
        return BufferOutcome.BUFFERED

    def claim_buffered(
        self, key: str, subscription: str, message: BufferedMessage, now: float
    ) -> Head | None:
        """Hand one buffered message to one subscription, atomically; ``None`` if either is taken."""
        try:
            response = self._call(
                "update_item",
                Key={"pk": {"S": key}},
                UpdateExpression=(
                    "SET #s.claim = :mid, #s.claimedAt = :now, #m.claim = :sid, #m.claimedAt = :now"
                ),
                ConditionExpression=(
                    "attribute_exists(#s) AND attribute_exists(#m)"
                    " AND (attribute_not_exists(#s.claim) OR #s.claim = :mid OR #s.claimedAt < :stale)"
                    " AND (attribute_not_exists(#m.claim) OR #m.claim = :sid OR #m.claimedAt < :stale)"
                ),
                ExpressionAttributeNames={"#s": subscription, "#m": message.attribute},
                ExpressionAttributeValues={
                    ":mid": {"S": message.message_id},
                    ":sid": {"S": subscription},
                    ":now": {"N": str(int(now))},
                    ":stale": {"N": str(int(now) - CLAIM_LEASE_SECONDS)},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError:
            return None
        return Head.from_item(response["Attributes"])

    def return_message(self, key: str, subscription: str, message: BufferedMessage) -> None:
        """Undo a hand-over whose subscriber turned out to be gone: drop it, free the message."""
        with contextlib.suppress(ClientError):  # already taken over after a lapsed claim
            self._call(
                "update_item",
                Key={"pk": {"S": key}},
                UpdateExpression="REMOVE #s, #m.claim, #m.claimedAt",
                ConditionExpression="#m.claim = :sid",
                ExpressionAttributeNames={"#s": subscription, "#m": message.attribute},
                ExpressionAttributeValues={":sid": {"S": subscription}},
            )
