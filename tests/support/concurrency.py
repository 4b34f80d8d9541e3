"""Races between the consumer and the subscribe function, shared by the race and fault tests.

Run against the local emulator: moto behind a server that, like DynamoDB, applies each
conditional write atomically (in-process moto does not under threads).
"""

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Metrics

from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.inbound.correlation import subscribe
from kafka_connector.inbound.exceptions import TransientRecordError
from kafka_connector.inbound.step_functions import TaskCallbacks
from kafka_connector.inbound.table import CorrelationTable
from local.kafka_event import KafkaRecord, lambda_kafka_event
from tests.support.aws import Aws


def race(emulator, races: int, workers: int = 16, seed: int = 7):
    aws = Aws().setup()
    executions = {}
    for i in range(races):
        executions[i] = aws.sfn.start_execution(
            stateMachineArn=aws.machine(), name=f"race-{i}", input=json.dumps({"i": i})
        )["executionArn"]
    tokens = {i: aws.token_of(f"race-{i}", timeout=60) for i in range(races)}
    config = ConsumerConfig.from_environment(
        {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": "payment",
            "CORRELATION_KEY_EXPRESSION": "=key",
            "MESSAGE_TTL_SECONDS": "600",
            "CORRELATION_TABLE": aws.table,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        }
    )
    metrics = Metrics(namespace="KafkaConnectorTests")
    table, callbacks = CorrelationTable(aws.table), TaskCallbacks()

    def consume(i):
        record = KafkaRecord("payments", i % 4, i, json.dumps({"n": i}).encode(), f"k-{i}".encode())
        return BatchConsumer(config, metrics=metrics).handle(lambda_kafka_event([record]))

    def register(i):
        return subscribe(
            table,
            callbacks,
            message_name="payment",
            correlation_key=f"k-{i}",
            task_token=tokens[i],
            condition=None,
            ttl_seconds=None,
        )

    jobs = [(consume, i) for i in range(races)] + [(register, i) for i in range(races)]
    random.Random(seed).shuffle(jobs)
    with ThreadPoolExecutor(workers) as pool:
        results = [f.result() for f in [pool.submit(job, i) for job, i in jobs]]
    assert all(r == {"batchItemFailures": []} for r in results if isinstance(r, dict))
    for i, arn in executions.items():
        described = aws.wait_finished(arn, timeout=30)
        assert described["status"] == "SUCCEEDED", (i, described)
        assert json.loads(described["output"])["message"]["value"] == {"n": i}
        assert aws.resumptions(arn) == 1
    leftovers = [item for item in aws.items() if any(k.startswith(("sub_", "msg_")) for k in item)]
    assert leftovers == []  # nothing stored and unmatched


# -- interleavings at chosen points ---------------------------------------------------------------------


class Pause:
    """Stops the thread named ``thread`` at the first ``event`` of ``client`` until :meth:`go`.

    ``event`` is a botocore event of the layer's own client (``after-call.sfn.SendTaskSuccess``:
    the callback took effect; ``provide-client-params.dynamodb.UpdateItem``: about to claim), so
    another party can run exactly there. Synchronisation only: nothing here measures time.
    """

    def __init__(self, client, event, thread):
        self.event, self.thread = event, thread
        self.reached, self._go = threading.Event(), threading.Event()
        self._used = False
        client.meta.events.register(event, self._hook)

    def _hook(self, **_):
        if threading.current_thread().name != self.thread or self._used:
            return
        self._used = True
        self.reached.set()
        assert self._go.wait(60), f"{self.thread} was never released at {self.event}"

    def go(self):
        self._go.set()


def _until(condition, limit=60.0):
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the interleaving did not come about"
        time.sleep(0.005)


def interleave(first, second, first_pause, second_pause=None, *, settle=lambda: None):
    """Run ``first`` (thread A) to its pause, then ``second`` (thread B) to its pause or its end,
    then A to its end, then B to its end; returns (A's result, B's result).

    ``settle`` runs before A goes on (e.g. wait until the task B resumed has finished, so that
    Step Functions refuses A's callback as the real service would). A pause a thread never
    reaches is simply not taken: that thread then runs to its end.
    """
    results, errors = {}, {}

    def run(name, job):
        try:
            results[name] = job()
        except BaseException as error:  # surfaced below, in the test's thread
            errors[name] = error

    a = threading.Thread(name="A", target=run, args=("A", first))
    b = threading.Thread(name="B", target=run, args=("B", second))
    a.start()
    _until(lambda: first_pause.reached.is_set() or not a.is_alive())
    b.start()
    _until(lambda: (second_pause is not None and second_pause.reached.is_set()) or not b.is_alive())
    settle()
    first_pause.go()
    a.join(60)
    if second_pause is not None:
        second_pause.go()
    b.join(60)
    assert not a.is_alive()
    assert not b.is_alive()
    if errors:
        raise next(iter(errors.values()))
    return results.get("A"), results.get("B")


def consumer(aws, ttl=0):
    """A consumer as a fresh invocation builds it: correlating ``payment`` records on their key."""
    config = ConsumerConfig.from_environment(
        {
            "CONNECTOR_MODE": "correlate",
            "MESSAGE_NAME": "payment",
            "CORRELATION_KEY_EXPRESSION": "=key",
            "MESSAGE_TTL_SECONDS": str(ttl),
            "CORRELATION_TABLE": aws.table,
            "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        }
    )
    return BatchConsumer(config, metrics=Metrics(namespace="KafkaConnectorTests"))


def subscriber(aws, attempts=5):
    """``subscribe(token, key)`` as Step Functions runs the subscribe task: retried when transient."""
    table, callbacks = CorrelationTable(aws.table), TaskCallbacks()

    def call(token, key):
        for _ in range(attempts):
            try:
                return subscribe(
                    table,
                    callbacks,
                    message_name="payment",
                    correlation_key=key,
                    task_token=token,
                    condition=None,
                    ttl_seconds=None,
                ).value
            except TransientRecordError:
                continue
        raise AssertionError("subscribe kept failing")

    return call
