"""``python -m local invoke <function> <event.json>``: one handler, like ``sam local invoke -e``.

The function runs in this process with the layer on its path and a Lambda context, with the
``Environment`` template.yaml gives it (parameter defaults, ``--parameter-overrides``, then
``--env-vars`` and ``--env``), against a fresh AWS emulator holding the template's resources
and state machines and, for the producer, a Kafka broker.

Standard output carries only the function's response — its return value, or Lambda's error
payload ``{"errorType", "errorMessage"}`` — so ``python -m local invoke … | jq`` works. Logs,
metrics and the report of what happened (for the consumer: each record's outcome, the table
and the dead-letter queue afterwards) go to standard error; ``--quiet`` and ``--verbose``
choose how much. Exit status 0 on a response, 1 on a function error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.broker import BOOTSTRAP_ENV, kafka_bootstrap
from local.emulator import Emulator
from local.executions import describe as describe_executions
from local.executions import parse_start_requests, start_waiting
from local.functions import LocalFunction, environment, forget_cached_clients
from local.inputs import check_brokers, parse_env, read_json_file
from local.resources import (
    LOCAL_SECRETS,
    LocalResources,
    create_resources,
    function_environment,
    function_logical_ids,
)
from local.secure.broker import start_secured_kafka
from local.secure.pki import make_test_pki
from local.template import parse_overrides

QUIET, NORMAL, VERBOSE = 0, 1, 2


@dataclass
class InvokeRequest:
    function: str
    event: str
    env: list[str] = field(default_factory=list)
    env_vars: str | None = None
    parameter_overrides: list[str] = field(default_factory=list)
    start_executions: list[str] = field(default_factory=list)
    verbosity: int = NORMAL


@contextlib.contextmanager
def local_aws(
    overrides: Mapping[str, str] | None = None,
    local_defaults: Mapping[str, str] | None = None,
    *,
    state_machines: bool = True,
) -> Iterator[tuple[Emulator, LocalResources]]:
    """A fresh emulator with the template's resources, and this process pointed at it."""
    with Emulator() as emulator, environment(emulator.client_environment()):
        forget_cached_clients()
        try:
            yield emulator, create_resources(overrides, local_defaults, state_machines=state_machines)
        finally:
            forget_cached_clients()


@contextlib.contextmanager
def secured_bootstrap() -> Iterator[str]:
    """A SASL_SSL endpoint whose user is the emulator's example secret, its CA trusted.

    Events that authenticate (``events/producer-authenticated.json``) need a broker that
    checks credentials; the local CA is trusted through ``SSL_CERT_FILE``, as a CA
    installed on the machine would be, so the event runs unchanged.
    """
    with tempfile.TemporaryDirectory() as directory:
        pki = make_test_pki(Path(directory))
        users = {LOCAL_SECRETS["KAFKA_USER"]: LOCAL_SECRETS["KAFKA_PASSWORD"]}
        with (
            start_secured_kafka("sasl_ssl", pki, users) as kafka,
            environment({"SSL_CERT_FILE": str(pki.ca_file)}),
        ):
            yield kafka.bootstrap


def _given_brokers(env: Mapping[str, str], overrides: Mapping[str, str]) -> tuple[str, str] | None:
    """The Kafka address the user named, and where: ``--env``, a parameter, or the shell."""
    for value, source in (
        (env.get(BOOTSTRAP_ENV), f"--env {BOOTSTRAP_ENV}"),
        (overrides.get("KafkaBootstrapServers"), "KafkaBootstrapServers"),
        (os.environ.get(BOOTSTRAP_ENV), BOOTSTRAP_ENV),
    ):
        if value and value.strip():
            return value.strip(), source
    return None


def _bootstrap(
    function: str, event: Any, given: tuple[str, str] | None
) -> contextlib.AbstractContextManager[str | None]:
    if function != "producer":
        return contextlib.nullcontext()
    if given:
        check_brokers(*given)  # seconds, naming the address, rather than a client's long timeout
        return contextlib.nullcontext(given[0])
    if isinstance(event, Mapping) and event.get("authentication"):
        return secured_bootstrap()
    return kafka_bootstrap()


def _log_threshold(verbosity: int) -> int:
    return {QUIET: logging.CRITICAL + 1, NORMAL: logging.WARNING, VERBOSE: logging.DEBUG}[verbosity]


def _show_function_logs(service: str, verbosity: int) -> list[logging.Logger]:
    """The function's Powertools logger writes to stderr (loaded under redirect); filter by verbosity."""
    logger = logging.getLogger(service)
    for handler in logger.handlers:
        handler.setLevel(_log_threshold(verbosity))
    return [logger, logging.getLogger()]


def invoke(request: InvokeRequest, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    function = request.function
    if request.event == "-" and request.verbosity > QUIET:
        err.write("reading the event from standard input…\n")
        err.flush()
    event = read_json_file(request.event, "event file")
    overrides = parse_overrides(request.parameter_overrides)
    logical_id = function_logical_ids().get(function, function)
    given_env = parse_env(request.env, request.env_vars, function, logical_id)
    given = _given_brokers(given_env, overrides)
    starts = parse_start_requests(request.start_executions)
    with contextlib.ExitStack() as stack:
        # Everything the function and its libraries print (Powertools' log handler, metrics) goes
        # to stderr: stdout is for the response alone.
        # With --quiet nowhere: metrics blobs (single_metric prints even when metrics are disabled).
        sink = stack.enter_context(open(os.devnull, "w")) if request.verbosity == QUIET else err
        stack.enter_context(contextlib.redirect_stdout(sink))
        bootstrap = stack.enter_context(_bootstrap(function, event, given))
        local_defaults = {"KafkaBootstrapServers": bootstrap} if bootstrap and not given else {}
        emulator, resources = stack.enter_context(
            local_aws(overrides, local_defaults, state_machines=function == "consumer" or bool(starts))
        )
        env = {
            "POWERTOOLS_METRICS_DISABLED": "false" if request.verbosity == VERBOSE else "true",
            **function_environment(function, resources, bootstrap, skip=tuple(given_env)),
            **given_env,
        }
        if request.verbosity == VERBOSE:
            err.write(f"AWS emulator {emulator.endpoint_url}; {function} environment:\n")
            err.writelines(f"  {k}={v}\n" for k, v in sorted(env.items()))
        target = LocalFunction(function, function, env)
        emulator.add_function(target)
        stack.callback(target.shutdown)
        executions = start_waiting(starts, resources.state_machines) if starts else []
        try:
            target.handler()  # the cold start: a configuration error is the function's, as in Lambda
            loggers = _show_function_logs(env["POWERTOOLS_SERVICE_NAME"], request.verbosity)
            report = _consumer_report(target, event, env, loggers, err) if request.verbosity > QUIET else None
            # The whole environment, as Lambda keeps it for the invocation (the layer reads some
            # variables when called, SECRETS_PREFIX for one); a single function here, so no race.
            with environment(env):
                response: Any = target.invoke(event)
        except Exception as error:
            out.write(json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}) + "\n")
            err.write(f"{type(error).__name__}: {error}\n")
            return 1
        out.write(json.dumps(response, indent=2) + "\n")
        out.flush()
        if report is not None:
            _print_report(report, response, err)
        if executions and request.verbosity > QUIET:
            err.writelines(f"{line}\n" for line in describe_executions(executions))
        return 0


def _consumer_report(
    target: LocalFunction, event: Any, env: Mapping[str, str], loggers: list[logging.Logger], err: IO[str]
) -> Any:
    """What the report needs from before the invocation; ``None`` (saying why) when it cannot be had."""
    if target.code != "consumer":
        return None
    from local.outcomes import ConsumerReport  # noqa: PLC0415 - imports the layer

    try:
        report = ConsumerReport(
            target.module.consumer, event, env.get("CORRELATION_TABLE"), env.get("DEAD_LETTER_QUEUE_URL")
        )
    except Exception as error:  # a defect here must not stand in the function's way
        err.write(f"(no per-record report: {type(error).__name__}: {error})\n")
        return None
    report.capture.attach(loggers)
    return report


def _print_report(report: Any, response: Any, err: IO[str]) -> None:
    from local.outcomes import describe_queue, describe_table  # noqa: PLC0415

    parts = [
        lambda: [o.line() for o in report.outcomes(response)],
        lambda: describe_table(report.table) if report.table else [],
        lambda: describe_queue(report.queue_url) if report.queue_url else [],
    ]
    for part in parts:
        try:
            lines = part()
        except Exception as error:  # the response is out already; the report is a courtesy
            lines = [f"(report incomplete: {type(error).__name__}: {error})"]
        err.writelines(f"{line}\n" for line in lines)
    err.flush()
