"""SASL: ``sasl.jaas.config`` → mechanism, username, password, parsed as Kafka's JaasConfig does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError
from kafka_connector.kafka.vocabulary import AWS_MSK_IAM, CREDENTIAL_MECHANISMS, PLAIN, warn_once


@dataclass(frozen=True, slots=True)
class _LoginModule:
    module: str
    flag: str
    options: dict[str, str]

    @property
    def simple_name(self) -> str:
        return self.module.rpartition(".")[2]


_JAAS_SPACE = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_JAAS_WORD = re.compile(r"[A-Za-z_$][\w$.\-]*")
_JAAS_KEY = re.compile(r"[\w$.\-]+")
_JAAS_BARE_VALUE = re.compile(r"[\w$.\-:/@+]+")
_JAAS_FLAGS: Final = frozenset({"required", "requisite", "sufficient", "optional"})
_JAAS_ESCAPES: Final = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_JAAS_EXPECTED: Final = (
    "Expected one login module: <LoginModule class> required username='...' password='...';"
)


class JaasSyntaxError(Exception):
    pass


def parse_jaas(text: str) -> _LoginModule:
    """Parse the one login module of a ``sasl.jaas.config`` value, as Kafka's JaasConfig does.

    ``<class> <flag> (<key>=<value>)* [;]`` with values quoted by ``'`` or ``"`` (backslash
    escapes as in Java's tokenizer) or bare words, and Java-style comments.
    """

    def skip(pos: int) -> int:
        match = _JAAS_SPACE.match(text, pos)
        return match.end() if match else pos

    def expect(pattern: re.Pattern[str], pos: int) -> tuple[str, int]:
        match = pattern.match(text, pos)
        if match is None:
            raise JaasSyntaxError
        return match.group(), match.end()

    pos = skip(0)
    module, pos = expect(_JAAS_WORD, pos)
    pos = skip(pos)
    flag, pos = expect(_JAAS_WORD, pos)
    if flag.lower() not in _JAAS_FLAGS:
        raise JaasSyntaxError
    options: dict[str, str] = {}
    while True:
        pos = skip(pos)
        if pos == len(text):
            break
        if text[pos] == ";":
            if skip(pos + 1) != len(text):  # exactly one login module, nothing after it
                raise JaasSyntaxError
            break
        key, pos = expect(_JAAS_KEY, pos)
        pos = skip(pos)
        if text[pos : pos + 1] != "=":
            raise JaasSyntaxError
        pos = skip(pos + 1)
        if text[pos : pos + 1] in {"'", '"'}:
            options[key], pos = _jaas_quoted(text, pos)
        else:
            options[key], pos = expect(_JAAS_BARE_VALUE, pos)
    return _LoginModule(module, flag.lower(), options)


def _jaas_quoted(text: str, pos: int) -> tuple[str, int]:
    quote, pos, chars = text[pos], pos + 1, list[str]()
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return "".join(chars), pos + 1
        if char == "\\" and pos + 1 < len(text):
            pos += 1
            char = _JAAS_ESCAPES.get(text[pos], text[pos])
        chars.append(char)
        pos += 1
    raise JaasSyntaxError  # unterminated


def _jaas_error(reason: str) -> ConnectorInputError:
    # Never quote the value: it holds the password.
    return ConnectorInputError(f"additional property 'sasl.jaas.config' {reason}", _JAAS_EXPECTED)


def sasl_kwargs(props: Mapping[str, str], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Mechanism and credentials from ``sasl.jaas.config`` + ``sasl.mechanism``.

    Java lets Plain and Scram login modules serve PLAIN and both SCRAM mechanisms alike
    (the module only holds the credentials), which is exactly what the reference
    example relies on: a PlainLoginModule config with ``sasl.mechanism=SCRAM-SHA-256``.
    """
    protocol = kwargs.get("security_protocol", "PLAINTEXT")
    mechanism: str | None = kwargs.get("sasl_mechanism")
    jaas = props.get("sasl.jaas.config", "")
    result: dict[str, Any] = {}
    if jaas.strip():
        try:
            login = parse_jaas(jaas)
        except JaasSyntaxError:
            raise _jaas_error("could not be parsed") from None
        if login.simple_name == "IAMLoginModule":
            if mechanism not in {None, AWS_MSK_IAM}:
                raise ConnectorInputError(
                    "additional property 'sasl.mechanism' must be AWS_MSK_IAM with IAMLoginModule,"
                    f" not {mechanism}",
                )
            mechanism = AWS_MSK_IAM
            if login.options:
                warn_once(
                    "iam-options",
                    "IAMLoginModule options %s are not supported; the function's own AWS credentials"
                    " are used",
                    sorted(login.options),
                )
        elif login.simple_name in {"PlainLoginModule", "ScramLoginModule"}:
            username, password = login.options.get("username"), login.options.get("password")
            if not username or password is None:
                raise _jaas_error(f"needs both username and password options for {login.simple_name}")
            redaction.register([username, password])
            if mechanism is None:
                if login.simple_name == "ScramLoginModule":
                    raise ConnectorInputError(
                        "additional property 'sasl.mechanism' must be SCRAM-SHA-256 or SCRAM-SHA-512 "
                        "with ScramLoginModule",
                    )
                mechanism = PLAIN
            elif mechanism not in CREDENTIAL_MECHANISMS:
                raise ConnectorInputError(
                    f"additional property 'sasl.mechanism' {mechanism} does not use the username and "
                    f"password of {login.simple_name}; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                )
            result["sasl_plain_username"] = username
            result["sasl_plain_password"] = password
        else:
            raise _jaas_error(
                "uses a login module this connector cannot use; supported: PlainLoginModule, "
                "ScramLoginModule, IAMLoginModule"
            )
        result["sasl_mechanism"] = mechanism
    elif protocol.startswith("SASL_"):
        if mechanism is None:
            raise ConnectorInputError(
                f"additional property 'sasl.mechanism' is required with security.protocol={protocol}",
            )
        if mechanism in CREDENTIAL_MECHANISMS:
            raise _jaas_error(f"is required for sasl.mechanism={mechanism} (or set authentication)")
    if mechanism == AWS_MSK_IAM and protocol == "SASL_PLAINTEXT":
        raise ConnectorInputError("additional property 'security.protocol' must be SASL_SSL for AWS_MSK_IAM")
    return result
