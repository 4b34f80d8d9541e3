"""``python -m local invoke <function> <event.json>``: one handler, like ``sam local invoke``.

The function runs in this process with the layer on its path and a Lambda context, its
environment as the template sets it (overridable with ``--env NAME=VALUE``), against a
fresh AWS emulator seeded with the template's resources and, for the producer, the
embedded broker (or ``KAFKA_BOOTSTRAP_SERVERS``). Prints the response, or the error name
and message, like Lambda; exits 0 or 1 accordingly.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from local.broker import BOOTSTRAP_ENV, kafka_bootstrap
from local.emulator import Emulator
from local.functions import LocalFunction, environment
from local.resources import LOCAL_SECRETS, LocalResources, create_resources, function_environment, read_event
from local.secure.broker import start_secured_kafka
from local.secure.pki import make_test_pki


@contextlib.contextmanager
def local_aws() -> Iterator[tuple[Emulator, LocalResources]]:
    """A fresh emulator with the template's resources, and this process pointed at it."""
    with Emulator() as emulator, environment(emulator.client_environment()):
        _forget_cached_clients()
        try:
            yield emulator, create_resources()
        finally:
            _forget_cached_clients()


def _forget_cached_clients() -> None:
    if "kafka_connector.aws.clients" in sys.modules:
        sys.modules["kafka_connector.aws.clients"].client.cache_clear()


def parse_env(pairs: list[str], env_file: str | None, function: str) -> dict[str, str]:
    """``--env NAME=VALUE`` pairs and a SAM-style ``--env-vars`` file (``{"Parameters": {...}}``
    for every function, or ``{"<Function>": {...}}`` keyed by function or logical id)."""
    values: dict[str, str] = {}
    if env_file:
        document = json.loads(Path(env_file).read_text())
        for key in ("Parameters", function, f"{function.capitalize()}Function"):
            values.update({k: str(v) for k, v in document.get(key, {}).items()})
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            raise SystemExit(f"--env expects NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


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


def _bootstrap(function: str, event: Any) -> contextlib.AbstractContextManager[str | None]:
    if function != "producer":
        return contextlib.nullcontext()
    if isinstance(event, Mapping) and event.get("authentication") and not os.environ.get(BOOTSTRAP_ENV):
        return secured_bootstrap()
    return kafka_bootstrap()


def invoke(function: str, event_path: str, overrides: Mapping[str, str]) -> int:
    event = read_event(event_path)
    with contextlib.ExitStack() as stack:
        _, resources = stack.enter_context(local_aws())
        bootstrap = stack.enter_context(_bootstrap(function, event))
        env = {**function_environment(function, resources, bootstrap), **overrides}
        target = LocalFunction(function, function, env)
        stack.callback(target.shutdown)
        try:
            with environment(
                {"POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true")}
            ):
                response: Any = target.invoke(event)
        except Exception as error:
            print(f"{type(error).__name__}: {error}")
            return 1
        print(json.dumps(response, indent=2))
        return 0
