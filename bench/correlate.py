"""Correlate mode: AWS requests per record, counted on the layer's own boto3 clients under moto.

Every request the layer sends (retries included) passes botocore's ``before-send`` event
on the clients of ``kafka_connector.aws.clients``; a counter registered there sees each
one with its operation name. moto answers, with Step Functions really executing state
machines, so task tokens are real and ``SendTaskSuccess`` really resumes executions.

* Nobody waiting: a batch of distinct keys with ``MESSAGE_TTL_SECONDS=0`` — the consumer
  reads the table once per 100 keys and drops the messages. Goal ≤ 0.02 requests/record.
* Everyone waiting: one waiting execution per key, its subscription written straight into
  the table in the documented format (what ``aws-sdk:dynamodb:updateItem.waitForTaskToken``
  writes: head ``<name>#<key>``, ``sub_<sha256(token)> = {token}``, ``version`` bumped) —
  each record claims, resumes and releases one subscription. The records of a partition
  are handed over in runs (docs/correlation-table.md#runs). Goal ≤ 2.0 requests/record.
  Beside it, in the same run, the baseline: records that cannot form runs (each alone in
  its partition), handed over one by one as before runs existed. Reported per record, by
  operation. moto starts executions slowly (threads), so this uses fewer records.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bench.common import Report, Row, Table, environment, goal_row, ms, quiet

MESSAGE_NAME = "payment"
GOAL_IDLE = 0.02
GOAL_WAITING = 2.0


def payment_event(
    records: int, topic: str = "payments", *, partitions: int = 3, first: int = 0
) -> dict[str, Any]:
    """``records`` payments for keys ``order-<first>`` on, spread round-robin over ``partitions``."""
    from local.kafka_event import KafkaRecord, lambda_kafka_event

    return lambda_kafka_event(
        KafkaRecord(
            topic=topic,
            partition=index % partitions,
            offset=index // partitions,
            value=json.dumps({"orderId": f"order-{index:06d}", "amount": 10 + index % 90}).encode(),
            key=f"order-{index:06d}".encode(),
            timestamp=1795000000000 + index,
        )
        for index in range(first, first + records)
    )


class RequestCounter:
    """Counts AWS requests by ``service.Operation`` through botocore's ``before-send`` event."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.active = False

    def __call__(self, event_name: str, **_kwargs: Any) -> None:
        if self.active:
            self.counts[event_name.removeprefix("before-send.")] += 1

    def watch(self, *services: str) -> None:
        from kafka_connector.aws import clients as aws_clients

        for service in services:
            aws_clients.client(service).meta.events.register("before-send", self)

    @contextlib.contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.counts.clear()
        self.active = True
        try:
            yield self.counts
        finally:
            self.active = False


@contextlib.contextmanager
def mocked_aws() -> Iterator[Any]:
    """moto with executing state machines, the correlation table and queues; fresh layer clients."""
    from moto import mock_aws

    from kafka_connector.aws import clients as aws_clients
    from tests.support.aws import Aws

    settings = {
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        "AWS_ENDPOINT_URL": None,  # moto intercepts requests to AWS's own endpoints only
        "AWS_PROFILE": None,
        "POWERTOOLS_METRICS_NAMESPACE": os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
        or "KafkaConnectorBench",
    }
    with environment(settings):
        aws_clients.client.cache_clear()
        try:
            with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
                yield Aws().setup()
        finally:
            aws_clients.client.cache_clear()


def make_consumer(aws: Any, **env: str) -> Any:
    from aws_lambda_powertools import Metrics

    from kafka_connector.inbound.batch import BatchConsumer
    from kafka_connector.inbound.config import ConsumerConfig

    config = {
        "CONNECTOR_MODE": "correlate",
        "MESSAGE_NAME": MESSAGE_NAME,
        "CORRELATION_KEY_EXPRESSION": "=value.orderId",
        "CORRELATION_TABLE": aws.table,
        "DEAD_LETTER_QUEUE_URL": aws.dlq_url,
        "MESSAGE_TTL_SECONDS": "0",
        **env,
    }
    return BatchConsumer(
        ConsumerConfig.from_environment(config), metrics=Metrics(namespace="KafkaConnectorBench")
    )


def run(*, records: int = 1000, waiting: int = 200, alone: int | None = None) -> Report:
    alone = min(30, waiting) if alone is None else alone
    report = Report("correlate", "Correlate mode: AWS requests per record (moto)")
    with mocked_aws() as aws:
        counter = RequestCounter()
        counter.watch("dynamodb", "stepfunctions", "sqs")
        consumer = make_consumer(aws)

        idle, idle_seconds = _handle(consumer, payment_event(records), counter, "nobody waiting")
        report.rows.append(
            goal_row(
                f"nobody waiting: {records} records, {records} keys, TTL 0",
                f"{sum(idle.values())} requests ({ms(idle_seconds)} under moto)",
                sum(idle.values()) / records,
                GOAL_IDLE,
                unit=" req/record",
            )
        )

        executions = _waiting_executions(aws, waiting + alone)
        single, single_seconds = _handle(
            consumer, payment_event(alone, partitions=alone, first=waiting), counter, "no runs"
        )
        busy, busy_seconds = _handle(consumer, payment_event(waiting), counter, "everyone waiting")
        resumed = _resumed(aws, executions)
        per_single = sum(single.values()) / alone
        per_busy = sum(busy.values()) / waiting
        report.rows.append(
            Row(
                f"baseline, no runs: {alone} records, each alone in its partition, each resuming one",
                f"{sum(single.values())} requests ({ms(single_seconds)} under moto)",
                f"{per_single:.3f} req/record",
            )
        )
        report.rows.append(
            goal_row(
                f"everyone waiting: {waiting} records in 3 partitions, each resuming one execution",
                f"{sum(busy.values())} requests ({ms(busy_seconds)} under moto),"
                f" {resumed}/{waiting + alone} executions succeeded;"
                f" {per_busy / per_single:.2f}x the baseline's requests",
                per_busy,
                GOAL_WAITING,
                unit=" req/record",
            )
        )
    report.tables.append(
        Table(
            "Requests by operation",
            ("scenario", "operation", "requests", "per record"),
            [("nobody waiting", op, str(n), f"{n / records:.3f}") for op, n in sorted(idle.items())]
            + [("baseline, no runs", op, str(n), f"{n / alone:.3f}") for op, n in sorted(single.items())]
            + [("everyone waiting", op, str(n), f"{n / waiting:.3f}") for op, n in sorted(busy.items())],
        )
    )
    return report


def _handle(
    consumer: Any, event: dict[str, Any], counter: RequestCounter, scenario: str
) -> tuple[Counter[str], float]:
    """One batch through ``consumer.handle``: the requests it sent by operation, and its seconds."""
    with quiet(), counter.counting() as counts:
        started = time.perf_counter()
        response = consumer.handle(event)
        seconds = time.perf_counter() - started
    if response.get("batchItemFailures"):
        raise RuntimeError(f"{scenario}: records failed: {response['batchItemFailures'][:3]}")
    return Counter(counts), seconds


def _waiting_executions(aws: Any, count: int) -> list[str]:
    """``count`` executions waiting on a task token, each subscribed as the direct-SDK path does."""
    import hashlib

    arns = [
        aws.sfn.start_execution(
            stateMachineArn=aws.machine(), name=f"bench-{index}", input=json.dumps({"orderId": index})
        )["executionArn"]
        for index in range(count)
    ]
    for index in range(count):
        token = aws.token_of(f"bench-{index}", timeout=60)
        aws.dynamodb.update_item(
            TableName=aws.table,
            Key={"pk": {"S": f"{MESSAGE_NAME}#order-{index:06d}"}},
            UpdateExpression="SET #sub = :sub ADD version :one",
            ExpressionAttributeNames={"#sub": "sub_" + hashlib.sha256(token.encode()).hexdigest()},
            ExpressionAttributeValues={":sub": {"M": {"token": {"S": token}}}, ":one": {"N": "1"}},
        )
    return arns


def _resumed(aws: Any, executions: list[str], timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    pending = list(executions)
    while pending and time.monotonic() < deadline:
        pending = [arn for arn in pending if aws.status(arn) == "RUNNING"]
        if pending:
            time.sleep(0.05)
    return sum(aws.status(arn) == "SUCCEEDED" for arn in executions)
