"""Races between the consumer and the subscribe function, shared by the race and fault tests.

Run against the local emulator: moto behind a server that, like DynamoDB, applies each
conditional write atomically (in-process moto does not under threads).
"""

import json
import random
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Metrics

from kafka_connector.inbound.batch import BatchConsumer
from kafka_connector.inbound.config import ConsumerConfig
from kafka_connector.inbound.correlation import subscribe
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
