"""Idempotent publishing: moto's DynamoDB as the idempotency table, the real broker (docs/payloads.md).

The producer function is cold-started with ``IDEMPOTENCY_TABLE`` (its module reloaded, as
Lambda would load it), and every test counts the records on the topic: a repeated call
must not add one. The call still in progress is made by real means — its client's
bootstrap held by a relay in front of the real broker — not by writing the table by hand.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from kafka_connector import environment as names
from kafka_connector.aws import clients as aws_clients
from kafka_connector.errors import ConnectorInputError, KafkaNonRetryableError, KafkaRetryableError
from kafka_connector.outbound.idempotency import DEFAULT_TTL_SECONDS, IdempotentPublisher
from local.context import LocalLambdaContext
from tests.support.aws import plain
from tests.support.cold_start import reloaded
from tests.support.kafka import read_records
from tests.support.leaks import leaks
from tests.support.producer import HeldRelay

pytestmark = pytest.mark.timeout(120)
TABLE = "kafka-idempotency"
KEY = "arn:aws:states:us-east-1:123456789012:execution:orders:o-1001-PublishOrder"


def cold_start(monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    """The producer module loaded afresh with ``env`` (its warm clients closed first)."""
    from functions.producer import app

    app.publisher.close()
    aws_clients.client.cache_clear()
    return reloaded(monkeypatch, "functions.producer.app", env)


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The producer function with an idempotency table in moto."""
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield cold_start(monkeypatch, **{names.IDEMPOTENCY_TABLE: TABLE})
        monkeypatch.delenv(names.IDEMPOTENCY_TABLE)
        monkeypatch.delenv(names.IDEMPOTENCY_TTL_SECONDS, raising=False)
        cold_start(monkeypatch)


def invoke(app: Any, event: dict[str, Any]) -> dict[str, Any]:
    return app.lambda_handler(event, LocalLambdaContext("producer"))


def event_for(bootstrap: str, topic: str, **fields: Any) -> dict[str, Any]:
    return {
        "topic": {"bootstrapServers": bootstrap, "topicName": topic},
        "message": {"key": "o-1001", "value": {"orderId": "o-1001", "amount": 42}},
        "idempotencyKey": KEY,
    } | fields


def on_topic(bootstrap: str, topic: str) -> list[Any]:
    return read_records(bootstrap, topic, count=10**9, timeout=3.0)


def items() -> list[dict[str, Any]]:
    return [plain(item) for item in boto3.client("dynamodb").scan(TableName=TABLE)["Items"]]


def test_a_repeated_call_returns_the_first_acknowledgement_and_publishes_once(producer, bootstrap, topic):
    first = invoke(producer, event_for(bootstrap, topic))
    # The task is retried (its response was lost, or the execution was redriven): same input.
    again = invoke(producer, event_for(bootstrap, topic))
    assert again == first
    records = on_topic(bootstrap, topic)
    assert [(r.partition, r.offset) for r in records] == [(first["partition"], first["offset"])]
    (item,) = items()
    assert item["status"] == "COMPLETED"
    assert json.loads(item["data"]) == [
        {
            "topic": topic,
            "partition": first["partition"],
            "offset": first["offset"],
            "timestamp": first["timestamp"],
            "serializedKeySize": 6,
            "serializedValueSize": len(records[0].value),
        }
    ]


def test_a_batch_is_published_once_per_key(producer, bootstrap, topic):
    event = event_for(bootstrap, topic, messages=[{"value": f"v{i}"} for i in range(5)])
    del event["message"]
    first = invoke(producer, event)
    assert invoke(producer, event) == first
    assert len(first["records"]) == 5
    assert len(on_topic(bootstrap, topic)) == 5


def test_another_payload_under_the_same_key_is_an_input_error(producer, bootstrap, topic):
    invoke(producer, event_for(bootstrap, topic))
    with pytest.raises(
        ConnectorInputError, match="'idempotencyKey' was used before with a different payload"
    ):
        invoke(producer, event_for(bootstrap, topic, message={"key": "o-1001", "value": {"amount": 43}}))
    with pytest.raises(ConnectorInputError, match="different payload"):
        invoke(producer, event_for(bootstrap, topic, headers={"source": "other"}))
    assert len(on_topic(bootstrap, topic)) == 1
    # Configuration is not part of the payload: another client.id or debug is the same publish.
    again = invoke(producer, event_for(bootstrap, topic, additionalProperties={"client.id": "x"}, debug=True))
    assert again["serializedKeySize"] == 6
    assert len(on_topic(bootstrap, topic)) == 1


def test_different_keys_publish_separately(producer, bootstrap, topic):
    invoke(producer, event_for(bootstrap, topic))
    invoke(producer, event_for(bootstrap, topic, idempotencyKey=KEY + "-2"))
    assert len(on_topic(bootstrap, topic)) == 2


def test_a_failed_publish_stores_nothing_so_the_retry_publishes(producer, bootstrap, topic):
    too_large = event_for(bootstrap, topic, additionalProperties={"max.request.size": 1000})
    too_large["message"] = {"value": "x" * 3000}
    for _ in range(2):  # a failure is not remembered: the same call fails (and would publish) again
        with pytest.raises(KafkaNonRetryableError, match=r"max\.request\.size"):
            invoke(producer, too_large)
    assert items() == []
    ok = dict(too_large, additionalProperties={})  # configuration differs, payload the same
    first = invoke(producer, ok)
    assert invoke(producer, ok) == first
    assert len(on_topic(bootstrap, topic)) == 1


def test_a_call_while_the_first_is_in_progress_is_told_to_retry(producer, bootstrap, topic):
    with HeldRelay(bootstrap) as relay:
        event = event_for(relay.bootstrap_servers, topic)
        outcome: dict[str, Any] = {}

        def first_call() -> None:
            outcome["first"] = invoke(producer, event)

        thread = threading.Thread(target=first_call)
        thread.start()
        assert relay.connected.wait(30), "the first call never reached the broker"
        assert [item["status"] for item in items()] == ["INPROGRESS"]
        with pytest.raises(KafkaRetryableError, match="still publishing"):
            invoke(producer, event)
        relay.release()
        thread.join(60)
        assert "first" in outcome
        assert invoke(producer, event) == outcome["first"]
    assert len(on_topic(bootstrap, topic)) == 1


def test_after_the_window_the_key_publishes_again(monkeypatch, producer, bootstrap, topic):
    app = cold_start(monkeypatch, **{names.IDEMPOTENCY_TTL_SECONDS: "1"})
    first = invoke(app, event_for(bootstrap, topic))
    (item,) = items()
    assert float(item["expiration"]) - time.time() <= 1
    assert invoke(app, event_for(bootstrap, topic)) == first
    time.sleep(2.1)  # past the 1 s window: the record has expired
    assert invoke(app, event_for(bootstrap, topic))["offset"] != first["offset"]
    assert len(on_topic(bootstrap, topic)) == 2


def test_the_default_window_is_the_redrive_window(producer, bootstrap, topic):
    invoke(producer, event_for(bootstrap, topic))
    (item,) = items()
    assert abs(float(item["expiration"]) - (time.time() + DEFAULT_TTL_SECONDS)) < 600
    assert DEFAULT_TTL_SECONDS == 14 * 24 * 3600


def test_secrets_are_never_stored_and_a_rotated_secret_is_the_same_payload(producer, bootstrap, topic):
    parameters.clear_caches()
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="KAFKA_PASSWORD", SecretString="idem-pa55-w0rd-value")
    secrets.create_secret(Name="CLIENT", SecretString="idem-client-secret-id")
    typed = "typed-in-idem-password-9"
    event = event_for(
        bootstrap,
        topic,
        authentication={"username": "idem-user-name", "password": "{{secrets.KAFKA_PASSWORD}}"},
        # The embedded broker has no SASL: the credentials are resolved, then the protocol overridden.
        additionalProperties={
            "security.protocol": "PLAINTEXT",
            "client.id": "{{secrets.CLIENT}}",
            "ssl.key.password": typed,
        },
        debug=True,
    )
    first = invoke(producer, event)
    table = json.dumps(items(), default=str)
    assert KEY not in table  # the key itself is stored hashed
    assert (
        leaks(
            {
                "resolved secret": "idem-pa55-w0rd-value",
                "client.id secret": "idem-client-secret-id",
                "typed password": typed,
                "username": "idem-user-name",
            },
            {"idempotency table": table},
        )
        == []
    )
    (item,) = items()
    assert set(json.loads(item["data"])[0]) == {
        "topic",
        "partition",
        "offset",
        "timestamp",
        "serializedKeySize",
        "serializedValueSize",
    }
    secrets.put_secret_value(SecretId="KAFKA_PASSWORD", SecretString="idem-rotated-value")
    parameters.clear_caches()
    again = invoke(producer, event)
    assert (again["partition"], again["offset"]) == (first["partition"], first["offset"])
    assert len(on_topic(bootstrap, topic)) == 1


def test_without_a_table_an_idempotency_key_is_an_input_error(monkeypatch, bootstrap, topic):
    app = cold_start(monkeypatch)
    assert app.idempotent is None
    with pytest.raises(
        ConnectorInputError, match="needs an idempotency table; this function has no IDEMPOTENCY_TABLE"
    ):
        invoke(app, event_for(bootstrap, topic))
    assert on_topic(bootstrap, topic) == []


@pytest.mark.parametrize("ttl", ["0", "-1", "1.5", "abc", "31622401"])
def test_a_bad_window_fails_the_cold_start(ttl):
    with pytest.raises(
        ConnectorInputError, match="IDEMPOTENCY_TTL_SECONDS must be an integer from 1 to 31622400"
    ):
        IdempotentPublisher.from_environment(
            {names.IDEMPOTENCY_TABLE: TABLE, names.IDEMPOTENCY_TTL_SECONDS: ttl}
        )
