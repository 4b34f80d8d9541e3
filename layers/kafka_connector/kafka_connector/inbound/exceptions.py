"""What can go wrong with one record, in two kinds: for good, or for now (docs/outcomes.md).

Every per-record failure of the consumer side is one of these two, so the batch handler
decides a record's fate by kind alone:

* :class:`PermanentRecordError` — the record can never succeed as it is (undecodable, an
  expression that fails on it, too large, refused by a service). It is dead-lettered with
  its ``error`` name and reason, and its partition moves on.
* :class:`TransientRecordError` — it may succeed later (throttling, an outage, a missing
  permission). The record is held back as a partial batch failure and retried by the
  event source mapping.

Both carry a short ``error`` name (the dead-letter message's ``error``; for a held-back
record the AWS error code or the cause's type) so that every outcome is logged with one.
:func:`sort_failure` gives any other exception its kind (docs/outcomes.md#unexpected-errors).
"""

from __future__ import annotations


class PermanentRecordError(Exception):
    """This record can never succeed as it is: dead-letter it and move on.

    ``error`` is the short name written to the dead-letter queue beside the reason
    (``str(self)``); subclasses fix it, a plain instance may name it.
    """

    error: str = "Rejected"

    def __init__(self, reason: str, *, error: str | None = None) -> None:
        super().__init__(reason)
        if error is not None:
            self.error = error

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), self.error))


def _rebuild(kind: type[PermanentRecordError], reason: str, error: str) -> PermanentRecordError:
    rebuilt = PermanentRecordError.__new__(kind)
    Exception.__init__(rebuilt, reason)
    rebuilt.error = error
    return rebuilt


class UndecodableRecord(PermanentRecordError):
    """The record's bytes cannot be read as configured."""

    error = "UndecodableRecord"


class MessageTooLarge(PermanentRecordError):
    """The result is over what Step Functions accepts (G6); waiting tasks were failed instead."""

    error = "KafkaMessageTooLarge"


class Rejected(PermanentRecordError):
    """An AWS service refused the request for a reason no retry can fix (e.g. invalid input)."""

    error = "Rejected"


class UnexpectedError(PermanentRecordError):
    """An exception nobody anticipated while computing on this record (a defect, or input no rule foresaw).

    The computation is deterministic — the same record fails the same way on every retry —
    so holding it back would block its partition until the mapping gives up. It is
    dead-lettered instead, whole, with the exception's type, to be replayed once fixed.
    """

    error = "UnexpectedError"


class TransientRecordError(Exception):
    """This record may succeed if tried again later: hold it back (partial batch failure).

    ``error`` names the cause for the log: the AWS error code when there is one (taken from
    the ``ClientError`` this was raised from), else the cause's type.
    """

    @property
    def error(self) -> str:
        cause = self.__cause__
        if cause is not None:
            code = _aws_code(cause)
            return code or type(cause).__name__
        return type(self).__name__


class TransientAwsError(TransientRecordError):
    """An AWS call that may work if tried again later (throttled, unavailable, misconfigured)."""


class PartitionHeldBack(TransientRecordError):
    """An earlier record of this partition was held back; this one waits for the same retry."""


def _aws_code(error: BaseException) -> str:
    response = getattr(error, "response", None)  # botocore's ClientError, without importing botocore
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def sort_failure(error: Exception) -> PermanentRecordError | TransientRecordError:
    """The kind of any exception raised while handling one record.

    Already sorted errors keep their kind. An AWS error is permanent when its code says the
    request can never succeed (``aws/errors.py``), else transient. What the environment
    causes — the network (``OSError``), memory — is transient. Anything else is a
    deterministic computation on the record failing: permanent (:class:`UnexpectedError`).
    """
    if isinstance(error, PermanentRecordError | TransientRecordError):
        return error
    from kafka_connector.aws.errors import is_aws_error, is_permanent  # noqa: PLC0415 - botocore

    if is_aws_error(error):
        sorted_error: PermanentRecordError | TransientRecordError
        if is_permanent(error):
            sorted_error = Rejected(f"{_aws_code(error)}: {error}")
        else:
            sorted_error = TransientAwsError(f"{type(error).__name__}: {error}")
        sorted_error.__cause__ = error
        return sorted_error
    if isinstance(error, OSError | MemoryError):
        transient = TransientRecordError(f"{type(error).__name__}: {error}")
        transient.__cause__ = error
        return transient
    unexpected = UnexpectedError(
        f"unexpected {type(error).__name__} while handling this record: {error}"[:1000]
    )
    unexpected.__cause__ = error
    return unexpected
