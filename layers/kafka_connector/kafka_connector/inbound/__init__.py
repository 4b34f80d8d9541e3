"""The consumer and subscribe side: Kafka records start workflows or resume waiting ones.

Read in the order a record travels:

* :mod:`.config` — the consumer's environment, checked at cold start;
* :mod:`.records` — the Lambda Kafka event decoded into messages;
* :mod:`.expressions` (with :mod:`.fast_paths`) — activation conditions, keys, ids, results;
* :mod:`.batch` — one batch: prepare every record, then start or correlate each, and
  decide its outcome (docs/outcomes.md) by the kind of :mod:`.exceptions` it raised;
* :mod:`.outcomes` — the batch's counts, reported once: a log line and a metric per outcome;
* :mod:`.message` — one activated record, its key, id and result (made lazily);
* :mod:`.correlation` — the hand-over protocol between messages and waiting workflows,
  over :mod:`.table` (its operations), :mod:`.items` (what it holds) and :mod:`.keys`;
* :mod:`.subscription` — the subscribe function's input;
* :mod:`.step_functions` — StartExecution and task-token callbacks, one error sort;
* :mod:`.dead_letter` — where records that can never succeed go, with their reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafka_connector._lazy import lazy_exports

if TYPE_CHECKING:
    from kafka_connector.inbound.batch import BatchConsumer
    from kafka_connector.inbound.config import ConsumerConfig, Mode
    from kafka_connector.inbound.correlation import subscribe
    from kafka_connector.inbound.subscription import SubscriptionRequest
    from kafka_connector.inbound.table import CorrelationTable

_EXPORTS = {
    "BatchConsumer": "batch",
    "ConsumerConfig": "config",
    "CorrelationTable": "table",
    "Mode": "config",
    "SubscriptionRequest": "subscription",
    "subscribe": "correlation",
}
__all__ = ["BatchConsumer", "ConsumerConfig", "CorrelationTable", "Mode", "SubscriptionRequest", "subscribe"]

__getattr__ = lazy_exports(__name__, _EXPORTS)
