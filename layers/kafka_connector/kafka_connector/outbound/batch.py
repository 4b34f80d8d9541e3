"""One invocation's publish, single or batch, and its answer: the records, or which were not acknowledged.

A batch (``messages``) is sent whole and its acknowledgements awaited together
(:meth:`Publisher.publish_all`). If every message is acknowledged the response lists each
one's metadata in the order given. If any is not, the invocation fails with the usual
error name and a body that says exactly which indexes were acknowledged and which were
not (docs/payloads.md#batch-errors): raising rather than answering "partly done" means a
workflow that does not look never takes a lost message for a published one, and one that
does can ``Catch`` the error and publish the failed indexes again, and only those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from kafka_connector.errors import ConnectorError, KafkaRetryableError
from kafka_connector.outbound.publisher import Acknowledgement, Publisher, debug_properties
from kafka_connector.outbound.request import ProducerRequest
from kafka_connector.redaction import redact, redact_data

#: How much of each distinct error's message the batch error quotes.
_MESSAGE_CHARS: Final = 500


def publish(publisher: Publisher, request: ProducerRequest) -> list[Acknowledgement]:
    """Every record of ``request`` acknowledged, in order; or the error saying which were not."""
    if not request.batch:
        return [publisher.publish(request)]
    outcomes = publisher.publish_all(request)
    if any(isinstance(outcome, ConnectorError) for outcome in outcomes):
        raise batch_failure(outcomes)
    return [outcome for outcome in outcomes if isinstance(outcome, Acknowledgement)]


def response(request: ProducerRequest, acknowledgements: Sequence[Acknowledgement]) -> dict[str, Any]:
    """``message``: the record's metadata. ``messages``: ``{"records": [...]}`` in the order given."""
    if not request.batch:
        return acknowledgements[0].to_response(request)
    records = [ack.to_record(request.debug) for ack in acknowledgements]
    # The only text in a record is its topic: each distinct name is redacted once, not per record.
    topics = {topic: redact(topic) for topic in {record["topic"] for record in records}}
    for record in records:
        record["topic"] = topics[record["topic"]]
    answer: dict[str, Any] = {"records": records}
    if request.debug:
        answer |= redact_data(debug_properties(request))
    return answer


def batch_failure(outcomes: Sequence[Acknowledgement | ConnectorError]) -> ConnectorError:
    """The error for a batch with unacknowledged messages, listing every index by what became of it.

    Its name is the first failure's that no retry can fix (``ConnectorInputError``,
    ``KafkaNonRetryableError``), else ``KafkaRetryableError``, so the usual Retry/Catch
    rules still read it; ``retryable`` names the failed indexes a retry may publish.
    """
    failures = [
        (index, outcome) for index, outcome in enumerate(outcomes) if isinstance(outcome, ConnectorError)
    ]
    acknowledged = [index for index, outcome in enumerate(outcomes) if isinstance(outcome, Acknowledgement)]
    permanent = [(index, error) for index, error in failures if not isinstance(error, KafkaRetryableError)]
    first_index, first = (permanent or failures)[0]
    errors: dict[tuple[str, str], dict[str, Any]] = {}
    for index, error in failures:
        entry = errors.setdefault(
            (error.error, error.message),
            {
                "error": error.error,
                "status": error.status,
                "message": error.message[:_MESSAGE_CHARS],
                "count": 0,
                "first": index,
            },
        )
        entry["count"] += 1
    kind: type[ConnectorError] = type(first) if permanent else KafkaRetryableError
    distinct = list(errors.values())
    return kind(
        f"{len(failures)} of {len(outcomes)} messages were not acknowledged;"
        f" messages[{first_index}]: {first.message}",
        "'acknowledged' lists the indexes the broker acknowledged, 'failed' those it did not"
        " ('retryable': the failed ones a retry may publish). Publish only the failed ones again.",
        details={
            "acknowledged": acknowledged,
            "failed": [index for index, _ in failures],
            "retryable": [index for index, error in failures if isinstance(error, KafkaRetryableError)],
            # At most ten distinct reasons: the body must fit in a Step Functions cause.
            "errors": distinct[:10],
        },
    )
