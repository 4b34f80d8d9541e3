"""The producer's Glue calls that name a registry and a schema: a version by number, a new version.

Kept apart from :mod:`.glue_registry` because IAM authorizes them differently: these
requests name the registry and the schema, so the producer's role grants them on
``registry/*`` and ``schema/*`` (template.yaml, ``GlueSchemaVersionForAvro``), whereas the
consumer's ``GetSchemaVersion`` by version id alone is authorized against ``"*"`` only
(:mod:`.glue_registry`, tests/unit/test_template.py).
"""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from kafka_connector.aws.clients import client
from kafka_connector.aws.errors import error_code
from kafka_connector.errors import ConnectorInputError

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient


def _glue() -> GlueClient:
    return cast("GlueClient", client("glue"))


def register(registry_name: str, schema_name: str, definition: str) -> uuid.UUID:
    """Register ``definition`` as the schema's next version (Glue checks its compatibility mode)."""
    try:
        response = _glue().register_schema_version(
            SchemaId={"RegistryName": registry_name, "SchemaName": schema_name},
            SchemaDefinition=definition,
        )
    except ClientError as error:
        if error_code(error) in ("EntityNotFoundException", "InvalidInputException"):
            raise ConnectorInputError(
                f"Glue schema {registry_name}/{schema_name} refused 'avro.schema' as a new version",
                error_code(error),
            ) from None
        raise
    if response.get("Status") == "FAILURE":
        raise ConnectorInputError(
            f"Glue schema {registry_name}/{schema_name} refused 'avro.schema' as a new version",
            "It breaks the schema's compatibility mode.",
        )
    return uuid.UUID(response["SchemaVersionId"])


def schema_version(registry_name: str, schema_name: str, number: int | None) -> tuple[uuid.UUID, str]:
    """(version id, definition) of version ``number`` of a Glue schema (``None``: its latest).

    A numbered version never changes and is cached; the latest is asked for each time.
    """
    if number is None:
        return _schema_version(registry_name, schema_name, None)
    return _numbered_version(registry_name, schema_name, number)


@functools.lru_cache(maxsize=256)
def _numbered_version(registry_name: str, schema_name: str, number: int) -> tuple[uuid.UUID, str]:
    return _schema_version(registry_name, schema_name, number)


def _schema_version(registry_name: str, schema_name: str, number: int | None) -> tuple[uuid.UUID, str]:
    which: Any = {"LatestVersion": True} if number is None else {"VersionNumber": number}
    try:
        response = _glue().get_schema_version(
            SchemaId={"RegistryName": registry_name, "SchemaName": schema_name}, SchemaVersionNumber=which
        )
    except ClientError as error:
        if error_code(error) == "EntityNotFoundException":
            version = "any version" if number is None else f"version {number}"
            raise ConnectorInputError(f"Glue schema {registry_name}/{schema_name} has no {version}") from None
        raise
    return uuid.UUID(response["SchemaVersionId"]), response["SchemaDefinition"]
