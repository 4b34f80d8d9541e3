"""Secrets never leak: generated secrets in every configuration field, every error provoked.

Each example draws a secret from what Secrets Manager generates (printable ASCII with
quotes, backslashes, ``%``, ``+``, ``/``, ``=``, up to ~200 characters, and some non-ASCII),
puts it in one configuration field — typed in, or as a ``{{secrets.…}}`` placeholder read
from moto's Secrets Manager — and invokes the real producer function once per provocation:
a bad property value around the secret, wrong types, an unreachable broker, a broken JAAS
config holding it, and a successful publish with ``debug``. Logging is at DEBUG everywhere
(the function's Powertools logger, kafka-python, botocore), and the event is logged whole
the way a user would (``inject_lambda_context(log_event=True)`` and an ``extra`` field).

No form of the secret (raw, JSON- or repr-escaped, base64, URL-encoded) may appear in the
function's stdout/stderr, the root handler's log records, the error's JSON body or the
response.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from functions.producer import app
from kafka_connector.errors import ConnectorError
from local.context import LocalLambdaContext
from tests.support.leaks import fragment_leaks, leaks, logger_writing_to, record_texts

PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
DOCUMENTED = {"ConnectorInputError", "KafkaNonRetryableError", "KafkaRetryableError"}
SETTINGS = settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No shrinking: every example makes real broker and Secrets Manager calls (a failure would
    # take minutes to shrink), and the failure already names the placement, the provocation,
    # the forms found and where, with the secret Hypothesis drew.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)

# Secrets Manager's GetRandomPassword alphabet (printable ASCII but space), the characters
# that escaping and encoding change drawn more often, and some non-ASCII text.
secret_values = st.builds(
    lambda body, cut, tag: body[:cut] + tag + body[cut:],
    st.text(
        st.one_of(
            st.sampled_from(list("'\"\\%+/=&#")),
            st.characters(min_codepoint=33, max_codepoint=126),
            st.characters(codec="utf-8", categories=("L", "N", "P", "S")),
        ),
        min_size=6,
        max_size=190,
    ),
    st.integers(0, 190),
    st.uuids().map(lambda u: u.hex[:6]),  # apart from every other test's registrations
    # Hypothesis also draws string constants of the code under test ("additionalProperties"): a
    # "secret" spelling a field name would be found in every message that names the field. A
    # generated password has no long run of letters.
).filter(lambda value: not re.search(r"[A-Za-z]{10}", value))


def jaas_quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class Case:
    """One invocation's payload, with what must not leak and how a provocation names the secret."""

    event: dict[str, Any]
    secrets: dict[str, str]
    ref: str = ""  # the secret itself (typed in) or its placeholder
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)


class SecretStore:
    """Secrets created in moto's Secrets Manager, each under a fresh name."""

    def __init__(self) -> None:
        self.client = boto3.client("secretsmanager")

    def put(self, text: str, field_name: str | None = None) -> str:
        name = f"LEAK_{uuid.uuid4().hex[:12]}"
        self.client.create_secret(Name=name, SecretString=text)
        return "{{secrets." + name + (f".{field_name}" if field_name else "") + "}}"


def literal(put: Callable[[Case, str], None]) -> Callable[[Case, str, SecretStore], None]:
    def place(case: Case, value: str, store: SecretStore) -> None:
        put(case, value)
        case.ref = value

    return place


def through_secrets_manager(
    put: Callable[[Case, str], None],
    *,
    wrap: Callable[[str], str] = lambda v: v,
    field_name: str | None = None,
) -> Callable[[Case, str, SecretStore], None]:
    def place(case: Case, value: str, store: SecretStore) -> None:
        stored = wrap(value)
        if stored != value:
            case.secrets["stored secret"] = stored
        case.ref = store.put(stored, field_name)
        put(case, case.ref)

    return place


def properties(case: Case) -> dict[str, Any]:
    return case.event["additionalProperties"]


def authentication(username: str, password: str) -> Callable[[Case, str], None]:
    def put(case: Case, value: str) -> None:
        case.event["authentication"] = {
            "username": value if username == "*" else username,
            "password": value if password == "*" else password,
        }

    return put


def prop(name: str, template: str = "{}") -> Callable[[Case, str], None]:
    def put(case: Case, value: str) -> None:
        properties(case)[name] = template.replace("{}", value)

    return put


def keystore(case: Case, value: str) -> None:
    properties(case).update(
        {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.key": f"-----BEGIN PRIVATE KEY-----\n{value}\n-----END PRIVATE KEY-----\n",
            "ssl.keystore.certificate.chain": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        }
    )


def jaas(case: Case, value: str) -> None:
    properties(case).update(
        {
            "sasl.jaas.config": f"{PLAIN} required username='leak-user' password={value};",
            "sasl.mechanism": "PLAIN",
        }
    )


def bootstrap_servers(case: Case, value: str) -> None:
    case.event["topic"]["bootstrapServers"] += f",{value}"


PLACEMENTS: dict[str, Callable[[Case, str, SecretStore], None]] = {
    "authentication.password": literal(authentication("leak-user", "*")),
    "authentication.username": literal(authentication("*", "leak-password-x")),
    "sasl.jaas.config password": literal(lambda case, value: jaas(case, jaas_quoted(value))),
    "ssl.key.password": literal(prop("ssl.key.password")),
    "ssl.keystore.key": literal(keystore),
    "basic.auth.user.info": literal(prop("basic.auth.user.info", "registry-user:{}")),
    "{{secrets}} authentication.password": through_secrets_manager(authentication("leak-user", "*")),
    "{{secrets}} authentication.username": through_secrets_manager(authentication("*", "leak-password-x")),
    "{{secrets.field}} authentication.password": through_secrets_manager(
        authentication("leak-user", "*"), wrap=lambda v: json.dumps({"password": v}), field_name="password"
    ),
    "{{secrets}} topic.bootstrapServers": through_secrets_manager(bootstrap_servers),
    "{{secrets}} client.id": through_secrets_manager(prop("client.id")),
    "{{secrets}} sasl.jaas.config": through_secrets_manager(
        prop("sasl.jaas.config"),
        wrap=lambda v: f"{PLAIN} required username='leak-user' password={jaas_quoted(v)};",
    ),
    "{{secrets}} ssl.key.password": through_secrets_manager(prop("ssl.key.password")),
    "{{secrets}} basic.auth.user.info": through_secrets_manager(prop("basic.auth.user.info")),
}


def bad_integer(case: Case, bootstrap: str) -> None:
    # Straddles the 60-character cut of the quoted value: the old code showed its first 20 characters.
    properties(case)["linger.ms"] = "9" * 40 + case.ref


def bad_boolean(case: Case, bootstrap: str) -> None:
    properties(case)["enable.idempotence"] = case.ref


def wrong_types(case: Case, bootstrap: str) -> None:
    properties(case)["acks"] = [case.ref, {"nested": case.ref}]


def unreachable(case: Case, bootstrap: str) -> None:
    topic = case.event["topic"]
    topic["bootstrapServers"] = topic["bootstrapServers"].replace(bootstrap, "127.0.0.1:1")


def broken_jaas(case: Case, bootstrap: str) -> None:
    properties(case).update(
        {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-256",
            # unterminated: the closing quote is missing
            "sasl.jaas.config": f"{PLAIN} required username='u' password={jaas_quoted(case.ref)[:-1]}",
        }
    )


def debug_publish(case: Case, bootstrap: str) -> None:
    case.event["debug"] = True


PROVOCATIONS: dict[str, Callable[[Case, str], None]] = {
    "bad integer": bad_integer,
    "bad boolean": bad_boolean,
    "wrong types": wrong_types,
    "unreachable broker": unreachable,
    "broken JAAS": broken_jaas,
    "debug publish": debug_publish,
}


@pytest.fixture
def producer_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The producer function with DEBUG logging everywhere."""
    previous = app.logger.log_level
    app.logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)  # the root logger: kafka-python's and botocore's records
    try:
        yield
    finally:
        app.logger.setLevel(previous)


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretStore]:
    monkeypatch.delenv("SECRETS_PREFIX", raising=False)
    with mock_aws():
        parameters.clear_caches()
        yield SecretStore()
    parameters.clear_caches()


def invoke_logging_the_event(event: dict[str, Any]) -> dict[str, Any]:
    """The handler as a user who logs events would run it: the event at INFO and in a DEBUG ``extra``."""
    app.logger.debug("event received", extra={"event": event})
    handler = app.logger.inject_lambda_context(log_event=True)(app.lambda_handler)
    return handler(event, LocalLambdaContext("producer"))


@pytest.mark.usefixtures("producer_at_debug")
@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_no_form_of_a_secret_leaves_the_producer(
    placement: str,
    bootstrap: str,
    secrets_manager: SecretStore,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    @SETTINGS
    @given(value=secret_values)
    def run(value: str) -> None:
        for provocation, provoke in PROVOCATIONS.items():
            case = Case(
                event={
                    "topic": {"bootstrapServers": bootstrap, "topicName": "leak-test"},
                    "message": {"key": "k", "value": {"n": 1}},
                    # PLAINTEXT: the embedded broker has no TLS/SASL, so the debug publish can succeed.
                    "additionalProperties": {"security.protocol": "PLAINTEXT", "max.block.ms": 300},
                },
                secrets={"secret": value},
            )
            case.event["headers"] = {"marker": case.marker}
            PLACEMENTS[placement](case, value, secrets_manager)
            provoke(case, bootstrap)
            capsys.readouterr()
            caplog.clear()
            outputs: dict[str, str] = {}
            error: ConnectorError | None = None
            try:
                with logger_writing_to(app.logger, sys.stdout):  # capsys's stdout, during the call
                    outputs["response"] = json.dumps(invoke_logging_the_event(case.event))
            except ConnectorError as raised:
                error = raised
            if error is not None:
                assert type(error).__name__ in DOCUMENTED, repr(error)
                assert not error.message.startswith("unexpected"), error.message
                outputs |= {
                    "error": str(error),
                    "error repr": repr(error),
                    "error body": json.dumps(error.to_dict()),
                }
            captured = capsys.readouterr()
            outputs |= {
                "stdout": captured.out,
                "stderr": captured.err,
                "root handler": caplog.text,
                "log records": record_texts(caplog.records),
            }
            assert case.marker in captured.out, "the function's own log lines must be captured"
            found = leaks(case.secrets, outputs)
            short = {k: v for k, v in outputs.items() if k.startswith(("error", "response"))}
            found += fragment_leaks({"secret": value}, short)  # (the stored JAAS text has boilerplate)
            assert not found, f"{placement} / {provocation}: {found}"

    run()
