"""The mapping table: Kafka property → kafka-python keyword argument (step 4 of :mod:`.resolve`).

One row per property kafka-python can honour; properties only the Java client knows are
ignored quietly, unknown ones with a warning, and :func:`ignored_properties` lists both for
the debug output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError
from kafka_connector.kafka.converters import (
    ACKS,
    SASL_MECHANISM,
    SECURITY_PROTOCOL,
    Rule,
    as_text,
    assignors,
    boolean,
    buffer_bytes,
    choice,
    cipher_suites,
    compression,
    hostname_check,
    integer,
    optional_text,
    server_list,
)
from kafka_connector.kafka.credentials import BadValue, register_secrets
from kafka_connector.kafka.jaas import sasl_kwargs
from kafka_connector.kafka.tls import keystore_present, store_type, tls_kwargs
from kafka_connector.kafka.vocabulary import BOTH, CONSUMER, DOCS, PRODUCER, Role, check_role, warn_once

# One row per Kafka producer/consumer property that kafka-python can honour. ``roles``
# are the roles whose kafka-python client accepts the keyword (e.g. ``session.timeout.ms``
# is consumer-only there, although the reference connector also sets it for producers).
TABLE: Final[dict[str, Rule]] = {
    # Both roles: connection, metadata, security.
    "bootstrap.servers": Rule("bootstrap_servers", server_list, BOTH),
    "client.id": Rule("client_id", as_text, BOTH),
    "client.dns.lookup": Rule(
        "client_dns_lookup",
        choice({m: m for m in ("use_all_dns_ips", "resolve_canonical_bootstrap_servers_only")}),
        BOTH,
    ),
    "connections.max.idle.ms": Rule("connections_max_idle_ms", integer(), BOTH),
    "metadata.max.age.ms": Rule("metadata_max_age_ms", integer(), BOTH),
    "request.timeout.ms": Rule("request_timeout_ms", integer(), BOTH),
    "retry.backoff.ms": Rule("retry_backoff_ms", integer(), BOTH),
    "reconnect.backoff.ms": Rule("reconnect_backoff_ms", integer(), BOTH),
    "reconnect.backoff.max.ms": Rule("reconnect_backoff_max_ms", integer(), BOTH),
    "receive.buffer.bytes": Rule("receive_buffer_bytes", buffer_bytes, BOTH),
    "send.buffer.bytes": Rule("send_buffer_bytes", buffer_bytes, BOTH),
    "max.in.flight.requests.per.connection": Rule(
        "max_in_flight_requests_per_connection", integer(minimum=1), BOTH
    ),
    "allow.auto.create.topics": Rule("allow_auto_create_topics", boolean, BOTH),
    "metrics.num.samples": Rule("metrics_num_samples", integer(minimum=1), BOTH),
    "metrics.sample.window.ms": Rule("metrics_sample_window_ms", integer(minimum=1), BOTH),
    "security.protocol": Rule("security_protocol", SECURITY_PROTOCOL, BOTH),
    "sasl.mechanism": Rule("sasl_mechanism", SASL_MECHANISM, BOTH),
    "sasl.kerberos.service.name": Rule("sasl_kerberos_service_name", as_text, BOTH),
    "ssl.endpoint.identification.algorithm": Rule("ssl_check_hostname", hostname_check, BOTH),
    "ssl.cipher.suites": Rule("ssl_ciphers", cipher_suites, BOTH),
    # Producer.
    "acks": Rule("acks", ACKS, PRODUCER),
    "batch.size": Rule("batch_size", integer(), PRODUCER),
    "linger.ms": Rule("linger_ms", integer(), PRODUCER),
    "compression.type": Rule("compression_type", compression, PRODUCER),
    "delivery.timeout.ms": Rule("delivery_timeout_ms", integer(minimum=1), PRODUCER),
    "enable.idempotence": Rule("enable_idempotence", boolean, PRODUCER),
    "max.block.ms": Rule("max_block_ms", integer(), PRODUCER),
    "max.request.size": Rule("max_request_size", integer(minimum=1), PRODUCER),
    "retries": Rule("retries", integer(), PRODUCER),
    "transactional.id": Rule("transactional_id", optional_text, PRODUCER),
    "transaction.timeout.ms": Rule("transaction_timeout_ms", integer(minimum=1), PRODUCER),
    # Consumer.
    "group.id": Rule("group_id", optional_text, CONSUMER),
    "group.instance.id": Rule("group_instance_id", optional_text, CONSUMER),
    "client.rack": Rule("client_rack", as_text, CONSUMER),
    "auto.offset.reset": Rule(
        "auto_offset_reset", choice({m: m for m in ("earliest", "latest", "none")}), CONSUMER
    ),
    "enable.auto.commit": Rule("enable_auto_commit", boolean, CONSUMER),
    "auto.commit.interval.ms": Rule("auto_commit_interval_ms", integer(), CONSUMER),
    "fetch.min.bytes": Rule("fetch_min_bytes", integer(), CONSUMER),
    "fetch.max.wait.ms": Rule("fetch_max_wait_ms", integer(), CONSUMER),
    "fetch.max.bytes": Rule("fetch_max_bytes", integer(), CONSUMER),
    "max.partition.fetch.bytes": Rule("max_partition_fetch_bytes", integer(), CONSUMER),
    "max.poll.records": Rule("max_poll_records", integer(minimum=1), CONSUMER),
    "max.poll.interval.ms": Rule("max_poll_interval_ms", integer(minimum=1), CONSUMER),
    "session.timeout.ms": Rule("session_timeout_ms", integer(minimum=1), CONSUMER),
    "heartbeat.interval.ms": Rule("heartbeat_interval_ms", integer(minimum=1), CONSUMER),
    "check.crcs": Rule("check_crcs", boolean, CONSUMER),
    "isolation.level": Rule(
        "isolation_level", choice({m: m for m in ("read_uncommitted", "read_committed")}), CONSUMER
    ),
    "exclude.internal.topics": Rule("exclude_internal_topics", boolean, CONSUMER),
    "partition.assignment.strategy": Rule("partition_assignment_strategy", assignors, CONSUMER),
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


def _is_known(key: str) -> bool:
    return (
        key in TABLE
        or key in _SASL_PROPERTIES
        or key in _TRUSTSTORE_PROPERTIES
        or key in _KEYSTORE_PROPERTIES
        or key in _JVM_ONLY
        or key.startswith(_JVM_ONLY_PREFIXES)
    )


def to_kafka_python(props: Mapping[str, str], *, role: Role) -> dict[str, Any]:
    """Keyword arguments for ``kafka.KafkaProducer`` (producer) or ``kafka.KafkaConsumer`` (consumer).

    Every key returned is in that class's ``DEFAULT_CONFIG``. Properties kafka-python
    cannot use are left out (see :func:`ignored_properties`); a known property with a
    value of the wrong type raises :class:`ConnectorInputError` naming it. The result
    may hold a fresh ``ssl.SSLContext``, so cache clients by ``props``, not by this dict.
    """
    check_role(role)
    register_secrets(props)
    _warn_about_unusable(props)
    kwargs: dict[str, Any] = {}
    for key, value in props.items():
        rule = TABLE.get(key)
        if rule is None or role not in rule.roles:
            continue
        try:
            kwargs[rule.kwarg] = rule.convert(str(value))
        except BadValue as bad:
            raise ConnectorInputError(
                f"additional property '{key}' {bad.reason} (got {redaction.shown(value, 60)})",
                DOCS.format(role=role),
            ) from None
    if role == "producer":
        _check_idempotence(kwargs)
        _check_delivery_timeout(kwargs)
    kwargs.update(sasl_kwargs(props, kwargs))
    kwargs.update(tls_kwargs(props, kwargs))
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


def _check_delivery_timeout(kwargs: Mapping[str, Any]) -> None:
    """Reject what kafka-python would refuse at construction, in Kafka's names instead of its own.

    A record may wait ``linger.ms`` and then one ``request.timeout.ms`` for its answer, so
    ``delivery.timeout.ms`` must cover both (Java and kafka-python agree; kafka-python's
    error would name ``delivery_timeout_ms`` and arrive as a broken client).
    """
    from kafka import KafkaProducer  # noqa: PLC0415 - only producers get here; they import it anyway

    defaults = KafkaProducer.DEFAULT_CONFIG
    delivery = kwargs.get("delivery_timeout_ms", defaults["delivery_timeout_ms"])
    linger = kwargs.get("linger_ms", defaults["linger_ms"])
    request = kwargs.get("request_timeout_ms", defaults["request_timeout_ms"])
    if delivery < linger + request:
        raise ConnectorInputError(
            f"additional property 'delivery.timeout.ms' ({delivery}) must be at least"
            f" linger.ms + request.timeout.ms ({linger} + {request})",
            "Raise delivery.timeout.ms, or lower linger.ms or request.timeout.ms.",
        )


def ignored_properties(props: Mapping[str, str], *, role: Role) -> list[str]:
    """The properties in ``props`` that have no effect on the kafka-python client, sorted.

    These are shown in the debug output so a user can see that, say, ``buffer.memory``
    or a JKS truststore was accepted but not applied.
    """
    check_role(role)
    _warn_about_unusable(props)
    return sorted(key for key in props if not _is_applied(key, props, role))


def _is_applied(key: str, props: Mapping[str, str], role: Role) -> bool:
    rule = TABLE.get(key)
    if rule is not None:
        return role in rule.roles
    if key in _SASL_PROPERTIES:
        return True
    if key in {"ssl.truststore.type", "ssl.truststore.location"}:
        return store_type(props, "ssl.truststore.type") == "PEM"
    if key in {"ssl.keystore.type", "ssl.keystore.location"}:
        return store_type(props, "ssl.keystore.type") == "PEM"
    if key in {"ssl.truststore.certificates", "ssl.keystore.certificate.chain", "ssl.keystore.key"}:
        return True
    if key == "ssl.key.password":
        return keystore_present(props)
    # ssl.truststore.password / ssl.keystore.password (not used with PEM), JVM-only, unknown.
    return False


def _warn_about_unusable(props: Mapping[str, str]) -> None:
    """Warn (once per name) about unknown properties and Java key stores, never about values."""
    for key in props:
        if not _is_known(key):
            warn_once(
                f"unknown:{key}",
                "Kafka client property %s is not known to the connector and is ignored",
                redaction.shown(key, 100),
            )
    for store in ("ssl.truststore", "ssl.keystore"):
        kind = store_type(props, f"{store}.type")
        if props.get(f"{store}.location", "").strip() and kind != "PEM":
            warn_once(
                f"store:{store}:{kind}",
                "%s.location of type %s cannot be read by kafka-python and is ignored; use %s.type=PEM",
                store,
                redaction.shown(kind, 20, quoted=False),
                store,
            )
