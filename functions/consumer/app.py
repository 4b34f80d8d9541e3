"""Consumer function: the Kafka event source mapping's target (docs/payloads.md, docs/outcomes.md).

The configuration is read and every expression compiled at cold start (import), so a
misconfigured connector fails its initialisation with a message naming the variable.
Each batch is handed to the layer's ``BatchConsumer``; the return value is the partial
batch response that tells the mapping which records to retry. Every record ends in one
documented outcome inside it (docs/outcomes.md); the handler boundary is the same as the
producer's, so the only exceptions that can fail a whole batch are the documented ones
(an event that is not a Kafka event: ``ConnectorInputError``), and a defect surfaces as a
logged, counted ``KafkaRetryableError`` rather than a bare traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.observability import get_logger, get_metrics, get_tracer, handler_boundary

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from kafka_connector.inbound.batch import PartialBatchResponse

logger = get_logger("kafka-consumer")
metrics = get_metrics("kafka-consumer")
tracer = get_tracer("kafka-consumer")
consumer = BatchConsumer(ConsumerConfig.from_environment(), metrics=metrics)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@handler_boundary(logger, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialBatchResponse:
    return consumer.handle(event, context)
