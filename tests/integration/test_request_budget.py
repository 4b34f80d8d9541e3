"""Correlate mode reads the table per batch, not per record (issue: lookups are batched), and hands
messages over in runs: at most two requests per delivered message with everyone waiting (issue 13)."""

import collections
import json

from kafka_connector.aws import clients as aws_clients
from local.kafka_event import KafkaRecord, lambda_kafka_event


def count_requests():
    """Count the requests each AWS client of the layer really sends (botocore's before-send event)."""
    counts = collections.Counter()

    def on_send(request, **_):
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        counts[target.rpartition(".")[2] or request.url] += 1

    for service in ("dynamodb", "stepfunctions", "sqs"):
        aws_clients.client(service).meta.events.register("before-send", on_send)
    return counts


def test_thousand_records_nobody_waiting_cost_at_most_100_requests(aws, make_consumer):
    records = [
        KafkaRecord("payments", i % 3, i, json.dumps({"orderId": f"o-{i}", "amount": i}).encode(), None)
        for i in range(1000)
    ]
    consumer = make_consumer()
    counts = count_requests()
    assert consumer.handle(lambda_kafka_event(records)) == {"batchItemFailures": []}
    assert sum(counts.values()) <= 100
    assert counts == {"BatchGetItem": 10}  # 1,000 distinct keys, 100 per strongly consistent read


def test_repeated_keys_are_read_once(aws, make_consumer):
    records = [
        KafkaRecord("payments", 0, i, json.dumps({"orderId": f"o-{i % 5}"}).encode(), None)
        for i in range(300)
    ]
    consumer = make_consumer()
    counts = count_requests()
    consumer.handle(lambda_kafka_event(records))
    assert counts == {"BatchGetItem": 1}


def test_everyone_waiting_costs_at_most_two_requests_per_delivered_message(aws, make_consumer):
    """Issue 13, goal 4: runs of 50 records are claimed in one transaction and released in one."""
    records, executions = [], []
    for i in range(60):
        arn, token = aws.start_waiting(f"budget-{i}")
        aws.write_subscription(f"payment#o-{i}", token)
        executions.append(arn)
        records.append(KafkaRecord("payments", 0, i, json.dumps({"orderId": f"o-{i}"}).encode(), None))
    consumer = make_consumer()
    counts = count_requests()
    assert consumer.handle(lambda_kafka_event(records)) == {"batchItemFailures": []}
    # The heads, then the marks of the records someone waits for; two runs (50 + 10), each a
    # claim and a release; one callback per message.
    assert counts == {"BatchGetItem": 2, "TransactWriteItems": 4, "SendTaskSuccess": 60}
    assert sum(counts.values()) / len(records) <= 2.0
    assert [aws.output(arn)["message"]["offset"] for arn in executions] == list(range(60))
    assert aws.claims_left() == []
