"""Every example in the README is one the tests or the demo run: kept identical, or run here."""

import json
import re
from pathlib import Path

import jsonatapy
import pytest

from tests.test_template import consumer_config_variables

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MARKED = re.compile(r"<!-- (example|state): (\S+) -->\n```json\n(.*?)\n```", re.S)


def marked(kind):
    return [(ref, body) for k, ref, body in MARKED.findall(README) if k == kind]


def test_examples_are_marked():
    assert len(marked("example")) >= 3
    assert len(marked("state")) >= 3


@pytest.mark.parametrize(("path", "body"), marked("example"))
def test_example_payloads_are_the_event_files(path, body):
    assert json.loads(body) == json.loads((ROOT / path).read_text())


@pytest.mark.parametrize(("reference", "body"), marked("state"))
def test_example_states_are_the_state_machines(reference, body):
    path, state = reference.split("#")
    machine = json.loads((ROOT / path).read_text())
    assert json.loads("{" + body + "}") == {state: machine["States"][state]}


def test_consumer_environment_table_is_what_the_consumer_reads():
    section = README.split("### Environment", 1)[1].split("###", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.M))
    assert documented == consumer_config_variables()


def test_first_screen_commands_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "bench", "lint", "unit"):
        assert re.search(rf"^{target}:", makefile, re.M), target


def jsonata_task():
    body = README.split("<!-- jsonata-task -->\n```json\n", 1)[1].split("\n```", 1)[0]
    return json.loads("{" + body + "}")["PublishOrder"]


def evaluate_templates(node, states):
    """What Step Functions does with a JSONata state's fields: evaluate every {% %} string."""
    if isinstance(node, str):
        match = re.fullmatch(r"\{%(.*)%\}", node, re.S)
        return jsonatapy.compile(match.group(1)).evaluate({}, {"states": states}) if match else node
    if isinstance(node, dict):
        return {k: evaluate_templates(v, states) for k, v in node.items()}
    if isinstance(node, list):
        return [evaluate_templates(v, states) for v in node]
    return node


@pytest.mark.integration
def test_jsonata_task_example_publishes(bootstrap, monkeypatch):
    import importlib

    from local.context import LocalLambdaContext
    from tests.kafka_helpers import read_one

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
