"""Publish one record and wait for the broker's acknowledgement, reusing warm clients.

Creating a Kafka producer costs a bootstrap, an ApiVersions exchange and, with SASL, an
authentication round trip: several broker round trips that the reference connector pays
on every call. Here a producer is kept per *effective configuration* for the life of
the execution environment, so a warm invocation costs one produce round trip. A
configuration change gets its own client; a fatal error (authentication, a broken
client) drops the client so the next call starts clean.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from kafka_connector.errors import (
    ConnectorError,
    ConnectorInputError,
    KafkaNonRetryableError,
    KafkaRetryableError,
    classify_kafka_error,
)
from kafka_connector.kafka.connection import AUTHENTICATION_ERRORS, ClientFactory, is_untrusted_certificate
from kafka_connector.kafka.table import ignored_properties, to_kafka_python
from kafka_connector.outbound.request import ProducerRequest
from kafka_connector.redaction import mask_properties

#: kafka-python's own defaults differ from the Java client's in ways a Lambda notices: it
#: backs off reconnects for up to 30 s, and it bootstraps in the constructor for 30 s
#: whatever ``max.block.ms`` says. These bring it back to what Kafka users expect.
_JAVA_ALIGNED_DEFAULTS: dict[str, Any] = {"reconnect_backoff_max_ms": 1000}
_ACK_MARGIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The acknowledged record's metadata: what the workflow gets back."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    serialized_key_size: int
    serialized_value_size: int

    def to_response(self, request: ProducerRequest) -> dict[str, Any]:
        response: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
        }
        if request.debug:
            response |= {
                "serializedKeySize": self.serialized_key_size,
                "serializedValueSize": self.serialized_value_size,
                "properties": mask_properties(request.properties),
                "ignoredProperties": ignored_properties(request.properties, role="producer"),
            }
        return response


def producer_kwargs(properties: Mapping[str, str]) -> dict[str, Any]:
    """kafka-python keyword arguments for ``properties``, with Java-aligned timeouts."""
    kwargs = _JAVA_ALIGNED_DEFAULTS | to_kafka_python(properties, role="producer")
    if "max_block_ms" in kwargs:
        kwargs.setdefault("bootstrap_timeout_ms", min(kwargs["max_block_ms"], 30000))
    return kwargs


class Publisher:
    """Producers per effective configuration (a small LRU), shared by warm invocations."""

    def __init__(self, max_clients: int = 4) -> None:
        self._clients: OrderedDict[frozenset[tuple[str, str]], KafkaProducer] = OrderedDict()
        self._lock = threading.Lock()
        self._max_clients = max_clients
        #: How many producers this publisher has constructed (observable reuse).
        self.clients_created = 0

    def publish(self, request: ProducerRequest) -> Acknowledgement:
        config = frozenset(request.properties.items())
        producer = self._client(config, request.properties)
        kwargs = producer.config
        try:
            future = producer.send(
                request.topic,
                value=request.value,
                key=request.key,
                headers=request.headers,
                partition=request.partition,
            )
            metadata = future.get(timeout=kwargs["delivery_timeout_ms"] / 1000 + _ACK_MARGIN_SECONDS)
        except (AssertionError, ValueError) as error:
            if request.partition is not None and "partition" in str(error).lower():
                raise ConnectorInputError(
                    f"partition {request.partition} is not in topic '{request.topic}'"
                ) from None
            raise KafkaNonRetryableError(f"{type(error).__name__}: {error}") from None
        except Exception as error:
            converted = classify_kafka_error(error)
            if isinstance(converted, KafkaNonRetryableError):
                self._discard(config)
            raise converted from None
        return Acknowledgement(
            topic=metadata.topic,
            partition=metadata.partition,
            offset=metadata.offset,
            timestamp=metadata.timestamp,
            serialized_key_size=metadata.serialized_key_size,
            serialized_value_size=metadata.serialized_value_size,
        )

    def _client(self, config: frozenset[tuple[str, str]], properties: Mapping[str, str]) -> KafkaProducer:
        with self._lock:
            producer = self._clients.get(config)
            if producer is not None:
                self._clients.move_to_end(config)
                return producer
            factory = ClientFactory()
            try:
                producer = KafkaProducer(**producer_kwargs(properties), kafka_client=factory)
            except ConnectorError:
                factory.close_all()
                raise
            except Exception as error:
                factory.close_all()
                raise connection_failure(error) from None
            self.clients_created += 1
            self._clients[config] = producer
            while len(self._clients) > self._max_clients:
                _, evicted = self._clients.popitem(last=False)
                evicted.close(timeout=1)
            return producer

    def _discard(self, config: frozenset[tuple[str, str]]) -> None:
        with self._lock:
            producer = self._clients.pop(config, None)
        if producer is not None:
            producer.close(timeout=1)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), OrderedDict()
        for producer in clients:
            producer.close(timeout=1)


def connection_failure(error: BaseException) -> ConnectorError:
    """Why the client could not start: bad credentials or certificate (4xx), or no broker (5xx)."""
    if isinstance(error, AUTHENTICATION_ERRORS):
        return KafkaNonRetryableError(
            f"authentication failed: {type(error).__name__}",
            "The broker refused the credentials or the SASL mechanism; check authentication and "
            "sasl.mechanism.",
        )
    if is_untrusted_certificate(error):
        return KafkaNonRetryableError(
            "TLS verification failed: the broker's certificate is not trusted",
            "Give the CA with ssl.truststore.type=PEM and ssl.truststore.certificates, "
            "or check the host name.",
        )
    if isinstance(error, KafkaTimeoutError):
        return KafkaRetryableError(
            f"could not reach the Kafka cluster: {error}",
            "Check the bootstrap servers, network access (VPC, security groups) and security.protocol: "
            "a TLS client (SSL, SASL_SSL) cannot talk to a plaintext listener, nor the other way round.",
        )
    return classify_kafka_error(error)
