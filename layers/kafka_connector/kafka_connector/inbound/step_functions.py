"""Step Functions calls of the consumer side: start an execution, resume a waiting task.

Both sort their failures the same way (:func:`_sorted`): a request that can never succeed
is the record's :class:`~kafka_connector.inbound.exceptions.Rejected`; throttling,
outages and misconfiguration are a :class:`TransientAwsError`. Each also knows the one
answer that is not a failure for it:

* ``StartExecution`` — ``ExecutionAlreadyExists``. Step Functions refuses a second
  execution with the same name for 90 days, so naming each execution after its message
  id (:func:`execution_name`) makes starting idempotent across redelivered batches (G4).
* ``SendTaskSuccess``/``SendTaskFailure`` — ``TaskTimedOut``, ``TaskDoesNotExist`` and
  ``InvalidToken`` all mean that waiting task is gone (timed out, aborted, already
  resumed): its subscription is dropped and the message goes on to others (G5).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from kafka_connector.aws.clients import AwsClient
from kafka_connector.aws.errors import error_code, is_permanent
from kafka_connector.inbound.exceptions import Rejected, TransientAwsError
from kafka_connector.limits import MAX_EXECUTION_NAME_LENGTH, MAX_TASK_FAILURE_CAUSE_CHARS

GONE_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def _sorted(error: Exception, call: str) -> Rejected | TransientAwsError:
    """The record's permanent error, or a transient one: the single sort of Step Functions failures."""
    if isinstance(error, ClientError):
        code = error_code(error)
        if is_permanent(error):
            return Rejected(f"{call}: {code}")
        return TransientAwsError(f"Step Functions {call}: {code}")
    return TransientAwsError(f"Step Functions {call}: {type(error).__name__}")  # connection errors


def _call(call: str, request: Callable[[], Any], *, tolerated: frozenset[str]) -> str | None:
    """Run ``request``; ``None`` on success, the error code when it is one of ``tolerated``."""
    try:
        request()
    except Exception as error:
        if isinstance(error, ClientError) and error_code(error) in tolerated:
            return error_code(error)
        raise _sorted(error, call) from error
    return None


# -- start mode ---------------------------------------------------------------------------------


class StartOutcome(Enum):
    STARTED = "started"
    ALREADY_STARTED = "already-started"


def execution_name(message_id: str) -> str:
    """A valid, deterministic execution name for ``message_id``.

    Names are at most 80 of ``[A-Za-z0-9_-]``. An id that already fits is used as is, so
    ``orders-0-42`` names its execution ``orders-0-42``; any other id keeps a readable
    prefix and gains a hash of the whole id, so two ids never share a name.
    """
    if len(message_id) <= MAX_EXECUTION_NAME_LENGTH and message_id and not _NOT_ALLOWED.search(message_id):
        return message_id
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    readable = _NOT_ALLOWED.sub("_", message_id)[: MAX_EXECUTION_NAME_LENGTH - len(digest) - 1]
    return f"{readable}-{digest}" if readable else digest


class ExecutionStarter:
    stepfunctions = AwsClient("stepfunctions")

    def __init__(self, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn

    def start(self, name: str, input_json: str) -> StartOutcome:
        code = _call(
            "StartExecution",
            lambda: self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=input_json
            ),
            tolerated=frozenset({"ExecutionAlreadyExists"}),
        )
        return StartOutcome.STARTED if code is None else StartOutcome.ALREADY_STARTED


# -- task-token callbacks ---------------------------------------------------------------------


class CallbackOutcome(Enum):
    DELIVERED = "delivered"
    GONE = "gone"


class TaskCallbacks:
    stepfunctions = AwsClient("stepfunctions")

    def succeed(self, task_token: str, output_json: str) -> CallbackOutcome:
        return self._send(
            "send_task_success",
            lambda: self.stepfunctions.send_task_success(taskToken=task_token, output=output_json),
        )

    def fail(self, task_token: str, error: str, cause: str) -> CallbackOutcome:
        return self._send(
            "send_task_failure",
            lambda: self.stepfunctions.send_task_failure(
                taskToken=task_token, error=error, cause=cause[:MAX_TASK_FAILURE_CAUSE_CHARS]
            ),
        )

    def _send(self, call: str, request: Callable[[], Any]) -> CallbackOutcome:
        gone = _call(call, request, tolerated=GONE_CODES)
        return CallbackOutcome.DELIVERED if gone is None else CallbackOutcome.GONE
