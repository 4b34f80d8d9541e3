"""Subscribe function: a workflow starts waiting for a Kafka message (docs/payloads.md#subscribe-input).

Invoked by ``arn:aws:states:::lambda:invoke.waitForTaskToken``. Registers the task token
in the correlation table; when a matching message is already buffered, hands it over at
once with ``SendTaskSuccess``. The function's own return value is not what the workflow
receives — the task's output is the message delivered through the token.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from kafka_connector import environment as names
from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.step_functions import TaskCallbacks
from kafka_connector.inbound.subscriber import subscribe
from kafka_connector.inbound.subscription import SubscriptionRequest
from kafka_connector.inbound.table import CorrelationTable
from kafka_connector.observability import count, get_logger, get_metrics, get_tracer, handler_boundary

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = get_logger("kafka-subscribe")
metrics = get_metrics("kafka-subscribe")
tracer = get_tracer("kafka-subscribe")

table_name = os.environ.get(names.CORRELATION_TABLE, "").strip()
if not table_name:
    raise ConnectorInputError(
        f"{names.CORRELATION_TABLE} is required: the table the consumer correlates against"
    )
table = CorrelationTable(table_name)
callbacks = TaskCallbacks()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@handler_boundary(logger, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = SubscriptionRequest.from_event(event)
    outcome = subscribe(
        table,
        callbacks,
        message_name=request.message_name,
        correlation_key=request.correlation_key,
        task_token=request.task_token,
        condition=request.activation_condition,
        ttl_seconds=request.ttl_seconds,
    )
    count(metrics, "SubscriptionsDelivered" if outcome.value == "delivered" else "SubscriptionsWaiting")
    return {
        "status": outcome.value,
        "messageName": request.message_name,
        "correlationKey": request.correlation_key,
    }
