"""What became of a batch's records, told once per batch: one log line and one metric per outcome.

Every record ends in one outcome of docs/outcomes.md. The batch counts them as it goes and
reports at the end: a single INFO line with every count (records seen, then each outcome)
and one ``add_metric`` per outcome. Counting per record with ``Metrics.add_metric`` was a
third of the consumer's time on a 1,000-record batch, and a thousand values of one metric
are a thousand entries in the EMF blob for CloudWatch to sum; one value per batch is the
same sum.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from aws_lambda_powertools import Metrics

from kafka_connector.observability import count


class Outcome(StrEnum):
    """The documented endings of a record (docs/outcomes.md#summary), as logged."""

    DELIVERED = "delivered"
    STARTED = "started"
    SKIPPED = "skipped"
    BUFFERED = "buffered"
    DROPPED = "dropped"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"
    HELD_BACK = "held back"


#: The metric of each outcome (namespace ``KafkaConnector``); names kept from earlier releases.
METRIC_NAMES: Final[dict[Outcome, str]] = {
    Outcome.DELIVERED: "MessagesCorrelated",
    Outcome.STARTED: "ExecutionsStarted",
    Outcome.SKIPPED: "RecordsSkipped",
    Outcome.BUFFERED: "MessagesBuffered",
    Outcome.DROPPED: "MessagesUnmatched",
    Outcome.DUPLICATE: "MessagesDuplicate",
    Outcome.DEAD_LETTERED: "RecordsDeadLettered",
    Outcome.HELD_BACK: "RecordsHeldBack",
}
RECORDS_SEEN: Final = "RecordsSeen"
RECORDS_ACTIVATED: Final = "RecordsActivated"
#: Held-back records that stopped their partition (the first of each): partitions to be retried.
PARTITIONS_HELD_BACK: Final = "RecordsRetried"


def field_name(outcome: Outcome) -> str:
    """The summary line's field for ``outcome``: ``dead_lettered``, ``held_back``, …"""
    return outcome.value.replace("-", "_").replace(" ", "_")


@dataclass(slots=True)
class BatchOutcomes:
    """The counts of one batch; :meth:`report` logs and meters them once."""

    records: int = 0
    activated: int = 0
    partitions_held_back: int = 0
    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))

    def add(self, outcome: Outcome, count: int = 1) -> None:
        self.counts[outcome] += count

    def report(self, logger: logging.Logger, metrics: Metrics) -> None:
        """One INFO line with every count, and one metric value per outcome (zeros included).

        Zeros are sent so that a dashboard draws 0 rather than a gap, and an alarm on
        ``RecordsDeadLettered`` or ``RecordsHeldBack`` has data in every period the consumer ran.
        """
        counts = self.counts
        logger.info(
            "batch of %d records: %s",
            self.records,
            ", ".join(f"{counts[outcome]} {outcome.value}" for outcome in Outcome),
            extra={
                "records": self.records,
                "activated": self.activated,
                **{field_name(outcome): counts[outcome] for outcome in Outcome},
            },
        )
        count(metrics, RECORDS_SEEN, self.records)
        count(metrics, RECORDS_ACTIVATED, self.activated)
        count(metrics, PARTITIONS_HELD_BACK, self.partitions_held_back)
        for outcome in Outcome:
            count(metrics, METRIC_NAMES[outcome], counts[outcome])
