"""AWS Glue Schema Registry lookups, cached for the life of the execution environment.

A schema version never changes once registered, so both directions of the lookup
(definition → version id for producing, version id → definition for consuming) can be
cached without expiry; only the first record of a cold start pays the Glue round trip.
"""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING, cast

from botocore.exceptions import ClientError

from kafka_connector.aws.clients import client
from kafka_connector.aws.errors import error_code
from kafka_connector.errors import ConnectorInputError
from kafka_connector.serialization import glue_versions

if TYPE_CHECKING:
    from mypy_boto3_glue import GlueClient


def _glue() -> GlueClient:
    """The shared Glue client (bounded retries and timeouts, like every AWS call of the layer)."""
    return cast("GlueClient", client("glue"))


@functools.lru_cache(maxsize=256)
def schema_version_id(
    registry_name: str, schema_name: str, definition: str, register: bool = False
) -> uuid.UUID:
    """The version id Glue assigned to ``definition`` in ``registry_name``/``schema_name``.

    ``register`` (``avro.autoRegister``): a definition Glue does not have is registered as the
    schema's next version (``RegisterSchemaVersion``; Glue checks the schema's compatibility mode).
    """
    try:
        response = _glue().get_schema_by_definition(
            SchemaId={"RegistryName": registry_name, "SchemaName": schema_name},
            SchemaDefinition=definition,
        )
    except ClientError as error:
        if error_code(error) == "EntityNotFoundException":
            if register:
                return glue_versions.register(registry_name, schema_name, definition)
            raise ConnectorInputError(
                f"'avro.schema' is not registered in Glue schema {registry_name}/{schema_name}",
                "Register this definition as a version of the schema first (glue:RegisterSchemaVersion),"
                " or set avro.autoRegister to true.",
            ) from None
        raise
    return uuid.UUID(response["SchemaVersionId"])


@functools.lru_cache(maxsize=256)
def schema_definition(version_id: uuid.UUID) -> str:
    """The Avro schema text of a Glue schema version (as found in a record's header)."""
    return _glue().get_schema_version(SchemaVersionId=str(version_id))["SchemaDefinition"]
