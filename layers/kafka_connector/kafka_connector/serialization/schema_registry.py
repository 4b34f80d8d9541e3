"""Confluent-compatible Schema Registry lookups, through Confluent's own client (README.md#schema-registries).

Why this client: ``confluent_kafka.schema_registry`` is the registry vendor's client. It
speaks the REST protocol of Confluent Cloud, Confluent Platform, Redpanda, Karapace and
Apicurio's ccompat API, caches schemas by id and ids by schema, does basic auth, and has a
``mock://`` in-memory registry that the tests use (in this process: the local runtime runs
the functions in-process, so a test and the consumer share it). Its cost is size
(README.md#schema-registries) and a heavy import, so it is imported only here, on
the first lookup of a function that has a registry configured: a function without one
never loads it.

What this module adds is the connector's vocabulary: every failure becomes one of three
:class:`RegistryError` kinds — unavailable (network, 5xx, 429), refused (401/403) and not
found (404) — that the producer and the consumer map onto their own error tables, with
messages that name the registry (without credentials) and the HTTP status.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError
from kafka_connector.redaction import shown

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

T = TypeVar("T")

#: The client's own retries are bounded so that one lookup fits well inside a Lambda
#: invocation: two retries, 0.1–1 s apart, 5 s per HTTP request (a blackholed registry costs 15 s).
_CLIENT_TUNING: Final[dict[str, Any]] = {
    "timeout": 5,
    "max.retries": 2,
    "retries.wait.ms": 100,
    "retries.max.wait.ms": 1000,
    # A subject's "latest" version changes when a new one is registered; ids never change.
    "cache.latest.ttl.sec": 300,
}
AVRO: Final = "AVRO"
JSON_SCHEMA: Final = "JSON"
PROTOBUF: Final = "PROTOBUF"


def checked_url(url: object, field: str) -> str:
    """A registry URL the client can use and messages may show, or a ``ConnectorInputError`` naming ``field``.

    Credentials belong in their own fields (``username``/``password``, the auth secret): in the
    URL's user info or query they would be sent in every request line and echoed by error
    bodies, where no mask knows them. One URL only (the client's comma-separated fail-over list
    is not offered: a typo there surfaced as an unexpected error per record).
    """
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "mock://")):
        raise ConnectorInputError(f"'{field}' must be an http(s):// URL")
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ConnectorInputError(f"'{field}' has an invalid port") from None
    if "," in url or not parts.hostname:
        raise ConnectorInputError(f"'{field}' must be one http(s):// URL with a host")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ConnectorInputError(
            f"'{field}' must not carry credentials, a query or a fragment",
            "Give the registry's credentials as username/password (or in the auth secret), not in the URL.",
        )
    return url.strip()


@dataclass(frozen=True, slots=True)
class RegistryAccess:
    """Where a registry is and how to sign in to it (basic auth: a Confluent Cloud API key/secret)."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.password:  # the username (an API key) is masked too when it comes with a password
            redaction.register([self.password, self.username, f"{self.username}:{self.password}"])

    @property
    def shown_url(self) -> str:
        """The URL without user info, query or fragment: what messages and logs may show."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """A schema as the registry holds it: its id, type (``AVRO``, ``JSON``, ``PROTOBUF``) and text."""

    schema_id: int
    schema_type: str
    text: str
    subject: str | None = None
    version: int | None = None


class RegistryError(Exception):
    """A registry call failed; ``status`` is the HTTP status (``None``: no answer at all)."""

    def __init__(self, access: RegistryAccess, what: str, status: int | None, detail: str) -> None:
        self.url = access.shown_url
        self.status = status
        answer = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(redaction.redact(f"schema registry {self.url}: {what}: {answer} ({detail})"))


class RegistryUnavailable(RegistryError):
    """Unreachable, timed out, 5xx or 429: the same call may work later."""


class RegistryRefused(RegistryError):
    """401/403: the credentials are wrong or lack a permission (a misconfiguration)."""


class RegistryNotFound(RegistryError):
    """404: no such schema id, subject or version."""


class RegistryRejected(RegistryError):
    """Any other 4xx: the registry refused the request itself (e.g. 409 incompatible, 422 invalid schema)."""


@functools.lru_cache(maxsize=16)
def client(access: RegistryAccess) -> SchemaRegistryClient:
    """The registry client for ``access``, one per execution environment (it holds the caches).

    A ``mock://`` URL gives Confluent's in-memory registry (tests and the local runtime).
    """
    from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: PLC0415 - heavy, rare

    conf: dict[str, Any] = {"url": access.url, **_CLIENT_TUNING}
    if access.username is not None or access.password is not None:
        conf["basic.auth.user.info"] = f"{access.username or ''}:{access.password or ''}"
    return SchemaRegistryClient.new_client(conf)


def _call(access: RegistryAccess, what: str, action: Callable[[SchemaRegistryClient], T]) -> T:
    """Run ``action`` on the client; any failure becomes a :class:`RegistryError` of its kind."""
    from confluent_kafka.schema_registry.common._httpx_compat import httpx  # noqa: PLC0415 - the client's own
    from confluent_kafka.schema_registry.error import SchemaRegistryError  # noqa: PLC0415

    try:
        return action(client(access))
    except SchemaRegistryError as error:
        status = error.http_status_code
        detail = shown(f"{error.error_code}: {error.error_message}", 200)
        if 300 <= status < 400:  # a redirect (http → https, a login page): not the registry's answer
            raise RegistryUnavailable(
                access, what, status, f"redirected; is the URL right? {detail}"
            ) from None
        if status in (401, 403):
            raise RegistryRefused(access, what, status, detail) from None
        if status == 404:
            raise RegistryNotFound(access, what, status, detail) from None
        if status >= 500 or status in (408, 429) or status < 0:
            raise RegistryUnavailable(access, what, status, detail) from None
        raise RegistryRejected(access, what, status, detail) from None
    except (httpx.TransportError, OSError) as error:
        raise RegistryUnavailable(access, what, None, type(error).__name__) from None
    except (httpx.HTTPError, ValueError) as error:  # e.g. a 200 HTML page: not a schema registry
        raise RegistryUnavailable(
            access, what, None, f"not a schema registry answer ({type(error).__name__})"
        ) from None


@functools.lru_cache(maxsize=1024)
def schema_by_id(access: RegistryAccess, schema_id: int) -> WriterSchema:
    """The writer schema a Confluent frame names; ids never change, so it is cached for good."""
    schema = _call(access, f"schema id {schema_id}", lambda c: c.get_schema(schema_id))
    return WriterSchema(schema_id, (schema.schema_type or AVRO).upper(), schema.schema_str or "")


@functools.lru_cache(maxsize=256)
def id_under_subject(access: RegistryAccess, subject: str, definition: str, *, register: bool) -> int:
    """The id of ``definition`` under ``subject``; registered first when absent and ``register``."""
    from confluent_kafka.schema_registry import Schema  # noqa: PLC0415

    schema = Schema(definition, AVRO)
    try:
        found = _call(access, f"subject {subject!r}", lambda c: c.lookup_schema(subject, schema))
    except RegistryNotFound:
        if not register:
            raise
        what = f"registering under subject {subject!r}"
        return _call(access, what, lambda c: c.register_schema(subject, schema))
    assert found.schema_id is not None  # a lookup answers with the id
    return found.schema_id


def subject_version(access: RegistryAccess, subject: str, version: int | None) -> WriterSchema:
    """A subject's ``version`` (``None``: its latest, cached by the client for a few minutes)."""
    what = f"subject {subject!r} version {'latest' if version is None else version}"
    if version is None:
        found = _call(access, what, lambda c: c.get_latest_version(subject))
    else:
        found = _call(access, what, lambda c: c.get_version(subject, version))
    schema = found.schema
    assert found.schema_id is not None  # a version answers with its id and schema
    assert schema is not None
    return WriterSchema(
        found.schema_id,
        (schema.schema_type or AVRO).upper(),
        schema.schema_str or "",
        subject=found.subject,
        version=found.version,
    )


def record_full_name(definition: str) -> str | None:
    """The full name of a record schema (``namespace.name``), as Record(Topic)NameStrategy needs."""
    try:
        document = json.loads(definition)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        return None
    name: str = document["name"]
    namespace = document.get("namespace")
    if "." in name or not isinstance(namespace, str) or not namespace:
        return name
    return f"{namespace}.{name}"
