"""The shared layer of the Kafka connector for AWS Step Functions.

The folders say what each part does (the README's Architecture section has the map):

* shared by every function: :mod:`.errors` (the error names a workflow sees),
  :mod:`.environment` (variable names), :mod:`.limits` (AWS limits), :mod:`.redaction`
  and :mod:`.secrets` (secrets never leave the function), :mod:`.observability`
  (logs, metrics, tracing, the handler boundary), :mod:`.aws` (one client factory, one
  error sort) and :mod:`.serialization` (JSON, Avro, framings, Glue);
* :mod:`.kafka` — Kafka property names to kafka-python, and connections that fail fast;
* :mod:`.outbound` — the producer: a request, its address, the publisher;
* :mod:`.inbound` — the consumer and subscribe: records, expressions, the batch,
  correlation and its table, Step Functions calls, the dead-letter queue.

The public entry points are re-exported here and imported on first use (PEP 562), so
``import kafka_connector`` costs nothing at cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_connector._lazy import lazy_exports

if TYPE_CHECKING:
    from kafka_connector.errors import (
        ConnectorError,
        ConnectorInputError,
        KafkaNonRetryableError,
        KafkaRetryableError,
    )
    from kafka_connector.inbound.batch import BatchConsumer
    from kafka_connector.inbound.config import ConsumerConfig
    from kafka_connector.inbound.correlation import subscribe
    from kafka_connector.inbound.subscription import SubscriptionRequest
    from kafka_connector.outbound.publisher import Publisher
    from kafka_connector.outbound.request import ProducerRequest

_EXPORTS = {
    "ConnectorError": "errors",
    "ConnectorInputError": "errors",
    "KafkaNonRetryableError": "errors",
    "KafkaRetryableError": "errors",
    "BatchConsumer": "inbound.batch",
    "ConsumerConfig": "inbound.config",
    "SubscriptionRequest": "inbound.subscription",
    "subscribe": "inbound.correlation",
    "ProducerRequest": "outbound.request",
    "Publisher": "outbound.publisher",
}
__all__ = [
    "BatchConsumer",
    "ConnectorError",
    "ConnectorInputError",
    "ConsumerConfig",
    "KafkaNonRetryableError",
    "KafkaRetryableError",
    "ProducerRequest",
    "Publisher",
    "SubscriptionRequest",
    "subscribe",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
