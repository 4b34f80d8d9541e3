"""Producer mTLS from Secrets Manager: ``authentication: {"type": "mtls", "secret": …}``.

The broker is the embedded one behind the TLS proxy of ``local.secure`` with client-certificate
verification on (``require_client_cert``): the proxy's CA must have issued the client's
certificate, so a record on the broker proves the secret's key pair really opened the listener.
Secrets are in moto's Secrets Manager, in the shapes the event source mapping reads
(``CLIENT_CERTIFICATE_TLS_AUTH``, ``SERVER_ROOT_CA_CERTIFICATE``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from functions.producer import app
from kafka_connector.errors import ConnectorInputError, KafkaNonRetryableError, KafkaRetryableError
from local.broker import EmbeddedBroker
from local.context import LocalLambdaContext
from local.net import free_port
from local.secure.pki import CLIENT_AUTH, CertificateAuthority, Pki
from local.secure.proxy import AuthProxy
from tests.support.kafka import read_one
from tests.support.leaks import fragment_leaks, leaks, logger_writing_to

KEY_PASSWORD = "k3y-pa55word-for-the-test"


@dataclass(frozen=True)
class MutualTlsKafka:
    bootstrap: str
    pki: Pki

    def reader_config(self) -> dict[str, Any]:
        """kafka-python settings that pass the proxy (the PKI's own client certificate, as files)."""
        return {
            "security_protocol": "SSL",
            "ssl_cafile": str(self.pki.ca_file),
            "ssl_certfile": str(self.pki.client_cert_file),
            "ssl_keyfile": str(self.pki.client_key_file),
        }


@pytest.fixture(scope="module")
def mtls_kafka(auth_pki: Pki) -> Iterator[MutualTlsKafka]:
    upstream = free_port()
    proxy = AuthProxy(("127.0.0.1", upstream), tls=auth_pki.server_context(require_client_cert=True))
    with proxy, EmbeddedBroker(port=upstream, advertised_port=proxy.port):
        yield MutualTlsKafka(proxy.address, auth_pki)


@pytest.fixture
def secrets() -> Iterator[Any]:
    parameters.clear_caches()
    with mock_aws():
        yield boto3.client("secretsmanager")
    parameters.clear_caches()


def put_secret(client: Any, name: str, document: dict[str, str]) -> str:
    return str(client.create_secret(Name=name, SecretString=json.dumps(document))["ARN"])


def publish(kafka: MutualTlsKafka, authentication: dict[str, Any], **extra: Any) -> dict[str, Any]:
    event = {
        "topic": {"bootstrapServers": kafka.bootstrap, "topicName": "mtls"},
        "message": {"key": "employee1", "value": {"name": "John Doe"}},
        "authentication": authentication,
        "additionalProperties": {"max.block.ms": 3000},
        **extra,
    }
    return app.lambda_handler(event, LocalLambdaContext("producer"))


def landed(kafka: MutualTlsKafka, response: dict[str, Any]) -> tuple[bytes, Any]:
    record = read_one(
        kafka.bootstrap, response["topic"], response["partition"], response["offset"], **kafka.reader_config()
    )
    return record.key, json.loads(record.value)


def client_secret(pki: Pki) -> dict[str, str]:
    assert pki.client_cert_pem is not None
    assert pki.client_key_pem is not None
    return {"certificate": pki.client_cert_pem, "privateKey": pki.client_key_pem}


def test_a_client_certificate_from_a_secret_opens_the_listener(mtls_kafka, secrets):
    put_secret(secrets, "kafka-client", client_secret(mtls_kafka.pki))
    put_secret(secrets, "kafka-root-ca", {"certificate": mtls_kafka.pki.ca_pem})
    response = publish(
        mtls_kafka, {"type": "mtls", "secret": "kafka-client", "serverRootCaSecret": "kafka-root-ca"}
    )
    assert landed(mtls_kafka, response) == (b"employee1", {"name": "John Doe"})


def test_a_secret_by_arn_holds_an_encrypted_key(mtls_kafka, secrets, monkeypatch):
    # The CLIENT_CERTIFICATE_TLS_AUTH shape with privateKeyPassword, its certificate a chain (leaf, CA).
    # An ARN is used as given; a name gets SECRETS_PREFIX.
    monkeypatch.setenv("SECRETS_PREFIX", "kafka-connector/")
    pki = mtls_kafka.pki
    assert pki.client_cert_pem is not None
    arn = put_secret(
        secrets,
        "kafka-client-encrypted",
        {
            "certificate": pki.client_cert_pem + pki.ca_pem,
            "privateKey": (encrypted_key := _encrypted(pki, KEY_PASSWORD)),
            "privateKeyPassword": KEY_PASSWORD,
        },
    )
    put_secret(secrets, "kafka-connector/kafka-root-ca", {"certificate": pki.ca_pem})
    response = publish(
        mtls_kafka, {"type": "mtls", "secret": arn, "serverRootCaSecret": "kafka-root-ca"}, debug=True
    )
    assert landed(mtls_kafka, response)[0] == b"employee1"
    properties = response["properties"]
    assert properties["security.protocol"] == "SSL"
    assert properties["ssl.keystore.key"] == properties["ssl.key.password"] == "******"
    assert leaks({"password": KEY_PASSWORD}, {"response": json.dumps(response)}) == []
    assert fragment_leaks({"key": encrypted_key}, {"response": json.dumps(response)}) == []


def _encrypted(pki: Pki, password: str) -> str:
    from cryptography.hazmat.primitives import serialization

    assert pki.client_key_pem is not None
    key = serialization.load_pem_private_key(pki.client_key_pem.encode(), None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    ).decode()


#: What a refused client certificate looks like to kafka-python: the listener closes the connection
#: (TLS 1.3 refuses after the handshake, on the first read), indistinguishable from a broker going
#: away, so the client retries until max.block.ms (docs/outcomes.md#producer-errors).
REFUSED = "could not reach the Kafka cluster"


def test_without_a_client_certificate_the_listener_refuses(mtls_kafka, secrets):
    put_secret(secrets, "kafka-root-ca", {"certificate": mtls_kafka.pki.ca_pem})
    with pytest.raises(KafkaRetryableError, match=REFUSED):
        publish(
            mtls_kafka,
            {"serverRootCaSecret": "kafka-root-ca"},
            additionalProperties={"security.protocol": "SSL", "max.block.ms": 1500},
        )


def test_a_certificate_from_another_ca_is_refused_and_its_key_never_shown(mtls_kafka, secrets, capsys):
    stranger = CertificateAuthority.create("stranger CA").issue("intruder", usage=CLIENT_AUTH)
    key = stranger.key_pem()
    put_secret(secrets, "kafka-stranger", {"certificate": stranger.cert_pem, "privateKey": key})
    put_secret(secrets, "kafka-root-ca", {"certificate": mtls_kafka.pki.ca_pem})
    with (
        logger_writing_to(app.logger, sys.stdout),
        pytest.raises(KafkaRetryableError, match=REFUSED) as caught,
    ):
        publish(
            mtls_kafka,
            {"type": "mtls", "secret": "kafka-stranger", "serverRootCaSecret": "kafka-root-ca"},
            additionalProperties={"max.block.ms": 1500},
        )
    logs = capsys.readouterr()
    outputs = {"error": str(caught.value), "stdout": logs.out, "stderr": logs.err}
    assert leaks({"private key": key}, outputs) == []
    assert fragment_leaks({"private key": key}, {"error": str(caught.value)}) == []


def test_a_broker_not_signed_by_the_root_ca_secret_is_not_trusted(mtls_kafka, secrets):
    put_secret(secrets, "kafka-client", client_secret(mtls_kafka.pki))
    put_secret(secrets, "other-ca", {"certificate": CertificateAuthority.create("other CA").cert_pem})
    with pytest.raises(KafkaNonRetryableError, match="TLS verification failed"):
        publish(mtls_kafka, {"type": "mtls", "secret": "kafka-client", "serverRootCaSecret": "other-ca"})


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"certificate": "x"}, "has no 'privateKey'"),
        ({"privateKey": "x"}, "has no 'certificate'"),
        ({"certificate": 1, "privateKey": "x"}, "field 'certificate' must be text"),
        ({"certificate": "not a pem", "privateKey": "not a pem either"}, "does not hold a usable key pair"),
        ("wrong key password", "does not hold a usable key pair"),
        ("key of another certificate", "does not hold a usable key pair"),
        ("not JSON", "must hold a JSON object"),
    ],
)
def test_a_broken_client_secret_is_an_input_error_naming_it(mtls_kafka, secrets, capsys, document, problem):
    pki = mtls_kafka.pki
    assert pki.client_cert_pem is not None
    shown_key = KEY_PASSWORD
    if document == "wrong key password":
        document = {
            "certificate": pki.client_cert_pem,
            "privateKey": _encrypted(pki, KEY_PASSWORD),
            "privateKeyPassword": "not-the-key-password",
        }
    elif document == "key of another certificate":
        other = CertificateAuthority.create("other").issue("other", usage=CLIENT_AUTH)
        shown_key = other.key_pem()
        document = {"certificate": pki.client_cert_pem, "privateKey": shown_key}
    if document == "not JSON":
        secrets.create_secret(Name="broken", SecretString=pki.client_key_pem)
        shown_key = str(pki.client_key_pem)
    else:
        put_secret(secrets, "broken", document)
    with pytest.raises(ConnectorInputError) as caught:
        publish(mtls_kafka, {"type": "mtls", "secret": "broken"})
    message = caught.value.message
    assert message.startswith("'authentication.secret': secret 'broken'")
    assert problem in message
    logs = capsys.readouterr()
    outputs = {"error": str(caught.value), "stdout": logs.out, "stderr": logs.err}
    assert leaks({"key": shown_key}, outputs) == []
    assert fragment_leaks({"key": shown_key}, {"error": str(caught.value)}) == []


@pytest.mark.parametrize(
    ("authentication", "problem"),
    [
        ({"type": "mtls"}, "'authentication.secret' is required with type 'mtls'"),
        ({"type": "mtls", "secret": ""}, "'authentication.secret' must be a secret name or ARN"),
        ({"type": "mtls", "secret": "absent"}, "secret 'absent' does not exist"),
        ({"serverRootCaSecret": "absent"}, "secret 'absent' does not exist"),
        ({"serverRootCaSecret": 7}, "'authentication.serverRootCaSecret' must be a secret name or ARN"),
        ({"serverRootCaSecret": "no-certificate"}, "secret 'no-certificate' has no 'certificate'"),
        ({"serverRootCaSecret": "not-pem"}, "the 'certificate' of secret 'not-pem' is not PEM certificates"),
    ],
)
def test_secret_references_are_checked_before_connecting(mtls_kafka, secrets, authentication, problem):
    put_secret(secrets, "no-certificate", {"privateKey": "x"})
    put_secret(secrets, "not-pem", {"certificate": "-----BEGIN CERTIFICATE-----\nnope\n"})
    with pytest.raises(ConnectorInputError, match=re.escape(problem)):
        publish(mtls_kafka, authentication)
