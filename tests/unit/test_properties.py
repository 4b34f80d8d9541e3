"""Unit tests of kafka_connector.kafka: resolution, precedence and the kafka-python mapping.

No broker is needed: kafka-python's own configuration checks run by constructing clients
against an unreachable address, and TLS material is checked with an in-memory handshake.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import stat
import uuid
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.errors import KafkaTimeoutError
from kafka.net.sasl import get_sasl_mechanism

from kafka_connector import redaction
from kafka_connector.errors import ConnectorInputError
from kafka_connector.kafka import table, tls
from kafka_connector.kafka.resolve import resolve_client_properties
from kafka_connector.kafka.table import ignored_properties, to_kafka_python
from local.secure.pki import CLIENT_AUTH, SERVER_AUTH, CertificateAuthority, cert_pem, tls_server_context
from tests.support.leaks import leaks

STRING_SERIALIZER = "org.apache.kafka.common.serialization.StringSerializer"
STRING_DESERIALIZER = "org.apache.kafka.common.serialization.StringDeserializer"
BYTE_ARRAY_SERIALIZER = "org.apache.kafka.common.serialization.ByteArraySerializer"
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
CLIENT_CLASSES = {"producer": KafkaProducer, "consumer": KafkaConsumer}


def secret() -> str:
    """A fresh credential, so a test never passes because another one registered it."""
    return f"pw-{uuid.uuid4().hex}"


def request(**fields: Any) -> dict[str, Any]:
    return {"topic": {"bootstrapServers": "b-1:9096,b-2:9096", "topicName": "orders"}, **fields}


def input_error(excinfo: pytest.ExceptionInfo[ConnectorInputError]) -> str:
    assert excinfo.value.status == 400
    return excinfo.value.message


# --------------------------------------------------------------------------------------
# resolve_client_properties: defaults, authentication, precedence
# --------------------------------------------------------------------------------------


def test_producer_properties_with_credentials_are_the_reference_set() -> None:
    password = secret()
    props = resolve_client_properties(
        request(authentication={"username": "alice", "password": password}), role="producer"
    )
    assert props == {
        "sasl.jaas.config": f"{PLAIN}   required username='alice'   password='{password}';",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "bootstrap.servers": "b-1:9096,b-2:9096",
        "key.serializer": STRING_SERIALIZER,
        "value.serializer": STRING_SERIALIZER,
        "session.timeout.ms": "45000",
        "client.dns.lookup": "use_all_dns_ips",
        "acks": "all",
        "delivery.timeout.ms": "45000",
    }


def test_consumer_defaults_name_the_group_after_the_connector() -> None:
    props = resolve_client_properties(
        {"bootstrapServers": "localhost:9092"}, role="consumer", name="payments"
    )
    assert props == {
        "bootstrap.servers": "localhost:9092",
        "key.deserializer": STRING_DESERIALIZER,
        "value.deserializer": STRING_DESERIALIZER,
        "session.timeout.ms": "45000",
        "client.dns.lookup": "use_all_dns_ips",
        "enable.auto.commit": "false",
        "group.id": "kafka-inbound-connector-payments",
        "auto.offset.reset": "latest",
    }
    assert (
        resolve_client_properties(request(), role="consumer")["group.id"] == "kafka-inbound-connector-default"
    )


def test_avro_uses_the_byte_array_value_serializer() -> None:
    props = resolve_client_properties(request(serializationType="avro"), role="producer")
    assert props["key.serializer"] == STRING_SERIALIZER
    assert props["value.serializer"] == BYTE_ARRAY_SERIALIZER


def test_unknown_serialization_type_is_an_input_error() -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        resolve_client_properties(request(serializationType="protobuf"), role="producer")
    assert "serializationType" in input_error(excinfo)


def test_additional_properties_add_and_override_as_in_the_reference_example() -> None:
    auth = {"username": "alice", "password": secret()}
    base = resolve_client_properties(request(authentication=auth), role="producer")
    extended = resolve_client_properties(
        request(
            authentication=auth,
            additionalProperties={"client.id": "MyDemoClientId", "sasl.mechanism": "SCRAM-SHA-256"},
        ),
        role="producer",
    )
    assert len(extended) == len(base) + 1
    assert extended["client.id"] == "MyDemoClientId"
    assert extended["sasl.mechanism"] == "SCRAM-SHA-256"
    assert {k: v for k, v in extended.items() if k not in {"client.id", "sasl.mechanism"}} == {
        k: v for k, v in base.items() if k != "sasl.mechanism"
    }
    # The reference example works: PlainLoginModule credentials with the SCRAM mechanism.
    kwargs = to_kafka_python(extended, role="producer")
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert kwargs["sasl_plain_username"] == "alice"
    assert kwargs["client_id"] == "MyDemoClientId"


@pytest.mark.parametrize("role", ["producer", "consumer"])
def test_overriding_a_default_keeps_the_size(role: str) -> None:
    base = resolve_client_properties(request(), role=role)
    override = {"acks": "1"} if role == "producer" else {"auto.offset.reset": "earliest"}
    changed = resolve_client_properties(request(additionalProperties=override), role=role)
    assert len(changed) == len(base)
    assert changed == {**base, **override}


def test_additional_properties_override_input_values_too() -> None:
    props = resolve_client_properties(
        request(
            authentication={"username": "alice", "password": secret()},
            additionalProperties={"security.protocol": "SASL_PLAINTEXT", "bootstrap.servers": "x:1"},
        ),
        role="producer",
    )
    assert props["security.protocol"] == "SASL_PLAINTEXT"
    assert props["bootstrap.servers"] == "x:1"


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        ({"username": "alice"}, "authentication.password"),
        ({"username": "alice", "password": "   "}, "authentication.password"),
        ({"password": "p4ssw0rd"}, "authentication.username"),
        ({"username": "", "password": "p4ssw0rd"}, "authentication.username"),
    ],
)
def test_exactly_one_credential_is_an_input_error(auth: dict[str, str], field: str) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        resolve_client_properties(request(authentication=auth), role="producer")
    message = input_error(excinfo)
    assert field in message
    assert "p4ssw0rd" not in str(excinfo.value)


@pytest.mark.parametrize("auth", [{}, {"username": "", "password": ""}, {"username": " ", "password": None}])
def test_no_credentials_configure_no_security(auth: dict[str, Any]) -> None:
    props = resolve_client_properties(request(authentication=auth), role="producer")
    assert not {"sasl.jaas.config", "security.protocol", "sasl.mechanism"} & props.keys()


def test_iam_authentication() -> None:
    props = resolve_client_properties(request(authentication={"type": "iam"}), role="producer")
    assert props["security.protocol"] == "SASL_SSL"
    assert props["sasl.mechanism"] == "AWS_MSK_IAM"
    assert props["sasl.jaas.config"] == "software.amazon.msk.auth.iam.IAMLoginModule required;"
    assert props["sasl.client.callback.handler.class"] == (
        "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
    )


@pytest.mark.parametrize(
    ("auth", "field"),
    [({"type": "kerberos"}, "authentication.type"), ("alice:pw", "authentication")],
)
def test_bad_authentication_is_an_input_error(auth: object, field: str) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        resolve_client_properties(request(authentication=auth), role="producer")
    assert field in input_error(excinfo)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"topic": {"bootstrapServers": "a:1, b:2"}}, "a:1,b:2"),
        ({"topic": {"bootstrapServers": " a:1 ,, b:2 "}}, "a:1,b:2"),
        ({"topic": {"bootstrapServers": ["a:1", " b:2"]}}, "a:1,b:2"),
        ({"bootstrapServers": "a:1"}, "a:1"),
        ({"additionalProperties": {"bootstrap.servers": "c:3"}}, "c:3"),
        (
            {
                "topic": {"bootstrapServers": "   "},
                "additionalProperties": {"bootstrap.servers": ["c:3", "d:4"]},
            },
            "c:3,d:4",
        ),
    ],
)
def test_bootstrap_servers_are_normalised(fields: dict[str, Any], expected: str) -> None:
    assert resolve_client_properties(fields, role="producer")["bootstrap.servers"] == expected


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"topic": {"bootstrapServers": ""}},
        {"topic": {"bootstrapServers": []}},
        {"topic": {"topicName": "x"}},
    ],
)
def test_missing_bootstrap_servers_name_the_field(fields: dict[str, Any]) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        resolve_client_properties(fields, role="consumer")
    assert "topic.bootstrapServers" in input_error(excinfo)


@pytest.mark.parametrize("servers", [42, ["a:1", 2], "no-port", "a:1 b:2"])
def test_malformed_bootstrap_servers_name_the_field(servers: object) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        resolve_client_properties({"topic": {"bootstrapServers": servers}}, role="producer")
    assert "topic.bootstrapServers" in input_error(excinfo)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", "text"),
        ("", ""),
        (True, "true"),
        (False, "false"),
        (5, "5"),
        (45000.0, "45000"),
        (0.5, "0.5"),
        (["a:1", "b:2"], "a:1,b:2"),
        ([1, True, "x"], "1,true,x"),
    ],
)
def test_additional_property_values_become_strings(value: object, expected: str) -> None:
    props = resolve_client_properties(request(additionalProperties={"x.y": value}), role="producer")
    assert props["x.y"] == expected


@pytest.mark.parametrize("value", [None, {"a": 1}, [{"a": 1}], [None], [[1]]])
def test_non_scalar_additional_property_names_it(value: object) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        resolve_client_properties(request(additionalProperties={"linger.ms": value}), role="producer")
    assert "additionalProperties.linger.ms" in input_error(excinfo)


@pytest.mark.parametrize("additional", ["linger.ms=5", ["linger.ms"], 5])
def test_additional_properties_must_be_an_object(additional: object) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        resolve_client_properties(request(additionalProperties=additional), role="producer")
    assert "additionalProperties" in input_error(excinfo)


# --------------------------------------------------------------------------------------
# The mapping table
# --------------------------------------------------------------------------------------

BOTH = ("producer", "consumer")
# Kafka property → (kafka-python keyword, roles, Kafka value, kafka-python value); one per table row.
MAPPING_CASES: dict[str, tuple[str, tuple[str, ...], str, Any]] = {
    "bootstrap.servers": (
        "bootstrap_servers",
        BOTH,
        "SASL_SSL://b-1:9096, b-2:9096",
        ["b-1:9096", "b-2:9096"],
    ),
    "client.id": ("client_id", BOTH, "MyDemoClientId", "MyDemoClientId"),
    "client.dns.lookup": (
        "client_dns_lookup",
        BOTH,
        "resolve_canonical_bootstrap_servers_only",
        "resolve_canonical_bootstrap_servers_only",
    ),
    "connections.max.idle.ms": ("connections_max_idle_ms", BOTH, "300000", 300000),
    "metadata.max.age.ms": ("metadata_max_age_ms", BOTH, "60000", 60000),
    "request.timeout.ms": ("request_timeout_ms", BOTH, "20000", 20000),
    "retry.backoff.ms": ("retry_backoff_ms", BOTH, "250", 250),
    "reconnect.backoff.ms": ("reconnect_backoff_ms", BOTH, "100", 100),
    "reconnect.backoff.max.ms": ("reconnect_backoff_max_ms", BOTH, "5000", 5000),
    "receive.buffer.bytes": ("receive_buffer_bytes", BOTH, "65536", 65536),
    "send.buffer.bytes": ("send_buffer_bytes", BOTH, "-1", None),
    "max.in.flight.requests.per.connection": ("max_in_flight_requests_per_connection", BOTH, "5", 5),
    "allow.auto.create.topics": ("allow_auto_create_topics", BOTH, "FALSE", False),
    "metrics.num.samples": ("metrics_num_samples", BOTH, "3", 3),
    "metrics.sample.window.ms": ("metrics_sample_window_ms", BOTH, "10000", 10000),
    "security.protocol": ("security_protocol", BOTH, "ssl", "SSL"),
    "sasl.mechanism": ("sasl_mechanism", BOTH, "scram-sha-512", "SCRAM-SHA-512"),
    "sasl.kerberos.service.name": ("sasl_kerberos_service_name", BOTH, "kafka-svc", "kafka-svc"),
    "ssl.endpoint.identification.algorithm": ("ssl_check_hostname", BOTH, "", False),
    "ssl.cipher.suites": (
        "ssl_ciphers",
        BOTH,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    "acks": ("acks", ("producer",), "all", -1),
    "batch.size": ("batch_size", ("producer",), "32768", 32768),
    "linger.ms": ("linger_ms", ("producer",), "5", 5),
    "compression.type": ("compression_type", ("producer",), "gzip", "gzip"),
    "delivery.timeout.ms": ("delivery_timeout_ms", ("producer",), "45000", 45000),
    "enable.idempotence": ("enable_idempotence", ("producer",), "True", True),
    "max.block.ms": ("max_block_ms", ("producer",), "1000", 1000),
    "max.request.size": ("max_request_size", ("producer",), "2097152", 2097152),
    "retries": ("retries", ("producer",), "7", 7),
    "transactional.id": ("transactional_id", ("producer",), "tx-1", "tx-1"),
    "transaction.timeout.ms": ("transaction_timeout_ms", ("producer",), "30000", 30000),
    "group.id": ("group_id", ("consumer",), "orders-group", "orders-group"),
    "group.instance.id": ("group_instance_id", ("consumer",), "member-1", "member-1"),
    "client.rack": ("client_rack", ("consumer",), "use1-az1", "use1-az1"),
    "auto.offset.reset": ("auto_offset_reset", ("consumer",), "Earliest", "earliest"),
    "enable.auto.commit": ("enable_auto_commit", ("consumer",), "false", False),
    "auto.commit.interval.ms": ("auto_commit_interval_ms", ("consumer",), "1000", 1000),
    "fetch.min.bytes": ("fetch_min_bytes", ("consumer",), "10", 10),
    "fetch.max.wait.ms": ("fetch_max_wait_ms", ("consumer",), "400", 400),
    "fetch.max.bytes": ("fetch_max_bytes", ("consumer",), "1048576", 1048576),
    "max.partition.fetch.bytes": ("max_partition_fetch_bytes", ("consumer",), "524288", 524288),
    "max.poll.records": ("max_poll_records", ("consumer",), "100", 100),
    "max.poll.interval.ms": ("max_poll_interval_ms", ("consumer",), "60000", 60000),
    "session.timeout.ms": ("session_timeout_ms", ("consumer",), "45000", 45000),
    "heartbeat.interval.ms": ("heartbeat_interval_ms", ("consumer",), "3000", 3000),
    "check.crcs": ("check_crcs", ("consumer",), "false", False),
    "isolation.level": ("isolation_level", ("consumer",), "READ_COMMITTED", "read_committed"),
    "exclude.internal.topics": ("exclude_internal_topics", ("consumer",), "true", True),
    "partition.assignment.strategy": (
        "partition_assignment_strategy",
        ("consumer",),
        "org.apache.kafka.clients.consumer.RoundRobinAssignor, "
        "org.apache.kafka.clients.consumer.RangeAssignor",
        (RoundRobinPartitionAssignor, RangePartitionAssignor),
    ),
}


def test_every_table_row_has_a_case() -> None:
    assert set(MAPPING_CASES) == set(table.TABLE)


@pytest.mark.parametrize("prop", sorted(MAPPING_CASES))
def test_table_row_converts(prop: str) -> None:
    kwarg, roles, value, expected = MAPPING_CASES[prop]
    rule = table.TABLE[prop]
    assert (rule.kwarg, rule.roles) == (kwarg, frozenset(roles))
    # A row serves exactly the roles whose kafka-python client accepts its keyword.
    assert set(roles) == {role for role in BOTH if kwarg in CLIENT_CLASSES[role].DEFAULT_CONFIG}
    for role in BOTH:
        kwargs = to_kafka_python({prop: value}, role=role)
        if role in roles:
            assert kwargs[kwarg] == expected
            assert prop not in ignored_properties({prop: value}, role=role)
        else:
            assert kwarg not in kwargs
            assert ignored_properties({prop: value}, role=role) == [prop]


@pytest.mark.parametrize(
    ("prop", "value", "expected"),
    [
        ("acks", "-1", -1),
        ("acks", "0", 0),
        ("acks", "1", 1),
        ("acks", "ALL", -1),
        ("compression.type", "none", None),
        ("compression.type", "GZIP", "gzip"),
        ("enable.idempotence", " false ", False),
        ("receive.buffer.bytes", "-1", None),
        ("transactional.id", "", None),
        ("ssl.endpoint.identification.algorithm", "HTTPS", True),
        ("ssl.endpoint.identification.algorithm", "  ", False),
        ("security.protocol", "plaintext", "PLAINTEXT"),
        ("sasl.mechanism", "aws_msk_iam", "AWS_MSK_IAM"),
        ("client.dns.lookup", "use_all_dns_ips", "use_all_dns_ips"),
        ("ssl.cipher.suites", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
        ("ssl.cipher.suites", "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
        ("ssl.cipher.suites", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
        ("ssl.cipher.suites", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
        ("ssl.cipher.suites", "TLS_AES_256_GCM_SHA384", None),
    ],
)
def test_value_variants(prop: str, value: str, expected: Any) -> None:
    kwargs = to_kafka_python({prop: value}, role="producer")
    assert kwargs[table.TABLE[prop].kwarg] == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("range", (RangePartitionAssignor,)),
        ("org.apache.kafka.clients.consumer.StickyAssignor", (StickyPartitionAssignor,)),
        ("org.apache.kafka.clients.consumer.CooperativeStickyAssignor", (CooperativeStickyAssignor,)),
        # Java's default list runs EAGER; kafka-python refuses the mix, so the cooperative entry goes.
        (
            "org.apache.kafka.clients.consumer.RangeAssignor,"
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            (RangePartitionAssignor,),
        ),
        ("roundrobin,roundrobin", (RoundRobinPartitionAssignor,)),
    ],
)
def test_partition_assignment_strategy(value: str, expected: tuple[type, ...]) -> None:
    kwargs = to_kafka_python({"partition.assignment.strategy": value}, role="consumer")
    assert kwargs["partition_assignment_strategy"] == expected


def test_defaults_translate_per_role() -> None:
    producer = to_kafka_python(resolve_client_properties(request(), role="producer"), role="producer")
    assert producer == {
        "bootstrap_servers": ["b-1:9096", "b-2:9096"],
        "client_dns_lookup": "use_all_dns_ips",
        "acks": -1,
        "delivery_timeout_ms": 45000,
    }
    consumer_props = resolve_client_properties(request(), role="consumer", name="c1")
    assert to_kafka_python(consumer_props, role="consumer") == {
        "bootstrap_servers": ["b-1:9096", "b-2:9096"],
        "client_dns_lookup": "use_all_dns_ips",
        "session_timeout_ms": 45000,
        "enable_auto_commit": False,
        "group_id": "kafka-inbound-connector-c1",
        "auto_offset_reset": "latest",
    }
    assert ignored_properties(consumer_props, role="consumer") == ["key.deserializer", "value.deserializer"]


def test_producer_ignores_the_reference_session_timeout_without_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    props = resolve_client_properties(request(), role="producer")
    with caplog.at_level(logging.WARNING, logger="kafka_connector.kafka"):
        assert ignored_properties(props, role="producer") == [
            "key.serializer",
            "session.timeout.ms",
            "value.serializer",
        ]
        assert "session_timeout_ms" not in to_kafka_python(props, role="producer")
    assert not caplog.records


def full_properties(role: str, pki: Pki) -> dict[str, str]:
    """Every table row of ``role`` plus SASL and PEM TLS: the widest configuration we produce."""
    props = {prop: value for prop, (_, roles, value, _) in MAPPING_CASES.items() if role in roles}
    props.update(
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": f'{SCRAM} required username="alice" password="{secret()}";',
            "ssl.endpoint.identification.algorithm": "https",
            **pki.pem_properties(),
            "interceptor.classes": "com.example.Interceptor",
        }
    )
    return props


@pytest.mark.parametrize("role", BOTH)
def test_kwargs_are_accepted_by_kafka_python(role: str, pki: Pki) -> None:
    kwargs = to_kafka_python(full_properties(role, pki), role=role)
    client_class = CLIENT_CLASSES[role]
    assert set(kwargs) <= set(client_class.DEFAULT_CONFIG)
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    kwargs["bootstrap_servers"] = ["127.0.0.1:1"]
    # kafka-python validates its configuration, then bootstraps eagerly: with nothing
    # listening, only the bootstrap timeout may fail (not ValueError/KafkaConfigurationError).
    with pytest.raises(KafkaTimeoutError):
        client_class(**kwargs, bootstrap_timeout_ms=200)


def test_unsupported_keyword_would_be_refused_by_kafka_python() -> None:
    """The check above is meaningful: kafka-python does reject keywords it does not know."""
    with pytest.raises(ValueError, match="Unrecognized configs"):
        KafkaProducer(bootstrap_servers=["127.0.0.1:1"], session_timeout_ms=45000, bootstrap_timeout_ms=200)


# --------------------------------------------------------------------------------------
# Wrong types, unknown and JVM-only properties
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "prop", "value", "expectation"),
    [
        ("producer", "linger.ms", "abc", "must be an integer"),
        ("producer", "linger.ms", "1.5", "must be an integer"),
        ("producer", "batch.size", "-1", "must be an integer >= 0"),
        ("producer", "enable.idempotence", "maybe", "true or false"),
        ("producer", "acks", "most", "must be one of"),
        ("producer", "compression.type", "brotli", "must be one of"),
        ("producer", "compression.type", "zstd", "not installed"),
        ("producer", "security.protocol", "TLS", "must be one of"),
        ("producer", "sasl.mechanism", "OAUTHBEARER", "must be one of"),
        ("producer", "client.dns.lookup", "default", "must be one of"),
        ("producer", "bootstrap.servers", "b-1", "host:port"),
        ("producer", "ssl.endpoint.identification.algorithm", "ldaps", "'https' or empty"),
        ("producer", "ssl.cipher.suites", "NOT-A-CIPHER", "no cipher suite"),
        ("consumer", "session.timeout.ms", "0", ">= 1"),
        ("consumer", "isolation.level", "serializable", "must be one of"),
        ("consumer", "auto.offset.reset", "by_duration:PT1H", "must be one of"),
        ("consumer", "partition.assignment.strategy", "com.example.MyAssignor", "assignors kafka-python has"),
    ],
)
def test_wrong_type_names_the_property(role: str, prop: str, value: str, expectation: str) -> None:
    if expectation == "not installed":
        from kafka import codec

        if codec.has_zstd():
            pytest.skip("zstd is installed here")
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python({prop: value}, role=role)
    message = input_error(excinfo)
    assert f"additional property '{prop}'" in message
    assert expectation in message


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"enable.idempotence": "true", "acks": "1"}, "acks"),
        ({"enable.idempotence": "true", "retries": "0"}, "retries"),
        ({"transactional.id": "tx", "max.in.flight.requests.per.connection": "6"}, "max.in.flight"),
        ({"transactional.id": "tx", "enable.idempotence": "false"}, "transactional.id"),
    ],
)
def test_impossible_idempotence_names_the_property(props: dict[str, str], named: str) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python(props, role="producer")
    assert f"'{named}" in input_error(excinfo)


def test_default_idempotence_gives_way_to_acks_1() -> None:
    assert to_kafka_python({"acks": "1", "retries": "0"}, role="producer") == {"acks": 1, "retries": 0}


def test_unknown_properties_are_kept_ignored_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    unknown = f"my.custom.{uuid.uuid4().hex}"
    value = f"value-{uuid.uuid4().hex}"
    props = resolve_client_properties(
        request(
            additionalProperties={unknown: value, "buffer.memory": "1024", "sasl.login.retry.backoff.ms": 5}
        ),
        role="producer",
    )
    assert props[unknown] == value
    with caplog.at_level(logging.WARNING, logger="kafka_connector.kafka"):
        for _ in range(3):
            kwargs = to_kafka_python(props, role="producer")
            ignored = ignored_properties(props, role="producer")
    assert ignored == sorted(
        [
            unknown,
            "buffer.memory",
            "key.serializer",
            "sasl.login.retry.backoff.ms",
            "session.timeout.ms",
            "value.serializer",
        ]
    )
    assert value not in repr(kwargs)
    warnings = [r for r in caplog.records if r.name == "kafka_connector.kafka"]
    assert len(warnings) == 1
    assert unknown in warnings[0].getMessage()
    assert value not in caplog.text


def test_jvm_only_properties_are_ignored_quietly(caplog: pytest.LogCaptureFixture) -> None:
    props = {
        "partitioner.class": "org.example.P",
        "sasl.client.callback.handler.class": "x.Y",
        "sasl.login.callback.handler.class": "x.Z",
        "interceptor.classes": "a.B",
        "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
    }
    with caplog.at_level(logging.WARNING, logger="kafka_connector.kafka"):
        assert to_kafka_python(props, role="producer") == {}
        assert ignored_properties(props, role="producer") == sorted(props)
    assert not caplog.records


# --------------------------------------------------------------------------------------
# SASL
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jaas", "mechanism", "expected_mechanism"),
    [
        (f"{PLAIN} required username='alice' password='{{pw}}';", None, "PLAIN"),
        (f'{PLAIN} required username="alice" password="{{pw}}";', "plain", "PLAIN"),
        (f"{PLAIN}   required username='alice'   password='{{pw}}';", "PLAIN", "PLAIN"),
        (
            f"  {SCRAM}\n\trequired\n  username = 'alice'\n  password = '{{pw}}'  ",
            "SCRAM-SHA-256",
            "SCRAM-SHA-256",
        ),
        (f'{SCRAM} required username="alice" password="{{pw}}"', "scram-sha-512", "SCRAM-SHA-512"),
        (f"{SCRAM} REQUIRED username=alice password='{{pw}}' ;", "SCRAM-SHA-256", "SCRAM-SHA-256"),
        (
            f"{PLAIN} required /* comment */ username='alice' password='{{pw}}';",
            "SCRAM-SHA-512",
            "SCRAM-SHA-512",
        ),
    ],
)
def test_jaas_credentials(jaas: str, mechanism: str | None, expected_mechanism: str) -> None:
    password = secret()
    props = {"security.protocol": "SASL_SSL", "sasl.jaas.config": jaas.replace("{pw}", password)}
    if mechanism is not None:
        props["sasl.mechanism"] = mechanism
    kwargs = to_kafka_python(props, role="producer")
    assert kwargs["sasl_mechanism"] == expected_mechanism
    assert kwargs["sasl_plain_username"] == "alice"
    assert kwargs["sasl_plain_password"] == password
    assert ignored_properties(props, role="producer") == []


@pytest.mark.parametrize("awkward", ["it's", 'say "hi"', "back\\slash", "semi;colon = x"])
def test_generated_jaas_round_trips_awkward_passwords(awkward: str) -> None:
    password = f"{awkward}-{secret()}"
    props = resolve_client_properties(
        request(authentication={"username": "o'brien", "password": password}), role="consumer"
    )
    kwargs = to_kafka_python(props, role="consumer")
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("o'brien", password)


@pytest.mark.parametrize(
    "jaas",
    [
        "{pw}",
        f"{PLAIN} username='alice' password='{{pw}}';",  # no control flag
        f"{PLAIN} mandatory username='alice' password='{{pw}}';",  # unknown flag
        f"{PLAIN} required username='alice' password='{{pw}};",  # unterminated quote
        f"{PLAIN} required username='alice' password '{{pw}}';",  # no '='
        f"{PLAIN} required username='alice' password='{{pw}}'; {PLAIN} required;",  # two modules
        f"{PLAIN} required password='{{pw}}';",  # no username
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientSecret='{pw}';",
    ],
)
def test_unusable_jaas_is_an_input_error_without_its_value(jaas: str) -> None:
    password = secret()
    props = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.jaas.config": jaas.replace("{pw}", password),
    }
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python(props, role="producer")
    assert "sasl.jaas.config" in input_error(excinfo)
    assert password not in str(excinfo.value)
    assert password not in excinfo.value.description


@pytest.mark.parametrize(
    ("props", "named"),
    [
        (
            {
                "security.protocol": "SASL_SSL",
                "sasl.jaas.config": f"{SCRAM} required username='a' password='b';",
            },
            "sasl.mechanism",
        ),
        ({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256"}, "sasl.jaas.config"),
        ({"security.protocol": "SASL_SSL"}, "sasl.mechanism"),
        (
            {"sasl.mechanism": "GSSAPI", "sasl.jaas.config": f"{PLAIN} required username='a' password='b';"},
            "sasl.mechanism",
        ),
        (
            {
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
            },
            "sasl.mechanism",
        ),
        ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "AWS_MSK_IAM"}, "security.protocol"),
    ],
)
def test_inconsistent_sasl_settings_name_the_property(props: dict[str, str], named: str) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python(props, role="producer")
    assert f"'{named}'" in input_error(excinfo)


def test_sasl_settings_without_sasl_protocol_are_passed_through() -> None:
    kwargs = to_kafka_python({"sasl.mechanism": "PLAIN"}, role="producer")
    assert kwargs == {"sasl_mechanism": "PLAIN"}


def test_iam_translates_to_kafka_pythons_msk_mechanism() -> None:
    props = resolve_client_properties(request(authentication={"type": "iam"}), role="producer")
    kwargs = to_kafka_python(props, role="producer")
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "AWS_MSK_IAM"
    assert "sasl_plain_username" not in kwargs
    assert "sasl.client.callback.handler.class" in ignored_properties(props, role="producer")
    assert "sasl.jaas.config" not in ignored_properties(props, role="producer")
    # kafka-python signs the MSK IAM handshake with botocore credentials (the Lambda role).
    mechanism = get_sasl_mechanism("AWS_MSK_IAM")(host="b-1.example.com", **kwargs)
    payload = json.loads(mechanism.auth_bytes())
    assert payload["action"] == "kafka-cluster:Connect"
    assert payload["host"] == "b-1.example.com"


def test_iam_login_module_alone_selects_the_mechanism() -> None:
    props = {
        "security.protocol": "SASL_SSL",
        "sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    }
    assert to_kafka_python(props, role="consumer") == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "AWS_MSK_IAM",
    }


# --------------------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------------------

KEY_PASSWORD = "key-pass-1234"


class Pki:
    """The shared throwaway PKI (:mod:`local.secure.pki`), in the shapes these tests give the connector."""

    def __init__(self) -> None:
        self.ca = CertificateAuthority.create("test-ca")
        self.server = self.ca.issue("localhost", usage=SERVER_AUTH, hostnames=["localhost"])
        self.client = self.ca.issue("kafka-client", usage=CLIENT_AUTH, hostnames=["kafka-client"])
        self.client_cert = self.client.certificate
        self.ca_pem = self.ca.cert_pem

    pem = staticmethod(cert_pem)

    def client_key_pem(self, password: str | None = KEY_PASSWORD) -> str:
        return self.client.key_pem(password)

    def pem_properties(self) -> dict[str, str]:
        return {
            "ssl.truststore.type": "PEM",
            "ssl.truststore.certificates": self.ca_pem,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.certificate.chain": self.pem(self.client_cert) + self.ca_pem,
            "ssl.keystore.key": self.client_key_pem(),
            "ssl.key.password": KEY_PASSWORD,
        }

    def server_context(self, tmp_path: os.PathLike[str]) -> ssl.SSLContext:
        """The broker's end of :func:`handshake`: it demands a client certificate from this CA."""
        return tls_server_context(*self.server.write(tmp_path, "server"), client_ca_pem=self.ca_pem)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, server_hostname: str) -> dict[str, Any]:
    """Complete a TLS handshake in memory; return the client certificate the server verified."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = client.wrap_bio(client_in, client_out, server_hostname=server_hostname)
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    finished: set[str] = set()
    for _ in range(20):
        for name, side in (("client", client_side), ("server", server_side)):
            try:
                side.do_handshake()
                finished.add(name)
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if len(finished) == 2:
            break
    assert finished == {"client", "server"}
    return server_side.getpeercert()


def test_pem_truststore_and_keystore_build_a_working_context(pki: Pki, tmp_path: os.PathLike[str]) -> None:
    props = {"security.protocol": "SSL", **pki.pem_properties()}
    kwargs = to_kafka_python(props, role="producer")
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert ignored_properties(props, role="producer") == []
    peer = handshake(context, pki.server_context(tmp_path), "localhost")
    assert dict(item[0] for item in peer["subject"])["commonName"] == "kafka-client"


def test_hostname_checking_is_on_by_default_and_off_with_empty_algorithm(
    pki: Pki, tmp_path: os.PathLike[str]
) -> None:
    server = pki.server_context(tmp_path)
    checking = to_kafka_python({"ssl.truststore.certificates": pki.ca_pem}, role="consumer")["ssl_context"]
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(checking, server, "broker.elsewhere.example")

    props = {
        "ssl.truststore.type": "PEM",
        "ssl.truststore.certificates": pki.ca_pem,
        "ssl.keystore.certificate.chain": pki.pem(pki.client_cert),
        "ssl.keystore.key": pki.client_key_pem(password=None),
        "ssl.endpoint.identification.algorithm": "",
    }
    kwargs = to_kafka_python(props, role="consumer")
    assert kwargs["ssl_check_hostname"] is False
    assert kwargs["ssl_context"].check_hostname is False
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED  # the chain is still verified
    handshake(kwargs["ssl_context"], server, "broker.elsewhere.example")


def test_empty_algorithm_without_pem_material_leaves_kafka_python_to_build_the_context() -> None:
    kwargs = to_kafka_python(
        {"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": ""}, role="producer"
    )
    assert kwargs == {"security_protocol": "SSL", "ssl_check_hostname": False}


def test_ssl_without_trust_material_keeps_kafka_python_defaults() -> None:
    assert to_kafka_python(
        {"security.protocol": "SASL_SSL", "sasl.mechanism": "AWS_MSK_IAM"}, role="producer"
    ) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "AWS_MSK_IAM",
    }


def test_cipher_suites_are_applied_to_the_context() -> None:
    kwargs = to_kafka_python({"ssl.cipher.suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, role="producer")
    enabled = {c["name"] for c in kwargs["ssl_context"].get_ciphers() if c["protocol"] != "TLSv1.3"}
    assert enabled == {"ECDHE-RSA-AES128-GCM-SHA256"}


def test_pem_files_by_location(pki: Pki, tmp_path: os.PathLike[str]) -> None:
    ca_file = os.path.join(tmp_path, "ca.pem")
    keystore_file = os.path.join(tmp_path, "client.pem")
    with open(ca_file, "w") as f:
        f.write(pki.ca_pem)
    with open(keystore_file, "w") as f:
        f.write(pki.client_key_pem() + pki.pem(pki.client_cert))
    props = {
        "ssl.truststore.type": "pem",
        "ssl.truststore.location": ca_file,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": keystore_file,
        "ssl.key.password": KEY_PASSWORD,
    }
    context = to_kafka_python(props, role="producer")["ssl_context"]
    assert ignored_properties(props, role="producer") == []
    handshake(context, pki.server_context(tmp_path), "localhost")


def test_inline_key_pair_goes_through_private_files_deleted_at_once(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    directories: list[str] = []
    modes: list[int] = []
    real_mkdtemp, real_open = tls.tempfile.mkdtemp, tls.os.open

    def mkdtemp(*args: Any, **kwargs: Any) -> str:
        directories.append(real_mkdtemp(*args, **kwargs))
        return directories[-1]

    def open_file(path: str, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if directories and str(path).startswith(directories[-1]) and flags & os.O_CREAT:
            modes.append(mode)
            assert stat.S_IMODE(os.stat(directories[-1]).st_mode) == 0o700
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(tls.tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(tls.os, "open", open_file)
    to_kafka_python(pki.pem_properties(), role="producer")
    assert len(directories) == 1
    assert modes == [0o600, 0o600]
    assert not os.path.exists(directories[0])


def test_java_key_stores_are_ignored_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    props = {
        "security.protocol": "SSL",
        "ssl.truststore.location": "/opt/kafka/truststore.jks",
        "ssl.truststore.password": secret(),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": "/opt/kafka/keystore.p12",
        "ssl.keystore.password": secret(),
        "ssl.key.password": secret(),
    }
    with caplog.at_level(logging.WARNING, logger="kafka_connector.kafka"):
        assert to_kafka_python(props, role="producer") == {"security_protocol": "SSL"}
        assert ignored_properties(props, role="producer") == sorted(set(props) - {"security.protocol"})
    assert "ssl.truststore.location of type JKS" in caplog.text
    for prop in (
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.keystore.password",
        "ssl.key.password",
    ):
        assert props[prop] not in caplog.text


@pytest.mark.parametrize(
    ("props", "named"),
    [
        ({"ssl.truststore.certificates": "not a certificate"}, "ssl.truststore.certificates"),
        (
            {"ssl.truststore.type": "PEM", "ssl.truststore.location": "/nonexistent/ca.pem"},
            "ssl.truststore.location",
        ),
        (
            {"ssl.keystore.type": "PEM", "ssl.keystore.location": "/nonexistent/client.pem"},
            "ssl.keystore.location",
        ),
    ],
)
def test_bad_trust_material_names_the_property(props: dict[str, str], named: str) -> None:
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python(props, role="producer")
    assert f"'{named}'" in input_error(excinfo)


def test_bad_key_material_names_the_properties_and_never_the_key(pki: Pki) -> None:
    key = pki.client_key_pem()
    cases = [
        {**pki.pem_properties(), "ssl.key.password": secret()},
        {**pki.pem_properties(), "ssl.key.password": ""},
        {**pki.pem_properties(), "ssl.keystore.certificate.chain": pki.ca_pem},  # not the key's certificate
    ]
    for props in cases:
        with pytest.raises(ConnectorInputError) as excinfo:
            to_kafka_python(props, role="producer")
        assert "ssl.keystore.key" in input_error(excinfo)
        assert key not in str(excinfo.value)
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python({"ssl.keystore.key": key}, role="producer")
    assert "'ssl.keystore.certificate.chain'" in input_error(excinfo)


# --------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------


def test_authentication_password_is_registered_for_redaction() -> None:
    password = secret()
    resolve_client_properties(
        request(authentication={"username": "alice", "password": password}), role="producer"
    )
    assert redaction.redact(f"login failed with {password}!") == f"login failed with {redaction.MASK}!"


def test_credentials_in_additional_properties_are_registered() -> None:
    jaas_password, key_password, store_password = secret(), secret(), secret()
    resolve_client_properties(
        request(
            additionalProperties={
                "sasl.jaas.config": f'{SCRAM} required username="bob" password="{jaas_password}";',
                "ssl.key.password": key_password,
                "ssl.truststore.password": store_password,
            }
        ),
        role="producer",
    )
    for value in (jaas_password, key_password, store_password):
        assert redaction.redact(f"x {value} y") == f"x {redaction.MASK} y"


def test_props_given_straight_to_to_kafka_python_are_registered(pki: Pki) -> None:
    password = secret()
    props = {
        **pki.pem_properties(),
        "sasl.jaas.config": f"{PLAIN} required username='u' password='{password}';",
    }
    to_kafka_python(props, role="consumer")
    assert password not in redaction.redact(f"error: {password}")
    key_line = props["ssl.keystore.key"].splitlines()[1]
    assert key_line not in redaction.redact(f"key fragment {key_line}")


def test_wrong_type_errors_never_show_a_registered_secret() -> None:
    password = secret()
    props = resolve_client_properties(
        request(
            authentication={"username": "alice", "password": password},
            additionalProperties={"client.id": f"id-{password}", "linger.ms": password},
        ),
        role="producer",
    )
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python(props, role="producer")
    assert "linger.ms" in excinfo.value.message
    assert password not in str(excinfo.value)


def test_a_long_secret_in_a_bad_value_leaks_no_prefix() -> None:
    # The error quotes at most 60 characters of a bad value; an 86-character secret used to
    # leak its first 60, because the quote was cut before the mask could match.
    password = (secret() * 3)[:86]
    for prop, value, got in (
        ("linger.ms", password, "(got '******')"),
        ("enable.idempotence", f"{password}-and-more", "(got '******-and-more')"),
        ("batch.size", f"{'9' * 50}{password}", f"(got '{'9' * 50}******')"),
    ):
        props = resolve_client_properties(
            request(
                authentication={"username": "alice", "password": password},
                additionalProperties={prop: value},
            ),
            role="producer",
        )
        with pytest.raises(ConnectorInputError) as excinfo:
            to_kafka_python(props, role="producer")
        assert f"additional property '{prop}'" in excinfo.value.message
        assert got in excinfo.value.message
        assert password[:8] not in str(excinfo.value)


@pytest.mark.parametrize("awkward", ["it's\\a 'quoted' \\ pass", 'say "hi"\\ \' %2F+/=', "tab\there\\n"])
def test_an_escaped_secret_in_a_bad_value_is_masked_in_every_form(awkward: str) -> None:
    # Generated passwords contain quotes and backslashes; repr-escaping them for the message
    # used to make the mask miss them entirely.
    password = f"{awkward}-{uuid.uuid4().hex}"
    props = resolve_client_properties(
        request(
            authentication={"username": "alice", "password": password},
            additionalProperties={"max.block.ms": password},
        ),
        role="producer",
    )
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python(props, role="producer")
    assert "additional property 'max.block.ms' must be an integer (got '******')" in excinfo.value.message
    body = str(excinfo.value)
    assert not leaks({"password": password}, {"error": body, "repr": repr(excinfo.value)})


def test_usernames_and_registry_credentials_are_registered() -> None:
    user, jaas_user, info_user, info_password = (f"{n}-{uuid.uuid4().hex}" for n in "abcd")
    resolve_client_properties(
        request(
            authentication={"username": user, "password": secret()},
            additionalProperties={"basic.auth.user.info": f"{info_user}:{info_password}"},
        ),
        role="producer",
    )
    to_kafka_python(
        {"sasl.jaas.config": f"{PLAIN} required username='{jaas_user}' password='{secret()}';"},
        role="consumer",
    )
    for value in (user, jaas_user, info_user, info_password):
        assert redaction.redact(f"x {value} y") == f"x {redaction.MASK} y"


def test_an_unparsable_jaas_config_is_refused_without_any_of_it() -> None:
    password = f"it's-{uuid.uuid4().hex}"
    escaped = password.replace("'", "\\'")
    jaas = f"{PLAIN} required username='u' password='{escaped}"  # unterminated
    props = resolve_client_properties(
        request(additionalProperties={"sasl.jaas.config": jaas}), role="producer"
    )
    with pytest.raises(ConnectorInputError) as excinfo:
        to_kafka_python(props, role="producer")
    assert "could not be parsed" in excinfo.value.message
    assert not leaks({"password": password, "jaas": jaas}, {"error": str(excinfo.value)})
