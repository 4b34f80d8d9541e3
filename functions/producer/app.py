"""Producer function: publish one record from a Step Functions task (docs/payloads.md#producer-input).

Parse the task input, publish through the layer, return the acknowledged record's
metadata. The publisher lives at module level so warm invocations reuse its clients.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from kafka_connector import environment as names
from kafka_connector.observability import count, get_logger, get_metrics, get_tracer, handler_boundary
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


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@handler_boundary(logger, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ProducerRequest.from_event(event, default_bootstrap_servers=default_bootstrap_servers)
    acknowledgement = publisher.publish(request)
    count(metrics, "RecordsPublished")
    logger.debug(
        "record published",
        extra={
            "topic": acknowledgement.topic,
            "partition": acknowledgement.partition,
            "offset": acknowledgement.offset,
        },
    )
    return acknowledgement.to_response(request)
