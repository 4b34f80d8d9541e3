"""One batch from the Kafka event source mapping: decode, activate, then start or correlate.

Every record ends in exactly one outcome of docs/outcomes.md (G7). Success and "activation
condition not met" commit. A permanent error (:class:`PermanentRecordError`: a record that
can never succeed as it is) goes to the dead-letter queue with its reason and commits, so it
never blocks its partition. A transient error (:class:`TransientRecordError`: throttling, an
outage, a misconfiguration) is a partial batch failure: the mapping resumes at that record.
Records after it in the same partition are reported too and not attempted, so a partition's
records are always handled in order and nothing after a failure is skipped. Any other
exception raised while handling one record is sorted into one of the two kinds
(:func:`~kafka_connector.inbound.exceptions.sort_failure`), in every phase — decoding,
expressions, encoding the result, the AWS calls — so no record can fail the whole batch.

The batch is decoded and evaluated first, so that correlate mode can read the table for
all keys at once (one request per 100 distinct keys) before handling records one by one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from aws_lambda_powertools import Metrics

from kafka_connector.inbound.claim_check import ClaimCheck
from kafka_connector.inbound.config import ConsumerConfig, Mode
from kafka_connector.inbound.correlation import Correlator, Delivery
from kafka_connector.inbound.dead_letter import DeadLetterQueue
from kafka_connector.inbound.exceptions import (
    MessageTooLarge,
    PartitionHeldBack,
    PermanentRecordError,
    TransientRecordError,
    UndecodableRecord,
    sort_failure,
)
from kafka_connector.inbound.expressions import Expression
from kafka_connector.inbound.keys import correlation_key_text, head_key
from kafka_connector.inbound.message import Inbound, expression_context
from kafka_connector.inbound.outcomes import BatchOutcomes, Outcome
from kafka_connector.inbound.records import decode_record, iter_records
from kafka_connector.inbound.step_functions import ExecutionStarter, TaskCallbacks, execution_name
from kafka_connector.inbound.table import CorrelationTable
from kafka_connector.input_checks import is_valid_text
from kafka_connector.limits import MAX_DYNAMODB_KEY_BYTES, MAX_STEP_FUNCTIONS_PAYLOAD_BYTES

logger = logging.getLogger(__name__)

RecordId = tuple[str, int, int]


class ItemIdentifier(TypedDict):
    partition: str
    offset: int


class BatchItemFailure(TypedDict):
    itemIdentifier: ItemIdentifier


class PartialBatchResponse(TypedDict):
    """What the event source mapping reads back (``FunctionResponseTypes: [ReportBatchItemFailures]``)."""

    batchItemFailures: list[BatchItemFailure]


@dataclass(slots=True)
class Prepared:
    """A record after decoding and evaluation, before any AWS call.

    ``failure`` is what preparing it raised, already sorted: permanent (dead-lettered when
    its turn comes) or transient (held back when its turn comes, e.g. a Glue lookup that was
    throttled) — in its turn, so that the records before it in its partition are handled.
    """

    raw: Mapping[str, Any]
    inbound: Inbound | None = None  # None and no failure: skipped (activation condition not met)
    failure: PermanentRecordError | TransientRecordError | None = None


def _record_id(record: Mapping[str, Any]) -> RecordId:
    return (record["topic"], record["partition"], record["offset"])  # checked by iter_records


class BatchConsumer:
    """Handles Lambda Kafka events for one inbound connector configuration."""

    def __init__(self, config: ConsumerConfig, *, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.callbacks = TaskCallbacks()
        self.table = CorrelationTable(config.table_name) if config.table_name else None
        self.starter = ExecutionStarter(config.state_machine_arn) if config.state_machine_arn else None
        self.dead_letters = (
            DeadLetterQueue(config.dead_letter_queue_url) if config.dead_letter_queue_url else None
        )
        self.claim_check = ClaimCheck(config.claim_check_bucket) if config.claim_check_bucket else None
        expressions = (
            config.activation_condition,
            config.correlation_key,
            config.message_id,
            config.result_expression,
        )
        #: Decode headers before evaluating only if an expression may read them, else on delivery.
        #: Conservative: any function, variable or wildcard ($, *) could reach them too.
        self._headers_first = any(
            e is not None and any(token in e.text for token in ("headers", "$", "*")) for e in expressions
        )

    # -- the batch ---------------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any], context: Any = None) -> PartialBatchResponse:
        """Every record of ``event`` to one outcome; the held-back ones are the response.

        Only an event that is not a Kafka event (``ConnectorInputError``, before anything is
        done) leaves this method as an exception: nothing a record holds can. The outcomes
        are counted as records are handled and reported once, at the end
        (:class:`~kafka_connector.inbound.outcomes.BatchOutcomes`).
        """
        prepare = self.prepare
        prepared = [prepare(raw) for raw in iter_records(event)]
        outcomes = BatchOutcomes(records=len(prepared))
        failures: list[BatchItemFailure] = []
        correlator = self._correlator(prepared) if prepared and self.config.mode is Mode.CORRELATE else None
        held_back: dict[tuple[str, int], int] = {}  # partition → offset of its first held-back record
        skipped = 0
        for record in prepared:
            if record.inbound is None and record.failure is None and not held_back:
                skipped += 1  # the common case of a busy topic, kept to one test
                continue
            raw = record.raw
            topic, partition, offset = raw["topic"], raw["partition"], raw["offset"]  # iter_records checked
            first = held_back.get((topic, partition))
            try:
                if first is not None:
                    raise PartitionHeldBack(
                        f"an earlier record of {topic}-{partition} (offset {first}) was held back;"
                        " this one waits for the same retry"
                    )
                if record.inbound is not None:
                    outcomes.activated += 1
                outcomes.add(self._handle(record, correlator))
            except Exception as error:
                # Transient, or the dead-letter step itself failed: either way the record is
                # not safe anywhere yet, so it must not be committed.
                held = error if isinstance(error, TransientRecordError) else _not_dead_lettered(error)
                if first is None:
                    held_back[(topic, partition)] = offset
                    outcomes.partitions_held_back += 1
                outcomes.add(Outcome.HELD_BACK)
                _log_outcome(raw, Outcome.HELD_BACK, held.error, str(held))
                failures.append({"itemIdentifier": {"partition": f"{topic}-{partition}", "offset": offset}})
        outcomes.add(Outcome.SKIPPED, skipped)
        outcomes.report(logger, self.metrics)
        return {"batchItemFailures": failures}

    def _correlator(self, prepared: list[Prepared]) -> Correlator:
        """Correlate mode's hand-over, with the table heads of the whole batch read ahead."""
        assert self.table is not None  # correlate mode always has one (ConsumerConfig checks)
        correlator = Correlator(self.table, self.callbacks, ttl_seconds=self.config.ttl_seconds)
        try:
            correlator.prefetch(p.inbound for p in prepared if p.inbound)
        except Exception as error:  # each record reads its own head then, and sorts its own error
            logger.warning(
                "could not read the correlation table ahead; reading per record: %s: %s",
                type(error).__name__,
                error,
            )
        return correlator

    # -- one record, before any AWS call -----------------------------------------------------------

    def prepare(self, raw: Mapping[str, Any]) -> Prepared:
        """Decode and evaluate one record; what goes wrong is kept, sorted, for its turn."""
        try:
            return self._prepare(raw)
        except Exception as error:
            return Prepared(raw, failure=sort_failure(error))

    def _prepare(self, raw: Mapping[str, Any]) -> Prepared:
        config = self.config
        message = decode_record(raw, config.avro, with_headers=self._headers_first)
        context = expression_context(message)
        if config.activation_condition is not None and not config.activation_condition.is_true(context):
            return Prepared(raw)
        topic: str = message["topic"]  # a string: iter_records checked it
        if not topic.isascii():
            _valid_text(topic, "the record's topic")
        if config.message_id is not None:
            message_id = _key_text(config.message_id, context, "MESSAGE_ID_EXPRESSION")
        else:
            message_id = f"{topic}-{message['partition']}-{message['offset']}"
        message_name = config.message_name or topic
        correlation_key = ""
        if config.correlation_key is not None and config.mode is Mode.CORRELATE:
            correlation_key = _key_text(config.correlation_key, context, "CORRELATION_KEY_EXPRESSION")
            # UTF-8 takes at most 4 bytes a character: most keys need no encoding to know they fit.
            if 4 * (len(message_name) + len(correlation_key)) + 1 > MAX_DYNAMODB_KEY_BYTES:
                _check_key_size(head_key(message_name, correlation_key))
        return Prepared(
            raw,
            Inbound(
                message_name=message_name,
                correlation_key=correlation_key,
                message_id=message_id,
                message=message,
                result=self._result(message, context),
                pending_headers=None if self._headers_first else raw.get("headers") or [],
                include_raw_value=config.include_raw_value,
                claim_check=self.claim_check,
            ),
        )

    def _result(self, message: dict[str, Any], context: dict[str, Any]) -> Any:
        """What the workflow receives: the message, or shaped by RESULT_VARIABLE / RESULT_EXPRESSION."""
        variable, expression = self.config.result_variable, self.config.result_expression
        if variable is None and expression is None:
            return message
        result: Any = {variable: message} if variable else {}
        if expression is not None:
            shaped = expression.evaluate(context)
            if variable is None:
                return shaped
            if not isinstance(shaped, Mapping):
                raise PermanentRecordError(
                    "RESULT_EXPRESSION must give an object when RESULT_VARIABLE is also set",
                    error="ExpressionError",
                )
            result.update(shaped)
        return result

    # -- one record, with AWS -------------------------------------------------------------------------

    def _handle(self, prepared: Prepared, correlator: Correlator | None) -> Outcome:
        """One outcome for one record; a transient failure is raised, everything else ends here."""
        failure = prepared.failure
        inbound = prepared.inbound
        if failure is None and inbound is None:
            return Outcome.SKIPPED
        if inbound is not None:
            try:
                if correlator is None:
                    return self._start(inbound)
                return self._correlate(inbound, correlator)
            except Exception as error:
                failure = sort_failure(error)
        assert failure is not None
        if isinstance(failure, TransientRecordError):
            raise failure
        self._dead_letter(prepared.raw, failure)  # raises TransientAwsError if the queue refuses
        return Outcome.DEAD_LETTERED

    def _start(self, inbound: Inbound) -> Outcome:
        if inbound.too_large:
            raise MessageTooLarge(
                f"execution input is {inbound.result_size} bytes, over {MAX_STEP_FUNCTIONS_PAYLOAD_BYTES}"
            )
        assert self.starter is not None  # start mode always has one (ConsumerConfig checks)
        self.starter.start(execution_name(inbound.message_id), inbound.result_json)
        return Outcome.STARTED

    def _correlate(self, inbound: Inbound, correlator: Correlator) -> Outcome:
        delivery = correlator.correlate(inbound)
        if delivery is Delivery.TOO_LARGE:
            raise MessageTooLarge(
                f"result is {inbound.result_size} bytes, over {MAX_STEP_FUNCTIONS_PAYLOAD_BYTES}"
            )
        return _DELIVERY_OUTCOMES[delivery]

    def _dead_letter(self, raw: Mapping[str, Any], error: PermanentRecordError) -> None:
        if self.dead_letters is None:
            # No queue configured: the log is the only place the record survives.
            logger.error(
                "record dead-lettered (no DEAD_LETTER_QUEUE_URL): %s",
                json.dumps({"error": error.error, "reason": str(error), "record": dict(raw)}),
            )
        else:
            self.dead_letters.send(raw, str(error), error.error)
        _log_outcome(raw, Outcome.DEAD_LETTERED, error.error, str(error))


_DELIVERY_OUTCOMES: Final[dict[Delivery, Outcome]] = {
    Delivery.DELIVERED: Outcome.DELIVERED,
    Delivery.BUFFERED: Outcome.BUFFERED,
    Delivery.DROPPED: Outcome.DROPPED,
    Delivery.DUPLICATE: Outcome.DUPLICATE,
}


def _not_dead_lettered(error: Exception) -> TransientRecordError:
    held = TransientRecordError(
        f"could not dead-letter the record: unexpected {type(error).__name__}: {error}"
    )
    held.__cause__ = error
    return held


def _log_outcome(raw: Mapping[str, Any], outcome: Outcome, error: str, reason: str) -> None:
    """One WARNING line per dead-lettered or held-back record: where it is, what became of it, why."""
    topic, partition, offset = _record_id(raw)
    logger.warning(
        "record %s-%s@%s %s: %s: %s",
        topic,
        partition,
        offset,
        outcome.value,
        error,
        reason,
        extra={
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "outcome": outcome.value,
            "error": error,
            "reason": reason,
        },
    )


def _key_text(expression: Expression, context: dict[str, Any], variable: str) -> str:
    """A correlation key or message id: canonical text (``keys.correlation_key_text``), never empty."""
    value = expression.evaluate_key(context)
    if value is None or value == "":
        raise PermanentRecordError(f"{variable} gave no value for this record", error="ExpressionError")
    return _valid_text(correlation_key_text(value), variable)


def _check_key_size(head: str) -> None:
    size = len(head.encode())
    if size > MAX_DYNAMODB_KEY_BYTES:
        raise PermanentRecordError(
            f"CORRELATION_KEY_EXPRESSION gave a key that makes the table key {size} bytes,"
            f" over DynamoDB's {MAX_DYNAMODB_KEY_BYTES}: no subscription can have it",
            error="ExpressionError",
        )


def _valid_text(text: str, source: str) -> str:
    """``text`` if UTF-8 can carry it: keys and ids go into DynamoDB keys and execution names."""
    if not is_valid_text(text):
        raise UndecodableRecord(
            f"{source} gave text that is not valid Unicode (a lone surrogate such as \\ud83d,"
            " a string cut inside an emoji)"
        )
    return text
