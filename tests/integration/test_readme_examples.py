"""The README's JSONata task example, run against the real broker."""

import json

from tests.support.readme import evaluate_templates, jsonata_task


def test_jsonata_task_example_publishes(bootstrap, monkeypatch):
    import importlib

    from local.context import LocalLambdaContext
    from tests.support.kafka import read_one

    task = jsonata_task()
    assert task["QueryLanguage"] == "JSONata"
    order = {"orderId": "1001", "amount": 249.0}
    arguments = evaluate_templates(task["Arguments"], {"input": order})
    assert arguments["Payload"]["address"] == "orders/1001"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    from functions.producer import app

    producer = importlib.reload(app)
    response = producer.lambda_handler(arguments["Payload"], LocalLambdaContext("producer"))
    record = read_one(bootstrap, "orders", response["partition"], response["offset"])
    assert (record.key, json.loads(record.value)) == (b"1001", order)
    output = evaluate_templates(task["Output"], {"input": order, "result": {"Payload": response}})
    assert output == {**order, "published": response}
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS")
    importlib.reload(app)
