"""Authentication end to end: the properties the layer resolves really negotiate TLS and SASL.

The embedded broker speaks neither, so these run against it behind the TLS/SASL proxy of
``local.secure.broker``; the proxy records every SASL exchange it judged.
"""

import json
import sys

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from functions.producer import app
from kafka_connector.errors import KafkaNonRetryableError, KafkaRetryableError
from local.context import LocalLambdaContext
from tests.support.kafka import read_one
from tests.support.leaks import leaks, logger_writing_to


def publish(kafka, *, authentication=None, debug=False, **properties):
    event = {
        "topic": {"bootstrapServers": kafka.bootstrap, "topicName": "secured"},
        "message": {"key": "employee1", "value": {"name": "John Doe"}},
        "additionalProperties": properties,
        "debug": debug,
    }
    if authentication is not None:
        event["authentication"] = authentication
    return app.lambda_handler(event, LocalLambdaContext("producer"))


def trust(kafka):
    return {"ssl.truststore.type": "PEM", "ssl.truststore.certificates": kafka.ca_pem}


def landed(kafka, response):
    record = read_one(
        kafka.bootstrap, response["topic"], response["partition"], response["offset"], **kafka.client_config()
    )
    return record.key, json.loads(record.value)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_sasl_ssl(secured_kafka, mechanism):
    kafka = secured_kafka("sasl_ssl")
    before = len(kafka.proxy.events)
    response = publish(
        kafka,
        authentication={"username": "bob", "password": kafka.users["bob"]},
        **{"sasl.mechanism": mechanism},
        **trust(kafka),
    )
    assert landed(kafka, response) == (b"employee1", {"name": "John Doe"})
    judged = [(e.username, e.mechanism, e.succeeded) for e in kafka.proxy.events[before:]]
    assert ("bob", mechanism, True) in judged


def test_sasl_plaintext_with_a_jaas_config(secured_kafka):
    kafka = secured_kafka("sasl_plaintext")
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="alice" password="{kafka.users["alice"]}";'
    )
    response = publish(
        kafka,
        **{
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": jaas,
        },
    )
    assert landed(kafka, response)[0] == b"employee1"
    assert kafka.proxy.events[-1].succeeded


def test_ssl_with_a_pem_truststore(secured_kafka):
    kafka = secured_kafka("ssl")
    response = publish(kafka, **{"security.protocol": "SSL"}, **trust(kafka))
    assert landed(kafka, response)[0] == b"employee1"


def test_wrong_password_is_an_authentication_failure_not_a_timeout(secured_kafka, capsys):
    kafka = secured_kafka("sasl_ssl")
    with logger_writing_to(app.logger, sys.stdout), pytest.raises(KafkaNonRetryableError) as caught:
        publish(
            kafka,
            authentication={"username": "alice", "password": "not-alices-password"},
            **{"sasl.mechanism": "SCRAM-SHA-256"},
            **trust(kafka),
        )
    assert "authentication failed" in caught.value.message
    assert kafka.proxy.events[-1].succeeded is False
    logs = capsys.readouterr()
    assert "authentication failed" in logs.out  # the handler's log line was captured: the check below sees it
    assert not leaks(
        {"password": "not-alices-password"}, {"error": str(caught.value), "logs": logs.out + logs.err}
    )


def test_untrusted_broker_certificate_is_non_retryable(secured_kafka):
    kafka = secured_kafka("ssl")
    with pytest.raises(KafkaNonRetryableError, match="TLS verification failed"):
        publish(kafka, **{"security.protocol": "SSL"})


@mock_aws
def test_credentials_from_secrets_are_used_and_masked(secured_kafka, capsys):
    kafka = secured_kafka("sasl_ssl")
    parameters.clear_caches()
    boto3.client("secretsmanager").create_secret(
        Name="KAFKA_CREDENTIALS", SecretString=json.dumps({"username": "bob", "password": kafka.users["bob"]})
    )
    with logger_writing_to(app.logger, sys.stdout):
        response = publish(
            kafka,
            authentication={
                "username": "{{secrets.KAFKA_CREDENTIALS.username}}",
                "password": "{{secrets.KAFKA_CREDENTIALS.password}}",
            },
            debug=True,
            **{"sasl.mechanism": "SCRAM-SHA-512"},
            **trust(kafka),
        )
    assert landed(kafka, response)[0] == b"employee1"
    assert response["properties"]["sasl.jaas.config"] == "******"
    assert ("bob", "SCRAM-SHA-512", True) in [
        (e.username, e.mechanism, e.succeeded) for e in kafka.proxy.events
    ]
    logs = capsys.readouterr()
    assert not leaks(
        {"password": kafka.users["bob"]}, {"response": json.dumps(response), "logs": logs.out + logs.err}
    )


def test_tls_client_against_a_plaintext_listener_fails_within_its_timeouts(bootstrap):
    # kafka-python alone waits for the TLS handshake forever here; the layer bounds it.
    event = {
        "topic": {"bootstrapServers": bootstrap, "topicName": "secured"},
        "message": {"value": "x"},
        "authentication": {"username": "alice", "password": "irrelevant"},
        "additionalProperties": {"max.block.ms": 1500},
    }
    with pytest.raises(KafkaRetryableError) as caught:
        app.lambda_handler(event, LocalLambdaContext("producer"))
    assert "security.protocol" in caught.value.description
