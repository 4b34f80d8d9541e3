"""Keys and values written against a Confluent-compatible Schema Registry (README.md#schema-registries).

A Confluent frame names its writer schema by id. The consumer fetches that schema from
``SCHEMA_REGISTRY_URL`` (once per id per execution environment) and reads the body with
it — resolved to ``AVRO_SCHEMA`` when that is set, so every compatible version a producer
writes reaches the workflow in the reader's shape (Avro schema resolution, done by
fastavro). JSON Schema bodies are JSON; Protobuf is left to the event source mapping.

Failures are sorted as docs/outcomes.md#schema-registry-failures says: the registry
unreachable, 5xx, 401 or 403, or its secret unreadable → :class:`RegistryUnavailableNow`
(held back: a misconfiguration must not drain the topic into the dead-letter queue); a
schema id the registry does not know → :class:`UndecodableRecord` naming the id.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from kafka_connector import environment as names
from kafka_connector import redaction
from kafka_connector.aws.clients import client
from kafka_connector.aws.errors import error_code, is_aws_error
from kafka_connector.errors import ConnectorInputError
from kafka_connector.inbound.exceptions import TransientRecordError, UndecodableRecord
from kafka_connector.secrets import is_secret_id
from kafka_connector.serialization import schema_registry
from kafka_connector.serialization.avro_codec import parse_avro_schema
from kafka_connector.serialization.schema_registry import (
    RegistryAccess,
    RegistryNotFound,
    RegistryRefused,
    RegistryRejected,
)

if TYPE_CHECKING:
    from fastavro.types import Schema
    from mypy_boto3_secretsmanager import SecretsManagerClient


class RegistryUnavailableNow(TransientRecordError):
    """The schema registry (or its credentials' secret) cannot be used now: hold the record back."""

    @property
    def error(self) -> str:
        return "SchemaRegistryUnavailable"


@dataclass(frozen=True, slots=True)
class RegistrySource:
    """``SCHEMA_REGISTRY_URL`` and ``SCHEMA_REGISTRY_AUTH_SECRET`` (a secret's name or ARN)."""

    url: str
    auth_secret: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> RegistrySource | None:
        url = env.get(names.SCHEMA_REGISTRY_URL, "").strip()
        secret = env.get(names.SCHEMA_REGISTRY_AUTH_SECRET, "").strip() or None
        if not url:  # the secret alone may be the event source mapping's (template.yaml): unused here
            return None
        return cls(schema_registry.checked_url(url, names.SCHEMA_REGISTRY_URL), secret)


@functools.lru_cache(maxsize=8)
def _access(source: RegistrySource) -> RegistryAccess:
    """The registry's URL and credentials; the secret is read once per execution environment."""
    if source.auth_secret is None:
        return RegistryAccess(source.url)
    secrets = cast("SecretsManagerClient", client("secretsmanager"))
    try:
        text = secrets.get_secret_value(SecretId=source.auth_secret).get("SecretString", "")
    except Exception as error:
        if not is_aws_error(error):
            raise
        raise RegistryUnavailableNow(
            f"{names.SCHEMA_REGISTRY_AUTH_SECRET} {_secret_id(source.auth_secret)} could not be read:"
            f" {error_code(error) or type(error).__name__}"
        ) from error
    redaction.register([text])
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not (
        isinstance(document, Mapping)
        and isinstance(document.get("username"), str)
        and isinstance(document.get("password"), str)
    ):
        raise RegistryUnavailableNow(
            f"{names.SCHEMA_REGISTRY_AUTH_SECRET} {_secret_id(source.auth_secret)} must be a JSON object"
            ' {"username": …, "password": …}'
        )
    return RegistryAccess(source.url, document["username"], document["password"])


def _secret_id(secret: str) -> str:
    """The secret's name or ARN as messages may show it; anything else (a pasted value) is not quoted."""
    if len(secret) <= 512 and is_secret_id(secret):  # quoted only when short as well
        return repr(secret)
    redaction.register([secret])
    return "(not a secret name or ARN: its text is not shown)"


#: After the registry (or its secret) failed, lookups of ids not yet known fail at once for this
#: long, with the same reason: every record of a batch is decoded before any is handled, and
#: a registry that does not answer must not cost each of them its timeouts and retries.
QUIET_SECONDS = 5.0
_failing: dict[RegistrySource, tuple[float, str]] = {}
#: Schemas found, by registry and id (ids never change), so the quiet time never blocks them.
_known: dict[tuple[RegistrySource, int], tuple[str, Schema | None]] = {}


def writer_schema(source: RegistrySource, schema_id: int, field: str) -> tuple[str, Schema | None]:
    """(schema type, parsed Avro writer schema or None) for a Confluent schema id."""
    known = _known.get((source, schema_id))
    if known is not None:
        return known
    failing = _failing.get(source)
    if failing is not None and time.monotonic() < failing[0]:
        raise RegistryUnavailableNow(f"{failing[1]} (not asked again for {QUIET_SECONDS:g} s)")
    try:
        found = _fetch(source, schema_id, field)
    except RegistryUnavailableNow as error:
        _failing[source] = (time.monotonic() + QUIET_SECONDS, str(error))
        raise
    _failing.pop(source, None)
    if len(_known) >= 4096:
        _known.clear()
    _known[(source, schema_id)] = found
    return found


def _fetch(source: RegistrySource, schema_id: int, field: str) -> tuple[str, Schema | None]:
    access = _access(source)
    try:
        found = schema_registry.schema_by_id(access, schema_id)
    except RegistryNotFound as error:
        raise UndecodableRecord(
            f"the {field} names schema id {schema_id}, which the schema registry does not know ({error})"
        ) from None
    except RegistryRefused as error:
        _access.cache_clear()  # rotated credentials: read the secret again on the next try
        raise RegistryUnavailableNow(str(error)) from None
    except RegistryRejected as error:
        if error.status == 422:  # the registry says the id itself is invalid: the record's problem
            raise UndecodableRecord(
                f"the {field}'s schema id {schema_id} cannot be fetched: {error}"
            ) from None
        raise RegistryUnavailableNow(str(error)) from None  # a misconfiguration must not drain the topic
    except schema_registry.RegistryError as error:
        raise RegistryUnavailableNow(str(error)) from None
    if found.schema_type == schema_registry.AVRO:
        return found.schema_type, _parsed(found.text, schema_id)
    return found.schema_type, None


def forget() -> None:
    """Drop every cached credential, schema and failure (tests; a new execution environment)."""
    _access.cache_clear()
    _failing.clear()
    _known.clear()


@functools.lru_cache(maxsize=1024)
def _parsed(text: str, schema_id: int) -> Schema:
    try:
        return parse_avro_schema(text, "schema registry schema")[0]
    except (ConnectorInputError, RecursionError):
        raise UndecodableRecord(
            f"schema id {schema_id} is not an Avro schema this consumer can read"
        ) from None


def protobuf_reason(schema_id: int, field: str) -> str:
    return (
        f"the {field} is Protobuf (schema id {schema_id}), which this consumer does not decode:"
        " let the event source mapping decode it (SchemaRegistryConfig with EventRecordFormat JSON,"
        " the template's SchemaRegistryUri parameters; README.md#schema-registries)"
    )
