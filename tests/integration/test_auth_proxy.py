"""The authentication test harness itself: plain kafka-python really negotiates TLS and SASL through it.

These tests pin the harness (``local/secure/``), not the connector. If they pass, a
connector test that produces through ``secured_kafka(mode)`` has exercised the real handshake:
the proxy records every SASL exchange it judged, and the broker behind it speaks neither TLS nor
SASL, so there is no way around the proxy.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, SaslAuthenticationFailedError
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from local.broker import EmbeddedBroker
from local.net import free_port
from local.secure.pki import Pki, make_test_pki
from local.secure.proxy import AuthProxy
from local.secure.wire import (
    API_SASL_AUTHENTICATE,
    API_SASL_HANDSHAKE,
    ERROR_SASL_AUTHENTICATION_FAILED,
    ERROR_UNSUPPORTED_SASL_MECHANISM,
)

if TYPE_CHECKING:  # imported by pytest as a plugin (below): importing it first defeats assert rewriting
    from tests.support.auth import SecuredKafka


SecuredKafkaFactory = Callable[[str], "SecuredKafka"]

#: How long a client that must fail may try: failures are judged on what the proxy saw, not on
#: kafka-python's exception, which is a bootstrap timeout (see ``test_wrong_password_is_refused``).
FAILING_BOOTSTRAP_MS = 500


def _round_trip(bootstrap: str, config: dict[str, Any]) -> None:
    """Create a topic, produce one record and read it back, every client through ``bootstrap``."""
    topic = f"auth-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **config)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()
    value = uuid.uuid4().bytes
    producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
    try:
        metadata = producer.send(topic, value).get(10)
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **config)
    try:
        partition = TopicPartition(topic, metadata.partition)
        consumer.assign([partition])
        consumer.seek(partition, metadata.offset)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=200).get(partition, []):
                assert record.value == value
                return
        raise AssertionError(f"record {topic}-{metadata.partition}@{metadata.offset} not read back")
    finally:
        consumer.close()


@pytest.mark.parametrize(
    ("mode", "mechanism", "user", "trust"),
    [
        ("sasl_ssl", "SCRAM-SHA-256", "alice", "cafile"),
        ("sasl_ssl", "SCRAM-SHA-512", "alice", "cafile"),
        ("sasl_ssl", "PLAIN", "alice", "cafile"),
        ("sasl_ssl", "SCRAM-SHA-512", "bob", "context"),
        ("sasl_plaintext", "SCRAM-SHA-256", "alice", None),
        ("ssl", None, "alice", "cafile"),
        ("ssl", None, "alice", "context"),
    ],
)
def test_clients_round_trip_through_the_proxy(
    secured_kafka: SecuredKafkaFactory, mode: str, mechanism: str | None, user: str, trust: str | None
) -> None:
    kafka = secured_kafka(mode)
    config = kafka.client_config(mechanism, user=user)
    if trust == "context":
        # The connector may get its truststore as PEM text (a secret), never as a file.
        assert kafka.ca_pem is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=kafka.ca_pem)
        del config["ssl_cafile"]
        config["ssl_context"] = context
    seen = len(kafka.proxy.events)

    _round_trip(kafka.bootstrap, config)

    events = kafka.proxy.events[seen:]
    if mechanism is None:
        assert events == []  # TLS only: nothing to authenticate
    else:
        # admin, producer, consumer: each bootstrap and each connection to the "leader" authenticated
        assert len(events) >= 3
        assert {(e.username, e.mechanism, e.succeeded) for e in events} == {(user, mechanism, True)}


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_wrong_password_is_refused(
    secured_kafka: SecuredKafkaFactory, mechanism: str, caplog: pytest.LogCaptureFixture
) -> None:
    kafka = secured_kafka("sasl_ssl")
    seen = len(kafka.proxy.events)
    config = kafka.client_config(mechanism, password="not-the-password")

    # kafka-python 3.0.12 retries a refused authentication until the bootstrap deadline and then
    # raises KafkaTimeoutError; a fixed version would raise SaslAuthenticationFailedError at once.
    with caplog.at_level(logging.WARNING, logger="kafka"), pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=kafka.bootstrap, bootstrap_timeout_ms=FAILING_BOOTSTRAP_MS, **config)

    events = kafka.proxy.events[seen:]
    assert events, "the proxy never judged the credentials"
    assert {(e.username, e.mechanism, e.succeeded) for e in events} == {("alice", mechanism, False)}
    # The refusal reached the client as a typed error (not a bare disconnect): kafka.net.manager
    # logs "Bootstrap connection to %s failed: %s" with the exception itself.
    assert any(SaslAuthenticationFailedError.__name__ in record.getMessage() for record in caplog.records)


def test_unknown_user_is_refused(secured_kafka: SecuredKafkaFactory) -> None:
    kafka = secured_kafka("sasl_plaintext")
    seen = len(kafka.proxy.events)
    config = {**kafka.client_config("SCRAM-SHA-256"), "sasl_plain_username": "mallory"}
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=kafka.bootstrap, bootstrap_timeout_ms=FAILING_BOOTSTRAP_MS, **config)
    assert {(e.username, e.succeeded) for e in kafka.proxy.events[seen:]} == {("mallory", False)}


def test_tls_client_must_trust_the_ca(
    secured_kafka: SecuredKafkaFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kafka = secured_kafka("ssl")
    stranger = make_test_pki(tmp_path_factory.mktemp("stranger-ca"))
    with pytest.raises(KafkaError):
        KafkaProducer(
            bootstrap_servers=kafka.bootstrap,
            security_protocol="SSL",
            ssl_cafile=str(stranger.ca_file),
            bootstrap_timeout_ms=FAILING_BOOTSTRAP_MS,
        )


def test_plaintext_client_cannot_use_a_tls_listener(secured_kafka: SecuredKafkaFactory) -> None:
    kafka = secured_kafka("ssl")
    with pytest.raises(KafkaError):
        KafkaProducer(bootstrap_servers=kafka.bootstrap, bootstrap_timeout_ms=FAILING_BOOTSTRAP_MS)


def test_mutual_tls(auth_pki: Pki) -> None:
    """The PKI's client certificate opens a listener that requires one (mTLS)."""
    assert auth_pki.client_cert_file is not None
    assert auth_pki.client_key_file is not None
    upstream = free_port()
    proxy = AuthProxy(("127.0.0.1", upstream), tls=auth_pki.server_context(require_client_cert=True))
    with proxy, EmbeddedBroker(port=upstream, advertised_port=proxy.port):
        config = {
            "security_protocol": "SSL",
            "ssl_cafile": str(auth_pki.ca_file),
            "ssl_certfile": str(auth_pki.client_cert_file),
            "ssl_keyfile": str(auth_pki.client_key_file),
        }
        _round_trip(proxy.address, config)
        # Without the certificate the listener refuses the connection (TLS 1.3 reports it late, on
        # the first read, so the client only sees disconnections until its bootstrap deadline).
        with pytest.raises(KafkaError):
            KafkaProducer(
                bootstrap_servers=proxy.address,
                security_protocol="SSL",
                ssl_cafile=str(auth_pki.ca_file),
                bootstrap_timeout_ms=FAILING_BOOTSTRAP_MS,
            )


# Wire-level checks: the proxy's answers decoded by kafka-python's own protocol classes.


class _Wire:
    """A raw Kafka connection: one request at a time, kafka-python's classes for the encoding."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.correlation_id = 0

    def request(self, request: Any) -> bytes | None:
        """Send ``request``; the response body (header stripped by the caller) or None on close."""
        self.correlation_id += 1
        request.with_header(correlation_id=self.correlation_id, client_id="wire-test")
        self.sock.sendall(request.encode(header=True, framed=True))
        size = self._read(4)
        if size is None:
            return None
        payload = self._read(struct.unpack(">i", size)[0])
        assert payload is not None
        assert struct.unpack(">i", payload[:4])[0] == self.correlation_id
        return payload

    def _read(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def closed_by_peer(self) -> bool:
        return self.sock.recv(1) == b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def wire(secured_kafka: SecuredKafkaFactory) -> Iterator[_Wire]:
    connection = _Wire(secured_kafka("sasl_plaintext").bootstrap)
    yield connection
    connection.close()


@pytest.mark.parametrize("version", [0, 3, ApiVersionsRequest.max_version])
def test_api_versions_offer_the_sasl_apis(wire: _Wire, version: int) -> None:
    payload = wire.request(
        ApiVersionsRequest(version=version, client_software_name="wire-test", client_software_version="1")
    )
    assert payload is not None
    response = ApiVersionsResponse[version].decode(payload[4:])  # header v0 even when flexible
    versions = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
    assert response.error_code == 0
    assert versions[API_SASL_HANDSHAKE] == (0, 1)
    assert versions[API_SASL_AUTHENTICATE] == (0, 2)
    assert versions[0][1] >= 3  # the broker's own APIs (Produce) come through


def test_unsupported_mechanism_is_answered_with_the_enabled_ones(wire: _Wire) -> None:
    payload = wire.request(SaslHandshakeRequest(version=1, mechanism="GSSAPI"))
    assert payload is not None
    response = SaslHandshakeResponse[1].decode(payload[4:])
    assert response.error_code == ERROR_UNSUPPORTED_SASL_MECHANISM
    assert set(response.mechanisms) == {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
    assert wire.closed_by_peer()


@pytest.mark.parametrize("version", [0, 1, 2])
def test_bad_plain_credentials_get_error_58(wire: _Wire, version: int) -> None:
    handshake = wire.request(SaslHandshakeRequest(version=1, mechanism="PLAIN"))
    assert handshake is not None
    assert SaslHandshakeResponse[1].decode(handshake[4:]).error_code == 0
    payload = wire.request(SaslAuthenticateRequest(version=version, auth_bytes=b"\x00alice\x00nope"))
    assert payload is not None
    header_size = 5 if version >= 2 else 4  # flexible responses carry header tagged fields
    response = SaslAuthenticateResponse[version].decode(payload[header_size:])
    assert response.error_code == ERROR_SASL_AUTHENTICATION_FAILED
    assert "invalid credentials" in response.error_message
    assert wire.closed_by_peer()


@pytest.mark.parametrize("version", [0, 2])
def test_good_plain_credentials_are_accepted(wire: _Wire, version: int) -> None:
    assert wire.request(SaslHandshakeRequest(version=1, mechanism="PLAIN")) is not None
    payload = wire.request(SaslAuthenticateRequest(version=version, auth_bytes=b"\x00alice\x00alice-s3cret"))
    assert payload is not None
    response = SaslAuthenticateResponse[version].decode(payload[5 if version >= 2 else 4 :])
    assert (response.error_code, response.error_message, bytes(response.auth_bytes)) == (0, None, b"")


def test_requests_before_authentication_close_the_connection(wire: _Wire) -> None:
    from kafka.protocol.metadata import MetadataRequest

    assert wire.request(MetadataRequest(version=1, topics=None)) is None
