"""Shared fixtures: one real broker per test session, moto-friendly AWS settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

#: Secured brokers (TLS/SASL); session fixtures, so nothing starts unless a test asks for one.
pytest_plugins = ["tests.support.auth"]

# CI runs the same examples every time (a landing must not hinge on a lucky draw); locally
# hypothesis keeps exploring and remembers what failed.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# boto3 must never reach a real AWS account from the tests; moto intercepts these dummy credentials.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "KafkaConnectorTests",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def bootstrap() -> Iterator[str]:
    """Bootstrap servers of the session's broker: embedded Tansu, or ``KAFKA_BOOTSTRAP_SERVERS``."""
    from local.broker import kafka_bootstrap

    with kafka_bootstrap() as servers:
        yield servers


@pytest.fixture
def topic(bootstrap: str) -> str:
    """A fresh three-partition topic on the session's broker."""
    from tests.support.kafka import create_topic

    return create_topic(bootstrap, partitions=3)


@pytest.fixture
def aws():
    """moto with Step Functions really executing state machines, and a fresh correlation setup."""
    from moto import mock_aws

    from kafka_connector.aws import clients as aws_clients
    from tests.support.aws import Aws

    aws_clients.client.cache_clear()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield Aws().setup()
    aws_clients.client.cache_clear()


@pytest.fixture
def make_consumer(aws):
    """Build the consumer as a cold start would, from environment variables."""
    from aws_lambda_powertools import Metrics

    from kafka_connector.inbound.batch import BatchConsumer
    from kafka_connector.inbound.config import ConsumerConfig

    def make(**env: str):
        base = {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": "payment",
            "CORRELATION_KEY_EXPRESSION": "=value.orderId",
            "CORRELATION_TABLE": aws.table,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        }
        base.update({k: str(v) for k, v in env.items()})
        return BatchConsumer(
            ConsumerConfig.from_environment(base), metrics=Metrics(namespace="KafkaConnectorTests")
        )

    return make


@pytest.fixture
def subscribe_handler(aws, monkeypatch):
    """The subscribe function after a cold start against the test's table."""
    import importlib

    monkeypatch.setenv("CORRELATION_TABLE", aws.table)
    from functions.subscribe import app

    app = importlib.reload(app)

    def invoke(event):
        from local.context import LocalLambdaContext

        return app.lambda_handler(event, LocalLambdaContext("subscribe"))

    return invoke


@pytest.fixture(scope="session")
def emulator_server():
    """The local runtime's AWS emulator (moto server + local Lambda), one per session."""
    from local.emulator import Emulator

    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def emulator(emulator_server, monkeypatch):
    """A clean emulator, with boto3 in this process pointed at it as the functions would be."""
    from kafka_connector.aws import clients as aws_clients

    emulator_server.reset()
    for name, value in emulator_server.client_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    aws_clients.client.cache_clear()
    yield emulator_server
    emulator_server.functions.clear()
    aws_clients.client.cache_clear()
