"""Kafka client properties: resolve them like the reference connector, then hand them to kafka-python.

Users of the reference connector think in Kafka's own property names (``linger.ms``,
``sasl.jaas.config``, ``ssl.truststore.certificates``): those are what they type into
``additionalProperties`` and what they expect to see in the debug output. So the
connector works in two steps:

1. :func:`resolve_client_properties` builds the effective property set with Kafka's
   names and string values, in the reference connector's precedence
   (docs/payloads.md#client-properties): input (authentication, bootstrap servers,
   serializers), then defaults, then ``additionalProperties`` overriding anything.
2. :func:`to_kafka_python` translates that set into keyword arguments for
   ``kafka.KafkaProducer`` / ``kafka.KafkaConsumer``. The translation is one table
   (:data:`_TABLE`) plus two composite steps that cannot be one-to-one: the JAAS login
   configuration (one Kafka property → mechanism, username, password) and TLS material
   (PEM text → one ``ssl.SSLContext``).

Properties that mean something only to the Java client (class names, JMX, OAuth login
tuning, …) and properties nobody knows are never an error: they stay in the resolved
set, are not passed to kafka-python, and :func:`ignored_properties` reports them, so the
debug output tells the user exactly what had no effect. A *known* property with a value
of the wrong type is different: silently dropping ``linger.ms=abc`` would hide a typo,
so it is an input error naming the property.

Every credential seen on the way (the authentication password, JAAS passwords, key
passwords, private keys) is registered with :mod:`kafka_connector.redaction` so it can
never leak through an error message or a log line, including kafka-python's own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError
from kafka_connector.kafka.converters import server_list
from kafka_connector.kafka.credentials import (
    BadValue,
    client_certificate_properties,
    defaults,
    register_secrets,
    root_ca_properties,
)
from kafka_connector.kafka.vocabulary import (
    AWS_MSK_IAM,
    BYTE_ARRAY_SERIALIZER,
    IAM_CALLBACK_HANDLER,
    IAM_LOGIN_MODULE,
    PLAIN,
    PLAIN_LOGIN_MODULE,
    STRING_DESERIALIZER,
    STRING_SERIALIZER,
    Role,
    check_role,
)
from kafka_connector.serialization.formats import SerializationType


def resolve_client_properties(
    request: Mapping[str, Any], *, role: Role, name: str = "default"
) -> dict[str, str]:
    """The effective Kafka client properties for a producer event or consumer configuration.

    Returned with Kafka's own names and string values because that is the vocabulary of
    the user's ``additionalProperties`` and of the debug output; :func:`to_kafka_python`
    does the translation. ``name`` identifies the inbound connector for the consumer's
    default ``group.id``.
    """
    check_role(role)
    if not isinstance(request, Mapping):
        raise ConnectorInputError("the request must be a JSON object")

    properties: dict[str, str] = {}
    # 1. From the input: authentication, bootstrap servers, serializer names.
    properties.update(_authentication_properties(request.get("authentication")))
    servers = _input_bootstrap_servers(request)
    if servers is not None:
        properties["bootstrap.servers"] = servers
    properties.update(_serializer_properties(request, role))
    # 2. Defaults.
    properties.update(defaults(role, name))
    # 3. additionalProperties override anything.
    properties.update(_additional_properties(request.get("additionalProperties")))

    if not properties.get("bootstrap.servers", "").strip():
        raise ConnectorInputError(
            "'topic.bootstrapServers' is required: the Kafka bootstrap server(s), e.g. 'b-1:9092,b-2:9092'"
        )
    register_secrets(properties)
    return properties


def _authentication_properties(authentication: object) -> dict[str, str]:
    """Security properties for ``authentication``, with its server root CA if it names one.

    ``serverRootCaSecret`` (any type) adds the PEM truststore of a
    ``SERVER_ROOT_CA_CERTIFICATE``-shaped secret (:func:`.credentials.root_ca_properties`).
    """
    if authentication is None:
        return {}
    if not isinstance(authentication, Mapping):
        raise ConnectorInputError(
            "'authentication' must be an object: {username, password}, {type: 'iam'}"
            " or {type: 'mtls', secret}"
        )
    return {**_security_properties(authentication), **root_ca_properties(authentication)}


def _security_properties(authentication: Mapping[str, Any]) -> dict[str, str]:
    """SASL properties for ``{"username", "password"}`` or ``{"type": "iam"}``; TLS ones for mTLS.

    Like the reference connector, username/password configure SASL/PLAIN only when both
    are given; neither means "configure security yourself in additionalProperties"; one
    without the other is almost certainly a broken secret reference, so it is an error.
    ``{"type": "mtls", "secret": …}`` reads a client certificate secret
    (:func:`.credentials.client_certificate_properties`).
    """
    kind = authentication.get("type")
    if kind is not None and not isinstance(kind, str):
        raise ConnectorInputError("'authentication.type' must be a string: 'credentials', 'iam' or 'mtls'")
    kind = (kind or "").strip().lower()
    if kind == "iam":
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": AWS_MSK_IAM,
            "sasl.jaas.config": f"{IAM_LOGIN_MODULE} required;",
            "sasl.client.callback.handler.class": IAM_CALLBACK_HANDLER,
        }
    if kind == "mtls":
        return client_certificate_properties(authentication)
    if kind not in {"", "credentials"}:
        raise ConnectorInputError(
            f"'authentication.type' must be 'credentials', 'iam' or 'mtls', not {redaction.shown(kind, 50)}",
        )

    username = _optional_string(authentication, "username")
    password = _optional_string(authentication, "password")
    # Both halves of the credential are masked (the debug output masks the JAAS text holding them).
    redaction.register([username, password])
    if not username and not password:
        return {}
    if not username:
        raise ConnectorInputError(
            "'authentication.username' is required when 'authentication.password' is set",
        )
    if not password:
        raise ConnectorInputError(
            "'authentication.password' is required when 'authentication.username' is set",
        )
    jaas = (
        f"{PLAIN_LOGIN_MODULE}   required"
        f" username={_jaas_quote(username)}   password={_jaas_quote(password)};"
    )
    return {"sasl.jaas.config": jaas, "security.protocol": "SASL_SSL", "sasl.mechanism": PLAIN}


def _optional_string(authentication: Mapping[str, Any], field: str) -> str | None:
    """A credential field; blank counts as absent (an unset secret often resolves to "")."""
    value = authentication.get(field)
    if value is not None and not isinstance(value, str):
        raise ConnectorInputError(f"'authentication.{field}' must be a string")
    return value if value and value.strip() else None


def _jaas_quote(value: str) -> str:
    """Quote a JAAS option value the way Java's JAAS tokenizer reads it back.

    Ordinary credentials come out unchanged (``'value'``); a quote or backslash inside
    is escaped so a password such as ``it's`` cannot break, or inject into, the config.
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _input_bootstrap_servers(request: Mapping[str, Any]) -> str | None:
    """``topic.bootstrapServers`` (producer payload) or top-level ``bootstrapServers``, normalised."""
    topic = request.get("topic")
    if isinstance(topic, Mapping) and topic.get("bootstrapServers") is not None:
        field, value = "topic.bootstrapServers", topic["bootstrapServers"]
    elif request.get("bootstrapServers") is not None:
        field, value = "bootstrapServers", request["bootstrapServers"]
    else:
        return None
    if isinstance(value, str):
        entries = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        entries = [part for item in value for part in item.split(",")]
    else:
        raise ConnectorInputError(
            f"'{field}' must be a string 'host:port,host:port' or a list of 'host:port'"
        )
    entries = [entry.strip() for entry in entries if entry.strip()]
    if not entries:
        return None
    try:
        server_list(",".join(entries))
    except BadValue as bad:
        raise ConnectorInputError(f"'{field}' {bad.reason}") from None
    return ",".join(entries)


def _serializer_properties(request: Mapping[str, Any], role: Role) -> dict[str, str]:
    """The Java serializer class names the reference connector reports (kafka-python ignores them)."""
    serialization = SerializationType.parse(
        request.get("serializationType") or SerializationType.JSON, "serializationType"
    )
    if role == "consumer":
        return {"key.deserializer": STRING_DESERIALIZER, "value.deserializer": STRING_DESERIALIZER}
    value_serializer = BYTE_ARRAY_SERIALIZER if serialization is SerializationType.AVRO else STRING_SERIALIZER
    return {"key.serializer": STRING_SERIALIZER, "value.serializer": value_serializer}


def _additional_properties(additional: object) -> dict[str, str]:
    """``additionalProperties`` as Kafka property strings (JSON scalars written the Java way)."""
    if additional is None:
        return {}
    if not isinstance(additional, Mapping):
        raise ConnectorInputError(
            "'additionalProperties' must be an object of Kafka client property names to values",
        )
    result: dict[str, str] = {}
    for key, value in additional.items():
        if not isinstance(key, str) or not key.strip():
            raise ConnectorInputError("'additionalProperties' has an empty property name")
        if isinstance(value, list):
            texts = [_scalar_text(item) for item in value]
            if any(text is None for text in texts):
                raise ConnectorInputError(
                    f"'additionalProperties.{key}' must be a list of strings, numbers or booleans"
                )
            result[key] = ",".join(text for text in texts if text is not None)
            continue
        text = _scalar_text(value)
        if text is None:
            raise ConnectorInputError(
                f"'additionalProperties.{key}' must be a string, number, boolean or a list of those",
            )
        result[key] = text
    return result


def _scalar_text(value: object) -> str | None:
    """A JSON scalar as Kafka would read it from a properties file; ``None`` if not a scalar."""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # JSON numbers may arrive as 45000.0 (e.g. computed in a workflow); Kafka wants 45000.
        return str(int(value)) if math.isfinite(value) and value.is_integer() else str(value)
    if isinstance(value, str):
        return value
    return None
