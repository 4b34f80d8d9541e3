"""Kafka client properties: resolve them like the reference connector, then hand them to kafka-python.

Users of the reference connector think in Kafka's own property names (``linger.ms``,
``sasl.jaas.config``, ``ssl.truststore.certificates``): those are what they type into
``additionalProperties`` and what they expect to see in the debug output. So the
connector works in two steps:

1. :func:`resolve_client_properties` builds the effective property set with Kafka's
   names and string values, in the reference connector's precedence (SPEC §3): input
   (authentication, bootstrap servers, serializers), then defaults, then
   ``additionalProperties`` overriding anything.
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

import logging
import math
import os
import re
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from kafka import codec
from kafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError

__all__ = ["Role", "ignored_properties", "resolve_client_properties", "to_kafka_python"]

log = logging.getLogger(__name__)

Role = Literal["producer", "consumer"]
_ROLES: Final = frozenset(get_args(Role))
_BOTH: Final = frozenset({"producer", "consumer"})
_PRODUCER: Final = frozenset({"producer"})
_CONSUMER: Final = frozenset({"consumer"})

STRING_SERIALIZER: Final = "org.apache.kafka.common.serialization.StringSerializer"
BYTE_ARRAY_SERIALIZER: Final = "org.apache.kafka.common.serialization.ByteArraySerializer"
STRING_DESERIALIZER: Final = "org.apache.kafka.common.serialization.StringDeserializer"
PLAIN_LOGIN_MODULE: Final = "org.apache.kafka.common.security.plain.PlainLoginModule"
IAM_LOGIN_MODULE: Final = "software.amazon.msk.auth.iam.IAMLoginModule"
IAM_CALLBACK_HANDLER: Final = "software.amazon.msk.auth.iam.IAMClientCallbackHandler"

_PLAIN: Final = "PLAIN"
_SCRAM_256: Final = "SCRAM-SHA-256"
_SCRAM_512: Final = "SCRAM-SHA-512"
_AWS_MSK_IAM: Final = "AWS_MSK_IAM"
_CREDENTIAL_MECHANISMS: Final = frozenset({_PLAIN, _SCRAM_256, _SCRAM_512})

_DOCS: Final = "Kafka client properties: https://kafka.apache.org/documentation/#{role}configs"


def _defaults(role: Role, name: str) -> dict[str, str]:
    """The reference connector's "miscellaneous properties" (step 2 of the precedence)."""
    common = {"session.timeout.ms": "45000", "client.dns.lookup": "use_all_dns_ips"}
    if role == "producer":
        return {**common, "acks": "all", "delivery.timeout.ms": "45000"}
    return {
        **common,
        "enable.auto.commit": "false",
        "group.id": f"kafka-inbound-connector-{name}",
        "auto.offset.reset": "latest",
    }


# --------------------------------------------------------------------------------------
# Step 1 + 2 + 3: the effective property set, Kafka's names, string values
# --------------------------------------------------------------------------------------


def resolve_client_properties(
    request: Mapping[str, Any], *, role: Role, name: str = "default"
) -> dict[str, str]:
    """The effective Kafka client properties for a producer event or consumer configuration.

    Returned with Kafka's own names and string values because that is the vocabulary of
    the user's ``additionalProperties`` and of the debug output; :func:`to_kafka_python`
    does the translation. ``name`` identifies the inbound connector for the consumer's
    default ``group.id``.
    """
    _check_role(role)
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
    properties.update(_defaults(role, name))
    # 3. additionalProperties override anything.
    properties.update(_additional_properties(request.get("additionalProperties")))

    if not properties.get("bootstrap.servers", "").strip():
        raise ConnectorInputError(
            "'topic.bootstrapServers' is required: the Kafka bootstrap server(s), e.g. 'b-1:9092,b-2:9092'"
        )
    _register_secrets(properties)
    return properties


def _authentication_properties(authentication: object) -> dict[str, str]:
    """SASL properties for ``{"username", "password"}`` or ``{"type": "iam"}``.

    Like the reference connector, username/password configure SASL/PLAIN only when both
    are given; neither means "configure security yourself in additionalProperties"; one
    without the other is almost certainly a broken secret reference, so it is an error.
    """
    if authentication is None:
        return {}
    if not isinstance(authentication, Mapping):
        raise ConnectorInputError("'authentication' must be an object: {username, password} or {type: 'iam'}")
    kind = authentication.get("type")
    if kind is not None and not isinstance(kind, str):
        raise ConnectorInputError("'authentication.type' must be a string: 'credentials' or 'iam'")
    kind = (kind or "").strip().lower()
    if kind == "iam":
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": _AWS_MSK_IAM,
            "sasl.jaas.config": f"{IAM_LOGIN_MODULE} required;",
            "sasl.client.callback.handler.class": IAM_CALLBACK_HANDLER,
        }
    if kind not in {"", "credentials"}:
        raise ConnectorInputError(
            f"'authentication.type' must be 'credentials' or 'iam', not {kind[:50]!r}",
        )

    username = _optional_string(authentication, "username")
    password = _optional_string(authentication, "password")
    redaction.register([password])
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
    return {"sasl.jaas.config": jaas, "security.protocol": "SASL_SSL", "sasl.mechanism": _PLAIN}


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
        _server_list(",".join(entries))
    except _BadValue as bad:
        raise ConnectorInputError(f"'{field}' {bad.reason}") from None
    return ",".join(entries)


def _serializer_properties(request: Mapping[str, Any], role: Role) -> dict[str, str]:
    """The Java serializer class names the reference connector reports (kafka-python ignores them)."""
    serialization = request.get("serializationType")
    if serialization is None:
        serialization = "json"
    if not isinstance(serialization, str) or serialization.strip().lower() not in {"json", "avro"}:
        raise ConnectorInputError("'serializationType' must be 'json' or 'avro'")
    if role == "consumer":
        return {"key.deserializer": STRING_DESERIALIZER, "value.deserializer": STRING_DESERIALIZER}
    value_serializer = BYTE_ARRAY_SERIALIZER if serialization.strip().lower() == "avro" else STRING_SERIALIZER
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


# --------------------------------------------------------------------------------------
# The mapping table: Kafka property → kafka-python keyword argument
# --------------------------------------------------------------------------------------


class _BadValue(Exception):
    """A converter's complaint, phrased to follow "additional property 'x' …"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Rule:
    kwarg: str  # key of KafkaProducer/KafkaConsumer.DEFAULT_CONFIG
    convert: Callable[[str], Any]
    roles: frozenset[str]


_INTEGER = re.compile(r"[+-]?\d+")


def _integer(minimum: int = 0) -> Callable[[str], int]:
    def convert(text: str) -> int:
        if not _INTEGER.fullmatch(text.strip()):
            raise _BadValue("must be an integer")
        number = int(text)
        if number < minimum:
            raise _BadValue(f"must be an integer >= {minimum}")
        return number

    return convert


def _buffer_bytes(text: str) -> int | None:
    """Socket buffer sizes: Kafka's ``-1`` ("use the OS default") is kafka-python's ``None``."""
    number = _integer(minimum=-1)(text)
    return None if number == -1 else number


def _boolean(text: str) -> bool:
    folded = text.strip().lower()
    if folded not in {"true", "false"}:
        raise _BadValue("must be true or false")
    return folded == "true"


def _text(text: str) -> str:
    return text


def _optional_text(text: str) -> str | None:
    """Kafka's "null" default for ids such as ``transactional.id`` is an empty value."""
    return text if text.strip() else None


def _choice(options: Mapping[str, Any], fold: Callable[[str], str] = str.lower) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        folded = fold(text.strip())
        if folded not in options:
            raise _BadValue("must be one of " + ", ".join(repr(option) for option in options))
        return options[folded]

    return convert


_ACKS: Final = _choice({"all": -1, "-1": -1, "0": 0, "1": 1})
_SECURITY_PROTOCOL: Final = _choice(
    {p: p for p in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")}, fold=str.upper
)
# OAUTHBEARER is left out on purpose: kafka-python needs a token provider object that no
# Kafka property can describe, so accepting it would only fail later at connection time.
_SASL_MECHANISM: Final = _choice(
    {m: m for m in (_PLAIN, _SCRAM_256, _SCRAM_512, _AWS_MSK_IAM, "GSSAPI")}, fold=str.upper
)
_CODECS: Final[dict[str, Callable[[], bool]]] = {
    "gzip": codec.has_gzip,
    "snappy": codec.has_snappy,
    "lz4": codec.has_lz4,
    "zstd": codec.has_zstd,
}


def _compression(text: str) -> str | None:
    """``none`` is ``None``; a codec whose Python library is missing fails now, not at first send."""
    name = _choice({"none": None, **{c: c for c in _CODECS}})(text)
    if name is not None and not _CODECS[name]():
        raise _BadValue(f"is {name!r}, but the Python library for {name} is not installed")
    return name


_SERVER = re.compile(r"(?:[A-Za-z_]+://)?((?:\[[0-9A-Fa-f:.]+\]|[^\s\[\]/:,]+):\d{1,5})")


def _server_list(text: str) -> list[str]:
    """``bootstrap.servers`` as kafka-python's list of ``host:port`` (a ``SASL_SSL://`` prefix is dropped)."""
    servers = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        match = _SERVER.fullmatch(entry)
        if match is None:
            raise _BadValue("must be a comma-separated list of host:port")
        servers.append(match.group(1))
    if not servers:
        raise _BadValue("must name at least one host:port")
    return servers


def _hostname_check(text: str) -> bool:
    """``ssl.endpoint.identification.algorithm``: ``https`` verifies the host name, empty does not."""
    folded = text.strip().lower()
    if folded not in {"", "https"}:
        raise _BadValue("must be 'https' or empty")
    return folded == "https"


def _openssl_cipher_name(name: str) -> str:
    """A Java/IANA suite name (``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``) as OpenSSL spells it."""
    if not name.startswith("TLS_") or "_WITH_" not in name:
        return name  # already an OpenSSL name
    exchange, _, cipher = name[4:].partition("_WITH_")
    cipher = cipher.replace("AES_128", "AES128").replace("AES_256", "AES256").replace("_CBC", "")
    cipher = cipher.replace("CHACHA20_POLY1305_SHA256", "CHACHA20_POLY1305").replace("_", "-")
    return cipher if exchange == "RSA" else f"{exchange.replace('_', '-')}-{cipher}"


def _cipher_suites(text: str) -> str | None:
    """``ssl.cipher.suites`` (comma-separated Java names) as an OpenSSL cipher string.

    TLS 1.3 suites (``TLS_AES_128_GCM_SHA256``) are dropped: OpenSSL always offers them
    and Python cannot restrict them. A list OpenSSL cannot use at all fails here.
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    tls12 = [_openssl_cipher_name(n) for n in names if not (n.startswith("TLS_") and "_WITH_" not in n)]
    if not tls12:
        return None
    ciphers = ":".join(tls12)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(ciphers)
    except ssl.SSLError:
        raise _BadValue("names no cipher suite that this Python's OpenSSL supports") from None
    return ciphers


_ASSIGNORS: Final[dict[str, type[AbstractPartitionAssignor]]] = {
    "rangeassignor": RangePartitionAssignor,
    "range": RangePartitionAssignor,
    "roundrobinassignor": RoundRobinPartitionAssignor,
    "roundrobin": RoundRobinPartitionAssignor,
    "stickyassignor": StickyPartitionAssignor,
    "sticky": StickyPartitionAssignor,
    "cooperativestickyassignor": CooperativeStickyAssignor,
    "cooperative-sticky": CooperativeStickyAssignor,
}
_JAVA_ASSIGNOR_PACKAGE: Final = "org.apache.kafka.clients.consumer."


def _assignors(text: str) -> tuple[type[AbstractPartitionAssignor], ...]:
    """Java assignor class names (or kafka-python's short names) as kafka-python assignor classes.

    Java's own default, ``RangeAssignor,CooperativeStickyAssignor``, runs the EAGER protocol
    (the one every listed assignor supports). kafka-python refuses such a mix outright,
    so the cooperative entry is dropped to get Java's effective behaviour.
    """
    chosen: list[type[AbstractPartitionAssignor]] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        package, _, simple = entry.rpartition(".")
        assignor = _ASSIGNORS.get(simple.lower()) if package + "." in {".", _JAVA_ASSIGNOR_PACKAGE} else None
        if assignor is None:
            raise _BadValue(
                "must list assignors kafka-python has: RangeAssignor, RoundRobinAssignor, "
                "StickyAssignor, CooperativeStickyAssignor"
            )
        if assignor not in chosen:
            chosen.append(assignor)
    if not chosen:
        raise _BadValue("must name at least one assignor")
    eager = [a for a in chosen if a is not CooperativeStickyAssignor]
    return tuple(eager or chosen)


# One row per Kafka producer/consumer property that kafka-python can honour. ``roles``
# are the roles whose kafka-python client accepts the keyword (e.g. ``session.timeout.ms``
# is consumer-only there, although the reference connector also sets it for producers).
_TABLE: Final[dict[str, _Rule]] = {
    # Both roles: connection, metadata, security.
    "bootstrap.servers": _Rule("bootstrap_servers", _server_list, _BOTH),
    "client.id": _Rule("client_id", _text, _BOTH),
    "client.dns.lookup": _Rule(
        "client_dns_lookup",
        _choice({m: m for m in ("use_all_dns_ips", "resolve_canonical_bootstrap_servers_only")}),
        _BOTH,
    ),
    "connections.max.idle.ms": _Rule("connections_max_idle_ms", _integer(), _BOTH),
    "metadata.max.age.ms": _Rule("metadata_max_age_ms", _integer(), _BOTH),
    "request.timeout.ms": _Rule("request_timeout_ms", _integer(), _BOTH),
    "retry.backoff.ms": _Rule("retry_backoff_ms", _integer(), _BOTH),
    "reconnect.backoff.ms": _Rule("reconnect_backoff_ms", _integer(), _BOTH),
    "reconnect.backoff.max.ms": _Rule("reconnect_backoff_max_ms", _integer(), _BOTH),
    "receive.buffer.bytes": _Rule("receive_buffer_bytes", _buffer_bytes, _BOTH),
    "send.buffer.bytes": _Rule("send_buffer_bytes", _buffer_bytes, _BOTH),
    "max.in.flight.requests.per.connection": _Rule(
        "max_in_flight_requests_per_connection", _integer(minimum=1), _BOTH
    ),
    "allow.auto.create.topics": _Rule("allow_auto_create_topics", _boolean, _BOTH),
    "metrics.num.samples": _Rule("metrics_num_samples", _integer(minimum=1), _BOTH),
    "metrics.sample.window.ms": _Rule("metrics_sample_window_ms", _integer(minimum=1), _BOTH),
    "security.protocol": _Rule("security_protocol", _SECURITY_PROTOCOL, _BOTH),
    "sasl.mechanism": _Rule("sasl_mechanism", _SASL_MECHANISM, _BOTH),
    "sasl.kerberos.service.name": _Rule("sasl_kerberos_service_name", _text, _BOTH),
    "ssl.endpoint.identification.algorithm": _Rule("ssl_check_hostname", _hostname_check, _BOTH),
    "ssl.cipher.suites": _Rule("ssl_ciphers", _cipher_suites, _BOTH),
    # Producer.
    "acks": _Rule("acks", _ACKS, _PRODUCER),
    "batch.size": _Rule("batch_size", _integer(), _PRODUCER),
    "linger.ms": _Rule("linger_ms", _integer(), _PRODUCER),
    "compression.type": _Rule("compression_type", _compression, _PRODUCER),
    "delivery.timeout.ms": _Rule("delivery_timeout_ms", _integer(minimum=1), _PRODUCER),
    "enable.idempotence": _Rule("enable_idempotence", _boolean, _PRODUCER),
    "max.block.ms": _Rule("max_block_ms", _integer(), _PRODUCER),
    "max.request.size": _Rule("max_request_size", _integer(minimum=1), _PRODUCER),
    "retries": _Rule("retries", _integer(), _PRODUCER),
    "transactional.id": _Rule("transactional_id", _optional_text, _PRODUCER),
    "transaction.timeout.ms": _Rule("transaction_timeout_ms", _integer(minimum=1), _PRODUCER),
    # Consumer.
    "group.id": _Rule("group_id", _optional_text, _CONSUMER),
    "group.instance.id": _Rule("group_instance_id", _optional_text, _CONSUMER),
    "client.rack": _Rule("client_rack", _text, _CONSUMER),
    "auto.offset.reset": _Rule(
        "auto_offset_reset", _choice({m: m for m in ("earliest", "latest", "none")}), _CONSUMER
    ),
    "enable.auto.commit": _Rule("enable_auto_commit", _boolean, _CONSUMER),
    "auto.commit.interval.ms": _Rule("auto_commit_interval_ms", _integer(), _CONSUMER),
    "fetch.min.bytes": _Rule("fetch_min_bytes", _integer(), _CONSUMER),
    "fetch.max.wait.ms": _Rule("fetch_max_wait_ms", _integer(), _CONSUMER),
    "fetch.max.bytes": _Rule("fetch_max_bytes", _integer(), _CONSUMER),
    "max.partition.fetch.bytes": _Rule("max_partition_fetch_bytes", _integer(), _CONSUMER),
    "max.poll.records": _Rule("max_poll_records", _integer(minimum=1), _CONSUMER),
    "max.poll.interval.ms": _Rule("max_poll_interval_ms", _integer(minimum=1), _CONSUMER),
    "session.timeout.ms": _Rule("session_timeout_ms", _integer(minimum=1), _CONSUMER),
    "heartbeat.interval.ms": _Rule("heartbeat_interval_ms", _integer(minimum=1), _CONSUMER),
    "check.crcs": _Rule("check_crcs", _boolean, _CONSUMER),
    "isolation.level": _Rule(
        "isolation_level", _choice({m: m for m in ("read_uncommitted", "read_committed")}), _CONSUMER
    ),
    "exclude.internal.topics": _Rule("exclude_internal_topics", _boolean, _CONSUMER),
    "partition.assignment.strategy": _Rule("partition_assignment_strategy", _assignors, _CONSUMER),
}

# Handled by the composite steps below rather than by a table row.
_SASL_PROPERTIES: Final = frozenset({"sasl.jaas.config"})
_TRUSTSTORE_PROPERTIES: Final = frozenset(
    {
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.certificates",
        "ssl.truststore.password",
    }
)
_KEYSTORE_PROPERTIES: Final = frozenset(
    {
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.key",
        "ssl.keystore.password",
        "ssl.key.password",
    }
)

# Real Kafka client properties that only the Java client (or a Java serializer) can use.
# They are ignored quietly: they are not typos, and the reference connector sets some itself.
_JVM_ONLY: Final = frozenset(
    {
        "key.serializer",
        "value.serializer",
        "key.deserializer",
        "value.deserializer",
        "buffer.memory",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.zstd.level",
        "partitioner.class",
        "partitioner.ignore.keys",
        "partitioner.adaptive.partitioning.enable",
        "partitioner.availability.timeout.ms",
        "interceptor.classes",
        "sasl.client.callback.handler.class",
        "sasl.login.callback.handler.class",
        "sasl.login.class",
        "socket.connection.setup.timeout.ms",
        "socket.connection.setup.timeout.max.ms",
        "ssl.protocol",
        "ssl.enabled.protocols",
        "ssl.provider",
        "ssl.keymanager.algorithm",
        "ssl.trustmanager.algorithm",
        "ssl.secure.random.implementation",
        "ssl.engine.factory.class",
        "security.providers",
        "auto.include.jmx.reporter",
        "enable.metrics.push",
        "metadata.max.idle.ms",
        "metadata.recovery.strategy",
        "metadata.recovery.rebootstrap.trigger.ms",
        "metric.reporters",
        "metrics.recording.level",
        "retry.backoff.max.ms",
        "default.api.timeout.ms",
        "group.protocol",
        "group.remote.assignor",
        "sasl.kerberos.kinit.cmd",
        "sasl.kerberos.min.time.before.relogin",
        "sasl.kerberos.ticket.renew.jitter",
        "sasl.kerberos.ticket.renew.window.factor",
        # Serializer (schema registry) settings users often copy along with producer configs.
        "basic.auth.credentials.source",
        "basic.auth.user.info",
        "auto.register.schemas",
        "use.latest.version",
        "specific.avro.reader",
    }
)
_JVM_ONLY_PREFIXES: Final = ("sasl.login.", "sasl.oauthbearer.", "schema.registry.")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(key: str, message: str, *args: object) -> None:
    """Log ``message`` the first time ``key`` is seen in this process (warm Lambdas log it once)."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning(message, *args)


def _is_known(key: str) -> bool:
    return (
        key in _TABLE
        or key in _SASL_PROPERTIES
        or key in _TRUSTSTORE_PROPERTIES
        or key in _KEYSTORE_PROPERTIES
        or key in _JVM_ONLY
        or key.startswith(_JVM_ONLY_PREFIXES)
    )


# --------------------------------------------------------------------------------------
# Step 4: kafka-python keyword arguments
# --------------------------------------------------------------------------------------


def to_kafka_python(props: Mapping[str, str], *, role: Role) -> dict[str, Any]:
    """Keyword arguments for ``kafka.KafkaProducer`` (producer) or ``kafka.KafkaConsumer`` (consumer).

    Every key returned is in that class's ``DEFAULT_CONFIG``. Properties kafka-python
    cannot use are left out (see :func:`ignored_properties`); a known property with a
    value of the wrong type raises :class:`ConnectorInputError` naming it. The result
    may hold a fresh ``ssl.SSLContext``, so cache clients by ``props``, not by this dict.
    """
    _check_role(role)
    _register_secrets(props)
    _warn_about_unusable(props)
    kwargs: dict[str, Any] = {}
    for key, value in props.items():
        rule = _TABLE.get(key)
        if rule is None or role not in rule.roles:
            continue
        try:
            kwargs[rule.kwarg] = rule.convert(str(value))
        except _BadValue as bad:
            shown = str(value)
            got = f" (got {shown[:60]!r}{'…' if len(shown) > 60 else ''})"
            raise ConnectorInputError(
                f"additional property '{key}' {bad.reason}{got}", _DOCS.format(role=role)
            ) from None
    if role == "producer":
        _check_idempotence(kwargs)
    kwargs.update(_sasl_kwargs(props, kwargs))
    kwargs.update(_tls_kwargs(props, kwargs))
    return kwargs


def _check_idempotence(kwargs: Mapping[str, Any]) -> None:
    """Reject what Java rejects: an explicitly idempotent producer that cannot be idempotent.

    kafka-python raises the same conflicts only after it has bootstrapped, as a
    configuration error that would look like a broker failure. Leaving
    ``enable.idempotence`` unset with ``acks=1`` is fine: both clients then quietly
    turn idempotence off.
    """
    idempotent = kwargs.get("enable_idempotence")
    if idempotent is False and kwargs.get("transactional_id"):
        raise ConnectorInputError(
            "additional property 'transactional.id' needs enable.idempotence=true",
        )
    if idempotent is not True and not kwargs.get("transactional_id"):
        return
    conflicts = [
        name
        for name, conflicting in (
            ("acks", kwargs.get("acks", -1) != -1),
            ("retries", kwargs.get("retries") == 0),
            (
                "max.in.flight.requests.per.connection",
                kwargs.get("max_in_flight_requests_per_connection", 5) > 5,
            ),
        )
        if conflicting
    ]
    if conflicts:
        raise ConnectorInputError(
            f"additional property '{conflicts[0]}' conflicts with an idempotent/transactional producer",
            "Idempotence needs acks=all, retries > 0 and max.in.flight.requests.per.connection <= 5.",
        )


def ignored_properties(props: Mapping[str, str], *, role: Role) -> list[str]:
    """The properties in ``props`` that have no effect on the kafka-python client, sorted.

    These are shown in the debug output so a user can see that, say, ``buffer.memory``
    or a JKS truststore was accepted but not applied.
    """
    _check_role(role)
    _warn_about_unusable(props)
    return sorted(key for key in props if not _is_applied(key, props, role))


def _is_applied(key: str, props: Mapping[str, str], role: Role) -> bool:
    rule = _TABLE.get(key)
    if rule is not None:
        return role in rule.roles
    if key in _SASL_PROPERTIES:
        return True
    if key in {"ssl.truststore.type", "ssl.truststore.location"}:
        return _store_type(props, "ssl.truststore.type") == "PEM"
    if key in {"ssl.keystore.type", "ssl.keystore.location"}:
        return _store_type(props, "ssl.keystore.type") == "PEM"
    if key in {"ssl.truststore.certificates", "ssl.keystore.certificate.chain", "ssl.keystore.key"}:
        return True
    if key == "ssl.key.password":
        return _keystore_present(props)
    # ssl.truststore.password / ssl.keystore.password (not used with PEM), JVM-only, unknown.
    return False


def _warn_about_unusable(props: Mapping[str, str]) -> None:
    """Warn (once per name) about unknown properties and Java key stores, never about values."""
    for key in props:
        if not _is_known(key):
            _warn_once(
                f"unknown:{key}",
                "Kafka client property %r is not known to the connector and is ignored",
                redaction.redact(key),
            )
    for store in ("ssl.truststore", "ssl.keystore"):
        kind = _store_type(props, f"{store}.type")
        if props.get(f"{store}.location", "").strip() and kind != "PEM":
            _warn_once(
                f"store:{store}:{kind}",
                "%s.location of type %s cannot be read by kafka-python and is ignored; use %s.type=PEM",
                store,
                kind[:20],
                store,
            )


def _check_role(role: str) -> None:
    if role not in _ROLES:
        raise ValueError(f"role must be 'producer' or 'consumer', not {role!r}")


# --------------------------------------------------------------------------------------
# SASL: sasl.jaas.config → mechanism, username, password
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LoginModule:
    module: str
    flag: str
    options: dict[str, str]

    @property
    def simple_name(self) -> str:
        return self.module.rpartition(".")[2]


_JAAS_SPACE = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.DOTALL)
_JAAS_WORD = re.compile(r"[A-Za-z_$][\w$.\-]*")
_JAAS_KEY = re.compile(r"[\w$.\-]+")
_JAAS_BARE_VALUE = re.compile(r"[\w$.\-:/@+]+")
_JAAS_FLAGS: Final = frozenset({"required", "requisite", "sufficient", "optional"})
_JAAS_ESCAPES: Final = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_JAAS_EXPECTED: Final = (
    "Expected one login module: <LoginModule class> required username='...' password='...';"
)


class _JaasSyntaxError(Exception):
    pass


def _parse_jaas(text: str) -> _LoginModule:
    """Parse the one login module of a ``sasl.jaas.config`` value, as Kafka's JaasConfig does.

    ``<class> <flag> (<key>=<value>)* [;]`` with values quoted by ``'`` or ``"`` (backslash
    escapes as in Java's tokenizer) or bare words, and Java-style comments.
    """

    def skip(pos: int) -> int:
        match = _JAAS_SPACE.match(text, pos)
        return match.end() if match else pos

    def expect(pattern: re.Pattern[str], pos: int) -> tuple[str, int]:
        match = pattern.match(text, pos)
        if match is None:
            raise _JaasSyntaxError
        return match.group(), match.end()

    pos = skip(0)
    module, pos = expect(_JAAS_WORD, pos)
    pos = skip(pos)
    flag, pos = expect(_JAAS_WORD, pos)
    if flag.lower() not in _JAAS_FLAGS:
        raise _JaasSyntaxError
    options: dict[str, str] = {}
    while True:
        pos = skip(pos)
        if pos == len(text):
            break
        if text[pos] == ";":
            if skip(pos + 1) != len(text):  # exactly one login module, nothing after it
                raise _JaasSyntaxError
            break
        key, pos = expect(_JAAS_KEY, pos)
        pos = skip(pos)
        if text[pos : pos + 1] != "=":
            raise _JaasSyntaxError
        pos = skip(pos + 1)
        if text[pos : pos + 1] in {"'", '"'}:
            options[key], pos = _jaas_quoted(text, pos)
        else:
            options[key], pos = expect(_JAAS_BARE_VALUE, pos)
    return _LoginModule(module, flag.lower(), options)


def _jaas_quoted(text: str, pos: int) -> tuple[str, int]:
    quote, pos, chars = text[pos], pos + 1, []
    while pos < len(text):
        char = text[pos]
        if char == quote:
            return "".join(chars), pos + 1
        if char == "\\" and pos + 1 < len(text):
            pos += 1
            char = _JAAS_ESCAPES.get(text[pos], text[pos])
        chars.append(char)
        pos += 1
    raise _JaasSyntaxError  # unterminated


def _jaas_error(reason: str) -> ConnectorInputError:
    # Never quote the value: it holds the password.
    return ConnectorInputError(f"additional property 'sasl.jaas.config' {reason}", _JAAS_EXPECTED)


def _sasl_kwargs(props: Mapping[str, str], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Mechanism and credentials from ``sasl.jaas.config`` + ``sasl.mechanism``.

    Java lets Plain and Scram login modules serve PLAIN and both SCRAM mechanisms alike
    (the module only holds the credentials), which is exactly what the reference
    example relies on: a PlainLoginModule config with ``sasl.mechanism=SCRAM-SHA-256``.
    """
    protocol = kwargs.get("security_protocol", "PLAINTEXT")
    mechanism: str | None = kwargs.get("sasl_mechanism")
    jaas = props.get("sasl.jaas.config", "")
    result: dict[str, Any] = {}
    if jaas.strip():
        try:
            login = _parse_jaas(jaas)
        except _JaasSyntaxError:
            raise _jaas_error("could not be parsed") from None
        if login.simple_name == "IAMLoginModule":
            if mechanism not in {None, _AWS_MSK_IAM}:
                raise ConnectorInputError(
                    "additional property 'sasl.mechanism' must be AWS_MSK_IAM with IAMLoginModule,"
                    f" not {mechanism}",
                )
            mechanism = _AWS_MSK_IAM
            if login.options:
                _warn_once(
                    "iam-options",
                    "IAMLoginModule options %s are not supported; the function's own AWS credentials"
                    " are used",
                    sorted(login.options),
                )
        elif login.simple_name in {"PlainLoginModule", "ScramLoginModule"}:
            username, password = login.options.get("username"), login.options.get("password")
            if not username or password is None:
                raise _jaas_error(f"needs both username and password options for {login.simple_name}")
            redaction.register([password])
            if mechanism is None:
                if login.simple_name == "ScramLoginModule":
                    raise ConnectorInputError(
                        "additional property 'sasl.mechanism' must be SCRAM-SHA-256 or SCRAM-SHA-512 "
                        "with ScramLoginModule",
                    )
                mechanism = _PLAIN
            elif mechanism not in _CREDENTIAL_MECHANISMS:
                raise ConnectorInputError(
                    f"additional property 'sasl.mechanism' {mechanism} does not use the username and "
                    f"password of {login.simple_name}; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                )
            result["sasl_plain_username"] = username
            result["sasl_plain_password"] = password
        else:
            raise _jaas_error(
                "uses a login module this connector cannot use; supported: PlainLoginModule, "
                "ScramLoginModule, IAMLoginModule"
            )
        result["sasl_mechanism"] = mechanism
    elif protocol.startswith("SASL_"):
        if mechanism is None:
            raise ConnectorInputError(
                f"additional property 'sasl.mechanism' is required with security.protocol={protocol}",
            )
        if mechanism in _CREDENTIAL_MECHANISMS:
            raise _jaas_error(f"is required for sasl.mechanism={mechanism} (or set authentication)")
    if mechanism == _AWS_MSK_IAM and protocol == "SASL_PLAINTEXT":
        raise ConnectorInputError("additional property 'security.protocol' must be SASL_SSL for AWS_MSK_IAM")
    return result


# --------------------------------------------------------------------------------------
# TLS: PEM trust and key material → ssl.SSLContext
# --------------------------------------------------------------------------------------


def _store_type(props: Mapping[str, str], key: str) -> str:
    """A key/trust store's type; Kafka's default is JKS, which Python cannot read."""
    return (props.get(key) or "JKS").strip().upper() or "JKS"


def _keystore_present(props: Mapping[str, str]) -> bool:
    return bool(
        props.get("ssl.keystore.certificate.chain", "").strip()
        or props.get("ssl.keystore.key", "").strip()
        or (
            _store_type(props, "ssl.keystore.type") == "PEM"
            and props.get("ssl.keystore.location", "").strip()
        )
    )


def _tls_kwargs(props: Mapping[str, str], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """An ``ssl_context`` built from PEM material, when there is any.

    kafka-python only takes file names, and silently ignores ``ssl_ciphers`` (3.0.12), so
    the connector builds the context itself: inline PEM text never has to touch disk
    except the client key pair, which OpenSSL only loads from files. Without any PEM
    material or cipher list, kafka-python's defaults stay (system CAs, TLS 1.2+).
    """
    trust_pem = props.get("ssl.truststore.certificates", "").strip()
    trust_file = props.get("ssl.truststore.location", "").strip()
    if _store_type(props, "ssl.truststore.type") != "PEM":
        trust_file = ""
    chain = props.get("ssl.keystore.certificate.chain", "").strip()
    key = props.get("ssl.keystore.key", "").strip()
    key_file = props.get("ssl.keystore.location", "").strip()
    if _store_type(props, "ssl.keystore.type") != "PEM":
        key_file = ""
    key_password = props.get("ssl.key.password") or ""
    ciphers = kwargs.get("ssl_ciphers")
    if not (trust_pem or trust_file or chain or key or key_file or ciphers):
        return {}

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # as kafka-python's own context
    context.check_hostname = bool(kwargs.get("ssl_check_hostname", True))
    if ciphers:
        context.set_ciphers(ciphers)
    if trust_pem:
        try:
            context.load_verify_locations(cadata=trust_pem)
        except (ssl.SSLError, ValueError):
            raise ConnectorInputError(
                "additional property 'ssl.truststore.certificates' must hold PEM certificates"
            ) from None
    if trust_file:
        try:
            context.load_verify_locations(cafile=trust_file)
        except (OSError, ValueError):  # ssl.SSLError is an OSError
            raise ConnectorInputError(
                "additional property 'ssl.truststore.location' must be a readable PEM certificate file"
            ) from None
    if not (trust_pem or trust_file):
        context.load_default_certs()
    if chain or key:
        if not (chain and key):
            missing = "ssl.keystore.key" if chain else "ssl.keystore.certificate.chain"
            raise ConnectorInputError(
                f"additional property '{missing}' is required with ssl.keystore.type=PEM inline material"
            )
        _load_inline_key_pair(context, chain, key, key_password)
    elif key_file:
        try:
            context.load_cert_chain(key_file, password=key_password)
        except (OSError, ValueError):
            raise ConnectorInputError(
                "additional property 'ssl.keystore.location' could not be loaded: it must be a PEM file "
                "with the private key and certificate chain, and 'ssl.key.password' must open the key"
            ) from None
    return {"ssl_context": context}


def _load_inline_key_pair(context: ssl.SSLContext, chain: str, key: str, password: str) -> None:
    """Load an inline PEM key pair: private 0600 files in a private directory, deleted at once.

    ``password`` is always passed (empty if none) so an encrypted key without a password
    fails cleanly instead of OpenSSL prompting on a terminal.
    """
    directory = tempfile.mkdtemp(prefix="kafka-tls-")  # mode 0700
    try:
        chain_path = os.path.join(directory, "chain.pem")
        key_path = os.path.join(directory, "key.pem")
        _write_private(chain_path, chain)
        _write_private(key_path, key)
        context.load_cert_chain(chain_path, key_path, password=password)
    except (OSError, ValueError):
        raise ConnectorInputError(
            "additional properties 'ssl.keystore.certificate.chain' and 'ssl.keystore.key' could not be "
            "loaded: they must be a PEM certificate chain and its PEM private key, and "
            "'ssl.key.password' must open the key if it is encrypted"
        ) from None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_private(path: str, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text if text.endswith("\n") else text + "\n")


# --------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------

_SECRET_OPTION = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def _register_secrets(props: Mapping[str, str]) -> None:
    """Register every credential in ``props`` with redaction before anything can quote it."""
    values: list[str] = []
    for key in redaction.SENSITIVE_PROPERTIES & props.keys():
        value = props[key]
        values.append(value)
        if key == "ssl.keystore.key":
            values.extend(_pem_body_lines(value))
    jaas = props.get("sasl.jaas.config")
    if jaas:
        redaction.register_jaas(jaas)
        try:
            login = _parse_jaas(jaas)
        except _JaasSyntaxError:
            pass  # to_kafka_python reports it; the whole value is registered above
        else:
            values.extend(v for k, v in login.options.items() if _SECRET_OPTION.search(k))
    redaction.register(values)


def _pem_body_lines(pem: str) -> Iterable[str]:
    """The base64 lines of a PEM key, so that even a fragment of it is masked."""
    return (line.strip() for line in pem.splitlines() if line.strip() and not line.startswith("-----"))
