"""The publisher's warm clients: which errors keep them, how many are kept, who waits for whom.

Against the session's real broker. A "dead" cluster is a relay in front of that broker
that holds the bootstrap until the test releases it, so a test knows (by an event, not a
clock) that a bootstrap is under way, and ends it at once when it is done with it.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from functions.producer import app as producer_app
from kafka_connector import environment as names
from kafka_connector.errors import ConnectorInputError, KafkaNonRetryableError
from kafka_connector.outbound.publisher import Publisher
from kafka_connector.outbound.request import ProducerRequest
from local.context import LocalLambdaContext
from tests.support.kafka import read_one
from tests.support.producer import HeldRelay

#: A held bootstrap must outlast the test's wait for the other call; the release ends it.
HELD = {"max.block.ms": 20000, "request.timeout.ms": 20000, "delivery.timeout.ms": 25000}


def request(bootstrap: str, topic: str, value: Any = "v", **properties: Any) -> ProducerRequest:
    return ProducerRequest.from_event(
        {
            "topic": {"bootstrapServers": bootstrap, "topicName": topic},
            "message": {"key": "k", "value": value},
            "additionalProperties": properties,
        }
    )


def stored_value(bootstrap: str, acknowledgement: Any) -> Any:
    record = read_one(bootstrap, acknowledgement.topic, acknowledgement.partition, acknowledgement.offset)
    return json.loads(record.value)


@pytest.fixture
def publisher() -> Any:
    own = Publisher()
    yield own
    own.close()


# -- errors about the record keep the client ------------------------------------------------------


def test_record_too_large_keeps_the_warm_client_and_names_kafkas_property(bootstrap: str, topic: str) -> None:
    def invoke(value: str) -> dict[str, Any]:
        event = {
            "topic": {"bootstrapServers": bootstrap, "topicName": topic},
            "message": {"key": "k", "value": value},
            "additionalProperties": {"max.request.size": 1024, "client.id": "too-large"},
        }
        return producer_app.lambda_handler(event, LocalLambdaContext("producer"))

    first = invoke("small")
    created = producer_app.publisher.clients_created
    with pytest.raises(KafkaNonRetryableError) as caught:
        invoke("x" * 5000)
    assert "max.request.size" in caught.value.message
    assert "max_request_size" not in str(caught.value)
    after = invoke("small again")
    assert producer_app.publisher.clients_created == created  # the same warm client
    assert read_one(bootstrap, topic, after["partition"], after["offset"]).value == b"small again"
    assert read_one(bootstrap, topic, first["partition"], first["offset"]).value == b"small"


# -- the bound -----------------------------------------------------------------------------------------


def test_the_cache_bound_comes_from_the_environment(
    bootstrap: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.PRODUCER_CLIENT_CACHE_SIZE, "2")
    publisher = Publisher()
    try:
        assert publisher.max_clients == 2
        for client_id in ("a", "b", "c"):  # c evicts a, the least recently used
            publisher.publish(request(bootstrap, topic, **{"client.id": client_id}))
        assert publisher.clients_created == 3
        publisher.publish(request(bootstrap, topic, **{"client.id": "c"}))
        assert publisher.clients_created == 3
        acknowledgement = publisher.publish(request(bootstrap, topic, {"back": "a"}, **{"client.id": "a"}))
        assert publisher.clients_created == 4
        assert stored_value(bootstrap, acknowledgement) == {"back": "a"}
    finally:
        publisher.close()
    monkeypatch.delenv(names.PRODUCER_CLIENT_CACHE_SIZE)
    assert Publisher().max_clients == 4  # the documented default


@pytest.mark.parametrize("value", ["0", "-1", "four", "2.5", "²"])
def test_a_bad_cache_bound_fails_the_cold_start_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.PRODUCER_CLIENT_CACHE_SIZE, value)
    with pytest.raises(ConnectorInputError, match=names.PRODUCER_CLIENT_CACHE_SIZE):
        Publisher()


# -- who waits for whom ------------------------------------------------------------------------------


def test_a_healthy_cluster_is_not_blocked_by_another_configurations_bootstrap(
    bootstrap: str, topic: str, publisher: Publisher
) -> None:
    with ThreadPoolExecutor(2) as pool, HeldRelay(bootstrap) as dead:  # a failure releases the relay first
        stuck = pool.submit(
            publisher.publish, request(dead.bootstrap_servers, topic, {"via": "dead"}, **HELD)
        )
        assert dead.connected.wait(10)  # that call is inside its bootstrap now
        healthy = pool.submit(publisher.publish, request(bootstrap, topic, {"via": "healthy"}))
        acknowledgement = healthy.result(timeout=15)
        assert not stuck.done()  # the healthy call completed while the other still bootstrapped
        assert stored_value(bootstrap, acknowledgement) == {"via": "healthy"}
        dead.release()
        assert stored_value(bootstrap, stuck.result(timeout=30)) == {"via": "dead"}
    assert publisher.clients_created == 2


def test_concurrent_calls_for_one_configuration_share_one_bootstrap(
    bootstrap: str, topic: str, publisher: Publisher
) -> None:
    with ThreadPoolExecutor(4) as pool, HeldRelay(bootstrap) as held:
        calls = [
            pool.submit(publisher.publish, request(held.bootstrap_servers, topic, {"caller": n}, **HELD))
            for n in range(4)
        ]
        assert held.connected.wait(10)
        wait_for_shared(publisher, 3)  # the three others join the first call's bootstrap
        assert held.connections == 1
        held.release()
        acknowledgements = [call.result(timeout=30) for call in calls]
    assert publisher.clients_created == 1
    assert [stored_value(bootstrap, a) for a in acknowledgements] == [{"caller": n} for n in range(4)]
    assert len({(a.partition, a.offset) for a in acknowledgements}) == 4


def wait_for_shared(publisher: Publisher, count: int) -> None:
    """Until ``count`` calls wait on another call's bootstrap (bounded; the count is the observable)."""
    deadline = time.monotonic() + 10
    while publisher.bootstraps_shared < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert publisher.bootstraps_shared == count


def test_callers_sharing_a_failed_bootstrap_all_get_its_error(bootstrap: str, publisher: Publisher) -> None:
    failing = {"max.block.ms": 5000, "request.timeout.ms": 20000}
    with ThreadPoolExecutor(3) as pool, HeldRelay(bootstrap) as held:
        calls = [
            pool.submit(publisher.publish, request(held.bootstrap_servers, "orders", **failing))
            for _ in range(3)
        ]
        assert held.connected.wait(10)
        wait_for_shared(publisher, 2)
        held.close()  # the cluster goes away for good: the one bootstrap fails when max.block.ms is up
        errors = [call.exception(timeout=30) for call in calls]
    assert [type(error).__name__ for error in errors] == ["KafkaRetryableError"] * 3
    assert all("could not reach the Kafka cluster" in error.message for error in errors)
    assert publisher.clients_created == 0
    assert held.connections == 1
