"""Shared fixtures: one real broker per test session, moto-friendly AWS settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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
    from tests.kafka_helpers import create_topic

    return create_topic(bootstrap, partitions=3)
