"""What can go wrong with one record, in two kinds: for good, or for now (docs/outcomes.md).

Every per-record failure of the consumer side is one of these two, so the batch handler
decides a record's fate by kind alone:

* :class:`PermanentRecordError` — the record can never succeed as it is (undecodable, an
  expression that fails on it, too large, refused by a service). It is dead-lettered with
  its ``error`` name and reason, and its partition moves on.
* :class:`TransientRecordError` — it may succeed later (throttling, an outage, a missing
  permission). The record is held back as a partial batch failure and retried by the
  event source mapping.
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


class TransientRecordError(Exception):
    """This record may succeed if tried again later: hold it back (partial batch failure)."""


class TransientAwsError(TransientRecordError):
    """An AWS call that may work if tried again later (throttled, unavailable, misconfigured)."""


class PartitionHeldBack(TransientRecordError):
    """An earlier record of this partition was held back; this one waits for the same retry."""
