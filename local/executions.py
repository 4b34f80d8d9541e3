"""``invoke --start-execution NAME=INPUT``: a workflow waiting before the function runs.

Correlate mode shows its point only when someone waits: this starts an execution of one of
the template's state machines (logical id ``OrderPaymentDirectStateMachine`` or local name
``order-payment-direct``) with ``INPUT``, waits until it waits on its task token, and after
the invocation reports how it ended — so ``invoke consumer`` can be seen resuming it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

from local.inputs import UsageError

WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class StartRequest:
    machine: str
    input: Any


def parse_start_requests(pairs: Sequence[str]) -> list[StartRequest]:
    requests = []
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise UsageError(f"--start-execution expects STATE_MACHINE=INPUT_JSON, got {pair!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(
                f"--start-execution {name}: the input is not valid JSON: {error.msg} at column {error.colno}"
            ) from None
        requests.append(StartRequest(name, value))
    return requests


def _arn(machines: Mapping[str, str], name: str) -> str:
    for logical_id, arn in machines.items():
        if name in (logical_id, arn, arn.rsplit(":", 1)[-1]):
            return arn
    known = ", ".join(f"{k} ({v.rsplit(':', 1)[-1]})" for k, v in machines.items())
    raise UsageError(f"--start-execution {name}: no such state machine in template.yaml; there are {known}")


def _waiting(sfn: Any, arn: str) -> bool:
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return any(e["type"] == "TaskSubmitted" for e in history)


def start_waiting(requests: Sequence[StartRequest], machines: Mapping[str, str]) -> list[str]:
    """Start each execution and return once each waits on a task token (or has ended)."""
    sfn = boto3.client("stepfunctions")
    executions = []
    for number, request in enumerate(requests, 1):
        arn = sfn.start_execution(
            stateMachineArn=_arn(machines, request.machine),
            name=f"local-{number}",
            input=json.dumps(request.input),
        )["executionArn"]
        deadline = time.monotonic() + WAIT_SECONDS
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" and not _waiting(sfn, arn):
            if time.monotonic() > deadline:
                raise UsageError(
                    f"execution {arn.rsplit(':', 1)[-1]} did not reach a task token in {WAIT_SECONDS:.0f}s"
                )
            time.sleep(0.05)
        executions.append(arn)
    return executions


def describe(executions: Sequence[str]) -> list[str]:
    """How each execution ended (waiting a moment for those the invocation resumed)."""
    sfn = boto3.client("stepfunctions")
    lines = []
    for arn in executions:
        deadline = time.monotonic() + WAIT_SECONDS
        described = sfn.describe_execution(executionArn=arn)
        while (
            described["status"] == "RUNNING" and time.monotonic() < deadline and not _still_waiting(sfn, arn)
        ):
            time.sleep(0.05)
            described = sfn.describe_execution(executionArn=arn)
        machine = arn.split(":")[-2]
        status = described["status"]
        detail = described.get("output") if status == "SUCCEEDED" else described.get("error") or ""
        if status == "RUNNING":
            detail = "still waiting on its task token"
        lines.append(
            f"execution {arn.rsplit(':', 1)[-1]} of {machine}: {status}" + (f" {detail}" if detail else "")
        )
    return lines


def _still_waiting(sfn: Any, arn: str) -> bool:
    """Nobody called its task back: it will not end by itself soon, so no reason to wait."""
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return not any(e["type"] in ("TaskSucceeded", "TaskFailed") for e in history)
