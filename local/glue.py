"""The emulator's Glue Schema Registry, holding the sample schemas of ``events/schemas/``.

A Glue-framed Avro value names its schema by version id, a UUID that Glue assigns. For
``events/consumer-avro-glue.json`` to name a version the emulator really holds, the ids must
be the same on every run: moto draws them from its own random generator, which it lets a
client seed (``POST /moto-api/seed``); seeding it just before registering the schemas, in
file name order, makes each version id a fixed value (:data:`SAMPLE_REGISTRY` and the test
of the sample check it).
"""

from __future__ import annotations

import os
import urllib.request

import boto3

from local.functions import ROOT

SCHEMAS = ROOT / "events" / "schemas"
SAMPLE_REGISTRY = "kafka-connector-samples"
_SEED = 11


def _seed_moto() -> None:
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith("http://127.0.0.1:"):
        return  # not our emulator: leave whatever registry this is alone
    request = urllib.request.Request(f"{endpoint}/moto-api/seed?a={_SEED}", data=b"", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own loopback server
        response.read()


def register_sample_schemas() -> dict[str, str]:
    """Registry ``kafka-connector-samples`` with one Avro schema per ``events/schemas/*.avsc``.

    Returns schema name → version id.
    """
    files = sorted(SCHEMAS.glob("*.avsc"))
    if not files:
        return {}
    _seed_moto()
    glue = boto3.client("glue")
    glue.create_registry(RegistryName=SAMPLE_REGISTRY)
    versions = {}
    for path in files:
        created = glue.create_schema(
            RegistryId={"RegistryName": SAMPLE_REGISTRY},
            SchemaName=path.stem,
            DataFormat="AVRO",
            Compatibility="BACKWARD",
            SchemaDefinition=path.read_text(),
        )
        versions[path.stem] = created["SchemaVersionId"]
    return versions
