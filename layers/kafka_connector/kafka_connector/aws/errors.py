"""Transient or permanent: how the consumer side treats an AWS API failure.

The consumer's offsets depend on this split (docs/outcomes.md): a transient failure becomes a
partial batch failure so the mapping retries from that record; a permanent one sends the
record to the dead-letter queue and lets the partition move on. Configuration mistakes
(a missing table or state machine, a denied permission) are treated as transient on
purpose: dead-lettering every record because a policy is missing would empty the topic
into the queue, while retrying holds the records until the mistake is fixed.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

#: Error codes meaning "this request itself can never succeed".
PERMANENT_CODES = frozenset(
    {
        "ValidationException",
        "InvalidExecutionInput",
        "InvalidOutput",
        "InvalidName",
        "SerializationException",
        "EntityNotFoundException",  # a Glue schema version named by a record that does not exist
        "InvalidParameterValue",
        "InvalidMessageContents",
    }
)


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_permanent(error: BaseException) -> bool:
    """True when retrying the same request cannot help; every other AWS failure is transient."""
    return isinstance(error, ClientError) and error_code(error) in PERMANENT_CODES


def is_aws_error(error: BaseException) -> bool:
    return isinstance(error, ClientError | BotoCoreError)
