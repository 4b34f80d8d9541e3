"""``python -m local up``: a long-running local stack, and how other commands attach to it.

``up`` starts the broker, the AWS emulator with the template's resources and state
machines (the functions registered behind its Lambda API, so ``lambda:invoke`` tasks run
them), and the local event source mapping for the consumer; it prints the endpoints and
the variables a second shell needs, then a live log of outcomes until Ctrl-C.

The running stack's endpoints are recorded in a state file (``.local-stack.json`` in the
repository root, or ``LOCAL_STACK_FILE``), removed on exit; ``dlq``, ``table``, ``redrive``
and ``invoke … --stack`` read it (:func:`attached`) and talk to the same broker and emulator.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local.broker import create_topics, kafka_bootstrap
from local.dead_letters import on_failure_to_queue
from local.emulator import Emulator
from local.event_source_mapping import LocalEventSourceMapping
from local.functions import ROOT, LocalFunction, environment, forget_cached_clients
from local.resources import (
    create_resources,
    function_environment,
    read_event,
)
from local.timeline import Timeline

STATE_FILE_ENV = "LOCAL_STACK_FILE"
DEFAULT_STATE_FILE = ROOT / ".local-stack.json"
PAYMENTS_TOPIC, ORDERS_TOPIC = "payments", "orders"
#: The template's state machines, deployed under their example names.
#: What the functions log while the stack runs: their errors; the outcomes are logged by ``up`` itself.
QUIET = {"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"}
#: The template's MaximumRetryAttempts default.
DEFAULT_RETRY_LIMIT = 10


class StackNotRunning(Exception):
    """No stack to attach to: the one-line reason, for stderr."""


def state_file() -> Path:
    return Path(os.environ.get(STATE_FILE_ENV) or DEFAULT_STATE_FILE)


@dataclass
class StackState:
    """What another process needs to use the running stack."""

    pid: int
    aws_endpoint_url: str
    region: str
    bootstrap_servers: str
    table: str
    dead_letter_queue_url: str
    topic: str
    state_machines: dict[str, str] = field(default_factory=dict)
    #: Each function's environment as ``up`` runs it (the template's, pointed at this stack).
    environments: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def consumer_environment(self) -> dict[str, str]:
        return self.environments.get("consumer", {})

    def client_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
        }


def write_state(state: StackState, path: Path | None = None) -> None:
    path = path or state_file()
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(state), indent=2) + "\n")
    temporary.replace(path)  # readers never see half a file


def read_state(path: Path | None = None) -> StackState:
    path = path or state_file()
    try:
        state = StackState(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise StackNotRunning("no local stack is running: start one with `python -m local up`") from None
    except (ValueError, TypeError) as error:
        raise StackNotRunning(f"{path} is not a local stack's state file ({error}); remove it") from None
    if not _alive(state.pid):
        raise StackNotRunning(
            f"the local stack recorded in {path} (pid {state.pid}) is not running: start one with"
            " `python -m local up`"
        )
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def attached() -> Iterator[StackState]:
    """The running stack, with boto3 and the layer's clients in this process pointed at it."""
    state = read_state()
    with environment(state.client_environment()):
        forget_cached_clients()
        try:
            yield state
        finally:
            forget_cached_clients()


# -- invoke --stack ---------------------------------------------------------------------------------


def invoke_on_stack(function: str, event_path: str, overrides: Mapping[str, str]) -> int:
    """``python -m local invoke <function> <event> --stack``: one handler against the running stack.

    The function's environment is the stack's (the consumer's is the one ``up`` runs), with
    ``overrides`` on top; the response is printed as ``invoke`` prints it.
    """
    event = read_event(event_path)
    with attached() as state:
        env = state.environments[function]
        target = LocalFunction(function, function, {**env, **QUIET, **dict(overrides)})
        try:
            with environment({"POWERTOOLS_METRICS_DISABLED": "true"}):
                response: Any = target.invoke(event)
        except Exception as error:  # as `invoke` reports it: Lambda's error payload, and one line on stderr
            print(json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}))
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
            return 1
        finally:
            target.shutdown()
        print(json.dumps(response, indent=2))
        return 0


# -- up ---------------------------------------------------------------------------------------------


class _OutcomeLog(logging.Handler):
    """The consumer's WARNING line for each dead-lettered or held-back record, onto the timeline."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(logging.WARNING)
        self.timeline = timeline

    def emit(self, record: logging.LogRecord) -> None:
        self.timeline.say(f"  consumer  {record.getMessage()}")


class _ExecutionWatch:
    """Prints each execution of the stack's state machines when it appears and when its status changes."""

    def __init__(self, timeline: Timeline, machines: Mapping[str, str]) -> None:
        self.timeline, self.machines = timeline, dict(machines)
        self.sfn = boto3.client("stepfunctions")
        self.seen: dict[str, str] = {}

    def poll(self) -> None:
        try:
            self._poll()
        except Exception as error:  # the log is a view: a failed look is reported, never fatal
            self.timeline.say(f"  (could not list executions: {type(error).__name__})")

    def _poll(self) -> None:
        for name, arn in self.machines.items():
            for execution in self.sfn.list_executions(stateMachineArn=arn)["executions"]:
                status = execution["status"]
                if self.seen.get(execution["executionArn"]) != status:
                    self.seen[execution["executionArn"]] = status
                    self.timeline.say(f"  execution {execution['name']} ({name}) {status}")


def up(
    overrides: Mapping[str, str],
    *,
    retry_limit: int = DEFAULT_RETRY_LIMIT,
    timeline: Timeline | None = None,
) -> int:
    timeline = timeline or Timeline()
    path = state_file()
    try:
        existing = read_state(path)
    except StackNotRunning:
        existing = None
    if existing is not None:
        print(f"a local stack is already running (pid {existing.pid}, {path})", file=sys.stderr)
        return 1
    # A shell starting this in the background may have it ignore SIGINT: Ctrl-C must stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupted = failed = False
    try:
        with contextlib.ExitStack() as stack:
            try:
                watch = _up(stack, timeline, path, overrides, retry_limit)
                while True:  # the live log runs in the mapping's thread and the watch below
                    time.sleep(0.5)
                    watch.poll()
            except Exception as error:  # one line, not a traceback: the cleanup below still runs
                print(f"up failed: {type(error).__name__}: {error}", file=sys.stderr)
                failed = True
            except KeyboardInterrupt:
                interrupted = True
                timeline.say("interrupted")
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
    finally:
        with contextlib.suppress(FileNotFoundError):
            if read_pid(path) == os.getpid():
                path.unlink()
    return 130 if interrupted else 1 if failed else 0


def read_pid(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _up(
    stack: contextlib.ExitStack,
    timeline: Timeline,
    path: Path,
    overrides: Mapping[str, str],
    retry_limit: int,
) -> _ExecutionWatch:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    with timeline.step("the Kafka broker" if not external else f"Kafka at {external}"):
        bootstrap = stack.enter_context(kafka_bootstrap())
    timeline.say(
        f"Kafka broker: {bootstrap}" + (" (KAFKA_BOOTSTRAP_SERVERS)" if external else " (embedded Tansu)")
    )
    with timeline.step("the AWS emulator"):
        emulator = stack.enter_context(Emulator())
    stack.enter_context(environment(emulator.client_environment()))
    forget_cached_clients()
    stack.callback(forget_cached_clients)
    timeline.say(
        f"AWS emulator: {emulator.endpoint_url} (Step Functions, DynamoDB, SQS, Secrets Manager, Glue)"
    )
    # The template's resources and state machines, as `invoke` deploys them; only the broker's
    # address is the local runtime's (the KafkaBootstrapServers parameter on AWS).
    with timeline.step("the template's resources and state machines to deploy"):
        resources = create_resources(local_defaults={"KafkaBootstrapServers": bootstrap})
    with timeline.step("the topics"):
        create_topics(bootstrap, [PAYMENTS_TOPIC, ORDERS_TOPIC])
    machines = {arn.rsplit(":", 1)[1]: arn for arn in resources.state_machines.values()}
    consumer_env = {
        **function_environment("consumer", resources, bootstrap),
        **dict(overrides),
    }
    environments = {
        "producer": function_environment("producer", resources, bootstrap),
        "subscribe": function_environment("subscribe", resources),
        "consumer": consumer_env,
        "redrive": {**function_environment("redrive", resources, bootstrap), **dict(overrides)},
    }
    functions = {code: LocalFunction(code, code, {**env, **QUIET}) for code, env in environments.items()}
    for function in functions.values():
        emulator.add_function(function)
        stack.callback(function.shutdown)
    stack.enter_context(environment(QUIET))
    timeline.say(
        f"deployed: table {resources.table}, queue {resources.dead_letter_queue_url},"
        f" state machines {', '.join(machines)}; topics {PAYMENTS_TOPIC}, {ORDERS_TOPIC}"
    )

    outcomes = logging.getLogger("kafka_connector.inbound.batch")
    handler = _OutcomeLog(timeline)
    saved = (outcomes.level, outcomes.propagate)
    outcomes.setLevel(logging.WARNING)
    outcomes.propagate = False  # once, on the timeline
    outcomes.addHandler(handler)
    stack.callback(
        lambda: (
            outcomes.removeHandler(handler),
            outcomes.setLevel(saved[0]),
            setattr(outcomes, "propagate", saved[1]),
        )
    )

    consumer = functions["consumer"]
    give_up = on_failure_to_queue(resources.dead_letter_queue_url)

    def invoke(event: dict[str, Any]) -> Any:
        places = ", ".join(
            f"{tp}@{records[0]['offset']}" for tp, records in event["records"].items() if records
        )
        total = sum(len(records) for records in event["records"].values())
        response = consumer.invoke(event)
        held = len((response or {}).get("batchItemFailures") or [])
        timeline.say(f"  consumer  {total} record(s) from {places}: {total - held} done, {held} held back")
        return response

    def on_failure(event: dict[str, Any], reason: str) -> None:
        give_up(event, reason)
        total = sum(len(records) for records in event["records"].values())
        timeline.say(f"  mapping   {reason}: {total} record(s) sent to the dead-letter queue")

    mapping = LocalEventSourceMapping(
        bootstrap_servers=bootstrap,
        topic=PAYMENTS_TOPIC,
        group_id="kafka-inbound-connector-consumer",
        invoke=invoke,
        batching_window_seconds=0.2,
        retry_limit=retry_limit,
        on_failure=on_failure,
    ).start()
    stack.callback(mapping.stop)
    mode = consumer_env.get("CONNECTOR_MODE", "correlate")
    timeline.say(
        f"event source mapping: {PAYMENTS_TOPIC} → consumer ({mode}; retry limit {retry_limit},"
        " then the dead-letter queue)"
    )

    state = StackState(
        pid=os.getpid(),
        aws_endpoint_url=emulator.endpoint_url,
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        bootstrap_servers=bootstrap,
        table=resources.table,
        dead_letter_queue_url=resources.dead_letter_queue_url,
        topic=PAYMENTS_TOPIC,
        state_machines=machines,
        environments=environments,
    )
    write_state(state, path)
    exports = " ".join(f"{k}={v}" for k, v in state.client_environment().items())
    timeline.say(f"endpoints: AWS_ENDPOINT_URL={emulator.endpoint_url} KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
    timeline.say(f"state file: {path} (removed on exit)")
    timeline.say(f"a second shell: export {exports}")
    timeline.say(
        "then: `python -m local invoke producer <event.json> --stack`, `python -m local dlq`,"
        " `python -m local table`, `python -m local redrive`; Ctrl-C stops the stack"
    )
    return _ExecutionWatch(timeline, machines)
