"""The producer recovers from broker failures by itself, inside one warm execution environment.

kafka-python 3.0.12 wedges an idempotent producer whose sent batch expires (it drops its
producer id and never asks for another): before the fix, every later call on the warm
client timed out even once the broker was back. These tests make that happen on purpose —
a broker that stops answering while a record is in flight — and check that the very next
call after the broker returns is acknowledged, and that every acknowledged record is on
the broker at the partition and offset the workflow was told. Real brokers throughout;
the Kafka timeouts below bound every call to a few seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from functions.producer import app as producer_app
from kafka_connector.errors import KafkaRetryableError
from local.broker import EmbeddedBroker
from tests.support.kafka import create_topic, read_one
from tests.support.producer import durable_broker_starter, invoke_producer, paused, records_at

#: Short enough for seconds-long tests, long enough for a loaded machine to answer a healthy
#: request: one request may wait 1.5 s, a record 4 s in all, a metadata or bootstrap wait 3 s.
TIMEOUTS = {
    "request.timeout.ms": 1500,
    "delivery.timeout.ms": 4000,
    "max.block.ms": 3000,
    "linger.ms": 0,
}


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own (in memory), so pausing it disturbs no other test."""
    with EmbeddedBroker() as own:
        yield own


@pytest.fixture
def durable_broker(emulator: Any) -> Iterator[tuple[list[EmbeddedBroker], Any]]:
    """Tansu on s3:// storage in the emulator: killed and started again, it keeps what it acknowledged."""
    start = durable_broker_starter(emulator, "tansu-recovery")
    brokers = [start()]
    yield brokers, start
    brokers[-1].stop()


def stored_value(bootstrap: str, response: dict[str, Any]) -> Any:
    record = read_one(bootstrap, response["topic"], response["partition"], response["offset"])
    return json.loads(record.value)


def hang_while_a_record_is_in_flight(broker: EmbeddedBroker, address: str) -> None:
    """Pause the broker under a record: it is sent, never answered, retried, and expires.

    That expiry of an already-sent batch is what made kafka-python reset the producer id.
    """
    with paused(broker), pytest.raises(KafkaRetryableError):
        invoke_producer(broker.bootstrap_servers, address, {"n": "lost"}, TIMEOUTS)


def test_first_call_after_a_hung_broker_resumes_is_acknowledged(broker: EmbeddedBroker) -> None:
    bootstrap = broker.bootstrap_servers
    topic = create_topic(bootstrap, partitions=1)
    publisher = producer_app.publisher
    first = invoke_producer(bootstrap, f"{topic}#0", {"n": 0}, TIMEOUTS)
    created, replaced = publisher.clients_created, publisher.clients_replaced

    hang_while_a_record_is_in_flight(broker, f"{topic}#0")

    # The broker answers again: the first call gets through, on a replacement client.
    after = invoke_producer(bootstrap, f"{topic}#0", {"n": "after"}, TIMEOUTS)
    assert publisher.clients_replaced == replaced + 1
    assert publisher.clients_created == created + 1
    again = invoke_producer(bootstrap, f"{topic}#0", {"n": "again"}, TIMEOUTS)
    assert publisher.clients_created == created + 1  # the replacement is the new warm client
    for response, value in ((first, {"n": 0}), (after, {"n": "after"}), (again, {"n": "again"})):
        assert response["partition"] == 0
        assert stored_value(bootstrap, response) == value
    # The unanswered record may have been written when the broker resumed (at least once),
    # so the next one lands after it or in its place.
    assert after["offset"] in (first["offset"] + 1, first["offset"] + 2)
    assert again["offset"] == after["offset"] + 1


def test_first_call_after_a_hung_broker_is_restarted_is_acknowledged(durable_broker: Any) -> None:
    brokers, start = durable_broker
    bootstrap = brokers[0].bootstrap_servers
    publisher = producer_app.publisher
    first = invoke_producer(bootstrap, "recovery#0", {"n": 0}, TIMEOUTS)
    replaced = publisher.clients_replaced

    hang_while_a_record_is_in_flight(brokers[0], "recovery#0")
    brokers[0].stop()  # killed while hung
    brokers.append(start())

    after = invoke_producer(bootstrap, "recovery#0", {"n": "after"}, TIMEOUTS)
    assert publisher.clients_replaced == replaced + 1
    assert (after["partition"], stored_value(bootstrap, after)) == (0, {"n": "after"})
    assert stored_value(bootstrap, first) == {"n": 0}
    assert after["offset"] > first["offset"]


def test_broker_restart_under_sequential_calls(durable_broker: Any) -> None:
    brokers, start = durable_broker
    bootstrap = brokers[0].bootstrap_servers
    acknowledged = [invoke_producer(bootstrap, "sequential", {"n": n}, TIMEOUTS) for n in range(4)]
    values = [{"n": n} for n in range(4)]

    brokers[0].stop()
    for n in range(2):
        with pytest.raises(KafkaRetryableError):
            invoke_producer(bootstrap, "sequential", {"outage": n}, TIMEOUTS)
    brokers.append(start())

    for n in range(4, 7):  # the first call after the restart already succeeds
        acknowledged.append(invoke_producer(bootstrap, "sequential", {"n": n}, TIMEOUTS))
        values.append({"n": n})
    for response, value in zip(acknowledged, values, strict=True):
        assert stored_value(bootstrap, response) == value


class Worker(threading.Thread):
    """Publishes its own numbered records through the shared warm function until told to stop."""

    def __init__(
        self, number: int, bootstrap: str, restarted: threading.Event, stop: threading.Event
    ) -> None:
        super().__init__(name=f"producer-{number}", daemon=True)
        self.number, self.bootstrap = number, bootstrap
        self.restarted, self.stop = restarted, stop
        self.acknowledged: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self.failures = 0
        self.after_restart = 0
        self.failed = threading.Event()
        self.acknowledged_twice = threading.Event()
        self.succeeded_after_restart = threading.Event()
        self.unexpected: list[BaseException] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            value = {"worker": self.number, "n": n}
            n += 1
            restarted = self.restarted.is_set()
            try:
                response = invoke_producer(self.bootstrap, "concurrent", value, TIMEOUTS)
            except KafkaRetryableError:
                self.failures += 1
                self.failed.set()
                continue
            except BaseException as error:  # reported by the test, not lost in the thread
                self.unexpected.append(error)
                return
            self.acknowledged.append((response, value))
            if len(self.acknowledged) >= 2:
                self.acknowledged_twice.set()
            if restarted:
                self.succeeded_after_restart.set()
                self.after_restart += 1
                if self.after_restart == 3:  # calls succeed again; enough to show it
                    return


def wait_all(events: list[threading.Event], timeout: float) -> bool:
    """Whether every event is set within ``timeout`` of the call (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    return all(event.wait(max(0.0, deadline - time.monotonic())) for event in events)


def progress(workers: list[Worker]) -> list[tuple[int, int, list[BaseException]]]:
    """What each caller saw so far, for an assertion's message."""
    return [(len(w.acknowledged), w.failures, w.unexpected) for w in workers]


def test_broker_restart_under_four_concurrent_callers(durable_broker: Any) -> None:
    brokers, start = durable_broker
    bootstrap = brokers[0].bootstrap_servers
    invoke_producer(bootstrap, "concurrent", {"warm": True}, TIMEOUTS)  # create the topic, warm the client
    restarted, stop = threading.Event(), threading.Event()
    workers = [Worker(number, bootstrap, restarted, stop) for number in range(4)]
    for worker in workers:
        worker.start()
    try:
        assert wait_all([w.acknowledged_twice for w in workers], timeout=15), progress(workers)
        brokers[0].stop()  # killed under the callers: some of their records are in flight
        assert wait_all([w.failed for w in workers], timeout=20), progress(workers)
        brokers.append(start())
        restarted.set()
        # Each caller's first call that *starts* after the restart is acknowledged, or it
        # retries; a bound of several delivery timeouts means "calls succeed again".
        assert wait_all([w.succeeded_after_restart for w in workers], timeout=30), progress(workers)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=15)
    assert [w.unexpected for w in workers] == [[], [], [], []]
    acknowledged = {
        (response["partition"], response["offset"]): value
        for worker in workers
        for response, value in worker.acknowledged
    }
    # No two acknowledgements name the same record, and each names the record it sent.
    assert len(acknowledged) == sum(len(worker.acknowledged) for worker in workers)
    stored = records_at(bootstrap, "concurrent", set(acknowledged))
    assert {position: json.loads(value) for position, value in stored.items()} == acknowledged
