"""One batch from the Kafka event source mapping: decode, activate, then start or correlate.

Offsets follow docs/outcomes.md. Success and "activation condition not met" commit. A
permanent error (:class:`PermanentRecordError`: a record that can never succeed as it is)
goes to the dead-letter queue with its reason and commits, so it never blocks its
partition. A transient error (:class:`TransientRecordError`: throttling, an outage) is a
partial batch failure: the mapping resumes at that record. Records after
it in the same partition are reported too and not attempted, so a partition's records
are always handled in order and nothing after a failure is skipped.

The batch is decoded and evaluated first, so that correlate mode can read the table for
all keys at once (one request per 100 distinct keys) before handling records one by one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord

from kafka_connector.aws.errors import is_aws_error, is_permanent
from kafka_connector.inbound.config import ConsumerConfig, Mode
from kafka_connector.inbound.correlation import Correlator, Delivery
from kafka_connector.inbound.dead_letter import DeadLetterQueue
from kafka_connector.inbound.exceptions import (
    MessageTooLarge,
    PartitionHeldBack,
    PermanentRecordError,
    Rejected,
    TransientAwsError,
)
from kafka_connector.inbound.keys import correlation_key_text
from kafka_connector.inbound.message import Inbound, expression_context
from kafka_connector.inbound.records import decode_record, iter_records
from kafka_connector.inbound.step_functions import ExecutionStarter, TaskCallbacks, execution_name
from kafka_connector.inbound.table import CorrelationTable
from kafka_connector.limits import MAX_STEP_FUNCTIONS_PAYLOAD_BYTES
from kafka_connector.observability import count
from kafka_connector.serialization.json_codec import to_json_text

logger = logging.getLogger(__name__)

RecordId = tuple[str, int, int]


@dataclass(slots=True)
class Prepared:
    """A record after decoding and evaluation, before any AWS call."""

    raw: Mapping[str, Any]
    inbound: Inbound | None = None  # None: skipped (activation condition not met)
    failure: PermanentRecordError | None = None


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

    def handle(self, event: Mapping[str, Any], context: Any = None) -> PartialItemFailureResponse:
        prepared = {_record_id(r): self.prepare(r) for r in iter_records(event)}
        if not prepared:
            return {"batchItemFailures": []}
        count(self.metrics, "RecordsSeen", len(prepared))
        correlator = None
        if self.config.mode is Mode.CORRELATE:
            assert self.table is not None  # correlate mode always has one (ConsumerConfig checks)
            correlator = Correlator(self.table, self.callbacks, ttl_seconds=self.config.ttl_seconds)
            try:
                correlator.prefetch(p.inbound for p in prepared.values() if p.inbound)
            except TransientAwsError as error:
                logger.warning("could not read the correlation table ahead; reading per record: %s", error)
        held_back: set[tuple[str, int]] = set()

        def record_handler(record: KafkaEventRecord) -> None:
            topic_partition = (record.topic, record.partition)
            if topic_partition in held_back:
                raise PartitionHeldBack(f"{record.topic}-{record.partition}")
            try:
                self._handle(prepared[(record.topic, record.partition, record.offset)], correlator)
            except Exception:
                held_back.add(topic_partition)
                count(self.metrics, "RecordsRetried")
                raise

        processor = BatchProcessor(event_type=EventType.Kafka, raise_on_entire_batch_failure=False)
        return process_partial_response(
            event=dict(event), record_handler=record_handler, processor=processor, context=context
        )

    # -- one record, before any AWS call -----------------------------------------------------------

    def prepare(self, raw: Mapping[str, Any]) -> Prepared:
        """Decode and evaluate one record; permanent problems are kept for the dead-letter queue."""
        config = self.config
        try:
            message = decode_record(raw, config.avro, with_headers=self._headers_first)
            if message["rawValue"] is None and message["value"] is not None:
                message["value"] = json.loads(to_json_text(message["value"]))  # Avro: bytes, dates → JSON
            context = expression_context(message)
            if config.activation_condition is not None and not config.activation_condition.is_true(context):
                return Prepared(raw)
            message_id = f"{message['topic']}-{message['partition']}-{message['offset']}"
            if config.message_id is not None:
                message_id = _text(config.message_id.evaluate(context), "MESSAGE_ID_EXPRESSION")
            correlation_key = ""
            if config.correlation_key is not None and config.mode is Mode.CORRELATE:
                correlation_key = _text(
                    config.correlation_key.evaluate(context), "CORRELATION_KEY_EXPRESSION"
                )
            result = self._result(message, context)
            inbound = Inbound(
                message_name=config.message_name or str(message["topic"]),
                correlation_key=correlation_key,
                message_id=message_id,
                message=message,
                result=result,
                pending_headers=None if self._headers_first else raw.get("headers") or [],
            )
        except PermanentRecordError as error:
            return Prepared(raw, failure=error)
        return Prepared(raw, inbound)

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

    def _handle(self, prepared: Prepared, correlator: Correlator | None) -> None:
        if prepared.failure is not None:
            self._dead_letter(prepared.raw, prepared.failure)
            return
        inbound = prepared.inbound
        if inbound is None:
            count(self.metrics, "RecordsSkipped")
            return
        count(self.metrics, "RecordsActivated")
        try:
            if correlator is None:
                self._start(inbound)
            else:
                self._correlate(inbound, correlator)
        except PermanentRecordError as error:
            self._dead_letter(prepared.raw, error)
        except Exception as error:
            if is_aws_error(error) and is_permanent(error):
                self._dead_letter(prepared.raw, Rejected(str(error)))
                return
            raise

    def _start(self, inbound: Inbound) -> None:
        if inbound.too_large:
            raise MessageTooLarge(
                f"execution input is {inbound.result_size} bytes, over {MAX_STEP_FUNCTIONS_PAYLOAD_BYTES}"
            )
        assert self.starter is not None  # start mode always has one (ConsumerConfig checks)
        self.starter.start(execution_name(inbound.message_id), inbound.result_json)
        count(self.metrics, "ExecutionsStarted")

    def _correlate(self, inbound: Inbound, correlator: Correlator) -> None:
        delivery = correlator.correlate(inbound)
        if delivery is Delivery.TOO_LARGE:
            raise MessageTooLarge(
                f"result is {inbound.result_size} bytes, over {MAX_STEP_FUNCTIONS_PAYLOAD_BYTES}"
            )
        metric = {
            Delivery.DELIVERED: "MessagesCorrelated",
            Delivery.BUFFERED: "MessagesBuffered",
            Delivery.DROPPED: "MessagesUnmatched",
            Delivery.DUPLICATE: "MessagesDuplicate",
        }[delivery]
        count(self.metrics, metric)

    def _dead_letter(self, raw: Mapping[str, Any], error: PermanentRecordError) -> None:
        topic, partition, offset = _record_id(raw)
        if self.dead_letters is None:
            # No queue configured: the log is the only place the record survives.
            logger.error(
                "record dead-lettered (no DEAD_LETTER_QUEUE_URL): %s",
                json.dumps({"error": error.error, "reason": str(error), "record": dict(raw)}),
            )
        else:
            self.dead_letters.send(raw, str(error), error.error)
        logger.warning("record %s-%s@%s dead-lettered: %s: %s", topic, partition, offset, error.error, error)
        count(self.metrics, "RecordsDeadLettered")


def _text(value: Any, variable: str) -> str:
    if value is None or value == "":
        raise PermanentRecordError(f"{variable} gave no value for this record", error="ExpressionError")
    return correlation_key_text(value)
