"""One activated record on its way to a workflow: the message, its key and id, and the result.

Built by :mod:`.batch` before any AWS call and handed to :mod:`.correlation` (correlate
mode) or started as an execution (start mode). The costly parts (decoding headers,
serialising the result, storing a claim check) are done on first use: most messages of a
busy topic go nowhere.

What the workflow gets is shaped here too: ``rawValue`` per ``INCLUDE_RAW_VALUE``, and a
result too large to hand over replaced by its claim check (:mod:`.claim_check`) when a
bucket is configured (docs/payloads.md#large-messages).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kafka_connector.inbound.claim_check import ClaimCheck
from kafka_connector.inbound.exceptions import PermanentRecordError, UndecodableRecord
from kafka_connector.inbound.items import body_values, item_size
from kafka_connector.inbound.keys import head_key
from kafka_connector.inbound.records import decode_headers
from kafka_connector.input_checks import shown
from kafka_connector.limits import MAX_DYNAMODB_ITEM_BYTES, MAX_STEP_FUNCTIONS_PAYLOAD_BYTES
from kafka_connector.serialization.json_codec import json_compatible


def expression_context(message: dict[str, Any]) -> dict[str, Any]:
    """What expressions see: the message's fields, and the message itself as ``response``.

    The reference connector's result expressions are written both ways
    (``value.itemId`` and ``response.timestamp``); both work here.
    """
    return {**message, "response": message}


def drop_raw_value(message: dict[str, Any], include: bool | None) -> None:
    """Apply ``INCLUDE_RAW_VALUE`` to a message about to be delivered (``None``: auto).

    ``rawValue`` repeats the value's bytes: for a JSON value it doubles what the workflow
    receives, and halves the largest message that fits Step Functions. By default it is kept
    only when the value is not JSON (then ``value`` is that same text, and ``rawValue`` costs
    nothing worth saving); ``false`` drops it always, ``true`` keeps it always. Dropped means
    ``null``, so the message's shape stays the same.
    """
    raw = message.get("rawValue")
    if include or raw is None:
        return
    value = message.get("value")
    if include is False or not (isinstance(value, str) and value == raw):
        message["rawValue"] = None


def result_text(result: Any) -> tuple[str, int]:
    """The result as Step Functions takes it: strict compact JSON, and its size in UTF-8 bytes.

    Everything that can make a result unsendable is found here, before any hand-over
    begins, and is the record's permanent error:

    * a float that is not finite — a number beyond a double (``1e400``) or an expression's
      ``NaN`` — is written as ``"NaN"``/``"Infinity"``/``"-Infinity"``, as decoded ``NaN``
      already is (strict JSON out: no other parser reads ``NaN``);
    * text that is not valid Unicode (a lone surrogate such as ``"\\ud83d"``, what
      ``JSON.stringify`` writes for a string cut inside an emoji): UTF-8 cannot carry it;
    * nesting beyond what the encoder's recursion reaches;
    * a value that is not JSON at all (an expression giving a function).

    The size is counted in bytes, not characters: ``é`` is two, ``😀`` four.
    """
    try:
        try:
            text = json.dumps(result, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except ValueError:  # NaN or ±Infinity somewhere: rare, so the walk is paid only then
            text = json.dumps(json_compatible(result), separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        raise UndecodableRecord("the result nests too deep to be written as JSON") from None
    except TypeError as error:
        raise PermanentRecordError(f"the result is not JSON: {error}", error="ExpressionError") from None
    try:
        size = len(text.encode())
    except UnicodeEncodeError as error:
        around = shown(text[max(error.start - 30, 0) : error.end + 30])
        raise UndecodableRecord(
            "the result holds text that is not valid Unicode (a lone surrogate such as \\ud83d,"
            f" a string cut inside an emoji), near …{around}…"
        ) from None
    return text, size


@dataclass(slots=True)
class Inbound:
    """One activated message, ready to correlate.

    The result's JSON text is made on first use: a message nobody waits for (the common
    case of a busy topic) is never serialised at all.
    """

    message_name: str
    correlation_key: str
    message_id: str
    message: dict[str, Any]
    result: Any
    #: The record's raw headers while ``message["headers"]`` is not decoded yet.
    pending_headers: list[Any] | None = None
    #: ``INCLUDE_RAW_VALUE``: ``None`` keeps ``rawValue`` only for values that are not JSON.
    include_raw_value: bool | None = None
    #: Where results too large to hand over go (``CLAIM_CHECK_BUCKET``); ``None``: they are too large.
    claim_check: ClaimCheck | None = None
    _result_json: str | None = None
    _result_size: int = 0
    _reference_json: str | None = None

    def complete(self) -> dict[str, Any]:
        """The message ready to be shown to anyone or sent: headers decoded, result encoded.

        Called before any hand-over begins (the correlator calls it before it claims a
        subscription, and before buffering), so a record whose headers or result cannot be
        sent raises its :class:`PermanentRecordError` here, with nothing claimed or written.
        A result over the Step Functions limit is claim-checked here too, when a bucket is set.
        """
        if self.pending_headers is not None:
            self.message["headers"] = decode_headers(self.pending_headers)
            self.pending_headers = None
        if self._result_json is None:
            # The result holds the message itself unless RESULT_EXPRESSION reshaped it: what is
            # dropped from the message here is dropped from the result. Expressions saw it whole.
            drop_raw_value(self.message, self.include_raw_value)
            self._result_json, self._result_size = result_text(self.result)
        if self.claim_check is not None and self._result_size > MAX_STEP_FUNCTIONS_PAYLOAD_BYTES:
            # Stored now, before any subscription is claimed: S3 refusing leaves no claim behind
            # (also on a second call, after a first one's store failed).
            self._claimed()
        return self.message

    @property
    def head(self) -> str:
        return head_key(self.message_name, self.correlation_key)

    @property
    def result_json(self) -> str:
        """What is sent: the result as strict compact JSON (:func:`result_text`), or its claim check.

        With a claim-check bucket, a result over the Step Functions limit is stored on first
        use and its reference is what is sent from then on.
        """
        if self._result_json is None:
            self.complete()
        assert self._result_json is not None  # complete() sets it or raises
        if self.claim_check is not None and self._result_size > MAX_STEP_FUNCTIONS_PAYLOAD_BYTES:
            return self._claimed()
        return self._result_json

    @property
    def buffered_result_json(self) -> str:
        """What is buffered: :attr:`result_json`, claim-checked also when the body would not fit.

        A buffered body holds the message (for subscriptions' conditions) and the result, so a
        message that fits Step Functions may still be over DynamoDB's item limit. With a
        claim-check bucket the result is stored in S3 then, and the body holds the reference;
        a message that is alone over the item limit is still ``KafkaMessageTooLarge``.
        """
        text = self.result_json
        if self.claim_check is None or text is self._reference_json:
            return text
        body = body_values(self.head, self.message_id, self.message, text, 0)
        return self._claimed() if item_size(body) > MAX_DYNAMODB_ITEM_BYTES else text

    def _claimed(self) -> str:
        if self._reference_json is None:
            assert self.claim_check is not None
            assert self._result_json is not None
            self._reference_json = self.claim_check.store(self.message, self._result_json)
        return self._reference_json

    @property
    def result_size(self) -> int:
        """The result's size in UTF-8 bytes, as Step Functions counts it (before any claim check)."""
        if self._result_json is None:
            self.complete()
        return self._result_size

    @property
    def too_large(self) -> bool:
        """Over what Step Functions accepts as task output or execution input, with no claim check (G6)."""
        return self.claim_check is None and self.result_size > MAX_STEP_FUNCTIONS_PAYLOAD_BYTES
