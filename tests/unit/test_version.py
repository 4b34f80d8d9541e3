"""The version in one place: pyproject's, carried by the layer and written on every log line."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from kafka_connector.version import VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_the_layer_carries_the_project_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == VERSION


def test_every_line_of_a_cold_started_function_carries_service_version():
    """A fresh interpreter, as Lambda's: the runtime's root handler exists before the import.

    The layer's own records (``kafka_connector.*``) come out once, as the function's JSON,
    and the root handler does not write them a second time.
    """
    code = """
import logging, sys
logging.basicConfig(stream=sys.stderr, format="ROOT %(message)s")  # stands in for the runtime's handler
from functions.consumer import app
app.logger.info("from the function")
logging.getLogger("kafka_connector.inbound.batch").info("from the layer", extra={"outcome": "x"})
logging.getLogger("kafka_connector.inbound.batch").debug("below the level")
"""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'layers' / 'kafka_connector'}:{ROOT}",
        "CONNECTOR_MODE": "start",
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["message"] for line in lines] == ["from the function", "from the layer"]
    assert all(line["service_version"] == VERSION for line in lines)
    assert all(line["service"] == "kafka-consumer" for line in lines)
    assert lines[1]["outcome"] == "x"
    assert "ROOT" not in done.stderr  # not written twice
