"""The consumer function's configuration: environment variables, validated at cold start.

One consumer function serves one inbound connector (docs/environment.md#consumer-function).
Everything is checked before the first record is touched, so a typo in an expression stops the function at
initialisation with a message naming the variable, instead of dead-lettering a topic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from kafka_connector import environment as names
from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.expressions import Expression, compile_expression
from kafka_connector.inbound.records import AvroSettings
from kafka_connector.input_checks import is_valid_text
from kafka_connector.limits import MAX_LIFETIME_SECONDS


class Mode(StrEnum):
    CORRELATE = "correlate"
    START = "start"


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    mode: Mode
    state_machine_arn: str | None = None
    message_name: str | None = None  # None: each record's topic
    activation_condition: Expression | None = None
    correlation_key: Expression | None = None
    message_id: Expression | None = None
    ttl_seconds: int = 0
    result_variable: str | None = None
    result_expression: Expression | None = None
    table_name: str | None = None
    dead_letter_queue_url: str | None = None
    avro: AvroSettings = field(default_factory=AvroSettings)
    #: ``None``: ``rawValue`` only when the value is not JSON (docs/payloads.md#the-message).
    include_raw_value: bool | None = None
    claim_check_bucket: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ConsumerConfig:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        raw_mode = (get(names.CONNECTOR_MODE) or Mode.CORRELATE.value).lower()
        try:
            mode = Mode(raw_mode)
        except ValueError:
            raise ConnectorInputError(
                f"CONNECTOR_MODE must be 'correlate' or 'start', not {raw_mode!r}"
            ) from None
        config = cls(
            mode=mode,
            state_machine_arn=get(names.STATE_MACHINE_ARN),
            message_name=get(names.MESSAGE_NAME),
            activation_condition=compile_expression(
                get(names.ACTIVATION_CONDITION), name=names.ACTIVATION_CONDITION
            ),
            correlation_key=compile_expression(
                get(names.CORRELATION_KEY_EXPRESSION), name=names.CORRELATION_KEY_EXPRESSION
            ),
            message_id=compile_expression(get(names.MESSAGE_ID_EXPRESSION), name=names.MESSAGE_ID_EXPRESSION),
            ttl_seconds=_seconds(get(names.MESSAGE_TTL_SECONDS)),
            result_variable=get(names.RESULT_VARIABLE),
            result_expression=compile_expression(get(names.RESULT_EXPRESSION), name=names.RESULT_EXPRESSION),
            table_name=get(names.CORRELATION_TABLE),
            dead_letter_queue_url=get(names.DEAD_LETTER_QUEUE_URL),
            avro=AvroSettings.from_environment(env),
            include_raw_value=_tristate(get(names.INCLUDE_RAW_VALUE), names.INCLUDE_RAW_VALUE),
            claim_check_bucket=get(names.CLAIM_CHECK_BUCKET),
        )
        config._check()
        return config

    def _check(self) -> None:
        if self.mode is Mode.START and not self.state_machine_arn:
            raise ConnectorInputError("STATE_MACHINE_ARN is required when CONNECTOR_MODE is 'start'")
        if self.mode is Mode.CORRELATE:
            if self.correlation_key is None:
                raise ConnectorInputError(
                    "CORRELATION_KEY_EXPRESSION is required when CONNECTOR_MODE is 'correlate' (e.g. '=key')"
                )
            if not self.table_name:
                raise ConnectorInputError("CORRELATION_TABLE is required when CONNECTOR_MODE is 'correlate'")
        if self.message_name is not None and "#" in self.message_name:
            raise ConnectorInputError(
                "MESSAGE_NAME must not contain '#' (it separates name and key in the table)"
            )
        if self.message_name is not None and not is_valid_text(self.message_name):
            raise ConnectorInputError("MESSAGE_NAME must be valid UTF-8 text (it is part of every table key)")


def _seconds(raw: str | None) -> int:
    if raw is None:
        return 0
    try:
        seconds = int(raw)
    except ValueError:
        raise ConnectorInputError(
            f"MESSAGE_TTL_SECONDS must be a whole number of seconds, not {raw!r}"
        ) from None
    if not 0 <= seconds <= MAX_LIFETIME_SECONDS:
        raise ConnectorInputError(f"MESSAGE_TTL_SECONDS must be between 0 and {MAX_LIFETIME_SECONDS}")
    return seconds


def _tristate(raw: str | None, variable: str) -> bool | None:
    """``true``/``false`` (any case), or ``None`` for unset or ``auto``."""
    value = (raw or "auto").lower()
    if value not in {"true", "false", "auto"}:
        raise ConnectorInputError(f"{variable} must be 'true', 'false' or 'auto', not {raw!r}")
    return None if value == "auto" else value == "true"
