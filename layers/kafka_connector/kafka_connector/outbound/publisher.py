"""Publish one record and wait for the broker's acknowledgement, reusing warm clients.

Creating a Kafka producer costs a bootstrap, an ApiVersions exchange and, with SASL, an
authentication round trip: several broker round trips that the reference connector pays
on every call. Here a producer is kept per *effective configuration* for the life of
the execution environment, so a warm invocation costs one produce round trip. A
configuration change gets its own client. A client that is broken — its credentials
refused, or wedged so that it can make no progress (see :func:`cannot_progress`) — is
replaced, so the next call starts clean without Lambda recycling the environment; an
error about the record itself (too large, invalid topic) keeps the healthy client.

The cache holds ``PRODUCER_CLIENT_CACHE_SIZE`` configurations (default 4), least
recently used first out. No lock is held while a client bootstraps: a call for a healthy
cluster never waits behind another configuration's unreachable one, and concurrent
calls for the same configuration share one bootstrap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Final, NamedTuple

import kafka.errors as kafka_errors
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from kafka.producer.transaction_manager import TransactionState

from kafka_connector import environment as names
from kafka_connector.errors import (
    ConnectorError,
    ConnectorInputError,
    KafkaNonRetryableError,
    KafkaRetryableError,
    classify_kafka_error,
)
from kafka_connector.kafka.connection import AUTHENTICATION_ERRORS, ClientFactory, is_untrusted_certificate
from kafka_connector.kafka.table import TABLE, ignored_properties, to_kafka_python
from kafka_connector.kafka.vocabulary import PRODUCER
from kafka_connector.outbound.request import OutboundRecord, ProducerRequest
from kafka_connector.redaction import mask_properties, redact_data, shown

#: kafka-python's own defaults differ from the Java client's in ways a Lambda notices: it
#: backs off reconnects for up to 30 s, and it bootstraps in the constructor for 30 s
#: whatever ``max.block.ms`` says. These bring it back to what Kafka users expect.
_JAVA_ALIGNED_DEFAULTS: dict[str, Any] = {"reconnect_backoff_max_ms": 1000}
_ACK_MARGIN_SECONDS = 5.0
DEFAULT_CLIENT_CACHE_SIZE: Final = 4

log = logging.getLogger("kafka_connector.outbound")

#: Errors about the record or its topic, not about the client: the warm client stays.
_RECORD_ERRORS: Final = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidRecordError,
    kafka_errors.CorruptRecordError,
    kafka_errors.InvalidTimestampError,
    kafka_errors.InvalidTopicError,
    kafka_errors.TopicAuthorizationFailedError,
)

#: kafka-python keyword → Kafka property, from the one mapping table, so that an error
#: names what the user wrote (``max.request.size``), not what kafka-python calls it.
_KAFKA_NAMES: Final = {rule.kwarg: name for name, rule in TABLE.items() if rule.roles >= PRODUCER}
_KWARG = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _KAFKA_NAMES), key=len, reverse=True)) + r")\b")


def in_kafka_terms(text: str) -> str:
    """``text`` with every kafka-python keyword replaced by its Kafka property name."""
    return _KWARG.sub(lambda match: _KAFKA_NAMES[match.group(1)], text)


def _in_kafka_terms(error: ConnectorError) -> ConnectorError:
    message, description = in_kafka_terms(error.message), in_kafka_terms(error.description)
    if (message, description) == (error.message, error.description):
        return error
    return type(error)(message, description)


class Acknowledgement(NamedTuple):
    """The acknowledged record's metadata: what the workflow gets back (a tuple: a batch makes 1,000)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    serialized_key_size: int
    serialized_value_size: int

    def to_metadata(self) -> dict[str, Any]:
        """Where the record was written and its sizes: all an idempotency record stores of it."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "serializedKeySize": self.serialized_key_size,
            "serializedValueSize": self.serialized_value_size,
        }

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Acknowledgement:
        return cls(
            topic=metadata["topic"],
            partition=metadata["partition"],
            offset=metadata["offset"],
            timestamp=metadata["timestamp"],
            serialized_key_size=metadata["serializedKeySize"],
            serialized_value_size=metadata["serializedValueSize"],
        )

    def to_record(self, debug: bool) -> dict[str, Any]:
        """The record's entry in a response: coordinates and timestamp, sizes with ``debug``."""
        record: dict[str, Any] = {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
        }
        if debug:
            record |= {
                "serializedKeySize": self.serialized_key_size,
                "serializedValueSize": self.serialized_value_size,
            }
        return record

    def to_response(self, request: ProducerRequest) -> dict[str, Any]:
        """The single-message response (docs/payloads.md#producer-response)."""
        response = self.to_record(request.debug)
        if request.debug:
            response |= debug_properties(request)
        redacted: dict[str, Any] = redact_data(response)  # topic names and property names too
        return redacted


def debug_properties(request: ProducerRequest) -> dict[str, Any]:
    """What ``"debug": true`` adds beside the records: the effective properties, credentials masked."""
    return {
        "properties": mask_properties(request.properties),
        "ignoredProperties": ignored_properties(request.properties, role="producer"),
    }


def producer_kwargs(properties: Mapping[str, str]) -> dict[str, Any]:
    """kafka-python keyword arguments for ``properties``, with Java-aligned timeouts."""
    kwargs = _JAVA_ALIGNED_DEFAULTS | to_kafka_python(properties, role="producer")
    if "max_block_ms" in kwargs:
        kwargs.setdefault("bootstrap_timeout_ms", min(kwargs["max_block_ms"], 30000))
    return kwargs


def client_cache_size(env: Mapping[str, str] | None = None) -> int:
    """How many configurations keep a warm client: ``PRODUCER_CLIENT_CACHE_SIZE``, default 4.

    Each client holds sockets and an I/O thread, so the bound is what a function that
    publishes to many clusters (or with many ``client.id``s) pays in memory; read once, at
    cold start, and refused there if it is not a positive integer.
    """
    env = os.environ if env is None else env
    text = env.get(names.PRODUCER_CLIENT_CACHE_SIZE, "").strip()
    if not text:
        return DEFAULT_CLIENT_CACHE_SIZE
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ConnectorInputError(
            f"{names.PRODUCER_CLIENT_CACHE_SIZE} must be a positive integer (got {shown(text, 20)})"
        )
    return int(text)


def cannot_progress(producer: Any) -> bool:
    """True when ``producer`` can neither send nor expire a record again: replace it.

    Written against kafka-python 3.0.12, whose producer is idempotent by default. When a
    batch that was already sent expires (the broker stopped answering mid-request), the
    sender calls ``TransactionManager.reset_producer_id()``: the producer id is cleared
    but the state stays READY. ``init_producer_id()`` acts only from UNINITIALIZED, and
    ``Sender.run_once`` returns early for as long as there is no producer id, before it
    drains or expires anything — so every later ``send`` times out, even once the broker
    is back, while a fresh client publishes at once. The check is as narrow as that bug:
    an idempotent, non-transactional producer with no producer id in a state other than
    UNINITIALIZED/INITIALIZING (the normal start, where the sender is fetching one). It
    reads the private ``_transaction_manager`` and ``_current_state``; the recovery tests
    (tests/fault/test_producer_recovery.py) fail if a release changes their meaning.
    """
    manager = getattr(producer, "_transaction_manager", None)
    if manager is None or manager.is_transactional() or manager.has_producer_id():
        return False
    state = getattr(manager, "_current_state", None)
    return state not in (TransactionState.UNINITIALIZED, TransactionState.INITIALIZING)


def _is_about_the_client(error: BaseException, converted: ConnectorError) -> bool:
    """A non-retryable error that no later call on this client can escape (e.g. bad credentials)."""
    return isinstance(converted, KafkaNonRetryableError) and not isinstance(error, _RECORD_ERRORS)


def _close(producer: Any, grace_seconds: float) -> None:
    """Close a client nobody will use again, whatever state it is in; never raises.

    ``KafkaProducer.close`` flushes first and raises if a record is still pending, without
    stopping the I/O thread, so a wedged client would never close. Records get
    ``grace_seconds`` to finish (callers still waiting on them get their real answer),
    then the sender is force-closed (private ``_sender``, kafka-python 3.0.12): what is
    left fails at once, and those callers are told the client was replaced.
    """
    try:
        producer.flush(timeout=grace_seconds)
    except Exception:  # a wedged or broken client: forced below
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
    with contextlib.suppress(Exception):  # best effort on a client already abandoned
        producer.close(timeout=1)


class Publisher:
    """Producers per effective configuration (a small LRU), shared by warm invocations."""

    def __init__(self, max_clients: int | None = None) -> None:
        self._clients: OrderedDict[frozenset[tuple[str, str]], Any] = OrderedDict()
        #: Bootstraps under way, one per configuration; concurrent callers share its result.
        self._building: dict[frozenset[tuple[str, str]], Future[Any]] = {}
        #: Clients taken out of service: an error from one of them means "retry", nothing else.
        self._retired: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.max_clients = client_cache_size() if max_clients is None else max_clients
        #: How many producers this publisher has constructed (observable reuse).
        self.clients_created = 0
        #: How many calls waited for another call's bootstrap of the same configuration.
        self.bootstraps_shared = 0
        #: How many clients were replaced because they could make no progress.
        self.clients_replaced = 0

    def publish(self, request: ProducerRequest) -> Acknowledgement:
        """Send ``request``'s (first) record and wait for the broker's acknowledgement.

        Every error names Kafka's properties, not kafka-python's keywords.
        """
        (outcome,) = self.publish_all(request, request.records[:1])
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def publish_all(
        self, request: ProducerRequest, records: Sequence[OutboundRecord] | None = None
    ) -> list[Acknowledgement | ConnectorError]:
        """Send every record, then wait for all the acknowledgements: one outcome per record, in order.

        A record is an :class:`Acknowledgement` only if the broker acknowledged it; anything
        else is the error that record met (refused by the client before it was sent, refused
        by the broker, or not acknowledged in time). Errors about the client itself (it
        cannot bootstrap) are raised, before any record is sent.
        """
        try:
            config = frozenset(request.properties.items())
            producer = self._client(config, request.properties)
            sent = self._send_all(config, producer, request.records if records is None else records)
            return self._wait_all(config, producer, sent)
        except ConnectorError as error:
            raise _in_kafka_terms(error) from None

    def _send_all(
        self, config: frozenset[tuple[str, str]], producer: Any, records: Sequence[OutboundRecord]
    ) -> list[tuple[OutboundRecord, Any]]:
        """``send`` each record: its future, or the error ``send`` raised (nothing was sent then).

        A topic whose metadata could not be had within ``max.block.ms`` fails the rest of its
        records at once, rather than blocking that long again for each of them.
        """
        sent: list[tuple[OutboundRecord, Any]] = []
        unreachable: dict[str, ConnectorError] = {}
        for record in records:
            if record.topic in unreachable:
                sent.append((record, unreachable[record.topic]))
                continue
            try:
                future = producer.send(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    partition=record.partition,
                )
            except Exception as error:
                converted = self._failure(config, producer, record, error, None)
                if isinstance(error, KafkaTimeoutError):
                    unreachable[record.topic] = converted
                sent.append((record, converted))
                continue
            sent.append((record, future))
        return sent

    def _wait_all(
        self, config: frozenset[tuple[str, str]], producer: Any, sent: list[tuple[OutboundRecord, Any]]
    ) -> list[Acknowledgement | ConnectorError]:
        """Each future's acknowledgement, all waited for against one deadline after the last send."""
        delivery_ms = producer.config["delivery_timeout_ms"]
        deadline = time.monotonic() + delivery_ms / 1000 + _ACK_MARGIN_SECONDS
        outcomes: list[Acknowledgement | ConnectorError] = []
        for record, future in sent:
            if isinstance(future, ConnectorError):
                outcomes.append(future)
                continue
            try:
                if future.is_done and future.succeeded():  # most are, once the first wait is over
                    metadata = future.value
                else:
                    metadata = future.get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as error:
                outcomes.append(self._failure(config, producer, record, error, future))
                continue
            outcomes.append(
                Acknowledgement(
                    topic=metadata.topic,
                    partition=metadata.partition,
                    offset=metadata.offset,
                    timestamp=metadata.timestamp,
                    serialized_key_size=metadata.serialized_key_size,
                    serialized_value_size=metadata.serialized_value_size,
                )
            )
        return outcomes

    def _failure(
        self,
        config: frozenset[tuple[str, str]],
        producer: Any,
        record: OutboundRecord,
        error: BaseException,
        future: Any,
    ) -> ConnectorError:
        """The connector error for ``record``'s failure; a client that is broken is retired here."""
        if isinstance(error, AssertionError | ValueError):
            if record.partition is not None and "partition" in str(error).lower():
                return ConnectorInputError(f"partition {record.partition} is not in topic '{record.topic}'")
            return KafkaNonRetryableError(f"{type(error).__name__}: {error}")
        if producer in self._retired and isinstance(error, kafka_errors.IllegalStateError):
            return KafkaRetryableError(
                "the Kafka client was replaced while this record was pending; it was not acknowledged",
                "Another call found the client broken and replaced it; a retry uses the new client.",
            )
        converted = classify_kafka_error(error)
        if isinstance(error, KafkaTimeoutError):
            if future is not None and not future.is_done:
                delivery_ms = producer.config["delivery_timeout_ms"]
                converted = KafkaRetryableError(
                    f"no acknowledgement within delivery.timeout.ms ({delivery_ms} ms)"
                    f" + {_ACK_MARGIN_SECONDS:g} s",
                    "The broker did not answer in time; the record may or may not have been written.",
                )
            if cannot_progress(producer):
                self._retire(config, producer, wedged=True)
        elif _is_about_the_client(error, converted):
            self._retire(config, producer, wedged=False)
        return _in_kafka_terms(converted)

    def _client(self, config: frozenset[tuple[str, str]], properties: Mapping[str, str]) -> Any:
        """The warm client for ``config``, or a new one; a wedged client is replaced here.

        The lock only guards the maps: the bootstrap runs outside it, published as a
        future that concurrent callers for the same configuration wait on.
        """
        wedged = None
        with self._lock:
            producer = self._clients.get(config)
            if producer is not None and cannot_progress(producer):
                wedged, producer = producer, None
                self._take_out(config, wedged, wedged=True)
            if producer is not None:
                self._clients.move_to_end(config)
                return producer
            building = self._building.get(config)
            owner = building is None
            if building is None:
                building = self._building[config] = Future()
            else:
                self.bootstraps_shared += 1
        if wedged is not None:
            _close_in_background(wedged, grace_seconds=0)
        if not owner:
            return _shared_result(building)
        return self._build(config, properties, building)

    def _build(
        self, config: frozenset[tuple[str, str]], properties: Mapping[str, str], building: Future[Any]
    ) -> Any:
        try:
            producer = _new_producer(properties)
        except BaseException as error:
            with self._lock:
                del self._building[config]
            building.set_exception(error)
            raise
        with self._lock:
            del self._building[config]
            self.clients_created += 1
            self._clients[config] = producer
            evicted = []
            while len(self._clients) > self.max_clients:
                evicted.append(self._clients.popitem(last=False)[1])
        building.set_result(producer)
        for oldest in evicted:
            # Evicted, not broken: a call still waiting on it gets its real answer.
            _close_in_background(oldest, grace_seconds=oldest.config["delivery_timeout_ms"] / 1000)
        return producer

    def _retire(self, config: frozenset[tuple[str, str]], producer: Any, *, wedged: bool) -> None:
        """Take ``producer`` out of service (if it still is) so the next call builds a fresh one.

        A wedged client's records can never complete, so it is closed at once; a client
        refused for good gives its pending records their delivery timeout first.
        """
        with self._lock:
            if config not in self._clients or self._clients[config] is not producer:
                return  # another call already replaced it
            self._take_out(config, producer, wedged=wedged)
        grace = 0.0 if wedged else producer.config["delivery_timeout_ms"] / 1000
        _close_in_background(producer, grace)

    def _take_out(self, config: frozenset[tuple[str, str]], producer: Any, *, wedged: bool) -> None:
        """Under the lock: forget the client, and remember that its errors now mean "retry"."""
        del self._clients[config]
        self._retired.add(producer)
        if wedged:
            self.clients_replaced += 1
            log.warning("replacing a Kafka client that can make no progress (it lost its producer id)")

    def close(self) -> None:
        """Close every client (Lambda's shutdown phase): a second's grace for pending records."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), OrderedDict()
        for producer in clients:
            _close(producer, grace_seconds=1)


def _new_producer(properties: Mapping[str, str]) -> Any:
    """A bootstrapped client, or the connector error saying why the cluster refused or was not there."""
    factory = ClientFactory()
    try:
        return KafkaProducer(**producer_kwargs(properties), kafka_client=factory)
    except ConnectorError:
        factory.close_all()
        raise
    except Exception as error:
        factory.close_all()
        raise connection_failure(error) from None


def _shared_result(building: Future[Any]) -> Any:
    """The client another call is bootstrapping, or a copy of the error it got."""
    try:
        return building.result()
    except ConnectorError as error:
        raise type(error)(error.message, error.description) from None


def _close_in_background(producer: Any, grace_seconds: float) -> None:
    """Close off the request path: a call never waits for another client to wind down."""
    threading.Thread(
        target=_close, args=(producer, grace_seconds), name="kafka-producer-close", daemon=True
    ).start()


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
