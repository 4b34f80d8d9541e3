"""The environment variables the functions read: each name once, here (docs/environment.md).

Functions and tests import these names instead of spelling them, so a renamed variable is
one change, and the template's tests can check that each function's ``Environment`` is
exactly what its code reads.
"""

from __future__ import annotations

from typing import Final

# -- consumer (one inbound connector per function) ----------------------------------------
CONNECTOR_MODE: Final = "CONNECTOR_MODE"
STATE_MACHINE_ARN: Final = "STATE_MACHINE_ARN"
MESSAGE_NAME: Final = "MESSAGE_NAME"
ACTIVATION_CONDITION: Final = "ACTIVATION_CONDITION"
CORRELATION_KEY_EXPRESSION: Final = "CORRELATION_KEY_EXPRESSION"
MESSAGE_ID_EXPRESSION: Final = "MESSAGE_ID_EXPRESSION"
MESSAGE_TTL_SECONDS: Final = "MESSAGE_TTL_SECONDS"
RESULT_VARIABLE: Final = "RESULT_VARIABLE"
RESULT_EXPRESSION: Final = "RESULT_EXPRESSION"
CORRELATION_TABLE: Final = "CORRELATION_TABLE"
DEAD_LETTER_QUEUE_URL: Final = "DEAD_LETTER_QUEUE_URL"
SERIALIZATION_TYPE: Final = "SERIALIZATION_TYPE"
AVRO_SCHEMA: Final = "AVRO_SCHEMA"
AVRO_WIRE_FORMAT: Final = "AVRO_WIRE_FORMAT"
INCLUDE_RAW_VALUE: Final = "INCLUDE_RAW_VALUE"
CLAIM_CHECK_BUCKET: Final = "CLAIM_CHECK_BUCKET"
SCHEMA_REGISTRY_URL: Final = "SCHEMA_REGISTRY_URL"
SCHEMA_REGISTRY_AUTH_SECRET: Final = "SCHEMA_REGISTRY_AUTH_SECRET"

# -- producer ---------------------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS: Final = "KAFKA_BOOTSTRAP_SERVERS"
IDEMPOTENCY_TABLE: Final = "IDEMPOTENCY_TABLE"
IDEMPOTENCY_TTL_SECONDS: Final = "IDEMPOTENCY_TTL_SECONDS"

# -- shared tuning (optional, not set by the template) ------------------------------------
SECRETS_PREFIX: Final = "SECRETS_PREFIX"
SECRETS_CACHE_SECONDS: Final = "SECRETS_CACHE_SECONDS"
AWS_RETRY_MODE: Final = "AWS_RETRY_MODE"
AWS_MAX_ATTEMPTS: Final = "AWS_MAX_ATTEMPTS"
PRODUCER_CLIENT_CACHE_SIZE: Final = "PRODUCER_CLIENT_CACHE_SIZE"

#: What ``ConsumerConfig.from_environment`` reads: the consumer function's whole configuration.
CONSUMER_VARIABLES: Final = frozenset(
    {
        CONNECTOR_MODE,
        STATE_MACHINE_ARN,
        MESSAGE_NAME,
        ACTIVATION_CONDITION,
        CORRELATION_KEY_EXPRESSION,
        MESSAGE_ID_EXPRESSION,
        MESSAGE_TTL_SECONDS,
        RESULT_VARIABLE,
        RESULT_EXPRESSION,
        CORRELATION_TABLE,
        DEAD_LETTER_QUEUE_URL,
        SERIALIZATION_TYPE,
        AVRO_SCHEMA,
        AVRO_WIRE_FORMAT,
        INCLUDE_RAW_VALUE,
        CLAIM_CHECK_BUCKET,
        SCHEMA_REGISTRY_URL,
        SCHEMA_REGISTRY_AUTH_SECRET,
    }
)
#: What the producer function's own code reads (the layer's secrets module reads SECRETS_PREFIX).
PRODUCER_VARIABLES: Final = frozenset(
    {KAFKA_BOOTSTRAP_SERVERS, SECRETS_PREFIX, IDEMPOTENCY_TABLE, IDEMPOTENCY_TTL_SECONDS}
)
#: What the subscribe function reads.
SUBSCRIBE_VARIABLES: Final = frozenset({CORRELATION_TABLE})
