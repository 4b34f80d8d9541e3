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
from kafka_connector.errors import (
    ConnectorError,
    ConnectorInputError,
    KafkaNonRetryableError,
    KafkaRetryableError,
)

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
#: Refusals the workflow cannot fix by retrying: the function's role (or the key's policy) must change.
_DENIED = {"AccessDeniedException", "DecryptionFailure"}
_RETRYABLE = {
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "InternalServiceError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
}


def is_secret_id(value: str) -> bool:
    """Whether ``value`` can be a Secrets Manager secret's name or ARN (at most 2048 characters of
    letters, digits and ``/_+=.@-:``), rather than a secret's contents pasted in its place.

    Messages quote a secret id; a value that is not one is never quoted (it may be the secret).
    """
    return 0 < len(value) <= 2048 and all(c.isalnum() or c in "/_+=.@-:" for c in value)


def _cache_seconds() -> int:
    return int(os.environ.get(names.SECRETS_CACHE_SECONDS, "300"))


def _fetch(name: str) -> str:
    # A full ARN names the secret itself (placeholders cannot hold one: ':' is not in NAME).
    secret_id = name if name.startswith("arn:") else os.environ.get(names.SECRETS_PREFIX, "") + name
    try:
        value = parameters.get_secret(secret_id, max_age=_cache_seconds())
    except parameters.exceptions.GetParameterError as error:
        raise _read_error(name, secret_id, error) from None
    if isinstance(value, bytes):
        value = value.decode()
    redaction.register([value])
    return value


def _read_error(name: str, secret_id: str, error: Exception) -> ConnectorError:
    """What a failed read means for the workflow, naming the secret and its id, never a value.

    Powertools raises ``GetParameterError`` inside its ``except`` without ``from``: the
    boto3 error is the context, not the cause. Missing: the input named the wrong secret
    (``ConnectorInputError``). Throttled, timed out, a 5xx, unreachable: try again
    (``KafkaRetryableError``). Access denied (``AccessDeniedException``, any 403, or the KMS
    key refused): the same call fails until the role changes (``KafkaNonRetryableError``).
    Anything else Secrets Manager refuses (a secret scheduled for deletion, …) is the input's.
    """
    cause = error.__cause__ or error.__context__
    code, status = "", 0
    if isinstance(cause, ClientError):
        code = str(cause.response.get("Error", {}).get("Code", ""))
        status = int(cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    what = code or (type(cause).__name__ if cause is not None else str(error) or type(error).__name__)
    if code in _NOT_FOUND:
        return ConnectorInputError(f"secret '{name}' does not exist (looked up as '{secret_id}')")
    if code in _RETRYABLE or status >= 500 or status == 429 or isinstance(cause, BotoCoreError):
        return KafkaRetryableError(
            f"secret '{name}' could not be read now (looked up as '{secret_id}'): {what}; retry later"
        )
    if code in _DENIED or status == 403:
        return KafkaNonRetryableError(
            f"secret '{name}' could not be read: {code} for secret id '{secret_id}'"
            " (the function's role needs secretsmanager:GetSecretValue on it, and kms:Decrypt on its key)"
        )
    return ConnectorInputError(f"secret '{name}' could not be read (looked up as '{secret_id}'): {what}")


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


def secret_document(name: str) -> Mapping[str, Any] | None:
    """The JSON object a secret holds (``None`` if it holds no JSON object), registered for masking.

    For secrets that are read whole by shape rather than by placeholder: the client
    certificate and root CA secrets of ``authentication`` (docs/payloads.md#client-properties).
    ``name`` is looked up as ``<SECRETS_PREFIX>name``, or as given when it is an ARN.
    """
    try:
        document = json.loads(_fetch(name))
    except ValueError:
        return None
    if not isinstance(document, Mapping):
        return None
    redaction.register([v for v in document.values() if isinstance(v, str)])
    return document


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
