"""Producer function: publish a record or a batch for a Step Functions task (docs/payloads.md).

Parse the task input, publish through the layer (once per ``idempotencyKey`` when the
function has an idempotency table), return the acknowledged records' metadata. The
publisher lives at module level so warm invocations reuse its clients.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from kafka_connector import environment as names
from kafka_connector.errors import ConnectorInputError
from kafka_connector.observability import count, get_logger, get_metrics, get_tracer, handler_boundary
from kafka_connector.outbound import batch
from kafka_connector.outbound.idempotency import IdempotentPublisher
from kafka_connector.outbound.publisher import Publisher
from kafka_connector.outbound.request import ProducerRequest

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = get_logger("kafka-producer")
metrics = get_metrics("kafka-producer")
tracer = get_tracer("kafka-producer")
publisher = Publisher()
#: The cluster a payload without ``topic.bootstrapServers`` is published to (read at cold start).
default_bootstrap_servers = os.environ.get(names.KAFKA_BOOTSTRAP_SERVERS, "").strip() or None
#: Publishing once per ``idempotencyKey``: only with ``IDEMPOTENCY_TABLE`` (read at cold start).
idempotent = IdempotentPublisher.from_environment()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@handler_boundary(logger, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ProducerRequest.from_event(event, default_bootstrap_servers=default_bootstrap_servers)
    if request.idempotency_key is None:
        acknowledgements = batch.publish(publisher, request)
    elif idempotent is None:
        raise ConnectorInputError(
            f"'idempotencyKey' needs an idempotency table; this function has no {names.IDEMPOTENCY_TABLE}",
            "Deploy with EnableIdempotency=true, or leave idempotencyKey out.",
        )
    else:
        acknowledgements = idempotent.publish(request, context, lambda: batch.publish(publisher, request))
    count(metrics, "RecordsPublished", len(acknowledgements))
    logger.debug(
        "records published",
        extra={"records": len(acknowledgements), "topic": acknowledgements[0].topic},
    )
    return batch.response(request, acknowledgements)
