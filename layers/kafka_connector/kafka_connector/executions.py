"""Start mode: one execution per activated record, named so that a redelivery starts none.

Step Functions refuses a second execution with the same name (``ExecutionAlreadyExists``)
for 90 days, and for a running standard execution with the same name and input it
returns the existing one. Naming each execution after its message id therefore makes
``StartExecution`` idempotent across redelivered batches (G4).
"""

from __future__ import annotations

import hashlib
import re
from enum import Enum

from botocore.exceptions import ClientError

from kafka_connector.aws_clients import AwsClient
from kafka_connector.aws_errors import TransientAwsError, error_code, is_permanent

MAX_NAME_LENGTH = 80
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


class StartOutcome(Enum):
    STARTED = "started"
    ALREADY_STARTED = "already-started"


class StartRejected(Exception):
    """Step Functions refused the execution for a reason no retry can fix (e.g. invalid input)."""


def execution_name(message_id: str) -> str:
    """A valid, deterministic execution name for ``message_id``.

    Names are at most 80 of ``[A-Za-z0-9_-]``. An id that already fits is used as is, so
    ``orders-0-42`` names its execution ``orders-0-42``; any other id keeps a readable
    prefix and gains a hash of the whole id, so two ids never share a name.
    """
    if len(message_id) <= MAX_NAME_LENGTH and message_id and not _NOT_ALLOWED.search(message_id):
        return message_id
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    readable = _NOT_ALLOWED.sub("_", message_id)[: MAX_NAME_LENGTH - len(digest) - 1]
    return f"{readable}-{digest}" if readable else digest


class ExecutionStarter:
    stepfunctions = AwsClient("stepfunctions")

    def __init__(self, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn

    def start(self, name: str, input_json: str) -> StartOutcome:
        try:
            self.stepfunctions.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=input_json
            )
        except ClientError as error:
            code = error_code(error)
            if code == "ExecutionAlreadyExists":
                return StartOutcome.ALREADY_STARTED
            if is_permanent(error):
                raise StartRejected(f"StartExecution: {code}") from error
            raise TransientAwsError(f"Step Functions StartExecution: {code}") from error
        except Exception as error:
            raise TransientAwsError(f"Step Functions StartExecution: {type(error).__name__}") from error
        return StartOutcome.STARTED
