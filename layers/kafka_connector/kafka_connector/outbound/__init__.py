"""The producer side: a Step Functions task publishes one record and gets its metadata back.

:mod:`.request` validates the task input into bytes to publish, :mod:`.address` parses
the ``topic``, ``topic/key`` and ``topic#partition`` forms, and :mod:`.publisher` keeps
warm Kafka producers per configuration and waits for the broker's acknowledgement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_connector._lazy import lazy_exports

if TYPE_CHECKING:
    from kafka_connector.outbound.publisher import Acknowledgement, Publisher
    from kafka_connector.outbound.request import ProducerRequest

_EXPORTS = {"Acknowledgement": "publisher", "Publisher": "publisher", "ProducerRequest": "request"}
__all__ = ["Acknowledgement", "ProducerRequest", "Publisher"]

__getattr__ = lazy_exports(__name__, _EXPORTS)
