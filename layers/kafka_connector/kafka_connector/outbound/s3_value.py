"""``message.valueFromS3``: publish a value read from S3, larger than a workflow can carry.

A Step Functions state holds at most 256 KiB, so a workflow cannot pass a larger value in
``message.value``; it names an object instead (docs/payloads.md#values-from-s3)::

    "message": {"key": "order-17", "valueFromS3": {"bucket": "exports", "key": "orders/17.json"}}

The object's bytes are the **JSON text of the value**, exactly what ``message.value`` would
have held: they are parsed (UTF-8, strict JSON: no ``NaN``, at most 100 levels deep, valid
Unicode) and the parsed value is published as ``message.value`` would be — a JSON string as
its text, anything else as compact JSON, or Avro-encoded with ``avro.schema`` when
``serializationType`` is ``avro``. So one object serves both serializations, and a value that
is not JSON is refused before anything reaches Kafka.

Every failure names the field: a missing object or bucket, or a refusal (access denied), is a
``ConnectorInputError`` (retrying the same input cannot help); throttling, a 5xx or the
network is a ``KafkaRetryableError``. A value whose encoded bytes exceed the producer's
``max.request.size`` is refused before connecting, since Kafka would refuse it anyway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from kafka_connector.aws.clients import client
from kafka_connector.errors import ConnectorInputError, KafkaRetryableError
from kafka_connector.input_checks import check_input
from kafka_connector.redaction import shown

#: Kafka's default ``max.request.size``: what a producer sends in one request at most.
DEFAULT_MAX_REQUEST_SIZE: Final = 1024 * 1024
#: The most an object may hold before it is read at all: far above any ``max.request.size``
#: a Lambda producer uses, and small enough to read into memory.
MAX_OBJECT_BYTES: Final = 16 * 1024 * 1024
_MISSING: Final = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
_RETRYABLE: Final = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable"}
)


def message_value(message: Mapping[str, Any], field: str = "message") -> Any:
    """The value to publish: ``<field>.value``, or the JSON document ``<field>.valueFromS3`` names.

    ``field`` names the message in errors: ``message``, or ``messages[3]`` in a batch.
    """
    source = message.get("valueFromS3")
    if source is None:
        if message.get("value") is None:
            raise ConnectorInputError(f"'{field}.value' is required (or '{field}.valueFromS3')")
        return message["value"]
    if message.get("value") is not None:
        raise ConnectorInputError(f"give either '{field}.value' or '{field}.valueFromS3', not both")
    named = f"{field}.valueFromS3"
    bucket, key = _location(source, named)
    return _parse(_read(bucket, key, named), f"s3://{bucket}/{key}", named)


def check_size(
    message: Mapping[str, Any], value: bytes, properties: Mapping[str, str], field: str = "message"
) -> None:
    """Refuse a value from S3 that Kafka would refuse: over the producer's ``max.request.size``."""
    if message.get("valueFromS3") is None:
        return
    try:
        limit = int(properties.get("max.request.size", DEFAULT_MAX_REQUEST_SIZE))
    except ValueError:
        return  # to_kafka_python reports the property by name
    if len(value) > limit:
        raise ConnectorInputError(
            f"'{field}.valueFromS3': the value is {len(value)} bytes,"
            f" over the producer's max.request.size ({limit})",
            "Raise max.request.size in additionalProperties (and the broker's and topic's message size"
            " limits), or publish a smaller value.",
        )


def _location(source: object, named: str) -> tuple[str, str]:
    if not isinstance(source, Mapping):
        raise ConnectorInputError(f"'{named}' must be an object {{bucket, key}}")
    found = []
    for name in ("bucket", "key"):
        value = source.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ConnectorInputError(f"'{named}.{name}' is required: a non-empty string")
        found.append(value)
    return found[0], found[1]


def _read(bucket: str, key: str, named: str) -> bytes:
    where = f"s3://{bucket}/{key}"
    try:
        response = client("s3").get_object(Bucket=bucket, Key=key)
        size = int(response.get("ContentLength", 0))
        if size > MAX_OBJECT_BYTES:
            response["Body"].close()
            raise ConnectorInputError(f"'{named}': {where} is {size} bytes, over {MAX_OBJECT_BYTES}")
        data: bytes = response["Body"].read()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise ConnectorInputError(f"'{named}': {where} does not exist ({code})") from None
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _RETRYABLE or status >= 500:
            raise KafkaRetryableError(f"'{named}': {where} could not be read now: {code}") from None
        raise ConnectorInputError(
            f"'{named}': {where} could not be read: {code or 'refused'}",
            "The producer's role may read objects of the template's ProducerValueBucket only.",
        ) from None
    except ParamValidationError:  # botocore refused the bucket or key before any request
        raise ConnectorInputError(
            f"'{named}': {shown(where, 120)} is not a valid S3 bucket and key"
        ) from None
    except BotoCoreError as error:
        raise KafkaRetryableError(
            f"'{named}': {where} could not be read now: {type(error).__name__}"
        ) from None
    return data


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _parse(data: bytes, where: str, named: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConnectorInputError(
            f"'{named}': {where} is not UTF-8 text (byte {error.start}): it must hold the value's JSON text"
        ) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ConnectorInputError(f"'{named}': {where} nests too deep") from None
    except ValueError as error:
        raise ConnectorInputError(
            f"'{named}': {where} is not JSON text ({str(error)[:200]}): it must hold the value's JSON text"
        ) from None
    if value is None:
        raise ConnectorInputError(f"'{named}': {where} holds null; a value is required")
    check_input(value, f"{named}({where})")
    return value
