"""The three errors a workflow can see, named as Step Functions will name them.

Lambda reports an unhandled exception's class name as ``errorType`` and Step Functions
uses that as the error name in ``Retry``/``Catch``, so the class names below *are* the
public contract (docs/payloads.md#errors). The message is JSON so that a ``Catch`` with a ``ResultPath``
can read ``status``, ``message`` and ``description`` with ``States.StringToJson``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, NotRequired, TypedDict

from kafka_connector import redaction


class ErrorBody(TypedDict):
    status: int
    error: str
    message: str
    description: str
    #: A batch publish that failed part-way: which messages were acknowledged and which not
    #: (docs/payloads.md#batch-errors).
    acknowledged: NotRequired[list[int]]
    failed: NotRequired[list[int]]
    retryable: NotRequired[list[int]]
    errors: NotRequired[list[dict[str, Any]]]


class ConnectorError(Exception):
    """Base of the connector's errors; ``str(error)`` is the JSON body, secrets masked.

    The message and description are redacted as they are made, before anything (JSON, a
    ``repr``, Lambda's error report) escapes them, and again each time the body is written,
    so a secret registered after the error was raised (another thread's request, a
    placeholder resolved later) is masked too.
    """

    status: ClassVar[int] = 500

    def __init__(
        self, message: str, description: str = "", *, details: Mapping[str, Any] | None = None
    ) -> None:
        self.message = redaction.redact(message)
        self.description = redaction.redact(description)
        #: Extra fields of the body (a batch's acknowledged and failed indexes), redacted when written.
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.to_json())

    @property
    def error(self) -> str:
        return type(self).__name__

    def to_dict(self) -> ErrorBody:
        body: ErrorBody = {
            "status": self.status,
            "error": self.error,
            "message": redaction.redact(self.message),
            "description": redaction.redact(self.description),
        }
        if self.details:
            body.update(redaction.redact_data(self.details))
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def __str__(self) -> str:
        return self.to_json()

    def __reduce__(self) -> tuple[Any, ...]:
        if self.details:
            return (_with_details, (type(self), self.message, self.description, self.details))
        return (type(self), (self.message, self.description))


def _with_details(
    cls: type[ConnectorError], message: str, description: str, details: Mapping[str, Any]
) -> ConnectorError:
    """Unpickle an error that carries details (``__reduce__`` passes positional arguments only)."""
    return cls(message, description, details=details)


class ConnectorInputError(ConnectorError):
    """The request itself is wrong (missing field, bad schema, bad address, unknown secret).

    Retrying the same input can never succeed.
    """

    status = 400


class KafkaNonRetryableError(ConnectorError):
    """Kafka refused the record for good: too large, invalid topic, not authorized, bad credentials."""

    status = 400


class KafkaRetryableError(ConnectorError):
    """Kafka could not take the record now; the same call may work later (timeouts, no leader, …)."""

    status = 500


def classify_kafka_error(error: BaseException) -> ConnectorError:
    """Map a kafka-python exception to 4xx or 5xx the way Kafka itself does: by ``retriable``.

    This mirrors the target-connection document (4xx: retrying makes no sense, 5xx:
    retrying is feasible) using the flag Kafka's error catalogue already carries, so a
    broker error we have never seen is still classified correctly. Exceptions that are
    not Kafka errors (sockets closing under us, and such) are transient by nature.
    """
    if isinstance(error, ConnectorError):
        return error
    from kafka.errors import KafkaError  # noqa: PLC0415 - keeps the consumer's cold start free of kafka-python

    if isinstance(error, KafkaError):
        name = type(error).__name__
        description = getattr(error, "description", "") or ""
        detail = str(error) if str(error) and str(error) != name else name
        if error.retriable:
            return KafkaRetryableError(detail, description)
        return KafkaNonRetryableError(detail, description)
    return KafkaRetryableError(f"{type(error).__name__}: {error}")
