"""Task-token callbacks to Step Functions, with the outcomes the correlation logic needs.

``TaskTimedOut``, ``TaskDoesNotExist`` and ``InvalidToken`` all mean the same thing to a
sender: that waiting task is gone (timed out, aborted, already resumed), so its
subscription is dropped and the message goes on to others (G5). Throttling and outages
are transient; anything else about the request is permanent for this record.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from kafka_connector.aws_clients import AwsClient
from kafka_connector.aws_errors import TransientAwsError, error_code, is_permanent

#: Step Functions' limit for task output and execution input: 256 KiB of UTF-8.
MAX_PAYLOAD_BYTES = 256 * 1024
TOO_LARGE_ERROR = "KafkaMessageTooLarge"
GONE_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


class CallbackOutcome(Enum):
    DELIVERED = "delivered"
    GONE = "gone"


class CallbackRejected(Exception):
    """Step Functions refused the callback for a reason no retry can fix."""


def fits(payload_json: str) -> bool:
    return len(payload_json.encode()) <= MAX_PAYLOAD_BYTES


class TaskCallbacks:
    stepfunctions = AwsClient("stepfunctions")

    def succeed(self, task_token: str, output_json: str) -> CallbackOutcome:
        return self._send("send_task_success", taskToken=task_token, output=output_json)

    def fail(self, task_token: str, error: str, cause: str) -> CallbackOutcome:
        return self._send("send_task_failure", taskToken=task_token, error=error, cause=cause[:32768])

    def _send(self, operation: str, **kwargs: Any) -> CallbackOutcome:
        try:
            getattr(self.stepfunctions, operation)(**kwargs)
        except ClientError as error:
            code = error_code(error)
            if code in GONE_CODES:
                return CallbackOutcome.GONE
            if is_permanent(error):
                raise CallbackRejected(f"{operation}: {code}") from error
            raise TransientAwsError(f"Step Functions {operation}: {code}") from error
        except Exception as error:  # connection errors and the like
            raise TransientAwsError(f"Step Functions {operation}: {type(error).__name__}") from error
        return CallbackOutcome.DELIVERED
