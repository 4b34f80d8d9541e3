"""Redrive function: replay the dead-letter queue through the consumer's logic (docs/outcomes.md#redrive).

Invoked by an operator after fixing a configuration (``aws lambda invoke``), never on a
schedule. Its environment is the consumer's, so each record is re-processed with today's
configuration by the same ``BatchConsumer``; the event chooses how much to do:
``{"maxMessages": 100, "dryRun": false}`` (both optional). The response says what became of
each message (``kafka_connector.inbound.redrive.RedriveReport``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.inbound.redrive import DEFAULT_MAX_MESSAGES, Redriver, RedriveReport
from kafka_connector.observability import count, get_logger, get_metrics, get_tracer, handler_boundary

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = get_logger("kafka-redrive")
metrics = get_metrics("kafka-redrive")
tracer = get_tracer("kafka-redrive")
redriver = Redriver(BatchConsumer(ConsumerConfig.from_environment(), metrics=metrics))


def options(event: object) -> tuple[int, bool]:
    """``maxMessages`` and ``dryRun`` from the event (``{}`` or ``null``: the defaults)."""
    if event is None:
        event = {}
    if not isinstance(event, dict):
        raise ConnectorInputError(
            'the redrive event must be a JSON object: {"maxMessages": 100, "dryRun": false}'
        )
    unknown = sorted(set(event) - {"maxMessages", "dryRun"})
    if unknown:
        raise ConnectorInputError(
            f"unknown field {unknown[0]!r}; the redrive event takes maxMessages and dryRun"
        )
    max_messages = event.get("maxMessages", DEFAULT_MAX_MESSAGES)
    if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
        raise ConnectorInputError(f"'maxMessages' must be a positive integer, got {max_messages!r}")
    dry_run = event.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise ConnectorInputError(f"'dryRun' must be true or false, got {dry_run!r}")
    return max_messages, dry_run


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@handler_boundary(logger, metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> RedriveReport:
    max_messages, dry_run = options(event)
    report = redriver.run(max_messages=max_messages, dry_run=dry_run)
    totals = {
        "RedriveReplayed": report["replayed"],
        "RedriveDeadLettered": report["deadLettered"],
        "RedriveHeldBack": report["heldBack"],
        "RedriveKept": report["kept"],
    }
    for name, total in totals.items():
        if total:  # one metric per outcome per run
            count(metrics, name, total)
    logger.info(
        "redrive: %d received, %d replayed, %d dead-lettered again, %d held back, %d kept%s",
        report["received"],
        report["replayed"],
        report["deadLettered"],
        report["heldBack"],
        report["kept"],
        " (dry run)" if dry_run else "",
    )
    return report
