"""The producer's ``avro.schemaRegistry``: the schema and id a record is written with (docs/payloads.md).

The subject follows Confluent's subject name strategies — ``TopicNameStrategy``
(``<topic>-value``, the default), ``RecordNameStrategy`` (the record's full name),
``TopicRecordNameStrategy`` (``<topic>-<full name>``) — or is given as ``avro.subject``.
With ``avro.schema``, its id under the subject is looked up (and registered first with
``avro.autoRegister``); without it, the subject's ``latest`` (or ``avro.version``) schema is
fetched, so a workflow never pastes a schema. Lookups are cached per schema and subject
for the life of the execution environment (:mod:`.schema_registry`).

Registry failures follow the producer's error table (docs/outcomes.md#producer-errors): unreachable
or 5xx → :class:`KafkaRetryableError`; 401/403 → :class:`KafkaNonRetryableError`
"schema registry authentication failed"; an unknown subject, version or schema →
:class:`ConnectorInputError` naming the subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from kafka_connector.errors import ConnectorInputError, KafkaNonRetryableError, KafkaRetryableError
from kafka_connector.redaction import shown
from kafka_connector.serialization import schema_registry
from kafka_connector.serialization.schema_registry import (
    RegistryAccess,
    RegistryNotFound,
    RegistryRefused,
    RegistryRejected,
    RegistryUnavailable,
)


class SubjectNameStrategy(StrEnum):
    TOPIC = "TopicNameStrategy"
    RECORD = "RecordNameStrategy"
    TOPIC_RECORD = "TopicRecordNameStrategy"


def registry_access(section: object) -> RegistryAccess:
    """``avro.schemaRegistry``: ``{"url", "username"?, "password"?}`` (placeholders already expanded)."""
    if not isinstance(section, Mapping):
        raise ConnectorInputError("'avro.schemaRegistry' must be an object with 'url'")
    url = schema_registry.checked_url(section.get("url"), "avro.schemaRegistry.url")
    credentials: dict[str, str | None] = {}
    for name in ("username", "password"):
        value = section.get(name)
        if value is not None and not isinstance(value, str):
            raise ConnectorInputError(f"'avro.schemaRegistry.{name}' must be a string")
        credentials[name] = value
    if (credentials["username"] is None) != (credentials["password"] is None):
        raise ConnectorInputError("'avro.schemaRegistry' needs both 'username' and 'password', or neither")
    return RegistryAccess(url, credentials["username"], credentials["password"])


def subject_for(avro: Mapping[str, object], topic: str | None, record_name: str | None) -> str:
    """``avro.subject``, or the one ``avro.subjectNameStrategy`` gives for this topic and record."""
    subject = avro.get("subject")
    if subject is not None:
        if not isinstance(subject, str) or not subject:
            raise ConnectorInputError("'avro.subject' must be a non-empty string")
        return subject
    raw = avro.get("subjectNameStrategy", SubjectNameStrategy.TOPIC.value)
    try:
        strategy = SubjectNameStrategy(str(raw))
    except ValueError:
        raise ConnectorInputError(
            "'avro.subjectNameStrategy' must be one of"
            f" {', '.join(s.value for s in SubjectNameStrategy)}, not {shown(str(raw), 50)}"
        ) from None
    if strategy is SubjectNameStrategy.TOPIC:
        assert topic is not None  # the request's address names it
        return f"{topic}-value"
    if record_name is None:
        raise ConnectorInputError(
            f"'avro.subjectNameStrategy' {strategy.value} needs 'avro.schema' (a named record)"
            " or 'avro.subject'"
        )
    return record_name if strategy is SubjectNameStrategy.RECORD else f"{topic}-{record_name}"


def schema_id_for(access: RegistryAccess, subject: str, definition: str, *, auto_register: bool) -> int:
    """The id of ``definition`` under ``subject``; registered when absent and ``auto_register``."""
    try:
        return schema_registry.id_under_subject(access, subject, definition, register=auto_register)
    except RegistryNotFound:
        raise ConnectorInputError(
            f"'avro.schema' is not registered under subject {subject!r}",
            "Register it first, or set avro.autoRegister to true where the registry allows it.",
        ) from None
    except schema_registry.RegistryError as error:
        raise _producer_error(error, subject) from None


def version_of(access: RegistryAccess, subject: str, version: object) -> schema_registry.WriterSchema:
    """Subject ``subject``'s ``version`` (``None`` or ``"latest"``: its latest)."""
    if version in (None, "latest"):
        number = None
    elif isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        number = version
    else:
        raise ConnectorInputError("'avro.version' must be a version number (1, 2, …) or 'latest'")
    try:
        found = schema_registry.subject_version(access, subject, number)
    except RegistryNotFound:
        which = "versions" if number is None else f"version {number}"
        raise ConnectorInputError(f"schema registry subject {subject!r} has no {which}") from None
    except schema_registry.RegistryError as error:
        raise _producer_error(error, subject) from None
    if found.schema_type != schema_registry.AVRO:
        raise ConnectorInputError(
            f"schema registry subject {subject!r} holds a {found.schema_type} schema, not Avro"
        )
    return found


def _producer_error(error: schema_registry.RegistryError, subject: str) -> Exception:
    if isinstance(error, RegistryRefused):
        return KafkaNonRetryableError("schema registry authentication failed", str(error))
    if isinstance(error, RegistryUnavailable):
        return KafkaRetryableError(f"schema registry unavailable for subject {subject!r}", str(error))
    assert isinstance(error, RegistryRejected)  # the last kind: the registry refused the request itself
    return ConnectorInputError(f"schema registry refused subject {subject!r}", str(error))
