"""Kafka client plumbing: Kafka's own property names, translated for kafka-python; connections that fail fast.

Users think in Kafka's property names (``linger.ms``, ``sasl.jaas.config``), so the
connector works in two steps: :mod:`.resolve` builds the effective property set with
Kafka's names and string values (input, then defaults, then ``additionalProperties``; see
docs/payloads.md), and :mod:`.table` translates it into kafka-python keyword arguments,
with :mod:`.jaas` and :mod:`.tls` for the two composite steps and :mod:`.credentials`
registering every credential with redaction first. :mod:`.connection` is the network
client that reports bad credentials at once and bounds the TLS handshake.

The names below are imported on first use (PEP 562): a consumer that never builds a Kafka
client never imports kafka-python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_connector._lazy import lazy_exports

if TYPE_CHECKING:
    from kafka_connector.kafka.resolve import resolve_client_properties
    from kafka_connector.kafka.table import ignored_properties, to_kafka_python
    from kafka_connector.kafka.vocabulary import Role

_EXPORTS = {
    "Role": "vocabulary",
    "ignored_properties": "table",
    "resolve_client_properties": "resolve",
    "to_kafka_python": "table",
}
__all__ = ["Role", "ignored_properties", "resolve_client_properties", "to_kafka_python"]

__getattr__ = lazy_exports(__name__, _EXPORTS)
