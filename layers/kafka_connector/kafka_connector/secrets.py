"""``{{secrets.NAME}}`` and ``{{secrets.NAME.field}}`` placeholders, from AWS Secrets Manager.

The reference connector lets users write ``{{secrets.MY_KAFKA_PASSWORD}}`` in a task's
input; here the secret ``<SECRETS_PREFIX>NAME`` is read through Powertools parameters,
which caches it (``SECRETS_CACHE_SECONDS``, default 300) so that a warm function does not
call Secrets Manager per record. ``NAME.field`` reads one field of a JSON secret. Every
value resolved is registered with :mod:`kafka_connector.redaction` before it is used, so
it can never be echoed back.

Placeholders are expanded in the client's configuration only (:data:`CONFIGURATION_FIELDS`),
never in the record: a workflow passes its own data into ``message``, ``headers`` and the
address (``value.$: $``), and whoever shapes that data — a customer's order, a webhook —
must not be able to copy any secret the function may read into a Kafka record by writing
``{{secrets.KAFKA_PASSWORD}}`` into a note. There the text is sent as written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any, Final

from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import BotoCoreError, ClientError

from kafka_connector import environment as names
from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError, KafkaRetryableError

#: Where placeholders are expanded: (section, field) of the producer payload, ``None`` for the
#: whole section. Everything else — ``message``, ``headers``, ``address``, ``topic.topicName``,
#: the rest of ``avro`` — is the workflow's data and is sent as written.
CONFIGURATION_FIELDS: Final[tuple[tuple[str, str | None], ...]] = (
    ("authentication", None),
    ("additionalProperties", None),
    ("topic", "bootstrapServers"),
    ("bootstrapServers", None),  # the top-level alias of topic.bootstrapServers
    ("avro", "schemaRegistry"),  # the registry's URL and credentials (README.md#schema-registries)
)
PLACEHOLDER = re.compile(r"\{\{\s*secrets\.([A-Za-z0-9_/+=@-]+)(?:\.([A-Za-z0-9_-]+))?\s*\}\}")
_NOT_FOUND = {"ResourceNotFoundException"}
_RETRYABLE = {"ThrottlingException", "InternalServiceError", "RequestLimitExceeded", "ServiceUnavailable"}


def _cache_seconds() -> int:
    return int(os.environ.get(names.SECRETS_CACHE_SECONDS, "300"))


def _fetch(name: str) -> str:
    secret_id = os.environ.get(names.SECRETS_PREFIX, "") + name
    try:
        value = parameters.get_secret(secret_id, max_age=_cache_seconds())
    except parameters.exceptions.GetParameterError as error:
        # Powertools raises it inside its ``except`` without ``from``: the boto3 error is the context.
        cause = error.__cause__ or error.__context__
        code = cause.response.get("Error", {}).get("Code", "") if isinstance(cause, ClientError) else ""
        if code in _NOT_FOUND:
            raise ConnectorInputError(
                f"secret '{name}' does not exist (looked up as '{secret_id}')"
            ) from None
        if code in _RETRYABLE or isinstance(cause, BotoCoreError):
            raise KafkaRetryableError(
                f"secret '{name}' could not be read now: {code or type(cause).__name__}"
            ) from None
        raise ConnectorInputError(
            f"secret '{name}' could not be read: {code or type(cause).__name__}"
        ) from None
    if isinstance(value, bytes):
        value = value.decode()
    redaction.register([value])
    return value


def _lookup(name: str, field: str | None) -> str:
    value = _fetch(name)
    if field is None:
        return value
    try:
        document = json.loads(value)
    except ValueError:
        document = None
    if not isinstance(document, Mapping) or field not in document:
        raise ConnectorInputError(f"secret '{name}' has no field '{field}'")
    item = document[field]
    text = item if isinstance(item, str) else json.dumps(item)
    redaction.register([text])
    return text


def _substitute(text: str) -> str:
    if "{{" not in text:  # the common case costs one substring test
        return text
    return PLACEHOLDER.sub(lambda m: _lookup(m.group(1), m.group(2)), text)


def resolve_secrets(value: Any) -> Any:
    """A copy of ``value`` with every placeholder in every string replaced by its secret.

    For configuration values only; a payload goes through :func:`resolve_configuration`.
    """
    if isinstance(value, str):
        return _substitute(value)
    if isinstance(value, Mapping):
        return {k: resolve_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_secrets(v) for v in value]
    return value


def resolve_configuration(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a producer payload with placeholders expanded in :data:`CONFIGURATION_FIELDS` only."""
    resolved = dict(payload)
    for section, name in CONFIGURATION_FIELDS:
        value = payload.get(section)
        if value is None:
            continue
        if name is None:
            resolved[section] = resolve_secrets(value)
        elif isinstance(value, Mapping) and value.get(name) is not None:
            resolved[section] = {**value, name: resolve_secrets(value[name])}
    return resolved
